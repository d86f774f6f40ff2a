"""``score``: the few commands people type. ``score --help`` lists them."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import click
from werkzeug.serving import make_server

from services.aggregator.bootstrap import bootstrap
from services.aggregator.entrypoints.app import create_app as reports_app
from services.aggregator.entrypoints.metrics import consumer_families
from services.aggregator.service_layer.rebuild import rebuild
from services.aggregator.service_layer.verify import reconcile, verify
from services.common import prom
from services.common.config import VARIABLES, ConfigError, Settings, from_env, markdown_table
from services.common.db import make_engine
from services.common.logs import configure_logging
from services.common.migrate import upgrade
from services.eventlog.kafka import KafkaPublisher, client_security, ensure_topics
from services.eventlog.metrics import relay_families
from services.eventlog.relay import Relay
from services.intake.entrypoints.app import create_app as intake_app


def _setup_logging(settings: Settings, verbose: bool = False) -> None:
    configure_logging(settings.log_format, verbose)  # the same configuration gunicorn's workers get


class _Commands(click.Group):
    """Settings that cannot work (a bad value, a password the broker refuses) end a command with one line
    naming what to fix, exit code 1, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """SCORE field-data platform: intake, event log and district rollups.

    Configuration comes from the environment (see README): with nothing set everything runs embedded on
    SQLite files under ./var and the built-in SQL event log.
    """
    settings = from_env()
    _setup_logging(settings, verbose)
    ctx.obj = settings


@main.command("config")
@click.option("--markdown", is_flag=True, help="Print the README's table of every variable (generated).")
@click.pass_obj
def config_cmd(settings: Settings, markdown: bool) -> None:
    """Every configuration variable with its default and meaning; without --markdown also this process's
    values (passwords are never shown)."""
    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    shown = {v.field: v for v in VARIABLES if v.field}
    for name, variable in shown.items():
        value = "(hidden)" if "password" in name else getattr(settings, name)
        click.echo(f"{variable.name}={value}")


@main.command("migrate")
@click.pass_obj
def migrate_cmd(settings: Settings) -> None:
    """Create or upgrade both services' database schemas (Alembic)."""
    _migrate(settings)
    click.echo("schemas are at head")


def _migrate(settings: Settings) -> None:
    upgrade("intake", make_engine(settings.intake_database_url))
    upgrade("aggregator", make_engine(settings.aggregator_database_url))
    if settings.uses_kafka:
        ensure_topics(settings)


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--intake-port", default=8000, show_default=True)
@click.option("--reports-port", default=8001, show_default=True)
@click.pass_obj
def run_cmd(settings: Settings, host: str, intake_port: int, reports_port: int) -> None:
    """Run the whole system in one process: intake API, relay (with Kafka), aggregator and reports."""
    _migrate(settings)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    intake = intake_app(settings)
    servers = [
        make_server(host, intake_port, intake, threaded=True),
        make_server(host, reports_port, reports_app(settings), threaded=True),
    ]
    for srv in servers:
        threads.append(threading.Thread(target=srv.serve_forever, daemon=True))
    if settings.uses_kafka:
        relay = _relay(settings)
        intake.extensions["score.relay"] = relay
        threads.append(threading.Thread(target=relay.run_forever, args=(stop,), daemon=True))
    consumer = bootstrap(settings).consumer()
    threads.append(threading.Thread(target=consumer.run_forever, args=(stop,), daemon=True))
    for t in threads:
        t.start()
    log = "Kafka at " + settings.kafka_bootstrap_servers if settings.uses_kafka else "embedded SQL event log"
    click.echo(f"event log:  {log}")
    click.echo(f"intake API: http://{host}:{intake_port}/api/v1/submissions  (docs: /api/v1/docs)")
    click.echo(f"reports:    http://{host}:{reports_port}/  (API: /api/v1/reports/districts)")
    click.echo("Ctrl-C stops.")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        stop.set()
        for srv in servers:
            srv.shutdown()
        consumer.close()


def _stop_on_signals() -> threading.Event:
    """SIGINT or SIGTERM end the loop after the current batch: the relay releases its lease, the consumer
    leaves its group, nothing is cut off between a publish and its mark."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _relay(settings: Settings) -> Relay:
    security = client_security(settings)
    return Relay(
        make_engine(settings.intake_database_url),
        lambda: KafkaPublisher(settings.kafka_bootstrap_servers, settings.topic, security=security),
        batch_size=settings.relay_batch_size,
    )


@main.command("relay")
@click.option("--drain", is_flag=True, help="Publish the backlog, then exit (instead of running for ever).")
@click.pass_obj
def relay_cmd(settings: Settings, drain: bool) -> None:
    """Publish outbox events to Kafka (needs SCORE_KAFKA_BOOTSTRAP_SERVERS)."""
    if not settings.uses_kafka:
        raise click.UsageError("the relay publishes to Kafka: set SCORE_KAFKA_BOOTSTRAP_SERVERS")
    # Only the topic it writes: on a locked broker the relay's user may not create the others (score migrate
    # does, with the admin's login).
    ensure_topics(settings, only=[settings.topic])
    relay = _relay(settings)
    if drain:
        n = relay.drain(timeout=3600)
        click.echo(f"published {n} events; backlog {relay.backlog()}")
        return
    if settings.metrics_port:
        prom.serve(settings.metrics_port, lambda: relay_families(relay))
    relay.run_forever(_stop_on_signals(), settings.relay_idle_seconds)


@main.group("aggregator")
def aggregator_group() -> None:
    """Consume the event log into rollups; rebuild; verify."""


@aggregator_group.command("consume")
@click.pass_obj
def consume_cmd(settings: Settings) -> None:
    """Consume the event log for ever (one member of the consumer group)."""
    upgrade("aggregator", make_engine(settings.aggregator_database_url))
    consumer = bootstrap(settings).consumer()
    if settings.metrics_port:
        prom.serve(settings.metrics_port, lambda: consumer_families(consumer.stats))
    try:
        consumer.run_forever(_stop_on_signals())
    finally:
        consumer.close()  # leaves the group at once, so the others take over its partitions


@aggregator_group.command("rebuild")
@click.option("--yes", is_flag=True, help="Do not ask before wiping the rollups.")
@click.pass_obj
def rebuild_cmd(settings: Settings, yes: bool) -> None:
    """Wipe the rollups and replay the whole event log into fresh ones, showing progress."""
    if not yes:
        click.confirm("Wipe every rollup and replay the whole log?", abort=True)
    agg = bootstrap(settings)
    upgrade("aggregator", agg.engine)

    def progress(applied: int, rate: float) -> None:
        click.echo(f"\rreplayed {applied:,} events ({rate:,.0f}/s)", nl=False, err=True)

    stats = rebuild(agg, progress=progress)
    click.echo(
        f"\nrebuilt: {stats.applied:,} applied, {stats.duplicates:,} duplicates skipped, "
        f"{stats.dead_letters:,} dead letters"
    )


@aggregator_group.command("verify")
@click.option(
    "--caught-up",
    is_flag=True,
    help="Also fail when records of the log are still waiting to be applied (lag).",
)
@click.pass_obj
def verify_cmd(settings: Settings, caught_up: bool) -> None:
    """Check the rollups against the facts and the facts against the event log; exits 1 on any difference.

    \b
    1. Recompute every rollup from the stored facts with the same KPI definitions, and compare.
    2. Read the whole log (Kafka topic or SQL outbox) and account for every record at or before the stored
       position: applied, a duplicate of an event applied elsewhere, or a dead letter. Any other is a gap.
    """
    agg = bootstrap(settings)
    report = verify(agg.engine)
    for d in report.differences[:50]:
        click.echo(f"DIFF {d.table} {d.key}: stored={d.stored} recomputed={d.recomputed}")
    click.echo(f"rollups: {report.facts} facts, {report.cells} cells, {len(report.differences)} differences")
    reader = agg.log_reader()
    try:
        log_report = reconcile(agg.engine, agg.source_name, reader.scan())
    finally:
        reader.close()
    for a in sorted(log_report.partitions.values(), key=lambda a: a.partition):
        click.echo(
            f"log partition {a.partition}: position {a.position}, {a.records} records: {a.applied} applied, "
            f"{a.duplicates} duplicates, {a.dead_letters} dead letters, {a.missing} missing, "
            f"{a.pending} pending; position counters {a.counted} "
            f"({'agree' if a.counted == a.accounted else 'DISAGREE'})"
            + (f"; first missing offsets {a.first_missing}" if a.first_missing else "")
        )
    click.echo(f"log: {log_report.gaps} gaps, {log_report.pending} pending")
    ok = report.ok and log_report.ok and not (caught_up and log_report.pending)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
