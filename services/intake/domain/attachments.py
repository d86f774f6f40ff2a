"""Evidence photos: what an attachment is, what its bytes must be, and who may reference it.

A device mints a UUID per photo, uploads the bytes (``PUT /api/v1/attachments/<id>``), then sends the
submission that names the id in a ``photos`` list (a failed item's hazard, a rectification).  The rules:

- the bytes are what the request says they are: the type is recognised from the first bytes (the "magic
  numbers" of JPEG, PNG and WebP) and the file must be whole (a JPEG ends with its end-of-image marker, a PNG
  with its IEND chunk, a WebP's RIFF header states its exact length): a phone that lost its connection half
  way must not leave half a photo as evidence;
- an id is stored once: the same id with the same bytes is a retry (answered as the first time), with other
  bytes a conflict, as for submissions;
- a submission may reference only photos its own account uploaded, so no one can attach (and so let the
  readers of their district see) a photo someone else took.

Only the standard library here: these rules are tested without a database or a web server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from services.intake.domain import errors
from services.intake.domain.errors import DomainError

JPEG, PNG, WEBP = "image/jpeg", "image/png", "image/webp"
#: the types this module can recognise (the setting SCORE_ATTACHMENT_TYPES may allow fewer)
RECOGNISED = (JPEG, PNG, WEBP)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: the last chunk of every PNG: length 0, type IEND, its CRC
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def sniff(data: bytes) -> str | None:
    """The image type ``data`` is, judged from its bytes alone; None when it is none of them, or not whole."""
    if data.startswith(b"\xff\xd8\xff"):
        # end-of-image marker last (some encoders pad with zero bytes after it)
        return JPEG if data.rstrip(b"\x00").endswith(b"\xff\xd9") and len(data) > 4 else None
    if data.startswith(_PNG_SIGNATURE):
        # the header chunk first, the end chunk last
        return PNG if data[12:16] == b"IHDR" and data.endswith(_PNG_END) else None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 16:
        # the RIFF size field counts every byte after the first 8: a cut-off upload is shorter than it says
        return WEBP if int.from_bytes(data[4:8], "little") + 8 == len(data) else None
    return None


class Reference(TypedDict):
    """What an event carries of a photo: never its bytes."""

    attachment_id: str
    sha256: str
    content_type: str


@dataclass(frozen=True)
class Attachment:
    """A stored photo's description (its bytes live beside it, in storage)."""

    id: str
    sha256: str
    content_type: str
    size: int
    owner: str  #: the account that uploaded it
    received_at: str

    def answer(self) -> dict[str, Any]:
        """What the uploader is told, the first time and on every retry: the reference a record will carry,
        and the size."""
        return {**self.reference(), "size": self.size}

    def reference(self) -> Reference:
        return {"attachment_id": self.id, "sha256": self.sha256, "content_type": self.content_type}

    def retried(self, sha256: str, owner: str) -> dict[str, Any]:
        """The answer to the same id arriving again: a retry by its uploader with the same bytes, or a conflict
        (other bytes, or another account's upload, which is not told whose)."""
        if sha256 != self.sha256 or owner != self.owner:
            raise DomainError(errors.ATTACHMENT_ID_REUSED, path="attachment_id", attachment_id=self.id)
        return self.answer()


def check_type(declared_type: str, allowed: tuple[str, ...]) -> None:
    """Refuse a type that is not allowed, before anything reads the bytes."""
    if declared_type not in allowed:
        raise DomainError(
            errors.ATTACHMENT_TYPE,
            path="Content-Type",
            actual=declared_type or "-",
            allowed=", ".join(allowed),
        )


def received(
    attachment_id: str,
    declared_type: str,
    data: bytes,
    *,
    owner: str,
    received_at: str,
    allowed: tuple[str, ...],
    max_bytes: int,
) -> Attachment:
    """A photo as it arrives, judged: an allowed type, not too large, and bytes that are of that type."""
    check_type(declared_type, allowed)
    if len(data) > max_bytes:
        raise DomainError(errors.ATTACHMENT_TOO_LARGE, limit=str(max_bytes), actual=str(len(data)))
    found = sniff(data)
    if found != declared_type:
        raise DomainError(errors.ATTACHMENT_CONTENT, path="body", declared=declared_type, size=str(len(data)))
    return Attachment(
        id=attachment_id,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=declared_type,
        size=len(data),
        owner=owner,
        received_at=received_at,
    )


def photo_ids(form: str, data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every photo a submission's ``data`` names, as (path in the request, attachment id), in order.

    A factory inspection names them on failed items' hazards (``data.items[i].hazard.photos[j]``), a hazard
    rectification on itself (``data.photos[j]``); paths are written as every other error path is.
    """
    if form == "factory_inspection":
        # type() first: the ABC check is slow, and every item of every inspection is looked at (twice)
        for i, item in enumerate(data.get("items") or []):
            hazard = item.get("hazard") if type(item) is dict or isinstance(item, Mapping) else None
            if hazard is not None and (type(hazard) is dict or isinstance(hazard, Mapping)):
                for j, photo in enumerate(hazard.get("photos") or []):
                    yield f"data.items[{i}].hazard.photos[{j}]", str(photo)
    elif form == "hazard_rectification":
        for j, photo in enumerate(data.get("photos") or []):
            yield f"data.photos[{j}]", str(photo)


def references(
    form: str, data: Mapping[str, Any], held: Mapping[str, Attachment], account: str
) -> dict[str, Reference]:
    """The references (by attachment id) of every photo a submission names, or the first it may not name:
    an id the intake does not hold, or holds for another account (the two are told apart to no one)."""
    found: dict[str, Reference] = {}
    for path, attachment_id in photo_ids(form, data):
        attachment = held.get(attachment_id)
        if attachment is None or attachment.owner != account:
            raise DomainError(errors.UNKNOWN_ATTACHMENT, path=path, attachment_id=attachment_id)
        found[attachment_id] = attachment.reference()
    return found


def with_references(
    form: str, data: Mapping[str, Any], computed: Mapping[str, Any], refs: Mapping[str, Reference]
) -> dict[str, Any]:
    """``computed`` with each photo's reference where a consumer looks for it: beside the hazard it shows
    (``computed.hazards[k].photos``) or on the rectification (``computed.photos``).  Without photos,
    ``computed`` is unchanged, so events of submissions without photos are exactly what they were."""
    out = dict(computed)
    if form == "factory_inspection" and refs:
        photos_by_code = {
            item["code"]: [refs[str(p)] for p in item["hazard"]["photos"]]
            for item in data.get("items", [])
            if isinstance(item.get("hazard"), Mapping) and item["hazard"].get("photos")
        }
        out["hazards"] = [
            {**h, "photos": photos_by_code[h["item_code"]]} if h["item_code"] in photos_by_code else h
            for h in computed.get("hazards", [])
        ]
    elif form == "hazard_rectification" and data.get("photos"):
        out["photos"] = [refs[str(p)] for p in data["photos"]]
    return out
