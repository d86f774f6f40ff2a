"""``score demo seed``: a year of realistic data through the intake's API (``score run --demo`` on first start)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import click

from services.common.cli import iso_day
from services.common.config import Settings
from services.demo.client import IntakeClient, IntakeUnavailable
from services.demo.plan import SIZES
from services.demo.seed import Result, SeedError, resolve_plan, send, steps, summary

#: the account the demo's local credential is issued to: it is recorded as every demo submission's collector,
#: so it must be the same on every run for a rerun's submissions to be the same submissions
ACCOUNT = "demo-seeder"


@contextmanager
def local_token(settings: Settings) -> Iterator[str]:
    """A credential for this run only (collector and reviewer in all of Zhejiang), made through the access
    store of ``settings`` and revoked when the run ends."""
    from services.access import bootstrap as access_bootstrap
    from services.common.db import make_engine
    from services.common.migrate import upgrade

    upgrade("access", make_engine(settings.access_url))
    store = access_bootstrap(settings)
    issued = store.issue(
        ACCOUNT,
        ["collector", "reviewer"],
        ["330000"],
        kind="api",
        expires_in=timedelta(hours=2),
        created_by="score demo seed",
    )
    try:
        yield issued.token
    finally:
        store.revoke(issued.info.id, by="score demo seed")


@click.group("demo")
def demo_group() -> None:
    """The living demo: realistic data sent through the intake's API."""


@demo_group.command("seed")
@click.option(
    "--url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The intake's base URL (`score run` serves it there).",
)
@click.option(
    "--token",
    envvar="SCORE_DEMO_TOKEN",
    help="A collector token for the districts (env SCORE_DEMO_TOKEN). Without it a credential of the "
    f"account {ACCOUNT} is made in the local access database for this run and revoked afterwards.",
)
@click.option(
    "--reviewer-token",
    help="A reviewer token for the rejections and approvals (default: --token, which then needs the "
    "reviewer role too; without it the reviews are refused and listed).",
)
@click.option(
    "--seed", "seed_", default=1, show_default=True, type=int, help="Same seed, same data (and ids)."
)
@click.option(
    "--size",
    type=click.Choice(list(SIZES)),
    default="small",
    show_default=True,
    help="small: ~70 enterprises, ~900 submissions (well under a minute); medium: ~400, ~4,000.",
)
@click.option(
    "--anchor",
    callback=iso_day,
    help="The day the year of data ends before (default today in China; a rerun finds the first run's).",
)
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.pass_obj
def seed_cmd(
    settings: Settings,
    url: str,
    token: str | None,
    reviewer_token: str | None,
    seed_: int,
    size: str,
    anchor: date | None,
    batch_size: int,
) -> None:
    """Send a year of realistic field data through the intake's HTTP API, with a progress bar.

    \b
    Enterprises in Hangzhou 330100, Jinhua 330700 and Yongkang 330784 (valid GB 32100 credit codes; the
    industries each county is known for: Yongkang's doors, cups, cookware and power tools), inspections over
    the past year with hazards (general and major, by category) and deadlines, rectifications on time and
    late, some hazards left open and overdue, corrections, rejections and approvals by review, and worker
    surveys: most county-month cells with 5 or more respondents (published), some with fewer (suppressed).

    \b
    Rerunning is safe: the same --seed and --size send the same submission and review ids, which the
    intake recognises as retries (stored once, counted once).  Examples:
      score demo seed                       # against `score run` on this machine
      score demo seed --size medium --seed 7
      score demo seed --url https://intake.example --token "$TOKEN"
    """
    if token is None:
        with local_token(settings) as made:
            result = _seed_with_bar(url, made, None, seed_, size, anchor, batch_size)
    else:
        result = _seed_with_bar(url, token, reviewer_token, seed_, size, anchor, batch_size)
    for line in summary(result):
        click.echo(line)
    if not result.ok:
        raise SystemExit(1)


def _seed_with_bar(
    url: str,
    token: str,
    reviewer_token: str | None,
    seed_: int,
    size: str,
    anchor: date | None,
    batch_size: int,
) -> Result:
    client = IntakeClient(url, token)
    reviewer = IntakeClient(url, reviewer_token) if reviewer_token else None
    try:
        plan, resumed = resolve_plan(reviewer or client, seed_, size, anchor)
        with click.progressbar(
            length=steps(plan), label="sending", show_pos=True, show_eta=True, file=None
        ) as bar:
            return send(
                client, plan, reviewer=reviewer, batch_size=batch_size, progress=bar.update, resumed=resumed
            )
    except SeedError as exc:
        raise click.UsageError(str(exc)) from None
    except IntakeUnavailable as exc:
        raise click.ClickException(f"the intake at {url} is not answering: {exc}") from None


def seed_in_background(
    settings: Settings, url: str, echo: Callable[[str], None] = click.echo
) -> threading.Thread:
    """``score run --demo`` on the first start: seed the small demo once the servers answer, printing a
    progress line every tenth, so the dashboard fills while the newcomer opens it."""

    def run() -> None:
        try:
            with local_token(settings) as token:
                client = IntakeClient(url, token, attempts=20)
                plan, resumed = resolve_plan(client, 1, "small")
                total, done, shown = steps(plan), 0, 0

                def progress(n: int) -> None:
                    nonlocal done, shown
                    done += n
                    if done * 10 // total > shown:
                        shown = done * 10 // total
                        echo(f"demo: {done}/{total} sent")

                echo(f"demo: sending a year of data ({total} submissions and reviews) to {url}")
                result = send(client, plan, progress=progress, resumed=resumed)
            for line in summary(result):
                echo(line)
        except Exception as exc:  # noqa: BLE001 - a demo that fails must not take the servers down
            echo(f"demo: not seeded ({exc}); `score demo seed` retries safely")

    thread = threading.Thread(target=run, name="demo-seed", daemon=True)
    thread.start()
    return thread
