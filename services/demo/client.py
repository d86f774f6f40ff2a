"""The intake's HTTP API as a field phone uses it, with the standard library only (``urllib``).

A request that fails on the way (connection refused or reset, 429, 502-504) is sent again after a backoff
(``services.common.backoff``): every submission and review carries its own id, so a repeat is recognised by
the intake and stored once.  Other answers are returned as they are, for the caller to count.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from services.common.backoff import Backoff

RETRIED = frozenset({429, 502, 503, 504})


class IntakeUnavailable(Exception):
    """The intake did not answer in time (after every retry)."""


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class IntakeClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        attempts: int = 8,
        timeout: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self.attempts = attempts
        self.timeout = timeout
        self.backoff = backoff or Backoff(first=0.5, most=10.0)
        self.requests = 0

    def post_batch(self, submissions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``POST /api/v1/submissions/batch``: the per-item results (``index``, ``status``, ...)."""
        answer = self._call("POST", "/api/v1/submissions/batch", {"submissions": submissions})
        if answer.status != 207:
            raise IntakeUnavailable(f"batch answered {answer.status}: {_short(answer.body)}")
        results: list[dict[str, Any]] = answer.body["results"]
        return results

    def review(self, submission_id: str, body: dict[str, Any]) -> Answer:
        return self._call("POST", f"/api/v1/submissions/{submission_id}/review", body)

    def get_submission(self, submission_id: str) -> Answer:
        return self._call("GET", f"/api/v1/submissions/{submission_id}")

    def _call(self, method: str, path: str, body: Any = None) -> Answer:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Language": "en"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        last = ""
        for _attempt in range(self.attempts):
            request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
            self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - our URL
                    answer = Answer(resp.status, _json(resp.read()), dict(resp.headers))
            except urllib.error.HTTPError as exc:
                answer = Answer(exc.code, _json(exc.read()), dict(exc.headers or {}))
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last = str(getattr(exc, "reason", exc))
                time.sleep(self.backoff.failed())
                continue
            if answer.status not in RETRIED:
                self.backoff.succeeded()
                return answer
            last = f"{answer.status} {_short(answer.body)}"
            retry_after = answer.headers.get("Retry-After", "")
            wait = self.backoff.failed()
            time.sleep(max(wait, min(float(retry_after), 60.0)) if retry_after.isdigit() else wait)
        raise IntakeUnavailable(
            f"{method} {self.base}{path}: no answer after {self.attempts} attempts ({last})"
        )


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


def _short(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)[:300] if not isinstance(body, str) else body[:300]
