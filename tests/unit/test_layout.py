"""The test command collects every folder of tests: ``pyproject.toml`` names them one by one (to run the fast
ones first), so a new folder missing there would silently never run."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_folder_with_tests_is_in_testpaths() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = {ROOT / p for p in config["tool"]["pytest"]["ini_options"]["testpaths"]}
    with_tests = {f.parent for f in (ROOT / "tests").rglob("test_*.py")}
    missing = {d for d in with_tests if not any(d == p or p in d.parents for p in listed)}
    assert not missing, (
        f"add to testpaths in pyproject.toml: {sorted(str(d.relative_to(ROOT)) for d in missing)}"
    )
