"""Pruning old event-id claims: re-sends the kept claims cover are still recognised, and verify stays exact.

The log here is written by the test (deliveries at chosen partitions and offsets, and the same records handed to
``reconcile``), so each case is exact; the databases are the real ones (SQLite, and PostgreSQL under ``real``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, update

from services.aggregator.adapters.tables import processed_events
from services.aggregator.service_layer.apply import apply_batch
from services.aggregator.service_layer.prune import PartitionPrune, cutoff, prune
from services.aggregator.service_layer.verify import reconcile, verify
from services.aggregator.views import pruned_positions
from services.cli import main
from services.common.config import Settings
from services.common.db import make_engine
from services.eventlog.envelope import Event
from services.eventlog.source import Delivery, LogRecord
from tests.builders import inspection
from tests.embedded import migrated_with, use_embedded
from tests.integration.test_apply_edges import _accepted, _inspections

SOURCE = "t"
AGED = datetime.now(UTC) - timedelta(days=100)


def _claims(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(processed_events)).scalar_one())


def _age(engine: Engine, event_ids: list[str]) -> None:
    """Date these claims 100 days back, as if the events had been applied then."""
    with engine.begin() as conn:
        conn.execute(
            update(processed_events).where(processed_events.c.event_id.in_(event_ids)).values(claimed_at=AGED)
        )


def _log(deliveries: list[Delivery]) -> list[LogRecord]:
    return [LogRecord(d.partition, d.offset, d.event.id if d.event else None) for d in deliveries]


def test_pruned_claims_keep_verify_exact_and_kept_claims_still_catch_re_sends(backend: Settings) -> None:
    engine = make_engine(backend.aggregator_database_url)
    events: dict[str, Event] = {f"e{i}": _accepted(inspection(enterprise=i + 1), f"e{i}") for i in range(9)}
    # partition 0: e0..e3, then e0 again (a re-send among the old records); partition 1: e4..e7
    log = [Delivery(0, i, events[f"e{i}"]) for i in range(4)] + [Delivery(0, 4, events["e0"])]
    log += [Delivery(1, i, events[f"e{4 + i}"]) for i in range(4)]
    first = apply_batch(engine, SOURCE, log)
    assert (first.applied, first.duplicates) == (8, 1)
    _age(engine, ["e0", "e1", "e4"])
    later = [Delivery(0, 5, events["e8"])]
    assert apply_batch(engine, SOURCE, later).applied == 1
    log += later

    dry = prune(engine, SOURCE, cutoff(timedelta(days=30)), dry_run=True)
    assert dry == [PartitionPrune(0, -1, 1, 2), PartitionPrune(1, -1, 0, 1)]
    assert _claims(engine) == 9  # a dry run deletes nothing

    assert prune(engine, SOURCE, cutoff(timedelta(days=30))) == dry
    assert _claims(engine) == 6
    with engine.connect() as conn:
        assert pruned_positions(conn, SOURCE) == {0: (1, 2), 1: (0, 1)}
    # again: nothing more is old enough, the watermarks stay
    assert prune(engine, SOURCE, cutoff(timedelta(days=30))) == [
        PartitionPrune(0, 1, 1, 0),
        PartitionPrune(1, 0, 0, 0),
    ]

    # re-sends of events whose claims were kept (above the watermarks) are still duplicates; the SQL log's
    # numbers may skip, which is how partition 1 leaves offset 4 out of its log here
    re_sent = [Delivery(0, 6, events["e3"]), Delivery(1, 5, events["e5"], after=3)]
    result = apply_batch(engine, SOURCE, re_sent)
    assert (result.applied, result.duplicates) == (0, 2)
    log += re_sent
    assert _inspections(engine) == 9

    assert verify(engine).ok
    accounts = reconcile(engine, SOURCE, _log(log))
    assert accounts.ok and accounts.gaps == 0 and accounts.pending == 0, accounts
    p0, p1 = accounts.partitions[0], accounts.partitions[1]
    # partition 0: e0, e1 (claims pruned), e2, e3, e8 applied; e0 and e3 again, duplicates
    assert (p0.records, p0.applied, p0.duplicates, p0.pruned, p0.counted) == (7, 5, 2, 3, 7)
    assert (p1.records, p1.applied, p1.duplicates, p1.pruned, p1.counted) == (5, 4, 1, 1, 5)

    # a record the consumer never handled is still caught after a prune: its partition's counters disagree
    gap = reconcile(engine, SOURCE, [*_log(log), LogRecord(1, 4, "never-applied")])
    assert not gap.ok and not gap.partitions[1].ok and gap.partitions[0].ok


def test_the_prune_command_counts_on_a_dry_run_then_prunes_and_verify_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_embedded(tmp_path, monkeypatch)
    runner = CliRunner()
    system = migrated_with(runner, *(inspection(enterprise=i + 1) for i in range(3)))
    engine = system.aggregator.engine
    with engine.connect() as conn:
        ids = list(
            conn.execute(select(processed_events.c.event_id).order_by(processed_events.c.offset)).scalars()
        )
    _age(engine, ids[:2])

    helped = runner.invoke(main, ["aggregator", "prune", "--help"])
    assert helped.exit_code == 0 and "--older-than" in helped.output and "--dry-run" in helped.output
    assert runner.invoke(main, ["aggregator", "prune", "--older-than", "soon"]).exit_code == 2

    dry = runner.invoke(main, ["aggregator", "prune", "--older-than", "30d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "partition 0: would prune 2 claims at or before offset" in dry.output
    assert _claims(engine) == 3
    done = runner.invoke(main, ["aggregator", "prune", "--older-than", "30d"])
    assert done.exit_code == 0 and "pruned 2 claims made before" in done.output, done.output
    assert _claims(engine) == 1
    verified = runner.invoke(main, ["aggregator", "verify", "--caught-up"])
    assert verified.exit_code == 0, verified.output
    assert "3 applied, 0 duplicates" in verified.output
