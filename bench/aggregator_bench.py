"""Aggregator throughput into PostgreSQL, next to a raw Kafka consumer reading the same topic and a set-based
write of the same rows, in the same run.

Starts PostgreSQL and Kafka with the project's scripts (or reuses SCORE_TEST_DATABASE_URL /
SCORE_TEST_KAFKA_BOOTSTRAP), creates a fresh topic (3 partitions) and a fresh aggregator database, and
produces ``--events`` realistic submission events (factory inspections with hazards, worker surveys,
hazard rectifications; CloudEvents binary-mode headers exactly as the relay sends them) with a raw producer.
Then it measures, in this one run:

- aggregator: ``--processes`` ``score aggregator consume`` processes in one consumer group, as deployed
  (default ``DEPLOYED_PROCESSES``; 0: ``Consumer.run_until_caught_up`` in this process, for profiling), every
  event applied exactly once (claimed in processed_events, base cells, facts, hazard ledger and positions in
  one transaction per batch) - the events/s they sustain once the group is stable, and their CPU and
  PostgreSQL's per event; if they cannot catch up within ``--aggregator-seconds`` the rate is measured on
  what was applied by then and the rest is extrapolated (said so in the output);
- baseline: a bare kafka-python ``KafkaConsumer`` reading the whole topic end to end (no decoding, no
  database) - the ceiling of this broker, client and machine;
- set-based write: the rows the aggregator left (every table its apply step filled), written again into a
  fresh copy of the schema by one binary ``COPY`` per table in one transaction - the database's ceiling for
  those rows (``set_based_write``);
- the median latency of a district quarter report (Jinhua, covering Yongkang) over 20 queries after ingest.

It prints the rates, the aggregator's ratio to each ceiling and a 1,000,000-event figure (extrapolated
unless measured).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.errors import KafkaError  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench import procs  # noqa: E402
from services.aggregator import views  # noqa: E402
from services.aggregator.adapters.tables import metadata as aggregator_tables  # noqa: E402
from services.aggregator.bootstrap import bootstrap  # noqa: E402
from services.common.config import Settings  # noqa: E402
from services.common.db import make_engine  # noqa: E402
from services.common.gctune import tune_gc  # noqa: E402
from services.common.migrate import upgrade  # noqa: E402
from services.eventlog.contracts import SUBMISSION_ACCEPTED as ACCEPTED  # noqa: E402
from services.eventlog.envelope import Event  # noqa: E402
from services.eventlog.kafka import KafkaConnection, KafkaLogReader, client_security, ensure_topics  # noqa: E402
from services.intake.adapters.events import SOURCE  # noqa: E402
from services.intake.forms import scoring  # noqa: E402
from tests.builders import credit_code, inspection, survey  # noqa: E402
from tests.servers import KafkaBroker, PostgresServer, _conninfo  # noqa: E402

DISTRICTS = [
    "330102",
    "330105",
    "330106",
    "330108",
    "330110",
    "330702",
    "330782",
    "330783",
    "330784",
    "330784",
]
#: ``score aggregator consume`` processes of the production setting for this 2-core machine class (README
#: "Benchmarks"): the way the bench runs the aggregator by default.  Two measured no faster here and cost more
#: CPU an event (consumers 122 vs 108 us, PostgreSQL 74 vs 57 us: each batch sums the cells of half the
#: events, so shared cells are upserted twice as often); more processes pay where there are more cores.
DEPLOYED_PROCESSES = 1
CATEGORIES = ["machinery", "electrical", "fire", "dust_explosion", "ppe"]
START = date(2026, 1, 1)
RECEIVED = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


def _event(data: dict[str, Any], key: str) -> Event:
    return Event.new(
        type=ACCEPTED,
        source=SOURCE,
        subject=data["submission_id"],
        key=key,
        data=data,
        id=f"{data['submission_id']}:received",
        time=RECEIVED,
    )


def _envelope(body: dict[str, Any], enterprise: str, computed: dict[str, Any]) -> dict[str, Any]:
    return {
        "submission_id": body["submission_id"],
        "form": body["form"],
        "form_version": 1,
        "district": body["district"],
        "enterprise": enterprise,
        "collector": body["collector"],
        "collected_at": body["collected_at"],
        "received_at": RECEIVED.isoformat(),
        "replaces": None,
        "data": body["data"],
        "computed": computed,
    }


def make_events(n: int) -> list[Event]:
    """``n`` events: ~60% inspections (a third with one or two hazards), ~30% surveys, ~10% rectifications
    (each after its inspection, with the same key so they share a partition)."""
    out: list[Event] = []
    i = 0
    while len(out) < n:
        district = DISTRICTS[i % len(DISTRICTS)]
        ent = i % 5000
        day = START + timedelta(days=(i * 13) % 330)
        ent_code = credit_code(ent, district)
        if i % 10 < 6:
            failed = []
            if i % 3 == 0:
                for k in range(1 + i % 2):
                    sev = "major" if (i + k) % 7 == 0 else "general"
                    dl = (day + timedelta(days=10 + k)).isoformat()
                    failed.append((f"H-{k:02d}", CATEGORIES[(i + k) % len(CATEGORIES)], sev, dl))
            body = inspection(
                district,
                ent,
                day,
                failed,
                passed=8 + i % 20,
                industry="C34" if i % 2 else "C33",
                modules=["M1", "M5"] if i % 4 else ["M1", "M2", "M3"],
            )
            results = [it["result"] for it in body["data"]["items"]]
            hazards = [
                {
                    "hazard_id": f"{body['submission_id']}:{it['code']}",
                    "item_code": it["code"],
                    "category": it["category"],
                    "severity": it["hazard"]["severity"],
                    "deadline": it["hazard"]["deadline"],
                }
                for it in body["data"]["items"]
                if it["result"] == "fail"
            ]
            computed = {
                "score": scoring.score(results),
                "items_checked": len(results),
                "items_failed": len(hazards),
                "hazards": hazards,
            }
            out.append(_event(_envelope(body, ent_code, computed), ent_code))
            if hazards and i % 2 == 0 and len(out) < n:
                h = hazards[0]
                on = day + timedelta(days=3 + i % 15)
                rect = {
                    "submission_id": str(uuid.uuid4()),
                    "form": "hazard_rectification",
                    "district": district,
                    "collector": {"id": "insp-0042", "role": "inspector"},
                    "collected_at": f"{on.isoformat()}T15:00:00+08:00",
                    "data": {
                        "inspection_id": body["submission_id"],
                        "item_code": h["item_code"],
                        "rectified_on": on.isoformat(),
                        "verified_by": {"id": "insp-0007", "role": "inspector"},
                    },
                }
                hazard = {
                    **{k: h[k] for k in ("hazard_id", "item_code", "category", "severity", "deadline")},
                    "inspection_id": body["submission_id"],
                    "inspection_root": body["submission_id"],
                    "found_on": day.isoformat(),
                    "district": district,
                    "industry": body["data"]["enterprise"]["industry"],
                }
                out.append(_event(_envelope(rect, ent_code, {"hazard": hazard}), ent_code))
        else:
            body = survey(
                district, ent, day, climate=1 + i % 5, cooperation=1 + (i // 5) % 5, injured=i % 17 == 0
            )
            computed = {
                "safety_climate_index": float(1 + i % 5),
                "cooperation_index": float(1 + (i // 5) % 5),
            }
            out.append(_event(_envelope(body, ent_code, computed), ent_code))
        i += 1
    return out[:n]


def produce(bootstrap_servers: str, topic: str, events: list[Event], login: dict[str, Any]) -> float:
    producer = KafkaProducer(
        **login,
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    t0 = time.perf_counter()
    for e in events:
        producer.send(topic, key=e.kafka_key(), value=e.kafka_value(), headers=e.kafka_headers())
    producer.flush()
    producer.close()
    return time.perf_counter() - t0


def raw_read(bootstrap_servers: str, topic: str, partitions: int, login: dict[str, Any]) -> tuple[int, float]:
    """Read the whole topic with a bare KafkaConsumer (no group, no decoding): (records, seconds)."""
    consumer = KafkaConsumer(
        **login, bootstrap_servers=bootstrap_servers, enable_auto_commit=False, max_poll_records=5000
    )
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    t0 = time.perf_counter()
    seen = 0
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        for records in consumer.poll(timeout_ms=1000).values():
            seen += len(records)
    elapsed = time.perf_counter() - t0
    consumer.close()
    return seen, elapsed


@dataclass
class Applied:
    """What the aggregator did in the bench, whichever way it ran."""

    applied: int
    duplicates: int
    dead_letters: int
    #: seconds the rate is measured over, and the records handled in them
    seconds: float
    handled: int
    #: from the start of the consumers (imports, joining the group) to the last record applied
    wall_seconds: float
    caught_up: bool
    #: CPU seconds of the consumer(s), and of PostgreSQL when measured here, over ``seconds``
    cpu_s: float
    peak_rss_mb: float
    pg_cpu_s: float | None = None


def in_process(settings: Settings, batch: int, budget: float) -> Applied:
    """One ``Consumer`` in this interpreter (``--processes 0``: the way to profile the apply step)."""
    agg = bootstrap(settings)
    cpu0 = time.process_time()
    consumer = agg.consumer()
    tune_gc()  # as score aggregator consume does
    if batch:
        consumer.batch_size = batch  # pinned; by default it grows while catching up
    t0 = time.perf_counter()
    caught_up = True
    try:
        consumer.run_until_caught_up(timeout=budget)
    except TimeoutError:
        caught_up = False
    agg_s = time.perf_counter() - t0
    cpu_s = time.process_time() - cpu0
    consumer.close()
    st = consumer.stats
    handled = st.applied + st.duplicates + st.dead_letters + st.redelivered
    return Applied(
        st.applied,
        st.duplicates,
        st.dead_letters,
        agg_s,
        handled,
        agg_s,
        caught_up,
        cpu_s,
        procs.self_peak_rss_mb(),
    )


def _group_stable(settings: Settings, members: int, timeout: float = 120.0) -> None:
    """Wait until the consumer group has ``members`` members and is Stable (every partition assigned)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **client_security(settings))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = admin.describe_groups([settings.consumer_group])[settings.consumer_group]
            except KafkaError as exc:
                # the group's coordinator is still being elected while the first member joins
                # (CoordinatorNotAvailable): ask again; without this the thread died and the rate was measured
                # from the processes' start, imports and group join included
                if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
                continue
            if info.get("group_state") == "Stable" and len(info.get("members", [])) == members:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {members} consumers did not form a stable group: {info}")
            time.sleep(0.1)
    finally:
        admin.close()


def deployed(
    settings: Settings, login_env: dict[str, str], n: int, budget: float, logs: Path, pg_pid: int | None
) -> Applied:
    """``n`` ``score aggregator consume`` processes in one consumer group, as deployed (README "Deploying"),
    until the positions they store reach the end of every partition.

    The rate is measured from the moment the group is Stable with all ``n`` members (the processes start,
    import, join and rebalance as each joins: seconds that belong to starting, not to applying) to the last
    record, over the records handled in between, and so is CPU (the processes' own and PostgreSQL's, from
    ``/proc``, read before the processes stop and their database sessions end); when nearly everything was
    applied before that moment (a tiny smoke run) all of it counts from their start (``wall_seconds``)."""
    env = {
        **os.environ,
        **login_env,
        "SCORE_AGGREGATOR_DATABASE_URL": settings.aggregator_database_url,
        "SCORE_INTAKE_DATABASE_URL": settings.aggregator_database_url,  # not used by the consumer
        "SCORE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SCORE_TOPIC": settings.topic,
        "SCORE_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "SCORE_ROLLUP_TOPIC": settings.rollup_topic,
        "SCORE_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "SCORE_CONSUMER_GROUP": settings.consumer_group,
    }
    env.pop("SCORE_METRICS_PORT", None)
    engine = make_engine(settings.aggregator_database_url)
    source = f"kafka:{settings.topic}"
    reader = KafkaLogReader(KafkaConnection.from_settings(settings), settings.topic)
    ends = reader.end_positions()
    reader.close()
    score = str(Path(sys.executable).parent / "score")
    children: list[subprocess.Popen[bytes]] = []

    def cpu_now() -> tuple[float, float]:
        """CPU seconds so far of the consumer processes and of PostgreSQL (all its backends)."""
        mine = procs.cpu_seconds([p for c in children for p in procs.tree(c.pid)])
        return mine, procs.cpu_seconds(procs.tree(pg_pid)) if pg_pid else 0.0

    caught_up = False
    rss = 0.0
    cpu_zero = cpu_start = cpu_end = (0.0, 0.0)
    if pg_pid:
        cpu_zero = cpu_start = (0.0, procs.cpu_seconds(procs.tree(pg_pid)))
    t0 = time.perf_counter()
    try:
        for i in range(n):
            children.append(
                subprocess.Popen(
                    [score, "aggregator", "consume"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=(logs / f"consumer-{i}.log").open("wb"),
                )
            )
        stable = threading.Thread(target=_group_stable, args=(settings, n), daemon=True)
        stable.start()
        start: tuple[float, int] | None = None
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        'SELECT partition, "offset", applied, duplicates, dead_letters FROM positions '
                        "WHERE source = :s"
                    ),
                    {"s": source},
                ).all()
            now = time.perf_counter()
            at = {r.partition: r.offset for r in rows}
            handled = sum(at.get(p, -1) + 1 for p in ends)
            if start is None and not stable.is_alive():
                start = (now, handled)
                cpu_start = cpu_now()
            if all(at.get(p, -1) >= end for p, end in ends.items()):
                caught_up = True
                break
            if any(c.poll() is not None for c in children):
                raise RuntimeError(f"a consumer process ended early (logs in {logs})")
            if now - t0 > budget:
                break
            time.sleep(0.05)
        cpu_end = cpu_now()
        rss = procs.peak_rss_mb([p for c in children for p in procs.tree(c.pid)])
    finally:
        procs.stop_all(children)
    total = sum(end + 1 for end in ends.values())
    if start is None or handled - start[1] < total // 10:
        start, cpu_start = (t0, 0), cpu_zero
    return Applied(
        sum(r.applied for r in rows),
        sum(r.duplicates for r in rows),
        sum(r.dead_letters for r in rows),
        now - start[0],
        handled - start[1],
        now - t0,
        caught_up,
        cpu_end[0] - cpu_start[0],
        rss,
        (cpu_end[1] - cpu_start[1]) if pg_pid else None,
    )


def set_based_write(pg: PostgresServer, source_url: str, name: str) -> tuple[float, dict[str, int]]:
    """Seconds to write the rows the aggregator left in ``source_url`` (every table its apply step filled:
    facts, cells, hazards, claims, positions...) into a fresh copy of the schema in one transaction, with a
    binary ``COPY`` per table read beforehand, so that only PostgreSQL's writing is timed: the database's
    ceiling for what the aggregator wrote.  Also the rows per table.  The aggregator upserts cells many
    times over where this writes each final row once: its rate next to this one is what the event-by-event
    exactness costs on top of the writing itself."""
    target_url = pg.fresh_database(f"{name}_copy")
    upgrade("aggregator", make_engine(target_url))
    tables = [t for t in aggregator_tables.sorted_tables if t.name != "alembic_version"]
    chunks: list[tuple[str, list[bytes]]] = []
    counts: dict[str, int] = {}
    with psycopg.connect(_conninfo(make_url(source_url))) as src:
        for table in tables:
            cols = ", ".join(f'"{c.name}"' for c in table.columns)
            copied = f'COPY "{table.name}" ({cols})'
            row = src.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()
            counts[table.name] = int(row[0]) if row else 0
            if counts[table.name]:
                with src.cursor().copy(f"{copied} TO STDOUT (FORMAT BINARY)") as out:
                    chunks.append((f"{copied} FROM STDIN (FORMAT BINARY)", [bytes(c) for c in out]))
    with psycopg.connect(_conninfo(make_url(target_url))) as dst:
        t0 = time.perf_counter()
        with dst.cursor() as cur:
            for statement, data in chunks:
                with cur.copy(statement) as into:
                    for chunk in data:
                        into.write(chunk)
        dst.commit()
        return time.perf_counter() - t0, {k: v for k, v in counts.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="events to produce (default 200000)")
    parser.add_argument("--partitions", type=int, default=3, help="topic partitions (default 3)")
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="pin the aggregator's batch size (default: the consumer's own, growing while catching up)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=DEPLOYED_PROCESSES,
        help="score aggregator consume processes in one group, as deployed (default "
        f"{DEPLOYED_PROCESSES}, the README's production setting); 0: one Consumer in this process (profiling)",
    )
    parser.add_argument(
        "--aggregator-seconds",
        type=float,
        default=45.0,
        help="time budget of the aggregator phase; past it the rate is measured on what was applied (default 45)",
    )
    parser.add_argument(
        "--queries", type=int, default=20, help="report queries for the latency median (default 20)"
    )
    parser.add_argument(
        "--json", type=Path, help="also write the figures to this file (bench/run.py reads it)"
    )
    args = parser.parse_args(argv)
    wall = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="score-aggbench-") as tmp:
        pg = PostgresServer.from_env_or_start(Path(tmp) / "pg")
        broker = KafkaBroker.from_env_or_start(Path(tmp) / "kafka")
        try:
            name = f"aggbench_{uuid.uuid4().hex[:8]}"
            settings = Settings(
                intake_database_url="",
                aggregator_database_url=pg.fresh_database(name),
                kafka_bootstrap_servers=broker.bootstrap,
                **broker.admin.settings_fields(),
                topic=f"score.{name}.v1",
                dead_letter_topic=f"score.{name}.dlq.v1",
                rollup_topic=f"score.{name}.rollups.v1",
                topic_partitions=args.partitions,
                consumer_group=f"g-{name}",
            )
            ensure_topics(settings)
            upgrade("aggregator", make_engine(settings.aggregator_database_url))

            t0 = time.perf_counter()
            events = make_events(args.events)
            gen_s = time.perf_counter() - t0
            avg_bytes = sum(len(e.kafka_value()) for e in events) / len(events)
            prod_s = produce(broker.bootstrap, settings.topic, events, broker.admin.client_kwargs())
            print(
                f"generated {len(events):,} events in {gen_s:.1f} s (mean payload {avg_bytes:.0f} B); "
                f"produced in {prod_s:.1f} s ({len(events) / prod_s:,.0f}/s)"
            )
            del events
            rss_before = procs.self_peak_rss_mb()  # generating the events is the bench's, not the consumer's

            pg_pid = procs.pid_listening(make_url(settings.aggregator_database_url).port or 5432)
            pg_cpu0 = procs.cpu_seconds(procs.tree(pg_pid)) if pg_pid else None
            if args.processes > 0:
                logs = Path(tmp) / "consumers"
                logs.mkdir()
                done = deployed(
                    settings, broker.admin.env(), args.processes, args.aggregator_seconds, logs, pg_pid
                )
                pg_cpu_s = done.pg_cpu_s
            else:
                done = in_process(settings, args.batch, args.aggregator_seconds)
                pg_cpu_s = (
                    procs.cpu_seconds(procs.tree(pg_pid)) - pg_cpu0
                    if pg_pid and pg_cpu0 is not None
                    else None
                )
            agg = bootstrap(settings)
            applied, caught_up, agg_s, cpu_s = done.applied, done.caught_up, done.wall_seconds, done.cpu_s
            agg_rss = done.peak_rss_mb
            agg_rate = done.handled / done.seconds if done.seconds > 0 else 0.0

            raw_n, raw_s = raw_read(
                broker.bootstrap, settings.topic, args.partitions, broker.admin.client_kwargs()
            )
            raw_rate = raw_n / raw_s
            copy_s, copied = set_based_write(pg, settings.aggregator_database_url, name)
            copy_rate = applied / copy_s if copy_s > 0 else 0.0

            period = views.period_of("quarter", date(2026, 11, 27))
            latencies = []
            for _ in range(args.queries):
                q0 = time.perf_counter()
                rep = views.district_report(agg.engine, "330700", period, None, date(2026, 11, 27))
                latencies.append(time.perf_counter() - q0)
            median_ms = statistics.median(latencies) * 1000
            ordered = sorted(latencies)
            p95_ms = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000

            n = args.events
            print()
            print("=== aggregator benchmark (PostgreSQL + Kafka, same run) ===")
            print(f"events on topic            {n:>12,}  ({args.partitions} partitions)")
            state = "all, caught up" if caught_up else f"budget {args.aggregator_seconds:.0f} s reached"
            how = (
                f"{args.processes} x score aggregator consume, one group"
                if args.processes
                else "one Consumer in this process"
            )
            print(
                f"aggregator applied         {applied:>12,}  in {agg_s:7.1f} s  ({state}; {how}; "
                f"duplicates {done.duplicates}, dead letters {done.dead_letters})"
            )
            print(
                f"aggregator, exact into PG  {agg_rate:>12,.0f}  events/s  ({done.handled:,} records in the "
                f"{done.seconds:.1f} s measured; {done.wall_seconds:.1f} s from the start)"
            )
            pg_us = (
                f"{pg_cpu_s * 1e6 / max(1, done.handled):.0f} us"
                if pg_cpu_s is not None
                else "unknown (not local)"
            )
            print(
                f"CPU per event              {cpu_s * 1e6 / max(1, done.handled):>12.0f}  us consumer(s), "
                f"{pg_us} PostgreSQL"
            )
            print(
                f"raw KafkaConsumer baseline {raw_rate:>12,.0f}  events/s  ({raw_n:,} records in {raw_s:.1f} s)"
            )
            print(
                f"ratio aggregator / raw     {agg_rate / raw_rate:>12.3f}  (raw is {raw_rate / agg_rate:.0f}x faster)"
            )
            print(
                f"set-based write            {copy_rate:>12,.0f}  events/s  (the rows of the {applied:,} events "
                f"applied, COPY into a fresh schema in one transaction: {copy_s:.2f} s; "
                + ", ".join(f"{t} {c:,}" for t, c in copied.items())
                + ")"
            )
            print(f"ratio aggregator / set-based {agg_rate / copy_rate if copy_rate else 0:>10.3f}")
            print(
                f"report latency             {median_ms:>12.1f}  ms median of {args.queries} "
                f"(Jinhua 330700, 2026-Q4, over the {applied:,} events applied; "
                f"{rep['figures']['inspections']:,} inspections in it)"
            )
            if n >= 1_000_000 and caught_up:
                print(f"1,000,000 events           {agg_s:>12.1f}  s measured")
            else:
                print(
                    f"1,000,000 events           {1_000_000 / agg_rate:>12.0f}  s aggregator, "
                    f"{1_000_000 / raw_rate:.0f} s raw - EXTRAPOLATED linearly from the rates above "
                    f"(measured on {applied:,} events, not run)"
                )
            if not caught_up:
                print(f"{n:,} events (all produced)  {n / agg_rate:>10.0f}  s aggregator - EXTRAPOLATED")
            print(f"total wall time            {time.perf_counter() - wall:>12.1f}  s")
            if args.json:
                args.json.write_text(
                    json.dumps(
                        {
                            "events": n,
                            "applied": applied,
                            "caught_up": caught_up,
                            "aggregator_seconds": agg_s,
                            "aggregator_rate": agg_rate,
                            "consumer_cpu_us": cpu_s * 1e6 / max(1, done.handled),
                            "postgres_cpu_us": None
                            if pg_cpu_s is None
                            else pg_cpu_s * 1e6 / max(1, done.handled),
                            "raw_rate": raw_rate,
                            "set_based_rate": copy_rate,
                            "set_based_seconds": copy_s,
                            "set_based_rows": copied,
                            "duplicates": done.duplicates,
                            "dead_letters": done.dead_letters,
                            "processes": args.processes,
                            "rate_seconds": done.seconds,
                            "report_p50_ms": median_ms,
                            "report_p95_ms": p95_ms,
                            "report_queries": args.queries,
                            "peak_rss_mb": agg_rss,
                            "peak_rss_before_consuming_mb": rss_before,
                        }
                    )
                )
        finally:
            if broker.dir is not None:
                broker.stop()
            if pg.dir is not None:
                pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
