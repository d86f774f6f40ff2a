"""The compiled fast path of validation (``services.intake.forms.fastpath``) judges exactly as marshmallow.

``validate`` tries the compiled loaders first and runs marshmallow only when they give up; marshmallow is the
contract's source and words every error.  So the fast path may accept only what marshmallow accepts, loading
it to the very same submission, and must hand everything else to marshmallow.  Proved here by judging each body
twice, through ``validate`` and through marshmallow alone, and requiring the same answer (the submission, or
the same errors in the same order) on:

- every body of the example corpus (``schemas/examples``, valid and invalid), at the corpus's "now" and at a
  "now" before its dates (so the future-date rules object);
- systematic mutations of every valid example and of the test builders' bodies: every key deleted, every value
  replaced by each of a set of near misses and wrong types, an unknown key added to every object;
- hypothesis: mutated corpus bodies (``tests/fuzz/mutations.py``) and arbitrary JSON.

And the fast path is not idle: every valid body above is accepted by it, not handed on to marshmallow.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from marshmallow import pre_load

from services.intake.forms import Invalid, ValidSubmission, validate, validation
from services.intake.forms.fastpath import Fallback, NotCompilable, compile_loader
from services.intake.forms.fields import Integer
from services.intake.forms.objects import FormSchema, Obj
from tests.builders import NOW, inspection, rectification, survey
from tests.fuzz.mutations import corpus, json_values, mutated, paths, valid_corpus

Outcome = tuple[str, Any]
EARLIER = NOW - timedelta(days=30)  # before the corpus's dates: its collected_at and form dates are future


def _outcome(judge: Callable[[], ValidSubmission]) -> Outcome:
    try:
        return ("valid", judge())
    except Invalid as exc:
        return ("invalid", exc.errors)
    except Exception as exc:  # neither path may differ even in how it fails
        return ("raised", f"{type(exc).__name__}: {exc}")


@contextmanager
def marshmallow_only() -> Iterator[None]:
    """``validate`` with the fast path switched off: marshmallow's judgement alone."""
    fast = validation._fast
    validation._fast = lambda body, latest: None  # type: ignore[assignment]
    try:
        yield
    finally:
        validation._fast = fast


class Tally:
    """How the fast path fared: valid bodies it loaded itself, and valid ones it left to marshmallow."""

    def __init__(self) -> None:
        self.fast = 0
        self.missed: list[Any] = []
        self.invalid = 0


def judged_alike(body: Any, now: Any = NOW, tally: Tally | None = None) -> Outcome:
    """Judge ``body`` both ways; fail unless the answers are identical.  The answer."""
    accepted_fast: list[bool] = []
    fast = validation._fast

    def spy(b: dict[Any, Any], latest: Any) -> ValidSubmission | None:
        found = fast(b, latest)
        accepted_fast.append(found is not None)
        return found

    validation._fast = spy  # type: ignore[assignment]
    try:
        got = _outcome(lambda: validate(copy.deepcopy(body), now=now))
    finally:
        validation._fast = fast
    with marshmallow_only():
        expected = _outcome(lambda: validate(copy.deepcopy(body), now=now))
    assert got == expected, (body, got, expected)
    if tally is not None:
        if got[0] == "valid":
            if any(accepted_fast):
                tally.fast += 1
            else:
                tally.missed.append(body)
        else:
            tally.invalid += 1
    return got


def _builder_bodies() -> list[dict[str, Any]]:
    return [
        inspection(),
        inspection(
            failed=[
                ("DUST-03", "dust_explosion", "major", "2026-12-20"),
                ("ELEC-01", "electrical", "general", "2026-11-30"),
            ],
            modules=["M5", "M1"],
            replaces="1b4e28ba-2fa1-41d2-883f-0016d3cca427",
        ),
        rectification("1b4e28ba-2fa1-41d2-883f-0016d3cca427", "DUST-03"),
        survey(injured=True),
    ]


#: what each value is replaced by: wrong types, blanks, near misses and values valid elsewhere in a form
REPLACEMENTS: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    6,
    1.5,
    "",
    " ",
    "x" * 1001,
    [],
    {},
    "2026-11-20",
    "2099-01-01",
    "2026-11-20T10:00:00+08:00",
    "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
    "1B4E28BA-2FA1-41D2-883F-0016D3CCA427",
    "330784",
    "330103",
    "fail",
    "pass",
    "13812345678",
)


def _mutations(body: dict[str, Any]) -> Iterator[Any]:
    for where in paths(body):
        if not where:
            continue
        parent_path, last = where[:-1], where[-1]
        for how in ("delete", *range(len(REPLACEMENTS)), "unknown", "edit"):
            copied = copy.deepcopy(body)
            parent: Any = copied
            for part in parent_path:
                parent = parent[part]
            target = parent[last]
            if how == "delete":
                del parent[last]
            elif how == "unknown":
                if not isinstance(target, dict):
                    continue
                target["unexpected"] = "x"
            elif how == "edit":
                if not isinstance(target, str) or not target:
                    continue
                parent[last] = target[:-1]
            else:
                assert isinstance(how, int)
                parent[last] = copy.deepcopy(REPLACEMENTS[how])
            yield copied


@pytest.mark.parametrize("now", [NOW, EARLIER], ids=["now", "before-the-corpus"])
def test_every_corpus_body_is_judged_alike(now: Any) -> None:
    tally = Tally()
    for body in corpus():
        judged_alike(body, now, tally)
    assert tally.invalid > 0
    if now is NOW:
        assert tally.fast >= len(valid_corpus()), "the fast path accepted too few valid examples"
    assert not tally.missed, f"valid bodies the fast path left to marshmallow: {tally.missed[:3]}"


def test_systematic_mutations_of_valid_bodies_are_judged_alike() -> None:
    tally = Tally()
    for body in [*valid_corpus(), *_builder_bodies()]:
        assert judged_alike(body, NOW, tally)[0] == "valid"
        for mutation in _mutations(body):
            judged_alike(mutation, NOW, tally)
    # the mutations reach both sides of the rules: many stay valid (an optional field left out, a value
    # valid in its place), most break a rule
    assert tally.fast > 100 and tally.invalid > 1000, (tally.fast, tally.invalid)
    assert not tally.missed, f"valid bodies the fast path left to marshmallow: {tally.missed[:3]}"


HYPOTHESIS = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@HYPOTHESIS
@given(body=mutated())
def test_mutated_corpus_bodies_are_judged_alike(body: Any) -> None:
    tally = Tally()
    judged_alike(body, NOW, tally)
    assert not tally.missed, tally.missed


@HYPOTHESIS
@given(body=json_values())
def test_arbitrary_json_is_judged_alike(body: Any) -> None:
    judged_alike(body, NOW)


def test_a_schema_with_a_feature_the_compiler_does_not_reproduce_is_left_to_marshmallow() -> None:
    class Trimmed(FormSchema):
        n = Integer(minimum=1, required=True)

        @pre_load
        def _trim(self, data: Any, **kwargs: Any) -> Any:
            return data

    with pytest.raises(NotCompilable):
        compile_loader(Trimmed())


def test_the_compiled_loader_equals_schema_load_on_a_body_that_passes() -> None:
    class Pair(FormSchema):
        a = Integer(minimum=1, required=True)
        b = Integer(minimum=1, load_default=None, allow_none=True)

    schema = Pair()
    load = compile_loader(schema)
    assert load({"a": 2}) == schema.load({"a": 2}) == {"a": 2, "b": None}
    assert load({"a": 2, "b": 3}) == schema.load({"a": 2, "b": 3})


def test_the_written_out_loader_keeps_defaults_nones_and_nested_objects_as_schema_load() -> None:
    """The compiled loader is code written per schema: a callable default is called per load (a fresh value
    each time), an allowed None stays None, a nested object is loaded by its own schema's loader, and None
    where it is not allowed, or a value of another type, is left to marshmallow."""

    class Inner(FormSchema):
        n = Integer(minimum=1, required=True)

    class Outer(FormSchema):
        tags = Integer(minimum=0, load_default=list)  # a callable default (never valid input: a default only)
        inner = Obj(Inner, required=True)
        maybe = Obj(Inner, allow_none=True)
        count = Integer(minimum=0, allow_none=True)

    schema = Outer()
    load = compile_loader(schema)
    for body in (
        {"inner": {"n": 1}},
        {"inner": {"n": 2}, "maybe": None, "count": None},
        {"inner": {"n": 3}, "maybe": {"n": 4}, "count": 5},
    ):
        assert load(body) == schema.load(body)
    first, second = load({"inner": {"n": 1}}), load({"inner": {"n": 1}})
    assert first["tags"] == [] and first["tags"] is not second["tags"]
    for refused in (
        {"inner": None},
        {"inner": {"n": 1}, "count": "5"},
        {"inner": {"n": 1}, "count": True},
        {"inner": {"n": 0}},
    ):
        with pytest.raises(Fallback):
            load(refused)
