"""The textual formats of the form contracts: how JSON types and formats are named in messages, the patterns
the JSON Schemas publish and the server matches, and the strict parsers behind them.

Each pattern is ECMA-262-compatible (what a JSON Schema validator runs) and matched by the server in full
(Python's ``$`` would also match before a trailing newline, hence :func:`full`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

from services.common import uscc

from .errors import Tr

# JSON types, as named in messages
STRING = Tr("a string", "字符串")
INTEGER = Tr(
    "an integer (a whole number, not a string, a decimal or true/false)", "整数（不能是字符串、小数或布尔值）"
)
BOOLEAN = Tr(
    "true or false (JSON booleans, not strings or numbers)",
    "true 或 false（JSON 布尔值，不能是字符串或数字）",
)
OBJECT = Tr("a JSON object", "一个 JSON 对象")
ARRAY = Tr("a JSON array", "一个 JSON 数组")

# The textual formats, each with the ECMA-262-compatible pattern the JSON Schema uses and the server
# matches in full (Python's ``$`` would also match before a trailing newline, hence ``fullmatch``).
DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
USCC_PATTERN = f"^[{uscc.ALPHABET}]{{18}}$"
NOT_BLANK_PATTERN = r"\S"

DATE = Tr("a calendar date YYYY-MM-DD, e.g. 2026-11-27", "YYYY-MM-DD 格式的日期，如 2026-11-27")
DATE_TIME = Tr(
    "an RFC 3339 date-time with its UTC offset, e.g. 2026-11-27T09:30:00+08:00",
    "带时区偏移的 RFC 3339 日期时间，如 2026-11-27T09:30:00+08:00",
)
UUID = Tr(
    "a UUID in its 36-character form, e.g. 6f1c2d3e-4a5b-4c6d-8e7f-1a2b3c4d5e6f",
    "一个 36 位格式的 UUID，如 6f1c2d3e-4a5b-4c6d-8e7f-1a2b3c4d5e6f",
)


@cache
def full(pattern: str) -> re.Pattern[str]:
    """``pattern`` (written ``^...$`` for JSON Schema) compiled for ``fullmatch`` (once: ``re``'s own cache
    costs a lookup keyed on the pattern and flags on every call)."""
    return re.compile(pattern.removeprefix("^").removesuffix("$"))


def parse_date(value: object) -> date | None:
    """A strict ``YYYY-MM-DD`` calendar date, or None (no week dates, no ``20261127``)."""
    if isinstance(value, str) and full(DATE_PATTERN).fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:  # 2026-02-30
            return None
    return None


def parse_date_time(value: object) -> datetime | None:
    """A strict RFC 3339 date-time with offset, timezone-aware, or None."""
    if isinstance(value, str) and full(DATE_TIME_PATTERN).fullmatch(value):
        try:
            return datetime.fromisoformat(value.upper())
        except ValueError:
            return None
    return None


def parse_uuid(value: object) -> str | None:
    """A UUID in its hyphenated 36-character form, either case, as the canonical lower-case string, or None."""
    if isinstance(value, str) and full(UUID_PATTERN).fullmatch(value):
        return value.lower()
    return None


def jsonable(value: Any) -> Any:
    """Loaded values back to JSON: dates and date-times as ISO 8601 strings, everything else as is."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most leaves: no ABC checks for them
        return value
    if kind is date:
        return value.isoformat()
    if kind is list:
        return [jsonable(item) for item in value]
    if kind is dict or isinstance(value, Mapping):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
