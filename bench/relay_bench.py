"""Relay throughput (outbox -> Kafka) next to a raw kafka-python producer, measured in the same run.

    .venv/bin/python bench/relay_bench.py [--events 20000]

Starts a real Kafka broker and PostgreSQL with tests/servers.py (or reuses the ones named by
SCORE_TEST_KAFKA_BOOTSTRAP / SCORE_TEST_DATABASE_URL), fills the outbox with N events of about 1 KB, drains it
with ``Relay`` + ``KafkaPublisher`` and then sends the same N records (same keys, values and CloudEvents headers)
with a bare ``KafkaProducer`` (acks=all, idempotent) to another topic.  Prints both rates and their ratio.
Both producers have the same settings where they bear on throughput, log in and fetch the topic's metadata
before the clock starts, and are timed until every record is acknowledged (the relay: and marked).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from kafka import KafkaProducer  # noqa: E402

from bench import procs  # noqa: E402
from services.common.config import Settings  # noqa: E402
from services.common.db import make_engine  # noqa: E402
from services.common.migrate import upgrade  # noqa: E402
from services.eventlog import outbox as ob  # noqa: E402
from services.eventlog.envelope import Event  # noqa: E402
from services.eventlog.kafka import KafkaConnection, KafkaPublisher, ensure_topics  # noqa: E402
from services.eventlog.relay import Relay  # noqa: E402
from tests.servers import KafkaBroker, PostgresServer  # noqa: E402

DISTRICTS = ["330102", "330106", "330700", "330784"]


def realistic_events(n: int, seed: int = 7) -> list[Event]:
    """Inspection-shaped events of about 1 KB, keyed by enterprise (200 enterprises)."""
    rnd = random.Random(seed)
    events = []
    for i in range(n):
        district = DISTRICTS[i % len(DISTRICTS)]
        enterprise = f"91{district}MA{rnd.randrange(200):07d}X"
        sid = str(uuid.UUID(int=rnd.getrandbits(128)))
        items = [
            {
                "code": f"MACH-{j + 1:02d}",
                "category": rnd.choice(["machinery", "electrical", "fire", "chemicals"]),
                "result": rnd.choice(["pass", "pass", "pass", "fail"]),
            }
            for j in range(8)
        ]
        data = {
            "submission_id": sid,
            "form": "factory_inspection",
            "form_version": 1,
            "district": district,
            "enterprise": enterprise,
            "collector": {"id": "insp-0042", "role": "inspector"},
            "collected_at": "2026-11-20T10:00:00+08:00",
            "received_at": "2026-11-20T02:00:05Z",
            "replaces": None,
            "data": {
                "enterprise": {"credit_code": enterprise, "name": f"永康五金制品厂 {i}", "industry": "C33"},
                "inspection_date": "2026-11-20",
                "score_modules": ["M1", "M5"],
                "items": items,
            },
            "computed": {"items": len(items), "failed": sum(it["result"] == "fail" for it in items)},
        }
        events.append(
            Event.new(
                type="org.ilo.score.submission.accepted.v1",
                source="/score/intake",
                subject=sid,
                key=enterprise,
                data=data,
                id=f"{sid}:received",
            )
        )
    return events


def start_servers(work: Path) -> tuple[KafkaBroker, PostgresServer]:
    broker = KafkaBroker.from_env_or_start(work / "kafka")
    pg = PostgresServer.from_env_or_start(work / "pg")
    return broker, pg


@dataclass
class Timed:
    seconds: float
    cpu_seconds: float  # this process (user + system)
    db_cpu_seconds: float | None = None  # PostgreSQL's backends, when the server is ours to look at


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peak_rss() -> bool:
    """Start this process's peak RSS afresh (Linux: ``5`` to /proc/self/clear_refs), so the relay's peak is
    not the raw producer's that ran before it; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def bench_relay(
    settings: Settings, events: list[Event], batch_size: int, postmaster: int | None = None
) -> Timed:
    engine = make_engine(settings.intake_database_url)
    upgrade("intake", engine)
    for start in range(0, len(events), 2000):
        with engine.begin() as conn:
            ob.append(conn, events[start : start + 2000])
    relay = Relay(
        engine,
        lambda: KafkaPublisher(KafkaConnection.from_settings(settings), settings.topic),
        batch_size=batch_size,
        holder="bench",
    )
    # Not timed, as for the raw producer: log in and fetch the topic's metadata before the clock starts.
    publisher = relay._get_publisher()
    assert isinstance(publisher, KafkaPublisher)
    publisher.ready()
    db0 = procs.cpu_seconds(procs.tree(postmaster)) if postmaster else None
    cpu0 = _own_cpu()
    t0 = time.perf_counter()
    sent = relay.drain(timeout=300)
    elapsed = time.perf_counter() - t0
    cpu = _own_cpu() - cpu0
    # before the engine lets its backends go: a backend that exits takes its CPU figure with it
    db = procs.cpu_seconds(procs.tree(postmaster)) - db0 if postmaster and db0 is not None else None
    relay._reset_publisher()
    engine.dispose()
    assert sent == len(events), (sent, len(events))
    return Timed(elapsed, cpu, db)


def bench_raw(bootstrap: str, topic: str, events: list[Event], login: dict[str, Any]) -> Timed:
    # The relay's producer settings that bear on throughput (KafkaPublisher): acks=all, idempotent, 5 requests
    # in flight, linger 5 ms, default batch size, no compression.  Its other settings only bound waits.
    producer = KafkaProducer(
        **login,
        bootstrap_servers=bootstrap,
        client_id="bench-raw",
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        linger_ms=5,
        compression_type=None,
    )
    try:
        # Not timed, and the same warm-up as the relay's (KafkaPublisher.ready): log in, the topic's metadata.
        producer.partitions_for(topic)
        cpu0 = _own_cpu()
        t0 = time.perf_counter()
        futures = [
            producer.send(topic, key=e.kafka_key(), value=e.kafka_value(), headers=e.kafka_headers())
            for e in events
        ]
        producer.flush()
        for f in futures:
            f.get(timeout=0)
        return Timed(time.perf_counter() - t0, _own_cpu() - cpu0)
    finally:
        producer.close(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20000, help="events to publish (default 20000)")
    parser.add_argument("--batch-size", type=int, default=500, help="relay batch size (default 500)")
    parser.add_argument(
        "--json", type=Path, help="also write the figures to this file (bench/run.py reads it)"
    )
    args = parser.parse_args(argv)

    events = realistic_events(args.events)
    avg = sum(len(e.kafka_value()) for e in events) / max(1, len(events))
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        work = Path(tmp)
        print("starting (or reusing) Kafka and PostgreSQL ...", flush=True)
        broker, pg = start_servers(work)
        try:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            settings = replace(
                Settings(),
                intake_database_url=pg.fresh_database(name),
                kafka_bootstrap_servers=broker.bootstrap,
                **broker.admin.settings_fields(),
                topic=f"score.{name}.v1",
                dead_letter_topic=f"score.{name}.dlq.v1",
                rollup_topic=f"score.{name}.rollups.v1",
            )
            ensure_topics(settings)
            raw_topics = [f"score.{name}.raw{i}.v1" for i in (0, 1, 2)]
            for topic in raw_topics:
                ensure_topics(replace(settings, topic=topic))
            login = broker.admin.client_kwargs()
            postmaster = procs.postmaster_pid(pg.dir / "data") if pg.dir is not None else None

            # A broker just started is slower until its JIT has compiled the produce path (measured here:
            # a first run of 10,000 raw records at 0.66-0.75 of the next ones, still warming after that),
            # so an untimed run warms it first.  Then the raw producer runs before and after the relay and
            # its ceiling is the mean: the broker keeps warming and the load drifts.
            bench_raw(broker.bootstrap, raw_topics[0], events[:10000], login)
            raws = [bench_raw(broker.bootstrap, raw_topics[1], events, login)]
            fresh_peak = _reset_peak_rss()
            relay = bench_relay(settings, events, args.batch_size, postmaster)
            relay_rss = procs.self_peak_rss_mb()  # since the reset: the relay's own peak (and the events')
            raws.append(bench_raw(broker.bootstrap, raw_topics[2], events, login))
        finally:
            if not broker.external:
                broker.stop()
            if not pg.external:
                pg.stop()

    n = len(events)
    relay_rate = n / relay.seconds
    raw_rates = [n / r.seconds for r in raws]
    raw_rate = sum(raw_rates) / len(raw_rates)
    raw_cpu = sum(r.cpu_seconds for r in raws) / len(raws)
    print()
    print(
        f"events: {n}, average value {avg:.0f} bytes, {settings.topic_partitions} partitions, acks=all, idempotent"
    )
    relay_label = f"relay (outbox on PostgreSQL -> Relay.drain, batch {args.batch_size}):"
    db = f", PostgreSQL {relay.db_cpu_seconds / n * 1e6:.0f} us" if relay.db_cpu_seconds is not None else ""
    print(
        f"{relay_label:<56}{relay.seconds:8.2f} s  {relay_rate:10.0f} events/s  "
        f"CPU/event: process {relay.cpu_seconds / n * 1e6:.0f} us{db}"
    )
    raw_label = "raw kafka-python KafkaProducer (same records), before/after:"
    print(
        f"{raw_label:<56}{' / '.join(f'{r:.0f}' for r in raw_rates)} events/s, mean {raw_rate:.0f}  "
        f"CPU/event: process {raw_cpu / n * 1e6:.0f} us"
    )
    print(f"ratio relay/raw: {relay_rate / raw_rate:.2f}")
    if not fresh_peak:
        print("(peak RSS could not be reset: it includes the raw producer's run before the relay)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "events": n,
                    "value_bytes": avg,
                    "relay_rate": relay_rate,
                    "raw_rate": raw_rate,
                    "raw_rates": raw_rates,
                    "relay_seconds": relay.seconds,
                    "raw_seconds": [r.seconds for r in raws],
                    "relay_cpu_us_per_event": relay.cpu_seconds / n * 1e6,
                    "relay_db_cpu_us_per_event": (
                        relay.db_cpu_seconds / n * 1e6 if relay.db_cpu_seconds is not None else None
                    ),
                    "raw_cpu_us_per_event": raw_cpu / n * 1e6,
                    "peak_rss_mb": relay_rss,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
