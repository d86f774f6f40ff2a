"""Privacy of worker surveys: no published figure, nor any combination of them, may give away a group of
fewer than 5 respondents.

The rule (``kpis.published_survey_sums``): survey figures are derived from visible base cells only (one
district in one calendar month, 5 respondents or more); a hidden cell, an empty one included, enters no
published number.  The adversary below does not try subtractions one by one: for every hidden cell it builds
the other data sets an attacker cannot tell apart (the same cell holding 0 and 4 respondents) and checks that
every published figure is identical, which rules out every sum, difference or solution of linear relations
across divisions, periods and industries at once.
"""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from services.aggregator.domain.periods import PERIODS, Period, period_of
from services.aggregator.views import district_report
from services.common.codes import ancestors
from tests.builders import survey
from tests.conftest import System, build_system, migrated, sqlite_settings

AS_OF = date(2026, 11, 27)


def _post(
    system: System, district: str, n: int, climate: int, enterprise: int, day: date = date(2026, 11, 21)
) -> None:
    bodies = [survey(district=district, enterprise=enterprise, climate=climate, day=day) for _ in range(n)]
    resp = system.client.post("/api/v1/submissions/batch", json={"submissions": bodies})
    assert resp.status_code == 207 and resp.get_json()["accepted"] == n


def test_a_total_is_the_sum_of_its_visible_cells_so_subtraction_gives_nothing_away(system: System) -> None:
    _post(system, "330784", 5, climate=4, enterprise=1)  # Yongkang 5: shown
    _post(system, "330106", 4, climate=2, enterprise=2)  # Xihu 4: hidden
    system.sync()
    assert system.report("330784", "month")["figures"]["worker_survey"]["responses"] == 5
    assert system.report("330106", "month")["figures"]["worker_survey"]["responses"] == "suppressed"
    assert system.report("330100", "month")["figures"]["worker_survey"]["responses"] == "suppressed"
    # Zhejiang leaves Xihu's hidden 4 out: Zhejiang - Jinhua = 0, not 4
    zhejiang = system.report("330000", "month")["figures"]["worker_survey"]
    jinhua = system.report("330700", "month")["figures"]["worker_survey"]
    assert zhejiang == jinhua and zhejiang["responses"] == 5
    # days and weeks are not whole months: no survey figures there at all
    assert system.report("330784", "week", "2026-11-21")["figures"]["worker_survey"]["suppressed"] is True


def test_visible_cells_add_up_and_hidden_ones_stay_out_even_together(system: System) -> None:
    _post(system, "330784", 5, climate=4, enterprise=1)  # Yongkang: climate 4 on all six statements
    _post(system, "330702", 5, climate=2, enterprise=3)  # Wucheng: climate 2
    _post(system, "330106", 3, climate=5, enterprise=2)  # Xihu 3: hidden ...
    _post(system, "330109", 2, climate=5, enterprise=4)  # ... and Xiaoshan 2: hidden, 5 together, still out
    system.sync()
    jinhua = system.report("330700")["figures"]["worker_survey"]
    # (5*6*4 + 5*6*2) / (10*6) = 180 / 60 = 3.0; cooperation 3 everywhere; 10 respondents
    assert (jinhua["responses"], jinhua["safety_climate_index"], jinhua["cooperation_index"]) == (
        10,
        3.0,
        3.0,
    )
    assert (jinhua["share_trained"], jinhua["share_insured"], jinhua["injuries_per_100"]) == (1.0, 0.0, 0.0)
    assert system.report("330100")["figures"]["worker_survey"]["responses"] == "suppressed"
    zhejiang = system.report("330000", period="year", date=date(2026, 11, 27).isoformat())["figures"]
    assert (zhejiang["worker_survey"]["responses"], zhejiang["worker_survey"]["safety_climate_index"]) == (
        10,
        3.0,
    )


# -- the adversary ------------------------------------------------------------------------------------------

DISTRICTS = ["330102", "330106", "330109", "330702", "330782", "330784"]  # Hangzhou x3, Jinhua x3 (Yiwu)
MONTHS = [date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]
CODES = ["330000", "330100", "330700", *DISTRICTS]
INDUSTRIES: list[str | None] = [None, "C33"]

Cell = tuple[str, date]  # district, first day of the month


def _periods_overlapping(month: date) -> list[Period]:
    """Every report period (any kind, any anchor) that contains a day of ``month``."""
    found: dict[tuple[str, str], Period] = {}
    day = month
    while day.month == month.month:
        for kind in PERIODS:
            p = period_of(kind, day)
            found[(kind, p.key)] = p
        day += timedelta(days=1)
    return list(found.values())


def _published(system: System, cells: list[Cell]) -> dict[tuple[str, str, str, str | None], Any]:
    """Every survey figure published about the divisions and periods that contain any of ``cells``."""
    out = {}
    for district, month in cells:
        for code in {district, *ancestors(district)} & set(CODES):
            for p in _periods_overlapping(month):
                for industry in INDUSTRIES:
                    rep = district_report(system.aggregator.engine, code, p, industry, AS_OF)
                    out[(code, p.kind, p.key, industry)] = rep["figures"]["worker_survey"]
    return out


def _world(base: Path, name: str) -> System:
    """A copy of the original data set, to be changed in one cell."""
    copy = base.parent / name
    shutil.copytree(base, copy)
    system = build_system(migrated(sqlite_settings(copy)))
    return system


def _set_cell(system: System, cell: Cell, ids: list[str], n: int, rng: random.Random) -> None:
    """Make ``cell`` hold ``n`` counting respondents: reject surveys, or add some."""
    district, month = cell
    for sid in ids[n:]:
        resp = system.client.post(
            f"/api/v1/submissions/{sid}/review",
            json={"status": "rejected", "reviewer": "adversary", "comment": "counterfactual world"},
        )
        assert resp.status_code == 200, resp.get_json()
    if n > len(ids):
        _post(
            system,
            district,
            n - len(ids),
            climate=rng.randint(1, 5),
            enterprise=99,
            day=month + timedelta(days=3),
        )
    system.sync()


def test_no_hidden_survey_cell_can_be_recovered_or_narrowed_from_every_published_figure(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261129)
    base = tmp_path / "original"
    system = build_system(migrated(sqlite_settings(base)))
    ids: dict[Cell, list[str]] = defaultdict(list)
    for district in DISTRICTS:
        for month in MONTHS:
            n = rng.choice([0, 1, 2, 3, 4, 4, 5, 6, 7, 9])
            for _ in range(n):
                body = survey(
                    district=district,
                    enterprise=rng.randint(1, 30),
                    day=month + timedelta(days=rng.randint(0, 27)),
                    climate=rng.randint(1, 5),
                    cooperation=rng.randint(1, 5),
                    injured=rng.random() < 0.2,
                )
                assert system.post(body).status_code == 201
                ids[(district, month)].append(body["submission_id"])
    system.sync()
    system.consumer.close()
    hidden = [(d, m) for d in DISTRICTS for m in MONTHS if len(ids[(d, m)]) < 5]
    visible = [(d, m) for d in DISTRICTS for m in MONTHS if len(ids[(d, m)]) >= 5]
    assert len(hidden) >= 6 and visible, (hidden, visible)  # the seed makes a data set worth attacking
    original = _published(system, hidden + visible[:1])
    compared = 0
    for i, cell in enumerate(hidden):
        for n in (0, 4):  # the two ends of what an attacker must not be able to rule out
            if n == len(ids[cell]):
                continue
            world = _world(base, f"world-{i}-{n}")
            _set_cell(world, cell, ids[cell], n, rng)
            seen = _published(world, [cell])
            world.consumer.close()
            differs = {k: (v, seen[k]) for k, v in original.items() if k in seen and seen[k] != v}
            assert not differs, f"cell {cell} with {n} instead of {len(ids[cell])} changes {differs}"
            compared += len(seen)
    # the comparison has teeth: one more respondent in a visible cell changes published figures
    cell = visible[0]
    world = _world(base, "world-visible")
    _set_cell(world, cell, ids[cell], len(ids[cell]) + 1, rng)
    seen = _published(world, [cell])
    world.consumer.close()
    assert any(seen[k] != original[k] for k in seen)
    print(
        f"survey privacy adversary: {len(hidden)} hidden cells, {compared} published figures compared, 0 leaks"
    )
