"""Official code tables (GB/T 2260 divisions, GB/T 4754-2017 industry divisions) as data files.

The tables live in CSV files next to this module so that a code change is a data change reviewed on its own,
never a literal scattered through the code.

Retired divisions: Hangzhou's 2021 reorganisation retired 330103 下城 (merged into 330105 拱墅) and
330104 江干 (merged into 330102 上城).  They stay in the table with ``status=retired`` and a ``successor``
so that old data can be read and mapped; new submissions naming them are rejected with the successor named.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent

#: The five ILO SCORE training modules (M1 workplace cooperation ... M5 occupational safety and health): the
#: intake's inspection form accepts these and the aggregator counts coverage per module, so both read them here.
SCORE_MODULES = ("M1", "M2", "M3", "M4", "M5")


@dataclass(frozen=True)
class District:
    code: str
    name_zh: str
    name_en: str
    parent: str | None
    level: str  # province | prefecture | county
    status: str  # active | retired
    successor: str | None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Industry:
    code: str
    name_zh: str
    name_en: str


@cache
def districts() -> dict[str, District]:
    with (_HERE / "districts.csv").open(encoding="utf-8", newline="") as f:
        return {
            row["code"]: District(
                code=row["code"],
                name_zh=row["name_zh"],
                name_en=row["name_en"],
                parent=row["parent"] or None,
                level=row["level"],
                status=row["status"],
                successor=row["successor"] or None,
            )
            for row in csv.DictReader(f)
        }


@cache
def industries() -> dict[str, Industry]:
    with (_HERE / "industries.csv").open(encoding="utf-8", newline="") as f:
        return {
            row["code"]: Industry(row["code"], row["name_zh"], row["name_en"]) for row in csv.DictReader(f)
        }


def canonical_district(code: str) -> str:
    """The active division a (possibly retired) code stands for today."""
    table = districts()
    seen = set()
    while code in table and not table[code].active and table[code].successor and code not in seen:
        seen.add(code)
        code = table[code].successor or code
    return code


@cache
def ancestors(code: str) -> tuple[str, ...]:
    """The division itself and every level above it, nearest first: 330784 -> (330784, 330700, 330000)."""
    table = districts()
    chain: list[str] = []
    current: str | None = canonical_district(code)
    while current is not None and current in table and current not in chain:
        chain.append(current)
        current = table[current].parent
    return tuple(chain)


@cache
def children(code: str) -> tuple[str, ...]:
    """The active divisions directly below ``code``."""
    return tuple(sorted(d.code for d in districts().values() if d.parent == code and d.active))


@cache
def covered(code: str) -> tuple[str, ...]:
    """The division and every division below it (a Jinhua total includes Yongkang).

    Cached like ``ancestors`` and ``children``: the tables never change while running, and reports, survey
    suppression and rollup marking ask for the same few divisions over and over."""
    return tuple(sorted(c for c in districts() if code in ancestors(c)))
