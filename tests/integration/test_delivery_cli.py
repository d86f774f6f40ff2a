"""``score reports deliver | package | deliveries`` and ``score demo seed`` on the command line, and the
schedule that runs the delivery (systemd timer, cron line, Kubernetes CronJob) running the same command."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from services.cli import main
from tests.builders import inspection
from tests.deployed import REPO_ROOT, VENV_BIN
from tests.embedded import migrated_with, use_embedded
from tests.servers import on_ci

UNITS = REPO_ROOT / "deploy" / "systemd"
SERVICE = UNITS / "score-reports-delivery.service"
TIMER = UNITS / "score-reports-delivery.timer"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_embedded(
        tmp_path, monkeypatch, "SCORE_DELIVERY_TO", "SCORE_DELIVERY_DISTRICTS", "SCORE_DELIVERY_PERIODS"
    )


def test_help_explains_the_commands() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"]).output
    assert "demo" in top and "reports" in top
    deliver = runner.invoke(main, ["reports", "deliver", "--help"])
    assert deliver.exit_code == 0
    for words in (
        "--to",
        "--period",
        "--district",
        "--date",
        "Idempotency-Key",
        "new version",
        "SCORE_DELIVERY_TO",
    ):
        assert words in deliver.output, words
    seed = runner.invoke(main, ["demo", "seed", "--help"])
    assert seed.exit_code == 0
    for words in ("--seed", "--size", "--token", "progress bar", "Yongkang", "Rerunning is safe"):
        assert words in seed.output, words


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reports", "deliver", "--period", "fortnight", "--to", "x"], "Invalid value for '--period'"),
        (["reports", "deliver", "--district", "110000", "--to", "x"], "an active GB/T 2260 code"),
        (["reports", "deliver", "--date", "2026-13-01", "--to", "x"], "YYYY-MM-DD"),
        (["reports", "deliver"], "SCORE_DELIVERY_TO"),
        (["reports", "package", "--district", "330784"], "Missing option '--out'"),
        (["demo", "seed", "--size", "huge"], "Invalid value for '--size'"),
        (["demo", "seed", "--anchor", "yesterday"], "YYYY-MM-DD"),
    ],
)
def test_a_bad_option_is_a_usage_error_naming_it(env: Path, argv: list[str], message: str) -> None:
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_deliver_then_deliver_again_then_list_the_record(env: Path) -> None:
    runner = CliRunner()
    migrated_with(runner, inspection(district="330784", day=date(2026, 10, 20)))
    inbox = env / "inbox"
    argv = ["reports", "deliver", "--district", "330784", "--district", "330100", "--date", "2026-10-15"]
    first = runner.invoke(main, [*argv, "--period", "month", "--period", "quarter", "--to", str(inbox)])
    assert first.exit_code == 0, first.output
    assert "330784 month 2026-10 v1: delivered, 1 attempt" in first.output
    assert "330100 quarter 2026-Q4 v1: delivered" in first.output
    assert "4 delivered, 0 unchanged, 0 failed" in first.output
    assert (inbox / "330784" / "score-330784-month-2026-10-v1" / "report.xlsx").is_file()
    again = runner.invoke(main, [*argv, "--period", "month", "--period", "quarter", "--to", inbox.as_uri()])
    assert again.exit_code == 0, again.output
    assert "0 delivered, 4 unchanged, 0 failed" in again.output
    listed = runner.invoke(main, ["reports", "deliveries", "--district", "330784"])
    assert listed.exit_code == 0
    lines = listed.stdout.strip().splitlines()  # (the migrations log on stderr)
    assert len(lines) == 2 and all("delivered" in line and inbox.as_uri() in line for line in lines)

    out = env / "by-hand"
    made = runner.invoke(
        main,
        [
            "reports",
            "package",
            "--district",
            "330784",
            "--period",
            "month",
            "--date",
            "2026-10-15",
            "--out",
            str(out),
        ],
    )
    assert made.exit_code == 0, made.output
    assert (out / "330784" / "score-330784-month-2026-10-v0" / "SHA256SUMS").is_file()
    # sha256sum itself accepts the checksums file
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=out / "330784" / "score-330784-month-2026-10-v0",
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def _exec_start(unit: Path) -> list[str]:
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert argv[0].startswith(VENV_BIN)
    return [argv[0].removeprefix(VENV_BIN), *argv[1:]]


def test_the_timer_the_cron_line_and_the_cronjob_run_the_same_delivery(tmp_path: Path) -> None:
    command = _exec_start(SERVICE)
    assert command[:3] == ["score", "reports", "deliver"]
    # the command parses (a typo in an option would fail only at 06:30)
    assert CliRunner().invoke(main, [*command[1:], "--help"]).exit_code == 0
    cron = re.search(
        r"^\s*(\S+ \S+ \S+ \S+ \S+) score .*?(/opt/score/\.venv/bin/score reports deliver[^\n]*)$",
        (REPO_ROOT / "deploy" / "README.md").read_text(),
        re.M,
    )
    assert cron, "deploy/README.md has the cron line"
    assert shlex.split(cron.group(2))[1:] == command[1:]
    jobs = yaml.safe_load((REPO_ROOT / "deploy" / "kubernetes" / "reports-delivery-cronjob.yaml").read_text())
    (container,) = jobs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == command
    assert jobs["spec"]["timeZone"] == "Asia/Shanghai" and jobs["spec"]["concurrencyPolicy"] == "Forbid"

    analyze = "/usr/bin/systemd-analyze"
    if not Path(analyze).exists():
        if on_ci():
            pytest.fail(
                "systemd-analyze is missing (apt-get install systemd); CI is set, so this is not skipped"
            )
        pytest.skip("systemd-analyze is missing")
    bin_dir = f"{Path(sys.executable).parent}/"
    for unit in (SERVICE, TIMER):
        text = unit.read_text().replace(VENV_BIN, bin_dir).replace("/opt/score", str(REPO_ROOT))
        (tmp_path / unit.name).write_text(text)
    proc = subprocess.run(
        [analyze, "verify", str(tmp_path / TIMER.name), str(tmp_path / SERVICE.name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
    calendar = subprocess.run(
        [analyze, "calendar", "*-*-* 06:30:00 Asia/Shanghai"], capture_output=True, text=True, check=False
    )
    assert calendar.returncode == 0, calendar.stderr
