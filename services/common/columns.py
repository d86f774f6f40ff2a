"""Columns of the values that recur across tables, each kind declared once with its type.

A district code, a client's UUID or a stored instant has one width wherever it is kept: in the aggregator's
and the outbox's tables and in the migrations that built the services' schemas.  A kind makes a fresh
``Column`` (a column belongs to one table) and passes the rest on: ``columns.district(nullable=False)``,
``columns.uuid_text("inspection_lineage", nullable=False)``.

Released migrations build their tables with these, so a kind's type never changes here: the migrated-schema
snapshots (``tests/integration/test_migrations.py``) fail if it does.  A wider column is a new migration that
says its new type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Date, Integer, String
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class Kind:
    """A kind of value: its column type, and the column name it usually has (None: always named)."""

    type: TypeEngine[Any]
    usual_name: str | None = None

    def __call__(self, name: str | None = None, *args: Any, **kwargs: Any) -> Column[Any]:
        name = name or self.usual_name
        if name is None:
            raise TypeError("this kind of column has no usual name: name it")
        return Column(name, self.type, *args, **kwargs)


def serial_id(name: str = "id") -> Column[Any]:
    """A surrogate key the database numbers (SQLite's rowid alias, a PostgreSQL serial)."""
    return Column(name, Integer, primary_key=True, autoincrement=True)


#: a UUID as its 36-character text: submission (and so lineage), attachment and review ids
uuid_text = Kind(String(36))
#: a GB/T 2260 division code (six digits)
district = Kind(String(6), "district")
#: a GB/T 4754-2017 industry division ("" when the form names none)
industry = Kind(String(8), "industry")
#: a unified social credit code (GB 32100-2015, 18 characters): the enterprise a record is about
credit_code = Kind(String(18), "enterprise")
#: the name of an intake form (``factory_inspection``...)
form_name = Kind(String(40), "form")
#: a UTC instant as ISO 8601 text
instant = Kind(String(40))
#: a calendar day (a ``Date``, no time of day): the local day a submission counts on, a hazard's deadline...
day = Kind(Date(), "day")
#: a SHA-256 digest in hexadecimal
sha256_hex = Kind(String(64))
#: a CloudEvents ``id``: what makes an event once-only
event_id = Kind(String(80), "event_id")
#: the name of the log a consumer reads (a Kafka topic, or the embedded SQL log): where its positions are
log_name = Kind(String(120), "source")
#: a hazard: ``<the first version of the inspection that found it>:<item code>``
hazard_id = Kind(String(80), "hazard_id")
