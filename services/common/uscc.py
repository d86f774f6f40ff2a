"""Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters with a mod-31 check character."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]  # 1, 3, 9, 27, 19, 26, ... as printed in the standard


def check_character(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> str | None:
    """Why ``code`` is not a valid credit code, or None when it is."""
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        return f"contains characters outside the GB 32100 alphabet: {''.join(bad)}"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character should be {expected}, got {code[17]}"
    return None


def make(first17: str) -> str:
    """Complete 17 characters with their check character (for tests and fixtures)."""
    return first17 + check_character(first17)
