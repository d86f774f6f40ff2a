"""The ``score`` command: help, migrate, verify and rebuild on the embedded default."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import segno
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import delete, insert, select, update

from services.aggregator.adapters.tables import daily, positions, processed_events
from services.cli import main
from services.common.config import from_env
from services.common.db import make_engine
from tests.builders import inspection, survey
from tests.conftest import build_system
from tests.embedded import migrated_with, use_embedded


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_embedded(tmp_path, monkeypatch)


def test_help_lists_the_commands() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    for command in ("run", "migrate", "relay", "aggregator"):
        assert command in out
    assert "rebuild" in CliRunner().invoke(main, ["aggregator", "--help"]).output


def test_verify_fails_on_a_tampered_rollup_and_rebuild_mends_it(env: Path) -> None:
    runner = CliRunner()
    migrated_with(runner, *(inspection(enterprise=i + 1) for i in range(3)))
    assert runner.invoke(main, ["aggregator", "verify"]).exit_code == 0

    with make_engine(from_env().aggregator_database_url).begin() as conn:
        conn.execute(update(daily).where(daily.c.metric == "inspections").values(value=daily.c.value + 1))
    broken = runner.invoke(main, ["aggregator", "verify"])
    assert broken.exit_code == 1
    assert "DIFF daily" in broken.output

    rebuilt = runner.invoke(main, ["aggregator", "rebuild", "--yes"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "3 applied" in rebuilt.output
    assert runner.invoke(main, ["aggregator", "verify"]).exit_code == 0


def test_a_log_reader_that_failed_is_closed_and_the_next_scrape_opens_another(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/metrics.json`` reports an unreachable log as an error and opens a fresh reader at the next scrape; the
    failed one is closed (a Kafka reader left open keeps a network thread: one per scrape of an outage)."""
    system = migrated_with(CliRunner(), inspection(enterprise=1))
    agg = system.reports.application.extensions["score.aggregator"]
    made: list[Any] = []
    closed: list[Any] = []

    class Unreachable:
        def records_through(self, positions: dict[int, int]) -> dict[int, int]:
            raise ConnectionError("broker down")

        def end_positions(self) -> dict[int, int]:
            raise ConnectionError("broker down")

        def close(self) -> None:
            closed.append(self)

    def reader() -> Unreachable:
        made.append(Unreachable())
        return made[-1]

    monkeypatch.setattr(agg, "log_reader", reader)
    for _ in range(3):
        body = system.reports.get("/metrics.json").get_json()
        assert "broker down" in body["log"]["error"]
    assert len(made) == 3 and closed == made


def test_verify_finds_an_event_of_the_log_that_was_never_applied(env: Path) -> None:
    """The rollups can agree with the facts and still be short: verify holds the facts against the log."""
    runner = CliRunner()
    system = migrated_with(runner, *(inspection(enterprise=i + 1) for i in range(4)))
    good = runner.invoke(main, ["aggregator", "verify", "--caught-up"])
    assert good.exit_code == 0, good.output
    assert "4 applied, 0 duplicates, 0 dead letters, 0 missing, 0 pending" in good.output
    metrics = system.reports.get("/metrics.json").get_json()["log"]
    assert metrics["consistent"] and metrics["partitions"][0]["handled"] == 4

    # as if the third event had been skipped: its effects and its claim are not there, the position is past it
    settings = from_env()
    with make_engine(settings.aggregator_database_url).begin() as conn:
        third = conn.execute(
            select(processed_events.c.event_id).where(processed_events.c.offset == 3)
        ).scalar_one()
        conn.execute(delete(processed_events).where(processed_events.c.event_id == third))
        conn.execute(update(positions).values(applied=positions.c.applied - 1))
    broken = runner.invoke(main, ["aggregator", "verify"])
    assert broken.exit_code == 1
    assert "1 missing" in broken.output and "first missing offsets [3]" in broken.output
    assert "log: 1 gaps" in broken.output
    # the cheap form on /metrics sees the counters disagree with the log
    assert system.reports.get("/metrics.json").get_json()["log"]["consistent"] is False

    # more in the log than applied is lag, not a gap; --caught-up makes it fail too
    with make_engine(settings.aggregator_database_url).begin() as conn:
        conn.execute(insert(processed_events).values(event_id=third, partition=0, offset=3))
        conn.execute(update(positions).values(offset=positions.c.offset - 1, applied=positions.c.applied))
    lagging = runner.invoke(main, ["aggregator", "verify"])
    assert lagging.exit_code == 0, lagging.output
    assert "1 pending" in lagging.output
    assert runner.invoke(main, ["aggregator", "verify", "--caught-up"]).exit_code == 1


# --- survey links and their QR codes --------------------------------------------------------------------------


def _link(runner: CliRunner, *extra: str) -> Any:
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    return runner.invoke(
        main,
        [
            "links",
            "create",
            "--district",
            "330784",
            "--campaign",
            "yk-2026q4",
            "--base-url",
            "https://score.example.org/",
            *extra,
        ],
    )


def _grey(value: Any) -> int:
    assert isinstance(value, int)  # an "L" image: one grey level per pixel
    return value


def _modules(png: bytes, border: int = 4, scale: int = 8) -> list[list[bool]]:
    """The dark modules of a QR code PNG, read at each module's centre (no decoding: the matrix itself)."""
    image = Image.open(io.BytesIO(png)).convert("L")
    n = image.width // scale - 2 * border
    assert image.width == image.height == (n + 2 * border) * scale
    return [
        [
            _grey(image.getpixel(((border + x) * scale + scale // 2, (border + y) * scale + scale // 2)))
            < 128
            for x in range(n)
        ]
        for y in range(n)
    ]


def test_a_survey_link_is_printed_with_its_token_in_the_fragment_and_works(env: Path) -> None:
    runner = CliRunner()
    made = _link(runner)
    assert made.exit_code == 0, made.output
    url = made.output.strip().splitlines()[-1]
    assert re.fullmatch(r"https://score\.example\.org/survey#st=score_[A-Za-z0-9_-]{43}", url), url
    token = url.split("#st=", 1)[1]
    # the survey page posts with the fragment's token as its bearer: a worker survey of its district only
    s = build_system(from_env())
    as_link = {"Authorization": f"Bearer {token}"}
    assert s.client.post("/api/v1/submissions", json=survey(), headers=as_link).status_code == 201
    assert (
        s.client.post("/api/v1/submissions", json=survey(district="330106"), headers=as_link).status_code
        == 403
    )
    assert s.client.post("/api/v1/submissions", json=inspection(), headers=as_link).status_code == 403


@pytest.mark.parametrize("suffix", [".svg", ".png", ".SVG"])
def test_links_create_draws_the_link_as_a_qr_code_file(env: Path, suffix: str) -> None:
    target = env / f"poster{suffix}"
    made = _link(CliRunner(), "--qr", str(target))
    assert made.exit_code == 0, made.output
    url = made.output.strip().splitlines()[-1]
    assert url.startswith("https://score.example.org/survey#st=score_")
    expected = segno.make_qr(url, error="m", boost_error=True)
    data = target.read_bytes()
    if suffix.lower() == ".svg":
        root = ElementTree.fromstring(data)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        drawn = io.BytesIO()
        expected.save(drawn, kind="svg", scale=8, border=4)
        assert data == drawn.getvalue()  # exactly the code of this URL
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        wanted = [[bool(bit) for bit in row] for row in expected.matrix]
        assert _modules(data) == wanted  # module for module, the QR code of this URL
        other = segno.make_qr(url.replace("st=score_", "st=score-"), error="m", boost_error=True)
        assert _modules(data) != [[bool(bit) for bit in row] for row in other.matrix]
    assert expected.error in ("M", "Q", "H") and not expected.is_micro


def test_links_create_prints_a_qr_code_on_the_terminal_or_refuses_another_file_kind(env: Path) -> None:
    runner = CliRunner()
    shown = _link(runner, "--qr", "-")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    url = lines[-1]
    drawing = "\n".join(lines[1:-1])
    assert "█" in drawing or "▀" in drawing or "▄" in drawing
    terminal = io.StringIO()
    segno.make_qr(url, error="m", boost_error=True).terminal(out=terminal, compact=True)
    assert terminal.getvalue().strip("\n") in shown.output
    refused = _link(runner, "--qr", str(env / "poster.jpg"))
    assert refused.exit_code != 0 and ".svg or .png" in refused.output
    assert not (env / "poster.jpg").exists()
