"""What the ``score`` command groups share: option callbacks that turn a word on the command line into a
value, or into a usage error (exit 2) that names the option."""

from __future__ import annotations

from datetime import date
from typing import Any

import click


def iso_day(_ctx: Any, _param: Any, value: str | None) -> date | None:
    """A ``click`` callback: a day as YYYY-MM-DD, or None when the option is left out (the command's default)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("a day as YYYY-MM-DD, e.g. 2026-11-27") from None
