"""Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters with a mod-31 check character."""

from __future__ import annotations

from operator import mul

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]  # 1, 3, 9, 27, 19, 26, ... as printed in the standard


_ALPHABET_SET = frozenset(ALPHABET)


def check_character(first17: str) -> str:
    if len(first17) != len(_WEIGHTS):
        raise ValueError(f"expected {len(_WEIGHTS)} characters, got {len(first17)}")
    # the weighted sum in C-level steps (map, not a generator: a fifth of the time; every credit code of
    # every submission is checked)
    total = sum(map(mul, map(_VALUE.__getitem__, first17), _WEIGHTS))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> str | None:
    """Why ``code`` is not a valid credit code, or None when it is."""
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    if not _ALPHABET_SET.issuperset(code):
        bad = sorted({c for c in code if c not in _VALUE})
        return f"contains characters outside the GB 32100 alphabet: {''.join(bad)}"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character should be {expected}, got {code[17]}"
    return None


def make(first17: str) -> str:
    """Complete 17 characters with their check character (for tests and fixtures)."""
    return first17 + check_character(first17)
