"""Fill an aggregator database as if ``N`` submissions had been applied: set-based in PostgreSQL, in seconds.

Report latency has to be measured over a million stored submissions; sending a million events through the
pipeline takes minutes.  So: a template of ``K`` events (``bench.aggregator_bench.make_events``: inspections
with hazards, surveys, rectifications) is applied by the real apply step (``apply_batch``), then copied
``N / K - 1`` times in SQL.  Every UUID in the template ends in 12 zeros; copy ``j`` is what applying the
template's events would give if those 12 digits were ``j`` in hex instead: fact, version, hazard, rectification
and processed-event rows with the ids rewritten (payload text included: a plain ``replace``, no parsing), and
the additive cells (``daily``, ``daily_members``) multiplied by ``N / K``, since a copy contributes to the same
district x day x industry cells as its template.  The copies'
events (``copy_events``) are what the integration test applies for real to check that claim on a small
seed (tests/integration/test_report_at_scale.py).

    .venv/bin/python -m bench.seed_reports postgresql+psycopg://... --submissions 1000000
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.aggregator_bench import make_events  # noqa: E402
from services.aggregator.service_layer.apply import apply_batch  # noqa: E402
from services.common.db import make_engine  # noqa: E402
from services.common.migrate import upgrade  # noqa: E402
from services.eventlog.envelope import Event  # noqa: E402
from services.eventlog.source import Delivery  # noqa: E402

#: the source name the seeded positions are stored under (no log holds these events)
SOURCE = "seed"
_UUID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4})-[0-9a-f]{12}")
#: how every UUID of the template ends (copy 0); copy j's end in j, in 12 hex digits
_TAIL = "-" + "0" * 12


def template_events(events: Sequence[Event]) -> list[Event]:
    """``events`` with every UUID in them ending in 12 zeros (distinct UUIDs stay distinct: the first 20
    hex digits of random UUIDs do not repeat among a few thousand)."""

    def zero(value: str) -> str:
        return _UUID.sub(lambda m: m.group(1) + _TAIL, value)

    out = [replace(e, id=zero(e.id), subject=zero(e.subject), data_json=zero(e.data_json)) for e in events]
    if len({e.id for e in out}) != len(out):
        raise ValueError("two template events have the same id once their UUIDs end in zeros")
    return out


def copy_ids(value: str, j: int) -> str:
    """``value`` with every template UUID in it made copy ``j``'s."""
    return value.replace(_TAIL, f"-{j:012x}")


def copy_events(template: Sequence[Event], j: int) -> list[Event]:
    """Copy ``j`` of the template's events (copy 0 is the template itself)."""
    return [
        replace(e, id=copy_ids(e.id, j), subject=copy_ids(e.subject, j), data_json=copy_ids(e.data_json, j))
        for e in template
    ]


def apply_events(engine: Engine, events: Sequence[Event], first_offset: int = 0, batch: int = 5000) -> None:
    """Apply ``events`` with the real apply step, as partition 0 of source ``seed`` from ``first_offset``."""
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        deliveries = [
            Delivery(0, first_offset + start + i, e, after=first_offset + start + i - 1)
            for i, e in enumerate(chunk)
        ]
        apply_batch(engine, SOURCE, deliveries, track_rollups=True)


@dataclass
class Seeded:
    submissions: int
    template: int
    copies: int
    seconds: float


def _rewrite(column: str) -> str:
    return f"replace({column}, '{_TAIL}', '-' || lpad(to_hex(j), 12, '0'))"


def seed(
    engine: Engine, submissions: int, template: int = 10_000, events: Sequence[Event] | None = None
) -> Seeded:
    """Seed an empty, migrated aggregator database with ``submissions`` submissions (a multiple of
    ``template``; ``events``: the template's events, else ``make_events(template)``)."""
    if submissions % template:
        raise ValueError(f"submissions ({submissions}) must be a multiple of the template ({template})")
    t0 = time.perf_counter()
    events = template_events(events if events is not None else make_events(template))
    if len(events) != template:
        raise ValueError(f"the template has {len(events)} events, not {template}")
    apply_events(engine, events)
    copies = submissions // template
    statements = [
        f"""INSERT INTO facts (lineage_id, submission_id, form, district, enterprise, industry, day,
                review_status, payload)
            SELECT {_rewrite("lineage_id")}, {_rewrite("submission_id")}, form, district, enterprise, industry,
                day, review_status, {_rewrite("payload")}
            FROM facts, generate_series(1, :m - 1) AS j""",
        f"""INSERT INTO versions (submission_id, lineage_id)
            SELECT {_rewrite("submission_id")}, {_rewrite("lineage_id")}
            FROM versions, generate_series(1, :m - 1) AS j""",
        f"""INSERT INTO hazards (hazard_id, inspection_lineage, district, industry, found_on, severity, category,
                deadline, counts, rectified_on, rectified_on_time)
            SELECT {_rewrite("hazard_id")}, {_rewrite("inspection_lineage")}, district, industry, found_on,
                severity, category, deadline, counts, rectified_on, rectified_on_time
            FROM hazards, generate_series(1, :m - 1) AS j""",
        f"""INSERT INTO hazard_rectifications (rectification_lineage, hazard_id, rectified_on, on_time)
            SELECT {_rewrite("rectification_lineage")}, {_rewrite("hazard_id")}, rectified_on, on_time
            FROM hazard_rectifications, generate_series(1, :m - 1) AS j""",
        f"""INSERT INTO processed_events (event_id, "partition", "offset")
            SELECT {_rewrite("event_id")}, "partition", "offset" + j * :k
            FROM processed_events, generate_series(1, :m - 1) AS j""",
        "UPDATE daily SET value = value * :m",
        'UPDATE daily_members SET "count" = "count" * :m',
        """UPDATE positions SET "offset" = :n - 1, applied = :n WHERE source = :source""",
    ]
    if copies > 1:
        with engine.begin() as conn:
            for sql in statements:
                conn.execute(text(sql), {"m": copies, "k": template, "n": submissions, "source": SOURCE})
        # fresh statistics (the planner has to know the tables' new size) and, for the tables reports read,
        # the visibility map that lets them be read from their indexes: what autovacuum gives a live database
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("daily", "daily_members", "hazards", "hazard_rectifications"):
                conn.execute(text(f"VACUUM (ANALYZE) {table}"))
            conn.execute(text("ANALYZE"))
    return Seeded(submissions, template, copies, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "url", help="the aggregator database (SQLAlchemy URL, PostgreSQL), migrated here if needed"
    )
    parser.add_argument("--submissions", type=int, default=1_000_000, help="default 1000000")
    parser.add_argument(
        "--template", type=int, default=10_000, help="events applied for real (default 10000)"
    )
    args = parser.parse_args(argv)
    engine = make_engine(args.url)
    upgrade("aggregator", engine)
    done = seed(engine, args.submissions, args.template)
    print(
        f"seeded {done.submissions:,} submissions ({done.template:,} applied x {done.copies} copies) "
        f"in {done.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
