"""The row a new fact's COPY sends holds the values ``_fact_values`` names, column by column."""

from __future__ import annotations

from datetime import date

from services.aggregator.adapters.store import _FACT_ROW, _fact_values, fact_row
from services.aggregator.adapters.tables import facts
from services.aggregator.domain.facts import Fact


def test_fact_row_is_fact_values_in_the_order_the_copy_names() -> None:
    fact = Fact(
        lineage_id="l-1",
        submission_id="s-2",
        form="factory_inspection",
        district="330784",
        enterprise="91330102MA00000009",
        industry="C33",
        day=date(2026, 3, 4),
        review_status="approved",
        payload={"b": 1, "a": "永康"},
    )
    assert set(_FACT_ROW) == set(facts.c.keys())
    for payload_json in (None, '{"a": "永康", "b": 1}'):
        row = dict(zip(_FACT_ROW, fact_row(fact, payload_json), strict=True))
        assert row == {"lineage_id": "l-1", **_fact_values(fact, payload_json)}
