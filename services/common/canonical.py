"""Canonical JSON: one text for one value, so that equal content hashes equally and is stored byte for byte."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

#: orjson's sorted compact output; a ``str``/``int``/``dict``/``list`` subclass, a date-time or a dataclass is
#: handed to :func:`_refuse`, so that the standard module decides it (they are rare, and it may refuse them)
_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


#: a number of orjson's text below 1e-4 in magnitude: a token (first, or after ``:``, ``,`` or ``[``) with a
#: negative exponent or four zeros after the point; in a string only such punctuation before digits matches
_SMALL = re.compile(rb"(?:^|[:,\[])-?(?:[0-9]+(?:\.[0-9]+)?e-|0\.0000)")
#: :data:`_SMALL`'s two kinds of match, each written backwards, for a search of the reversed text: there each
#: begins with a literal (``-e``, ``0000.0``), which the regex engine looks for quickly, where ``_SMALL``
#: began with a choice the engine tried at every byte (~15 us on a submission's 600 bytes, for the one
#: ``e-`` nearly every text holds in its UUIDs: the most of a content hash's cost)
_SMALL_EXPONENT_REVERSED = re.compile(rb"-e(?:[0-9]+\.)?[0-9]+-?(?:[:,\[]|\Z)")
_SMALL_FRACTION_REVERSED = re.compile(rb"0000\.0-?(?:[:,\[]|\Z)")


def _has_small_number(out: bytes) -> bool:
    """Whether :data:`_SMALL` finds a match in ``out``: whether one of the two reversed patterns finds one in
    the reversed text (a text holds a match of a pattern exactly when its reverse holds a match of the
    pattern reversed; the start of the text, ``^``, is the end of the reversed one, ``\\Z``)."""
    has_exponent, has_fraction = b"e-" in out, b"0.0000" in out
    if not (has_exponent or has_fraction):
        return False
    backwards = out[::-1]
    return bool(
        (has_exponent and _SMALL_EXPONENT_REVERSED.search(backwards))
        or (has_fraction and _SMALL_FRACTION_REVERSED.search(backwards))
    )


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def canonical_json(data: Any, *, parsed: bool = False) -> str:
    """Keys sorted, no insignificant whitespace, non-ASCII kept as is (UTF-8 when encoded).

    The text is the standard module's ``json.dumps(data, ensure_ascii=False, sort_keys=True,
    separators=(",", ":"))``, byte for byte (content hashes stored before must still match), and so is every
    refusal.  orjson writes that same text some ten times faster (two of these per submission were a sixth of
    a batch item's CPU), except where the two differ, and there the standard module answers:

    - a float below 1e-4 in magnitude (``1e-05`` against orjson's ``0.00001``, ``1e-07`` against ``1e-7``):
      every such number in orjson's text holds ``e-`` or ``0.0000``, so a text holding neither has none (a
      quick test), and one that does is searched for such a number (:data:`_SMALL`, found by
      :func:`_has_small_number`; a UUID in a string holds ``e-`` one time in five);
    - NaN and infinities (orjson writes ``null``), a type the standard module refuses (a UUID, an Enum) or a
      tuple: orjson's text then does not read back as ``data``;
    - what orjson refuses (a key that is not a string, an integer beyond 64 bits, a lone surrogate) or passes
      to :func:`_refuse` (subclasses, date-times, dataclasses).

    Strings are escaped alike and keys sorted alike (by code point) by both; ``tests/unit/test_canonical.py``
    holds the two to the same text.

    ``parsed``: the caller vouches that ``data`` is made only of what a JSON parser gives (``str``, ``int``,
    ``float``, ``bool``, None, ``list``, ``dict`` with ``str`` keys) and holds no NaN or infinity, as a
    validated submission does (the intake's body reader refuses those numbers).  Then the check that
    orjson's text reads back as ``data`` can find nothing and is skipped: it was half of this function's
    cost (~6 us of ~12 per submission); small floats and what orjson refuses are still handed over.
    """
    try:
        out = orjson.dumps(data, default=_refuse, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        return _standard(data)
    if _has_small_number(out) or (not parsed and orjson.loads(out) != data):
        return _standard(data)
    return out.decode()


def _standard(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
