"""Records to and from database rows: the one place that maps a table's columns onto a dataclass's fields.

A table's columns are named like the fields of the record read from it, so a reader need only say where they
differ: a column named otherwise (``id`` for ``submission_id``), a value stored in another form (JSON text,
a DATE that SQLite returns as ISO text).  Each mapping then reads as its exceptions, and a field added to both
the table and the record needs no third edit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import MISSING
from typing import Any, TypeVar

T = TypeVar("T")


#: per record class and the names a caller gives: the fields to take from every row (those without a
#: default) and those taken only where the row has them; worked out once, as the mapping runs per row read
_PLANS: dict[tuple[type, tuple[str, ...]], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _plan(cls: type, given: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    plan = _PLANS.get((cls, given))
    if plan is None:
        taken = [f for f in dataclasses.fields(cls) if f.init and f.name not in given]
        required = tuple(f.name for f in taken if f.default is MISSING and f.default_factory is MISSING)
        optional = tuple(f.name for f in taken if f.name not in required)
        plan = _PLANS[cls, given] = (required, optional)
    return plan


def from_row(cls: type[T], row: Mapping[Any, Any], **given: Any) -> T:
    """A ``cls`` (a dataclass) whose fields are the row's columns of the same names, except those ``given``.

    ``row`` is a mapping (a SQLAlchemy ``Row._mapping``), not the row itself, whose tuple methods (``count``,
    ``index``) would pass for columns of those names.  A field with a default that the row lacks keeps its
    default; one without a default that the row lacks raises ``KeyError``.
    """
    required, optional = _plan(cls, tuple(given))
    values = {name: row[name] for name in required}
    for name in optional:
        if name in row:
            values[name] = row[name]
    return cls(**values, **given)


def to_row(record: Any, **given: Any) -> dict[str, Any]:
    """The columns to store ``record`` (a dataclass) in a table whose columns are named like its fields, with
    ``given`` added or overriding (a column the record does not hold)."""
    names = [f.name for f in dataclasses.fields(record) if f.init]
    return {**{name: getattr(record, name) for name in names}, **given}
