"""Reading a body as JSON that means one thing: depth, duplicate keys, lone surrogates, non-JSON numbers."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.entrypoints import jsonbody
from services.intake.entrypoints.jsonbody import MAX_DEPTH, Unreadable, loads, path_of, problems, too_deep
from tests.fuzz.mutations import raw_bodies


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b'{"submissions": [' + b"[" * 5_000 + b"]" * 5_000 + b"]}",
    ],
    ids=["open-brackets", "balanced-brackets", "objects", "inside-a-batch"],
)
def test_nesting_far_deeper_than_any_form_is_refused_before_parsing(raw: bytes) -> None:
    limit = sys.getrecursionlimit()
    with pytest.raises(Unreadable) as refused:
        loads(raw)
    assert refused.value.code == "nesting_too_deep"
    assert str(MAX_DEPTH) in refused.value.message["en"] and str(MAX_DEPTH) in refused.value.message["zh"]
    assert sys.getrecursionlimit() == limit


def test_the_depth_limit_is_exact_and_brackets_inside_strings_do_not_count() -> None:
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    with pytest.raises(Unreadable):
        loads(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    text = '{"note": "' + "[{" * 1000 + '\\"[[[", "n": 1}'
    assert not too_deep(text)
    assert loads(text.encode())["n"] == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\x00",
        b"\xff\xfe",
        b"[NaN]",
        b'{"x": Infinity}',
        b"[-Infinity]",
        b"[1e999]",
        b"9" * 5000,
    ],
)
def test_what_is_not_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(Unreadable) as refused:
        loads(raw)
    assert refused.value.code == "malformed_json"


def test_duplicate_keys_are_found_with_their_paths() -> None:
    body = loads(
        b'{"submission_id": "a", "submission_id": "b", '
        b'"data": {"safety_climate": {"sc1": 9, "sc1": 4, "sc1": 2}, "items": [{}, {"code": 1, "code": 1}]}}'
    )
    assert [(path_of(p.parts), p.code) for p in problems(body)] == [
        ("submission_id", "duplicate_key"),
        ("data.safety_climate.sc1", "duplicate_key"),
        ("data.items[1].code", "duplicate_key"),
    ]


def test_lone_surrogates_are_found_in_values_and_keys_and_their_paths_can_be_sent_back() -> None:
    body = loads(b'{"data": {"enterprise": {"name": "\\ud800abc"}, "\\udc00": 1, "ok": "\\ud83d\\ude00"}}')
    found = [p.field_error() for p in problems(body)]
    assert [(e.path, e.code) for e in found] == [
        ("data.enterprise.name", "invalid_unicode"),
        ("data.\\udc00", "invalid_unicode"),
    ]
    for e in found:  # a path goes back to the client in UTF-8
        e.path.encode("utf-8")
        assert e.message["en"] and e.message["zh"]


def test_a_problem_inside_a_batch_item_is_reported_with_the_items_own_path() -> None:
    [problem] = problems(loads(b'{"submissions": [{}, {"form": "x", "form": "y"}]}'))
    assert problem.parts == ("submissions", 1, "form")
    assert problem.field_error(drop=2).path == "form"


def test_a_clean_body_has_no_problems_and_plain_dicts() -> None:
    body = loads('{"a": [1, 2.5, "永康", {"b": null}], "c": true}'.encode())
    assert problems(body) == []
    assert type(body) is dict and not isinstance(body, jsonbody._Duplicated)


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(raw=raw_bodies())
def test_a_body_read_as_clean_has_no_problems(raw: bytes) -> None:
    """``read`` says a body is clean (the intake then skips walking it) only when ``problems`` finds none;
    and a body with a duplicate key or a lone surrogate is never said to be clean."""
    try:
        value, clean = jsonbody.read(raw)
    except Unreadable:
        return
    found = problems(value)
    if clean:
        assert found == []
    if found:
        assert not clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (b'{"a": "\\ud800"}', False),  # a lone surrogate
        (b'{"a": 1, "a": 2}', False),  # a key twice
        (b'{"a": {"b": 1, "b": 1}}', False),
        (b'{"a": "\\\\ud800"}', False),  # an escaped backslash: not a surrogate, but looked at all the same
        (b'{"a": "\\u00e9\\u4e2d", "b": [1, {"c": null}]}', True),
        (b'{"a": "\\ud83d\\ude00"}', False),  # a pair is fine, but it is looked at
    ],
)
def test_read_marks_only_bodies_that_cannot_hold_a_problem_as_clean(raw: bytes, clean: bool) -> None:
    assert jsonbody.read(raw)[1] is clean
    assert jsonbody.read(raw)[0] == loads(raw)


#: text made of what the depth scan reads: brackets, quotes, backslashes, a letter, a colon, a comma
_SCAN_TEXT = st.text(alphabet='[]{}"\\a:,永', max_size=80)


@settings(max_examples=3000, derandomize=True, database=None, deadline=None)
@given(text=_SCAN_TEXT, limit=st.integers(min_value=0, max_value=6))
def test_the_fast_depth_scan_says_what_the_pattern_scan_says(text: str, limit: int) -> None:
    """``read`` scans the depth with bytes operations where escapes allow it: the same answer as
    :func:`too_deep` on any text at all (valid JSON or not, unpaired quotes, stray backslashes)."""
    assert jsonbody._too_deep_raw(text.encode("utf-8"), limit) == too_deep(text, limit)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(raw=raw_bodies(wrap=lambda body: {"submissions": [body, body]}))
def test_the_fast_depth_scan_says_what_the_pattern_scan_says_of_bodies(raw: bytes) -> None:
    for limit in (2, 5, MAX_DEPTH):
        assert jsonbody._too_deep_raw(raw, limit) == too_deep(raw.decode("utf-8"), limit)
