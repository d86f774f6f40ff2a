"""Canonical JSON: one text for one value, so that equal content hashes equally and is stored byte for byte."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(data: Any) -> str:
    """Keys sorted, no insignificant whitespace, non-ASCII kept as is (UTF-8 when encoded)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
