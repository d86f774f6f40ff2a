"""The query parameters every report and dashboard route shares: period, date, as_of, industry, scope."""

from __future__ import annotations

import re
from datetime import date

from flask import Response, request

from services.access import web as access_web
from services.aggregator import views
from services.common import clock
from services.common.codes import districts, industries
from services.common.errorbody import error_response

#: The days a report may name: wide enough for any real question, narrow enough that a trend of 60 years
#: before the first of them, or the end of a period holding the last, is still a day Python can represent.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
MAX_CODES = 50


def bad(path: str, message: str) -> Response:
    """400 for a query parameter (or path segment) the reports cannot answer, named by ``path``."""
    return error_response(
        400, "invalid_query", message, [{"path": path, "code": "invalid", "message": message}]
    )


def iso_day(name: str) -> str:
    """The query parameter ``name`` if it is a ``YYYY-MM-DD`` day, "" when absent or empty (the default).

    Python's ``date.fromisoformat`` also reads ``20261127`` and ``2026-W48-5``; the API promises one form.
    """
    raw = request.args.get(name) or ""
    if raw and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise views.ReportError(name, f"{name} must be YYYY-MM-DD")
    return raw


def bounded(name: str, day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise views.ReportError(name, f"{name} must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def query(default_period: str = "quarter") -> tuple[views.Period, str | None, date]:
    """(the period containing ``date``, the industry or None, ``as_of``), each checked."""
    kind = request.args.get("period", default_period)
    try:
        anchor = date.fromisoformat(iso_day("date") or clock.today().isoformat())
    except ValueError:
        raise views.ReportError("date", "date must be YYYY-MM-DD") from None
    try:
        as_of = date.fromisoformat(iso_day("as_of") or clock.today().isoformat())
    except ValueError:
        raise views.ReportError("as_of", "as_of must be YYYY-MM-DD") from None
    industry = request.args.get("industry") or None
    if industry and industry not in industries():
        raise views.ReportError("industry", f"unknown GB/T 4754 division {industry}")
    return views.period_of(kind, bounded("date", anchor)), industry, bounded("as_of", as_of)


def count(default: int) -> int:
    """``count`` periods of a trend, 1 to 60."""
    try:
        n = int(request.args.get("count", str(default)))
    except ValueError:
        raise views.ReportError("count", "count must be a whole number") from None
    if not 1 <= n <= 60:
        raise views.ReportError("count", "count must be between 1 and 60")
    return n


def readable(code: str) -> bool:
    """May the caller read reports of district ``code``?"""
    return access_web.principal().covers(code, "read_report")


def require_readable(codes: list[str]) -> None:
    """Refuse (403) a report on a known district outside the credential's scope; unknown codes stay 400."""
    for code in codes:
        if code in districts() and not readable(code):
            raise access_web.out_of_scope("read reports", code)
