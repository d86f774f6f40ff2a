"""Hypothesis on the form validators: mutated corpus bodies and arbitrary JSON are either valid or refused
with :class:`Invalid` (every error with a path, a known code and both languages), never anything else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.model import content_hash
from services.intake.forms import Invalid, validate
from services.intake.forms.errors import MESSAGES
from tests.builders import NOW
from tests.fuzz.mutations import fuzz_settings, json_values, mutated

EXAMPLES = 600

SETTINGS = fuzz_settings(EXAMPLES)


@dataclass
class Seen:
    valid: int = 0
    invalid: int = 0
    other: int = 0  # anything but Invalid escaping validate (the test fails on the first)


@pytest.fixture(scope="module")
def seen(fuzz_summary: Callable[[str], None]) -> Iterator[Seen]:
    tally = Seen()
    yield tally
    fuzz_summary(
        f"hypothesis form validators: {tally.valid + tally.invalid} bodies, {tally.valid} valid, "
        f"{tally.invalid} refused with Invalid, {tally.other} other exceptions"
    )


def _judge(body: Any, seen: Seen) -> None:
    try:
        valid = validate(body, now=NOW)
    except Invalid as exc:
        seen.invalid += 1
        assert exc.errors, "Invalid without a single error"
        for e in exc.errors:
            assert isinstance(e.path, str)
            assert e.code in MESSAGES or e.code == "invalid", e
            assert e.message["en"] and e.message["zh"], e
        return
    except Exception:
        seen.other += 1
        raise
    seen.valid += 1
    # what the service does next with a valid body must work too: the hash that recognises a retry
    assert len(content_hash(valid.canonical())) == 64


@SETTINGS
@given(body=mutated())
def test_mutated_corpus_bodies_are_valid_or_invalid_never_an_error(body: Any, seen: Seen) -> None:
    _judge(body, seen)


@SETTINGS
@given(
    body=st.one_of(
        json_values(),
        st.dictionaries(
            st.sampled_from(
                [
                    "submission_id",
                    "form",
                    "form_version",
                    "collected_at",
                    "district",
                    "collector",
                    "replaces",
                    "data",
                ]
            ),
            json_values(),
            max_size=8,
        ),
    )
)
def test_arbitrary_json_is_valid_or_invalid_never_an_error(body: Any, seen: Seen) -> None:
    _judge(body, seen)
