"""The fuzz runs' tallies, printed in the terminal summary so every test run shows what was tried."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

import pytest

import services

_LINES: list[str] = []

# Hypothesis mixes constants from the project's *loaded* modules into what it draws, so with a fixed seed the
# cases would still depend on which other tests ran first.  Loading every module of ``services`` up front makes
# the set the same whatever the selection: `pytest tests/fuzz` and the whole suite try the same cases.
for _module in pkgutil.walk_packages(services.__path__, "services."):
    importlib.import_module(_module.name)


@pytest.fixture(scope="session")
def fuzz_summary() -> Callable[[str], None]:
    """Call with one line (cases tried, 5xx, schema breaks); it is printed at the end of the run."""
    return _LINES.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.write_sep("-", "fuzz summary")
        for line in _LINES:
            terminalreporter.write_line(line)
