"""The fuzz runs' tallies, printed in the terminal summary so every test run shows what was tried."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_LINES: list[str] = []


@pytest.fixture(scope="session")
def fuzz_summary() -> Callable[[str], None]:
    """Call with one line (cases tried, 5xx, schema breaks); it is printed at the end of the run."""
    return _LINES.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.write_sep("-", "fuzz summary")
        for line in _LINES:
            terminalreporter.write_line(line)
