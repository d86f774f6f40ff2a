"""Personal numbers that must not enter anonymous or free-text fields: mainland mobile numbers and resident
identity numbers (GB 11643-1999).

A resident identity number is 18 characters: a 6-digit division code whose first digit is a region (1-8),
an 8-digit birth date, 3 digits and a check character (ISO 7064 MOD 11-2: 0-9 or X).  Requiring the check
character and a real date keeps ordinary numbers (item counts, credit codes, amounts) from being taken for
one.  A mobile number is 11 digits starting 13-19, often written with spaces or hyphens (138 1234 5678).
"""

from __future__ import annotations

import re
from datetime import date

_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])")
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])[1-8][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2
_CHECK = "10X98765432"


def is_resident_id(value: str) -> bool:
    """True for a well-formed resident identity number: right shape, a real birth date, right check."""
    if not re.fullmatch(r"[1-8][0-9]{16}[0-9Xx]", value):
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return (
        _CHECK[sum(int(c) * w for c, w in zip(value[:17], _WEIGHTS, strict=True)) % 11] == value[17].upper()
    )


def personal_number(text: str) -> str | None:
    """What kind of personal number ``text`` contains ("mobile number" or "resident identity number"), or
    None."""
    if _MOBILE.search(text):
        return "mobile number"
    if any(is_resident_id(m.group(0)) for m in _RESIDENT_ID.finditer(text)):
        return "resident identity number"
    return None
