"""Reading a request body as JSON that means exactly one thing, or saying precisely why it does not.

Python's ``json`` module is lenient where a form must not be: it recurses once per nesting level (100,000
``[`` end in a ``RecursionError``), keeps the last of two equal keys without a word, lets a lone UTF-16
surrogate (``"\\ud800"``) through into a ``str`` that cannot be encoded again, and reads ``NaN``,
``Infinity`` and ``1e999`` as numbers JSON does not have.  Here:

- a body that is not UTF-8 JSON, or uses those non-JSON numbers, is :class:`Unreadable` (400);
- a body nested deeper than :data:`MAX_DEPTH` is :class:`Unreadable` too, found by a scan of the brackets
  *before* the parser runs, so no recursion limit is ever approached;
- a duplicate key or a lone surrogate anywhere (in a key or a value) is a :class:`Problem` with the path where
  it was found: the caller answers 422 with the paths (for a batch, each item on its own).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from services.intake.forms.errors import FieldError

#: The deepest nesting any request needs is 7 (a batch, its list, a submission, data, items, an item, its
#: hazard); 32 leaves room for forms to come and is far below where recursion could matter.
MAX_DEPTH = 32

# A JSON string (escapes included) as one token; the unrolled loop is linear and never backtracks.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: a JSON escape of a UTF-16 surrogate, the only way one gets into a parsed value
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class Unreadable(ValueError):
    """The body as a whole cannot be read as one JSON value (answered 400, no field path)."""

    def __init__(self, code: str, message: dict[str, str]) -> None:
        super().__init__(message["en"])
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Problem:
    """Something in a readable body that keeps it from meaning one thing, at ``parts`` (keys and indexes)."""

    parts: tuple[str | int, ...]
    code: str  #: ``duplicate_key`` or ``invalid_unicode``

    def field_error(self, drop: int = 0) -> FieldError:
        """As a field error, its path without the first ``drop`` parts (a batch item's own paths)."""
        return FieldError(path=path_of(self.parts[drop:]), code=self.code, message=dict(_MESSAGES[self.code]))


_MESSAGES = {
    "duplicate_key": {
        "en": "appears twice in the same object; a form must say each thing once",
        "zh": "在同一对象中出现了两次；每个字段只能出现一次",
    },
    "invalid_unicode": {
        "en": "contains a lone UTF-16 surrogate (such as \\ud800), which is not a character",
        "zh": "包含单独的 UTF-16 代理码元（如 \\ud800），不是有效字符",
    },
}

NOT_JSON = {"en": "the request body is not valid JSON", "zh": "请求体不是有效的 JSON"}


class _Duplicated(dict[str, Any]):
    """An object in which some key appeared more than once (the parser kept the last value)."""

    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Duplicated(obj)
    seen: set[str] = set()
    marked.duplicates = []
    for key, _ in pairs:
        if key in seen and key not in marked.duplicates:
            marked.duplicates.append(key)
        seen.add(key)
    return marked


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (linear, no recursion)."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


#: bytes.translate's deletion sets that keep only quotes and brackets, and only brackets; a bracket's step
_NOT_QUOTES_OR_BRACKETS = bytes(b for b in range(256) if b not in b'"[]{}')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [{ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.get(b, 0) for b in range(256)]


def _too_deep_raw(raw: bytes, limit: int) -> bool:
    """:func:`too_deep` of ``raw`` (UTF-8) with C-speed steps where it can say the same, else :func:`too_deep`.

    Without an escaped quote or backslash anywhere (``\\"``, ``\\\\``), no escape can swallow a quote, so
    the quotes pair up in order into the strings :func:`too_deep`'s pattern finds (an unpaired last one opens
    nothing and the text after it counts); so ``bytes.translate`` keeps the quotes and brackets, the brackets
    between paired quotes are dropped, and the others' running depth is summed without a Python step per
    character (the pattern's scan was half of reading a batch: 15 us an item, now 3).  Quotes, backslashes
    and brackets are ASCII: UTF-8 never has those bytes inside a character.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # not that many openers at all, inside strings or out
    if b'\\"' in raw or b"\\\\" in raw:
        return too_deep(raw.decode("utf-8"), limit)
    pieces = raw.translate(None, _NOT_QUOTES_OR_BRACKETS).split(b'"')
    outside = pieces[0::2]
    if len(pieces) % 2 == 0:  # an odd number of quotes: the last one opens no string
        outside.append(pieces[-1])
    brackets = b"".join(outside).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def loads(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The one JSON value ``raw`` holds; :class:`Unreadable` when there is none (or it is too deep)."""
    return read(raw, max_depth)[0]


def read(raw: bytes, max_depth: int = MAX_DEPTH) -> tuple[Any, bool]:
    """:func:`loads`, and whether the value is known to have no :func:`problems` (then the caller need not
    walk it for them): no object had a key twice, and the text has no escape that could make a lone
    surrogate (``\\uD800``-``\\uDFFF``; UTF-8 itself cannot carry one, its decoding refuses them).  False
    only means "look": an escaped backslash before ``ud800`` is not a surrogate, :func:`problems` then says."""
    duplicated = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        obj = _object(pairs)
        if obj.__class__ is _Duplicated:
            duplicated = True
        return obj

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("malformed_json", NOT_JSON) from None
    if _too_deep_raw(raw, max_depth):
        raise Unreadable(
            "nesting_too_deep",
            {
                "en": f"the request body is nested deeper than {max_depth} levels",
                "zh": f"请求体的嵌套层数超过 {max_depth} 层",
            },
        )
    try:
        value = json.loads(
            text, object_pairs_hook=pairs_hook, parse_float=_finite, parse_constant=_no_constant
        )
    except ValueError:  # JSONDecodeError; NaN, Infinity, 1e999; an integer of more than 4300 digits
        raise Unreadable("malformed_json", NOT_JSON) from None
    return value, not duplicated and not _SURROGATE_ESCAPE.search(text)


def problems(value: Any, parts: tuple[str | int, ...] = ()) -> list[Problem]:
    """Every duplicate key and lone surrogate in a value :func:`loads` returned, each with its path.

    Recursive, which is safe: :func:`loads` has bounded the depth.
    """
    found: list[Problem] = []
    if isinstance(value, str):
        if _SURROGATE.search(value):
            found.append(Problem(parts, "invalid_unicode"))
    elif isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            found.append(Problem((*parts, key), "duplicate_key"))
        for key, sub in value.items():
            if _SURROGATE.search(key):
                found.append(Problem((*parts, key), "invalid_unicode"))
            found.extend(problems(sub, (*parts, key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found.extend(problems(sub, (*parts, i)))
    return found


def path_of(parts: tuple[str | int, ...]) -> str:
    """``("data", "items", 3, "hazard")`` -> ``data.items[3].hazard``, the forms' path syntax.

    A key holding a lone surrogate is written with the surrogate escaped (``\\ud800``): the path goes back to
    the client in a UTF-8 body, where the raw surrogate cannot be encoded.
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part.encode("utf-8", "backslashreplace").decode("utf-8")
            out = f"{out}.{key}" if out else key
    return out
