"""Where report packages are delivered: a folder (a shared drive, an SFTP drop, a synced directory) or an HTTP
endpoint of the receiving system.

A folder receives each package as a directory ``<root>/<district>/<package>/`` that appears whole or not at
all: its files are written and flushed into a hidden temporary directory beside it, which is then renamed
(atomic on one file system), so a reader polling the folder never sees half a package.

An HTTP endpoint receives ``POST`` with the package document (``application/json``), an ``Idempotency-Key``
header that is the same for every attempt of one package version (so a receiver that stored an attempt whose
answer was lost stores it once), ``Content-Digest`` (RFC 9530, SHA-256 of the body) and, when configured, a
bearer token.  2xx is delivered; 408, 425, 429, 5xx and network errors are worth retrying (``Retry-After``
is honoured); any other answer is a refusal that retrying the same bytes would not change.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class DeliveryError(Exception):
    """A delivery attempt that failed; ``retryable`` when another attempt may succeed."""

    def __init__(self, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Destination(Protocol):
    #: what the delivery record names (never a password)
    name: str

    def send(
        self, payload: bytes, manifest: dict[str, Any], files: dict[str, bytes], idempotency_key: str
    ) -> str:
        """Deliver one package; a short note on success, :class:`DeliveryError` on failure."""


class FolderDestination:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = root.absolute().as_uri()

    def send(
        self, payload: bytes, manifest: dict[str, Any], files: dict[str, bytes], idempotency_key: str
    ) -> str:
        parent = self.root / manifest["district"]["code"]
        final = parent / manifest["package"]
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                return self._already_there(final, manifest)
            tmp = parent / f".{manifest['package']}.tmp-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            for name, data in files.items():
                with (tmp / name).open("wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            _fsync_dir(tmp)
            os.rename(tmp, final)  # the package appears whole
            _fsync_dir(parent)
        except OSError as exc:
            raise DeliveryError(f"{final}: {exc.strerror or exc}", retryable=True) from exc
        return str(final)

    @staticmethod
    def _already_there(final: Path, manifest: dict[str, Any]) -> str:
        """An earlier attempt renamed the package into place but its record was not updated (the process
        ended in between): the same content is this delivery, other content is a conflict to look at."""
        try:
            there = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DeliveryError(
                f"{final} exists without a readable manifest: {exc}", retryable=False
            ) from exc
        if there.get("content_sha256") != manifest["content_sha256"]:
            raise DeliveryError(f"{final} exists with other content", retryable=False)
        return str(final)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HttpDestination:
    def __init__(self, url: str, token: str = "", timeout: float = 30.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.name = _recorded(url)

    def send(
        self, payload: bytes, manifest: dict[str, Any], files: dict[str, bytes], idempotency_key: str
    ) -> str:
        digest = base64.b64encode(hashlib.sha256(payload).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            "Content-Digest": f"sha-256=:{digest}:",
            "User-Agent": "score-reports-delivery/1",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=payload, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                return f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            retry_after = exc.headers.get("Retry-After", "") if exc.headers else ""
            raise DeliveryError(
                f"HTTP {exc.code} {exc.reason}",
                retryable=exc.code in RETRIED_STATUSES,
                retry_after=float(retry_after) if retry_after.isdigit() else None,
            ) from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{self.name}: {getattr(exc, 'reason', exc)}", retryable=True) from exc


def _recorded(url: str) -> str:
    """The URL as the delivery record names it: without a user:password or a query (either may hold a
    secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))


def destination(spec: str, token: str = "") -> Destination:
    """``https://…`` or ``http://…``: an HTTP endpoint; ``file:///srv/inbox`` or a path: a folder."""
    if spec.startswith(("http://", "https://")):
        return HttpDestination(spec, token)
    if spec.startswith("file://"):
        return FolderDestination(Path(urlsplit(spec).path))
    return FolderDestination(Path(spec))
