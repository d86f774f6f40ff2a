"""Rows to records and back: columns named like fields map by name, the exceptions are given."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from services.common.records import from_row, to_row


@dataclass(frozen=True)
class _Photo:
    id: str
    size: int
    owner: str = "nobody"
    seen: list[str] = field(default_factory=list)


def test_a_record_takes_the_columns_named_like_its_fields_and_ignores_the_others() -> None:
    row = {"id": "a1", "size": 3, "owner": "li", "content": b"xyz"}
    assert from_row(_Photo, row) == _Photo(id="a1", size=3, owner="li")


def test_given_fields_override_the_columns_and_missing_ones_keep_their_default() -> None:
    assert from_row(_Photo, {"id": "a1", "size": "3"}, size=3) == _Photo(id="a1", size=3, owner="nobody")


def test_a_required_field_the_row_lacks_is_an_error_not_a_silent_default() -> None:
    with pytest.raises(KeyError, match="size"):
        from_row(_Photo, {"id": "a1"})


def test_a_record_becomes_the_columns_of_its_fields_plus_those_given() -> None:
    photo = _Photo(id="a1", size=3, owner="li")
    assert to_row(photo, content=b"xyz") == {
        "id": "a1",
        "size": 3,
        "owner": "li",
        "seen": [],
        "content": b"xyz",
    }
