"""``score reports package | deliver | deliveries``: district report packages, made and delivered on a schedule
(a systemd timer or cron runs ``score reports deliver``; deploy/README.md)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from services.aggregator.adapters.destinations import DeliveryError, FolderDestination, destination
from services.aggregator.bootstrap import bootstrap
from services.aggregator.domain.periods import Period, period_of
from services.aggregator.service_layer import delivery, packages
from services.common import clock
from services.common.cli import iso_day
from services.common.codes import districts
from services.common.config import Settings
from services.common.migrate import upgrade

KINDS = ("month", "quarter", "year")


def _codes(_ctx: Any, _param: Any, value: tuple[str, ...]) -> tuple[str, ...]:
    table = districts()
    for code in value:
        if code not in table or not table[code].active:
            raise click.BadParameter(f"{code}: an active GB/T 2260 code of the pilot (e.g. 330784)")
    return value


def _periods(kinds: tuple[str, ...], settings: Settings, day: date | None) -> list[Period]:
    """The period of each kind containing ``day``, or without it the last complete one."""
    if not kinds:
        kinds = tuple(k.strip() for k in settings.delivery_periods.split(",") if k.strip())
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise click.UsageError(f"SCORE_DELIVERY_PERIODS: {', '.join(bad)}; expected {', '.join(KINDS)}")
    if day is not None:
        return [period_of(k, day) for k in kinds]
    return [delivery.last_complete(k, clock.today()) for k in kinds]


def _districts(codes: tuple[str, ...], settings: Settings) -> list[str]:
    if codes:
        return list(codes)
    configured = [c.strip() for c in settings.delivery_districts.split(",") if c.strip()]
    try:
        _codes(None, None, tuple(configured))
    except click.BadParameter as exc:
        raise click.UsageError(f"SCORE_DELIVERY_DISTRICTS: {exc.message}") from None
    return configured or delivery.pilot_districts()


_DISTRICT = click.option(
    "--district",
    "codes",
    multiple=True,
    callback=_codes,
    help="A GB/T 2260 code; repeatable. Default: SCORE_DELIVERY_DISTRICTS, else every active division.",
)
_PERIOD = click.option(
    "--period",
    "kinds",
    multiple=True,
    type=click.Choice(KINDS),
    help="month, quarter or year; repeatable. Default: SCORE_DELIVERY_PERIODS (month).",
)
_DATE = click.option(
    "--date",
    "day",
    callback=iso_day,
    help="Package the period containing this day (YYYY-MM-DD) instead of the last complete one.",
)


@click.group("reports")
def reports_group() -> None:
    """District report packages: the figures as XLSX and JSON (Chinese and English labels), the log position
    they include and a SHA-256 manifest, delivered to a folder or an HTTP endpoint and recorded."""


@reports_group.command("package")
@_DISTRICT
@_PERIOD
@_DATE
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Write the packages into this folder (<out>/<district>/<package>/); nothing is recorded.",
)
@click.pass_obj
def package_cmd(
    settings: Settings, codes: tuple[str, ...], kinds: tuple[str, ...], day: date | None, out: Path
) -> None:
    """Make report packages and write them to a folder, to look at or send by hand (not recorded).

    \b
    Each package is a directory score-<district>-<kind>-<key>-v0 with report.json, report.xlsx,
    manifest.json (district, period, figures as of the period's last day, log position, content checksum,
    every file's SHA-256) and SHA256SUMS (`sha256sum -c SHA256SUMS` checks it).
    Example:  score reports package --district 330784 --period quarter --out /tmp/packages
    """
    agg = bootstrap(settings)
    upgrade("aggregator", agg.engine)
    folder = FolderDestination(out)
    for period in _periods(kinds, settings, day):
        for code in _districts(codes, settings):
            fig = packages.figures(agg.engine, agg.source_name, code, period)
            payload = packages.build(fig, 0, clock.utcnow())
            manifest, files = packages.unpack(payload)
            try:
                path = folder.send(payload, manifest, files, manifest["idempotency_key"])
            except DeliveryError as exc:
                raise click.ClickException(f"{exc} (remove it to make it again)") from None
            click.echo(f"{path}  content {fig.content_sha256[:12]}")


@reports_group.command("deliver")
@_DISTRICT
@_PERIOD
@_DATE
@click.option(
    "--to",
    "to",
    help="A folder (path or file:///...) or an http(s):// endpoint. Default: SCORE_DELIVERY_TO.",
)
@click.option(
    "--attempts",
    type=click.IntRange(1, 100),
    help="Attempts per package in this run. Default: SCORE_DELIVERY_ATTEMPTS (5).",
)
@click.pass_obj
def deliver_cmd(
    settings: Settings,
    codes: tuple[str, ...],
    kinds: tuple[str, ...],
    day: date | None,
    to: str | None,
    attempts: int | None,
) -> None:
    """Deliver each district's package for the period(s), once per content; exit 1 if any failed.

    \b
    By default the last complete month (SCORE_DELIVERY_PERIODS) of every district (SCORE_DELIVERY_DISTRICTS)
    to SCORE_DELIVERY_TO.  Safe to run as often as a timer likes:
      - figures unchanged since the version delivered there: not sent again;
      - a delivery that failed (receiver down): sent again, the same bytes with the same Idempotency-Key;
      - figures changed by late events (a rectification after the period closed, a correction, a
        rejection): a new version v2, v3, ... whose manifest names the version it supersedes.
    Every delivery is recorded (`score reports deliveries`).
    Examples:
      score reports deliver --to /srv/mem-inbox
      score reports deliver --period quarter --district 330784 --to https://mem.example/api/reports
    """
    target = to or settings.delivery_to
    if not target:
        raise click.UsageError("where to? --to or SCORE_DELIVERY_TO (a folder or an https:// endpoint)")
    token = ""
    if settings.delivery_token_file:
        try:
            token = Path(settings.delivery_token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.UsageError(f"SCORE_DELIVERY_TOKEN_FILE: cannot read it ({exc.strerror})") from None
    agg = bootstrap(settings)
    upgrade("aggregator", agg.engine)
    dest = destination(target, token)

    def show(o: delivery.Outcome) -> None:
        tries = f", {o.attempts} attempt{'s' if o.attempts != 1 else ''}" if o.attempts else ""
        click.echo(f"{o.district} {o.period.kind} {o.period.key} v{o.version}: {o.status}{tries}  {o.note}")

    outcomes = delivery.deliver(
        agg.engine,
        agg.source_name,
        dest,
        _districts(codes, settings),
        _periods(kinds, settings, day),
        attempts=attempts or settings.delivery_attempts,
        on_outcome=show,
    )
    count = {
        s: sum(1 for o in outcomes if o.status == s) for s in ("delivered", "unchanged", "failed", "busy")
    }
    click.echo(
        f"{dest.name}: {count['delivered']} delivered, {count['unchanged']} unchanged, "
        f"{count['failed']} failed, {count['busy']} left to a concurrent run"
    )
    if count["failed"]:
        raise SystemExit(1)


@reports_group.command("deliveries")
@click.option("--district", help="Only this district.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def deliveries_cmd(settings: Settings, district: str | None, limit: int, as_json: bool) -> None:
    """The delivery record, newest first: status, attempts, checksum, destination, last error."""
    agg = bootstrap(settings)
    upgrade("aggregator", agg.engine)
    for r in delivery.history(agg.engine, district, limit):
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
            continue
        click.echo(
            f"{r['created_at'][:19]}  {r['district']} {r['period_kind']:<7} {r['period_key']:<8} "
            f"v{r['version']:<2} {r['status']:<10} {r['attempts']} att.  {r['content_sha256'][:12]}  "
            f"{r['destination']}" + (f"  ({r['last_error']})" if r["last_error"] else "")
        )
