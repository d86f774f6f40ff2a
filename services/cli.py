"""``score``: the few commands people type. ``score --help`` lists them."""

from __future__ import annotations

import getpass
import json
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import segno
from werkzeug.serving import make_server

from services.aggregator.bootstrap import bootstrap
from services.aggregator.entrypoints.app import create_app as reports_app
from services.aggregator.entrypoints.metrics import consumer_families
from services.aggregator.entrypoints.reports_cli import reports_group
from services.aggregator.service_layer.prune import cutoff, prune
from services.aggregator.service_layer.rebuild import rebuild
from services.aggregator.service_layer.verify import reconcile, verify
from services.common import prom
from services.common.config import VARIABLES, ConfigError, Settings, from_env, markdown_table
from services.common.db import make_engine
from services.common.gctune import tune_gc
from services.common.logs import configure_logging
from services.common.migrate import upgrade
from services.demo.cli import demo_group, seed_in_background
from services.eventlog.kafka import KafkaConnection, KafkaPublisher, ensure_topics
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
    """Create or upgrade the database schemas (Alembic): intake, aggregator and access (credentials, audit)."""
    _migrate(settings)
    click.echo("schemas are at head")


@contextmanager
def _warnings_only(logger_name: str) -> Iterator[None]:
    """A library's INFO lines held back for a moment (``-v`` still shows them).  ``score run`` upgrades the
    schemas at every start: Alembic's twenty "Running upgrade" lines of a first start had pushed the
    credentials, shown only once, off the first screen; ``score migrate`` still prints every step."""
    logger = logging.getLogger(logger_name)
    before = logger.level
    if not logger.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def _migrate(settings: Settings) -> None:
    upgrade("intake", make_engine(settings.intake_database_url))
    upgrade("aggregator", make_engine(settings.aggregator_database_url))
    upgrade("access", make_engine(settings.access_url))
    if settings.uses_kafka:
        ensure_topics(settings)


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--intake-port", default=8000, show_default=True)
@click.option("--reports-port", default=8001, show_default=True)
@click.option(
    "--demo",
    is_flag=True,
    help="On the first start, send a year of demo data through the intake (`score demo seed`) in the "
    "background once the servers answer (`make run` passes it).",
)
@click.pass_obj
def run_cmd(settings: Settings, host: str, intake_port: int, reports_port: int, demo: bool) -> None:
    """Run the whole system in one process: intake API, relay (with Kafka), aggregator and reports."""
    with _warnings_only("alembic"):
        _migrate(settings)
    first = _first_start(settings, f"http://{host}:{intake_port}", f"http://{host}:{reports_port}")
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
    click.echo(f"front door: http://{host}:{intake_port}/  (inspector app: /app/, API docs: /api/v1/docs)")
    click.echo(f"intake API: http://{host}:{intake_port}/api/v1/submissions")
    click.echo(f"reports:    http://{host}:{reports_port}/  (API: /api/v1/reports/districts)")
    if demo and first:
        seed_in_background(settings, f"http://{host}:{intake_port}")
    elif not first:
        click.echo("demo data: `score demo seed` (safe to rerun: nothing is counted twice)")
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


def _first_start(settings: Settings, intake_url: str, reports_url: str) -> bool:
    """On the very first start (no credential at all): a first admin and demo credentials, shown once; True
    then.

    Nothing is open by default: without these tokens every API answers 401.
    """
    from services.access import bootstrap as access_bootstrap

    store = access_bootstrap(settings)
    if store.has_tokens():
        return False
    by = "first-start"
    admin = store.issue("admin", ["admin"], kind="api", expires_in=timedelta(days=30), created_by=by)
    ministry = store.issue(
        "demo-ministry", ["ministry"], kind="api", expires_in=timedelta(days=30), created_by=by
    )
    collector = store.issue(
        "demo-yongkang-collector",
        ["collector"],
        ["330784"],
        kind="device",
        expires_in=timedelta(days=30),
        created_by=by,
    )
    link = store.issue(
        "demo-yongkang-survey",
        ["survey"],
        ["330784"],
        kind="link",
        campaign="demo",
        expires_in=timedelta(days=30),
        created_by=by,
    )
    click.echo("first start: credentials created (shown this once; only their hashes are stored; 30 days):")
    click.echo(f"  admin (score tokens / audit, /metrics):     {admin.token}")
    click.echo(f"  demo ministry (dashboard: {reports_url}/signin): {ministry.token}")
    # the enrollment link signs a phone's field app in (the token is the part after #device=; a fragment
    # never reaches a server log)
    click.echo(f"  demo collector device, Yongkang 330784:      {intake_url}/app/#device={collector.token}")
    click.echo(f"  demo public survey link, Yongkang 330784:    {_link_url(intake_url, link.token)}")
    click.echo("  send tokens as 'Authorization: Bearer <token>'; `score tokens --help` makes more;")
    click.echo(
        "  `score links create --district CODE --campaign NAME --qr poster.svg` prints a survey link as a QR code."
    )
    return True


def _link_url(base: str, token: str) -> str:
    """A public survey link: the survey page with the token in the fragment (``#st=``), which a browser never
    sends to a server, so the token stays out of access logs, proxies and Referer headers; the page reads it
    and posts each survey with it as its bearer token.  (The API still takes ``?st=`` on
    ``POST /api/v1/submissions`` from links printed before.)"""
    return f"{base.rstrip('/')}/survey#st={token}"


#: QR code kinds by file extension
QR_KINDS = {".svg": "svg", ".png": "png"}


def qr_code(url: str) -> segno.QRCode:
    """The QR code of a link: a full-size QR symbol (never a Micro QR, which phone cameras often cannot read)
    with error correction M (15% of the symbol may be dirty or torn: it is printed and pinned to a wall),
    raised by segno when that costs no extra size."""
    return segno.make_qr(url, error="m", boost_error=True)


def _write_qr(url: str, target: str) -> None:
    """``-``: on the terminal; ``FILE.svg`` / ``FILE.png``: a file to print (8 px modules, the 4-module quiet
    zone the standard asks for)."""
    code = qr_code(url)
    if target == "-":
        code.terminal(out=sys.stdout, compact=True)
        return
    kind = QR_KINDS.get(Path(target).suffix.lower())
    if kind is None:
        raise click.UsageError(f"--qr {target}: name a .svg or .png file, or - for the terminal")
    code.save(target, kind=kind, scale=8, border=4)
    click.echo(f"QR code written to {target}", err=True)


def _stop_on_signals() -> threading.Event:
    """SIGINT or SIGTERM end the loop after the current batch: the relay releases its lease, the consumer
    leaves its group, nothing is cut off between a publish and its mark."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _relay(settings: Settings) -> Relay:
    connection = KafkaConnection.from_settings(settings)
    return Relay(
        make_engine(settings.intake_database_url),
        lambda: KafkaPublisher(connection, settings.topic),
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
    tune_gc()
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
    tune_gc()

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
            + (f"; {a.pruned} with their claim pruned" if a.pruned else "")
            + (f"; first missing offsets {a.first_missing}" if a.first_missing else "")
        )
    click.echo(f"log: {log_report.gaps} gaps, {log_report.pending} pending")
    ok = report.ok and log_report.ok and not (caught_up and log_report.pending)
    sys.exit(0 if ok else 1)


_DURATION = re.compile(r"([1-9][0-9]{0,4})([dhm])")


def _duration(_ctx: Any, _param: Any, value: str) -> timedelta:
    match = _DURATION.fullmatch(value.strip())
    if not match:
        raise click.BadParameter("a whole number of days, hours or minutes: 90d, 12h, 30m")
    n, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]


@aggregator_group.command("prune")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE",
    callback=_duration,
    help="Prune claims made longer ago than this (90d, 12h, 30m): older than the oldest intake backup you "
    "might restore, plus the longest relay outage.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be pruned, per partition; delete nothing.")
@click.pass_obj
def prune_cmd(settings: Settings, older_than: timedelta, dry_run: bool) -> None:
    """Delete old event-id claims (processed_events); verify stays exact.

    \b
    A claim recognises its event when the relay sends it again (after a crash between the broker's
    acknowledgement and the mark, or after the intake database is restored from a backup). An event sent
    again after its claim was pruned is applied a second time, so choose --older-than from the backup policy
    (deploy/README.md). Re-reading the log (a rewind, a rebalance) needs no claim: positions drop those.
    Safe beside a running consumer; each partition's watermark and pruned-claims counter move with the rows.
    """
    agg = bootstrap(settings)
    upgrade("aggregator", agg.engine)
    before = cutoff(older_than)
    planned = prune(agg.engine, agg.source_name, before, dry_run=dry_run)
    verb = "would prune" if dry_run else "pruned"
    for part in planned:
        click.echo(
            f"partition {part.partition}: {verb} {part.claims:,} claims at or before offset {part.through}"
            + ("" if part.through == part.before else f" (watermark was {part.before})")
        )
    click.echo(f"{verb} {sum(p.claims for p in planned):,} claims made before {before.isoformat()}")


def _actor() -> str:
    """Who did it, for the audit log, when done from the command line: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # noqa: BLE001 - no user name (a container without /etc/passwd entry)
        return "cli"


def _store(settings: Settings) -> Any:
    from services.access import bootstrap as access_bootstrap

    upgrade("access", make_engine(settings.access_url))
    return access_bootstrap(settings)


@main.group("tokens")
def tokens_group() -> None:
    """API and device tokens: create (shown once), list, revoke.

    \b
    Roles (a token may have several) and what they may do, each within its districts and those below:
      collector   post submissions (inspections, rectifications, surveys) filed under its districts
      reviewer    read and review submissions of its districts; read their reports and the dashboard
      ministry    read every report (no districts needed); reviews nothing
      integrator  read the reports of the districts it is granted (every read is audited)
      admin       read the audit log (API: GET /api/v1/audit) and /metrics
    Public survey links are made with `score links create`.
    """


@tokens_group.command("create")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="collector, reviewer, ministry, integrator, admin; repeatable.",
)
@click.option(
    "--district",
    "scope",
    multiple=True,
    help="A GB/T 2260 code it is scoped to (and those below); repeatable.",
)
@click.option(
    "--kind",
    type=click.Choice(["api", "device"]),
    default="api",
    show_default=True,
    help="api: a person or system; device: a field phone's long-lived token.",
)
@click.option(
    "--expires-in", "expires_in", default="90d", show_default=True, callback=_duration, help="90d, 12h, 30m."
)
@click.option("--json", "as_json", is_flag=True, help="Print the token and its record as JSON.")
@click.pass_obj
def tokens_create(
    settings: Settings,
    name: str,
    roles: tuple[str, ...],
    scope: tuple[str, ...],
    kind: str,
    expires_in: timedelta,
    as_json: bool,
) -> None:
    """Create a token for account NAME; prints it ONCE (only its SHA-256 is stored).

    \b
    Examples:
      score tokens create yk-aj-0217 --role collector --district 330784 --kind device --expires-in 365d
      score tokens create jinhua-bureau --role reviewer --district 330700
      score tokens create mem-hq --role ministry
    """
    try:
        issued = _store(settings).issue(
            name, roles, scope, kind=kind, expires_in=expires_in, created_by=_actor()
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"token": issued.token, **issued.info.__dict__}, ensure_ascii=False))
        return
    click.echo(f"{issued.info.id}  {name}  {','.join(issued.info.roles)}  expires {issued.info.expires_at}")
    click.echo(issued.token)
    click.echo("(shown this once: send it as 'Authorization: Bearer <token>')", err=True)


@tokens_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked and expired tokens.")
@click.pass_obj
def tokens_list(settings: Settings, show_all: bool) -> None:
    """List tokens and links (id, account, kind, roles, districts, expiry, state); never the tokens themselves."""
    from services.access.store import stamp

    now = stamp(datetime.now().astimezone())
    for t in _store(settings).tokens():
        state = t.state(now)
        if state != "active" and not show_all:
            continue
        click.echo(
            f"{t.id}  {t.name:<28} {t.kind:<6} {','.join(t.roles):<22} {','.join(t.districts) or '-':<14} "
            f"expires {t.expires_at}  {state}" + (f"  campaign {t.campaign}" if t.campaign else "")
        )


@tokens_group.command("revoke")
@click.argument("token_id")
@click.pass_obj
def tokens_revoke(settings: Settings, token_id: str) -> None:
    """Revoke the token or link TOKEN_ID (from `score tokens list`): refused from the next request on."""
    if not _store(settings).revoke(token_id, by=_actor()):
        raise click.UsageError(f"no active token {token_id}")
    click.echo(f"revoked {token_id}")


@main.group("links")
def links_group() -> None:
    """Public survey links: one campaign, one district, worker surveys only."""


@links_group.command("create")
@click.option("--district", required=True, help="The one GB/T 2260 district its surveys are filed under.")
@click.option("--campaign", required=True, help="The campaign's name, e.g. yongkang-2026q4.")
@click.option(
    "--expires-in",
    "expires_in",
    default="30d",
    show_default=True,
    callback=_duration,
    help="The campaign's length.",
)
@click.option(
    "--base-url", default="http://127.0.0.1:8000", show_default=True, help="The intake's public address."
)
@click.option(
    "--qr",
    "qr",
    metavar="FILE",
    help="Also draw the link as a QR code: FILE.svg or FILE.png to print, or - on the terminal.",
)
@click.pass_obj
def links_create(
    settings: Settings, district: str, campaign: str, expires_in: timedelta, base_url: str, qr: str | None
) -> None:
    """Create a public survey link; prints its URL (the token is in it) ONCE: <base>/survey#st=<token>.

    The link may post worker surveys filed under DISTRICT and nothing else: no other form, no other district,
    no reads.  Anyone holding it can post surveys, so give each campaign its own link and revoke it
    (`score tokens revoke <id>`) when the campaign ends.  The account recorded as the surveys' collector is
    `survey-<campaign>`.
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "-", f"survey-{campaign}")[:64]
    try:
        issued = _store(settings).issue(
            name,
            ["survey"],
            [district],
            kind="link",
            campaign=campaign,
            expires_in=expires_in,
            created_by=_actor(),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if qr is not None and qr != "-" and Path(qr).suffix.lower() not in QR_KINDS:
        raise click.UsageError(f"--qr {qr}: name a .svg or .png file, or - for the terminal")
    click.echo(f"{issued.info.id}  {name}  district {district}  expires {issued.info.expires_at}")
    url = _link_url(base_url, issued.token)
    if qr is not None:
        _write_qr(url, qr)
    click.echo(url)


@main.group("audit")
def audit_group() -> None:
    """The audit log: who did what and when (append-only)."""


def _instant(_ctx: Any, _param: Any, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "an ISO 8601 date or instant, e.g. 2026-11-29 or 2026-11-29T08:00+08:00"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=clock_zone())


def clock_zone() -> Any:
    from services.common.clock import CHINA

    return CHINA


@audit_group.command("list")
@click.option("--actor", help="Only this account (a token's name, or cli:<user>).")
@click.option(
    "--action",
    help="Only this action: submission.create, submission.correct, rectification.create, review.create, "
    "report.export, report.read, token.create, token.revoke, session.login.",
)
@click.option(
    "--since", callback=_instant, help="From this instant (inclusive); a bare date is China's midnight."
)
@click.option("--until", callback=_instant, help="Up to this instant (exclusive).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def audit_list(
    settings: Settings,
    actor: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """List audit entries, newest first."""
    for e in _store(settings).audit(actor=actor, action=action, since=since, until=until, limit=limit):
        if as_json:
            click.echo(json.dumps(e, ensure_ascii=False))
        else:
            click.echo(
                f"{e['at']}  {e['actor']:<24} {e['action']:<22} {e['target'] or '-'}"
                + (f"  district {e['district']}" if e["district"] else "")
                + (f"  from {e['address']}" if e["address"] else "")
            )


main.add_command(demo_group)
main.add_command(reports_group)

if __name__ == "__main__":
    main()
