"""The rules of evidence photos, without a database: what bytes are, retries, and who may name a photo."""

from __future__ import annotations

import hashlib

import pytest

from services.intake.domain import errors
from services.intake.domain.attachments import (
    RECOGNISED,
    Attachment,
    received,
    references,
    sniff,
    with_references,
)
from services.intake.domain.errors import DomainError
from services.intake.service_layer import handlers
from tests.images import photo
from tests.unit.fakes import FakeStore, FakeUnitOfWork

ID = "5b0c7f5e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"
LIMITS = {"allowed": RECOGNISED, "max_bytes": 5 * 1024 * 1024}


@pytest.mark.parametrize("content_type", RECOGNISED)
def test_each_type_is_recognised_from_its_bytes_and_only_when_whole(content_type: str) -> None:
    data = photo(content_type)
    assert sniff(data) == content_type
    assert sniff(data[: len(data) // 2]) is None  # cut off half way
    assert sniff(data[:-1]) is None  # even by one byte
    assert sniff(data[:12]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8\xff",
        b"GIF89a" + b"\x00" * 40,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.7",
    ],
)
def test_other_bytes_are_no_image(data: bytes) -> None:
    assert sniff(data) is None


def test_a_photo_is_received_with_its_hash_and_judged() -> None:
    data = photo("image/png", seed=3)
    got = received(ID, "image/png", data, owner="dev-1", received_at="t", **LIMITS)  # type: ignore[arg-type]
    assert (got.sha256, got.size, got.content_type) == (
        hashlib.sha256(data).hexdigest(),
        len(data),
        "image/png",
    )

    def code(declared: str, body: bytes, **kw: object) -> str:
        with pytest.raises(DomainError) as caught:
            received(ID, declared, body, owner="dev-1", received_at="t", **{**LIMITS, **kw})  # type: ignore[arg-type]
        return caught.value.code

    assert code("image/jpeg", data) == errors.ATTACHMENT_CONTENT  # PNG bytes sent as JPEG
    assert code("image/gif", data) == errors.ATTACHMENT_TYPE
    assert code("image/png", data, allowed=("image/jpeg",)) == errors.ATTACHMENT_TYPE  # the setting narrows
    assert code("image/png", data, max_bytes=len(data) - 1) == errors.ATTACHMENT_TOO_LARGE
    assert code("image/png", b"") == errors.ATTACHMENT_CONTENT


def test_an_upload_is_stored_once_its_retry_answered_alike_other_bytes_refused() -> None:
    store = FakeStore()

    def put(data: bytes, owner: str = "dev-1") -> handlers.AttachmentReceipt:
        return handlers.store_attachment(
            FakeUnitOfWork(store),
            ID,
            "image/jpeg",
            data,
            owner=owner,
            **LIMITS,  # type: ignore[arg-type]
        )

    first, again = put(photo(seed=1)), put(photo(seed=1))
    assert (first.created, again.created, again.body) == (True, False, first.body)
    for other in (lambda: put(photo(seed=2)), lambda: put(photo(seed=1), owner="dev-2")):
        with pytest.raises(DomainError) as caught:
            other()
        assert (caught.value.code, caught.value.path) == (errors.ATTACHMENT_ID_REUSED, "attachment_id")
    assert len(store.attachments) == 1 and store.attachments[ID][1] == photo(seed=1)


def _held(owner: str) -> dict[str, Attachment]:
    return {ID: Attachment(ID, "ab" * 32, "image/jpeg", 10, owner, "t")}


def test_a_record_names_only_photos_its_own_account_uploaded() -> None:
    data = {"inspection_id": "x", "photos": [ID, "6c1d8e6f-2e3b-4d4c-8f9a-8b7c6d5e4f3a"]}
    with pytest.raises(DomainError) as caught:
        references("hazard_rectification", data, _held("dev-1"), "dev-1")
    assert (caught.value.code, caught.value.path) == (errors.UNKNOWN_ATTACHMENT, "data.photos[1]")
    with pytest.raises(DomainError) as caught:
        references("hazard_rectification", {"photos": [ID]}, _held("dev-2"), "dev-1")
    assert (caught.value.code, caught.value.path) == (errors.UNKNOWN_ATTACHMENT, "data.photos[0]")


def test_references_sit_beside_the_hazard_or_on_the_rectification_and_nothing_else_changes() -> None:
    refs = references("hazard_rectification", {"photos": [ID]}, _held("dev-1"), "dev-1")
    ref = {"attachment_id": ID, "sha256": "ab" * 32, "content_type": "image/jpeg"}
    assert with_references("hazard_rectification", {"photos": [ID]}, {"hazard": {}}, refs) == {
        "hazard": {},
        "photos": [ref],
    }
    data = {
        "items": [
            {"code": "DUST-01", "result": "fail", "hazard": {"photos": [ID]}},
            {"code": "FIRE-01", "result": "fail", "hazard": {}},
        ]
    }
    computed = {"hazards": [{"item_code": "DUST-01"}, {"item_code": "FIRE-01"}], "score": 0.0}
    out = with_references("factory_inspection", data, computed, refs)
    assert out["hazards"] == [{"item_code": "DUST-01", "photos": [ref]}, {"item_code": "FIRE-01"}]
    assert with_references("factory_inspection", {"items": []}, computed, {}) == computed
