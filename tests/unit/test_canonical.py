"""Canonical JSON (``services.common.canonical``) is the standard module's text, byte for byte.

Content hashes stored before must still match a retry's, and report packages keep their hashes, so the text
written through orjson must be the very text ``json.dumps(..., ensure_ascii=False, sort_keys=True,
separators=(",", ":"))`` wrote, and a value the standard module refused must still be refused.  Held here on
the values where the two writers differ (small floats, NaN, types one of them refuses) and on arbitrary
values (hypothesis, fixed seed); and orjson is really the one writing the usual value.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import canonical
from services.common.canonical import canonical_json
from services.intake.forms import validate
from tests.builders import NOW, inspection, rectification, survey
from tests.fuzz.mutations import json_values as parsed_json_values
from tests.fuzz.mutations import valid_corpus


def standard(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def outcome(write: Any, value: Any) -> tuple[str, str]:
    try:
        return ("text", write(value))
    except Exception as exc:  # the same refusal too
        return ("raised", type(exc).__name__)


class Level(enum.IntEnum):
    HIGH = 3


class Colour(enum.Enum):
    RED = "red"


class Label(str):
    pass


@dataclass
class Point:
    x: int


EDGES: list[Any] = [
    1e-05,
    -2.5e-05,
    [1e-07, 9.99e-05, 5e-324],
    {"a": 1.5e-10, "b": "ab9e-1", "c": "0.00001"},
    0.0001,
    1e16,
    1.5e300,
    -0.0,
    float("nan"),
    [float("inf"), float("-inf")],
    2**64,
    {"big": -(2**70)},
    {1: "int key"},
    {"t": (1, 2)},
    "\ud800",
    {"\ud800": 1},
    {"\uffff": 1, "\U0001f600": 2, "é": 3, "Z": 4},
    '\x00\x1f\x7f\u2028"\\',
    Level.HIGH,
    Colour.RED,
    uuid.UUID(int=1),
    datetime(2026, 11, 29, 12, 0),
    date(2026, 11, 29),
    Point(1),
    Label("x"),
    OrderedDict(b=1, a=2),
    {"set": {1}},
    b"bytes",
]


@pytest.mark.parametrize("value", EDGES, ids=repr)
def test_the_standard_text_or_refusal_where_the_writers_differ(value: Any) -> None:
    assert outcome(canonical_json, value) == outcome(standard, value)


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.floats(min_value=-1e-3, max_value=1e-3)
    | st.text()
    | st.sampled_from(["e-", "0.0000", ":1e-5", "[0.00001", "9e-4", "\ud800"])
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=1500, derandomize=True, database=None, deadline=None)
@given(value=json_values)
def test_the_standard_text_for_any_value(value: Any) -> None:
    assert outcome(canonical_json, value) == outcome(standard, value)


@settings(max_examples=1500, derandomize=True, database=None, deadline=None)
@given(value=parsed_json_values(surrogates=True) | st.floats(min_value=-1e-3, max_value=1e-3))
def test_what_a_json_parser_gives_is_written_alike_without_the_read_back(value: Any) -> None:
    """``parsed=True`` skips only the read-back check; on anything a JSON parse can give (lone surrogates and
    small floats included: those are still handed to the standard module) the text is the standard one."""
    assert outcome(lambda v: canonical_json(v, parsed=True), value) == outcome(standard, value)


def validated() -> list[Any]:
    """Every valid body of the example corpus and of the test builders, validated."""
    failed = [
        ("ELEC-01", "electrical", "general", "2026-12-05"),
        ("DUST-01", "dust_explosion", "major", "2026-12-20"),
    ]
    bodies = [
        *valid_corpus(),
        inspection(),
        inspection(failed=failed, modules=["M5", "M1"]),
        rectification(str(uuid.UUID(int=7)), "ELEC-01"),
        survey(),
    ]
    return [validate(body, now=NOW) for body in bodies]


@pytest.mark.parametrize("valid", validated(), ids=lambda v: f"{v.form}-{v.submission_id[:8]}")
def test_a_validated_submission_is_what_parsed_promises(valid: Any) -> None:
    """What the content hash writes with ``parsed=True`` (a validated submission's ``canonical``) holds only
    JSON's own kinds, so its text is the standard one."""
    content = valid.canonical(shared=True)
    assert orjson_kinds_only(content)
    assert canonical_json(content, parsed=True) == standard(content)


def orjson_kinds_only(value: Any) -> bool:
    if type(value) is dict:
        return all(type(k) is str and orjson_kinds_only(v) for k, v in value.items())
    if type(value) is list:
        return all(orjson_kinds_only(v) for v in value)
    return value is None or type(value) in (str, int, bool)


def test_a_submission_is_written_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual value (a submission's content, with a null and a score) never reaches the slow writer."""
    body = {**inspection(), "replaces": None, "computed": {"score": 62.5, "hazards": 0}}

    def slow(value: Any) -> str:
        raise AssertionError("the standard module wrote a plain submission")

    texts = [standard(body)]
    # an id with "e-" in it: the quick test hits, the search finds no small number
    body["submission_id"] = "1234567e-89ab-4cde-8f01-23456789abce"
    texts.append(standard(body))
    monkeypatch.setattr(canonical, "_standard", slow)
    assert canonical_json(body) == texts[1]
    body["submission_id"] = json.loads(texts[0])["submission_id"]
    assert canonical_json(body) == texts[0]


#: bytes of the texts below: digits, the point, exponent and sign, the punctuation before a token, a quote
number_bytes = st.lists(st.sampled_from([*b"0123456789", *b'.e-:,[]{}"a ']), max_size=40).map(bytes)


@settings(max_examples=3000, derandomize=True, database=None, deadline=None)
@given(text=number_bytes | st.binary(max_size=30))
def test_the_reversed_search_finds_a_small_number_exactly_where_the_pattern_does(text: bytes) -> None:
    """``_has_small_number`` (two searches of the reversed text) says what a search with ``_SMALL`` says."""
    assert canonical._has_small_number(text) == bool(canonical._SMALL.search(text))


@pytest.mark.parametrize(
    "text",
    [
        b"1e-5",
        b"-1e-5",
        b"0.00001",
        b"-0.00001",
        b":1.5e-7}",
        b"[-2e-9]",
        b",0.00009",
        b'"a":3e-05',
        b'"1e-5"',
        b'"x0.0000"',
        b"a1e-5",
        b"1e5",
        b"0.0001",
        b"1.e-5",
        b".5e-5",
        b"--1e-5",
        b"e-",
        b"0.0000",
    ],
)
def test_the_reversed_search_on_the_edges_of_a_token(text: bytes) -> None:
    assert canonical._has_small_number(text) == bool(canonical._SMALL.search(text))
