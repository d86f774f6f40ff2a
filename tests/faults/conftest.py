"""The fault suite's summary goes to the terminal at the end of the run, whether or not ``-s`` is given."""

from __future__ import annotations

import pytest

FAULT_SUMMARY = pytest.StashKey[list[str]]()


@pytest.fixture
def fault_summary(request: pytest.FixtureRequest) -> list[str]:
    """Lines the fault suite wants in the terminal summary (and in the JUnit report's properties)."""
    return request.config.stash.setdefault(FAULT_SUMMARY, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(FAULT_SUMMARY, [])
    if lines:
        terminalreporter.section("fault suite")
        for line in lines:
            terminalreporter.write_line(line)
