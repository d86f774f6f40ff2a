"""Hypothesis strategies: request bodies made from the example corpus (``schemas/examples``), mutated.

A corpus body is a realistic starting point (valid bodies get far into the rules, where random JSON never
does); a mutation then replaces a value anywhere with arbitrary JSON, deletes a key, adds an unknown one or
changes one character of a string.  ``raw_bodies`` goes one step further, to bytes on the wire: lone UTF-16
surrogates in strings, a key written twice, nesting far deeper than any form.
"""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz_settings(examples: int) -> settings:
    """The settings of every fuzz test: the same cases on every run, none kept between runs, and no deadline
    (a busy CI machine must not turn slowness into a failure)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"

Path_ = tuple[str | int, ...]


@cache
def corpus() -> tuple[dict[str, Any], ...]:
    """Every body of the corpus: the valid ones and those inside the invalid examples."""
    bodies = []
    for path in sorted(EXAMPLES.glob("*/*/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        bodies.append(doc["submission"] if path.parent.name == "invalid" else doc)
    return tuple(bodies)


def valid_corpus() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*/valid/*.json")))


def characters(surrogates: bool = False) -> st.SearchStrategy[str]:
    """One character; a lone UTF-16 surrogate half the time when ``surrogates``."""
    if not surrogates:
        return st.characters()
    return st.one_of(
        st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
    )


def json_values(surrogates: bool = False) -> st.SearchStrategy[Any]:
    """Any JSON value (finite numbers: NaN and Infinity are not JSON); strings with lone surrogates when
    ``surrogates`` (what ``"\\ud800"`` in a body decodes to)."""
    text = st.text(characters(surrogates), max_size=20)
    leaf = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        text,
    )
    return st.recursive(
        leaf,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=4),
        max_leaves=12,
    )


def paths(value: Any, here: Path_ = ()) -> list[Path_]:
    """Every place in ``value`` (the root included), parents before children."""
    found = [here]
    if isinstance(value, dict):
        for key, sub in value.items():
            found.extend(paths(sub, (*here, key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found.extend(paths(sub, (*here, i)))
    return found


def _get(value: Any, path: Path_) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def mutated(
    draw: st.DrawFn, surrogates: bool = False, bodies: tuple[dict[str, Any], ...] | None = None
) -> Any:
    """A corpus body with a fresh submission id and one to three mutations (mostly one, so that many
    bodies stay valid but for it and reach the rules and the storage behind validation)."""
    body = copy.deepcopy(draw(st.sampled_from(bodies or corpus())))
    if isinstance(body, dict) and "submission_id" in body:
        body["submission_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        how = draw(st.sampled_from(["replace", "delete", "add", "edit", "edit"]))
        if how == "edit":  # one character of a string changed: a near miss of a valid value
            texts = [p for p in paths(body) if isinstance(_get(body, p), str) and _get(body, p)]
            if not texts:
                continue
            where = draw(st.sampled_from(texts))
            target = _get(body, where)
            i = draw(st.integers(0, len(target)))
            new = draw(st.one_of(st.just(""), characters(surrogates)))
            replaced = (
                target[:i] + new + target[i + 1 :] if draw(st.booleans()) else target[:i] + new + target[i:]
            )
            if where:
                _get(body, where[:-1])[where[-1]] = replaced
            else:
                body = replaced
            continue
        where = draw(st.sampled_from(paths(body)))
        target = _get(body, where)
        if not where:  # the root itself: anything at all instead of the body
            body = draw(json_values(surrogates)) if how == "replace" else body
            continue
        parent, last = _get(body, where[:-1]), where[-1]
        if how == "replace":
            parent[last] = draw(json_values(surrogates))
        elif how == "delete":
            del parent[last]
        elif how == "add" and isinstance(target, dict):
            target[draw(st.text(characters(surrogates), max_size=10))] = draw(json_values(surrogates))
    return body


def encode(value: Any, duplicate_at: Path_ | None = None, here: Path_ = ()) -> str:
    """JSON text of ``value`` (``\\uXXXX`` escapes, so lone surrogates survive), with the first key of the
    object at ``duplicate_at`` written a second time."""
    if isinstance(value, dict):
        pairs = [f"{json.dumps(k)}: {encode(v, duplicate_at, (*here, k))}" for k, v in value.items()]
        if here == duplicate_at and value:
            key = next(iter(value))
            pairs.append(f"{json.dumps(key)}: {json.dumps(value[key])}")
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(encode(v, duplicate_at, (*here, i)) for i, v in enumerate(value)) + "]"
    return json.dumps(value)


@st.composite
def raw_bodies(draw: st.DrawFn, wrap: Any = None, bodies: tuple[dict[str, Any], ...] | None = None) -> bytes:
    """Bytes for a POST: a mutated corpus body (lone surrogates allowed), perhaps with a key written twice,
    perhaps buried under far too many brackets; ``wrap`` turns the body into the request (e.g. a batch)."""
    body = draw(mutated(surrogates=True, bodies=bodies))
    if wrap is not None:
        body = wrap(body)
    objects = [p for p in paths(body) if isinstance(_get(body, p), dict) and _get(body, p)]
    duplicate_at = draw(st.one_of(st.none(), st.sampled_from(objects))) if objects else None
    text = encode(body, duplicate_at)
    depth = draw(st.sampled_from([0, 0, 0, 40, 100_000]))
    if depth:
        text = "[" * depth + text + "]" * depth
    return text.encode("utf-8")
