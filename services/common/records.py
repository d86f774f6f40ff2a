"""Records to and from database rows: the one place that maps a table's columns onto a dataclass's fields.

A table's columns are named like the fields of the record read from it, so a reader need only say where they
differ: a column named otherwise (``id`` for ``submission_id``), a value stored in another form (JSON text,
a DATE that SQLite returns as ISO text).  Each mapping then reads as its exceptions, and a field added to both
the table and the record needs no third edit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


_FIELDS: dict[type, tuple[str, ...]] = {}


def _init_fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:  # once per class: the mapping runs per row read
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return names


def from_row(cls: type[T], row: Mapping[Any, Any], **given: Any) -> T:
    """A ``cls`` (a dataclass) whose fields are the row's columns of the same names, except those ``given``.

    ``row`` is a mapping (a SQLAlchemy ``Row._mapping``), not the row itself, whose tuple methods (``count``,
    ``index``) would pass for columns of those names.  A field the row lacks keeps its default; one without a
    default makes the dataclass raise, as a forgotten keyword would.
    """
    taken = {name: row[name] for name in _init_fields(cls) if name not in given and name in row}
    return cls(**taken, **given)


def to_row(record: Any, **given: Any) -> dict[str, Any]:
    """The columns to store ``record`` (a dataclass) in a table whose columns are named like its fields, with
    ``given`` added or overriding (a column the record does not hold)."""
    return {**{name: getattr(record, name) for name in _init_fields(type(record))}, **given}
