"""Exact district rollups against a fixture whose every figure was computed by hand.

Runs twice (``system``): embedded (SQLite + SQL event log) and real (PostgreSQL + Apache Kafka).

The scenario (all dates 2026, Asia/Shanghai; reports as of 2026-11-27; Q4 = Oct 1 - Dec 31, Q3 = Jul 1 -
Sep 30, month 2026-11, ISO week 2026-W47 = Mon Nov 16 - Sun Nov 22).  Score = 100 x passed / applicable,
half-up to one decimal; items checked = passed + failed.

Inspections that count at the end (id: district, enterprise, industry, day, checked/failed, score, modules,
hazards as item category severity deadline -> rectified on):

- Y1: 330784 e1 C33 11-18, 5/2, 60.0, M1 M5; DUST-01 dust_explosion major dl 11-20 -> 11-19 (on time);
  ELEC-01 electrical general dl 12-15 (open, not yet due)
- Y2: 330784 e2 C34 11-20, 5/1, 80.0, M1 M2 M5; FIRE-01 fire general dl 11-22 -> 11-25 (late)
- Y3: 330784 e1 C33 11-24, 3/1, 66.7 (200/3), M1 M5; MACH-09 machinery general dl 11-26 (open, overdue)
- Y4: 330784 e3 C34 08-10 (Q3), 3/0, 100.0, M1
- Y5: 330784 e4 C33 11-10, first posted 4/2 score 50.0 with DUST-02 dust_explosion general dl 11-30 and
  ELEC-02 electrical general dl 11-20; corrected (after it was consumed) to 4/1, 75.0, M1 M5, DUST-02 now
  passes: only ELEC-02 remains (open, overdue)
- Y6: 330784 e5 C33 11-12, 2/1 with FIRE-02 fire major dl 11-13: rejected with a comment -> counts nowhere
  (it would otherwise add an overdue major hazard)
- Y7: 330784 e6 C34 11-19, 5/0, 100.0, M1 M3: rejected, then approved -> counts
- J1: 330702 e7 C34 11-05, 9/1, 88.9 (800/9), M1-M5; ELEC-03 electrical major dl 12-31 (open, not due)
- H1: 330102 e11 C33 11-18, 7/1, 85.7 (600/7), M1 M5; DUST-03 dust_explosion major dl 11-25 -> 11-26 (late)
- H2: 330106 e12 C34 10-08, 4/2, 50.0, M5; FIRE-03 fire general dl 10-20 -> 10-18 (on time);
  MACH-10 machinery general dl 10-15 (open, overdue)
- H3: 330106 e13 C33 09-15 (Q3), 5/1, 80.0, M1 M4; ELEC-04 electrical general dl 09-30 -> 09-28 (on time)

Worker surveys (6 safety-climate items, 4 cooperation items, each item the same value):

- Yongkang 330784, 5 responses (a cell of exactly 5: shown): climate 4,5,3,4,2 / cooperation 3,4,3,2,5;
  all trained, PPE 4 of 5, wages on time 5 of 5, insured 0 of 5, injured 2 (the 2nd and 5th), near miss 1
  (the 5th); days 11-17 (3) and 11-21 (2)
- Hangzhou 330106, 4 responses on 11-18 (a cell of 4: suppressed): climate 5,5,4,4 / cooperation 4,4,3,3,
  all trained, all PPE, wages on time, none insured, no injury, no near miss

Survey figures are published from visible base cells (district x calendar month with 5 or more respondents)
only, and for months, quarters and years only: a total leaves out its hidden cells.

Retries of Y1, Y2, a survey and a rectification are answered 200 and counted once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.aggregator.service_layer.verify import verify
from tests.builders import changed, inspection, rectification, survey
from tests.conftest import System, build_system, migrated, sqlite_settings

D = date


def _posted(system: System, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    resp = system.post(body)
    assert resp.status_code == status, resp.get_json()
    return body


def _review(system: System, sid: str, status: str, comment: str | None = None) -> None:
    resp = system.client.post(
        f"/api/v1/submissions/{sid}/review",
        json={"status": status, "reviewer": "bureau-yk-01", "comment": comment},
    )
    assert resp.status_code in (200, 201), resp.get_json()


def _survey(
    district: str,
    day: date,
    climate: int,
    cooperation: int,
    injured: bool = False,
    ppe: bool = True,
    near_miss: bool = False,
) -> dict[str, Any]:
    body = survey(district=district, enterprise=1, day=day, climate=climate, cooperation=cooperation)
    body = changed(body, "data.injury_12m", injured)
    body = changed(body, "data.ppe_provided", ppe)
    return changed(body, "data.near_miss_12m", near_miss)


def run_scenario(system: System) -> dict[str, str]:
    """Post the fixture (in three synced phases, so corrections and reviews retract applied figures)."""
    major, general = "major", "general"
    dust, elec, fire, mach = "dust_explosion", "electrical", "fire", "machinery"
    y1 = _posted(
        system,
        inspection(
            "330784",
            1,
            D(2026, 11, 18),
            [("DUST-01", dust, major, "2026-11-20"), ("ELEC-01", elec, general, "2026-12-15")],
            passed=3,
        ),
    )
    y2 = _posted(
        system,
        inspection(
            "330784",
            2,
            D(2026, 11, 20),
            [("FIRE-01", fire, general, "2026-11-22")],
            passed=4,
            industry="C34",
            modules=["M1", "M2", "M5"],
        ),
    )
    _posted(system, inspection("330784", 1, D(2026, 11, 24), [("MACH-09", mach, general, "2026-11-26")], 2))
    _posted(system, inspection("330784", 3, D(2026, 8, 10), [], 3, industry="C34", modules=["M1"]))
    y5 = _posted(
        system,
        inspection(
            "330784",
            4,
            D(2026, 11, 10),
            [("DUST-02", dust, general, "2026-11-30"), ("ELEC-02", elec, general, "2026-11-20")],
            passed=2,
        ),
    )
    y6 = _posted(
        system, inspection("330784", 5, D(2026, 11, 12), [("FIRE-02", fire, major, "2026-11-13")], 1)
    )
    y7 = _posted(
        system, inspection("330784", 6, D(2026, 11, 19), [], 5, industry="C34", modules=["M1", "M3"])
    )
    _posted(
        system,
        inspection(
            "330702",
            7,
            D(2026, 11, 5),
            [("ELEC-03", elec, major, "2026-12-31")],
            8,
            industry="C34",
            modules=["M1", "M2", "M3", "M4", "M5"],
        ),
    )
    h1 = _posted(
        system, inspection("330102", 11, D(2026, 11, 18), [("DUST-03", dust, major, "2026-11-25")], 6)
    )
    h2 = _posted(
        system,
        inspection(
            "330106",
            12,
            D(2026, 10, 8),
            [("FIRE-03", fire, general, "2026-10-20"), ("MACH-10", mach, general, "2026-10-15")],
            passed=2,
            industry="C34",
            modules=["M5"],
        ),
    )
    h3 = _posted(
        system,
        inspection(
            "330106", 13, D(2026, 9, 15), [("ELEC-04", elec, general, "2026-09-30")], 4, modules=["M1", "M4"]
        ),
    )
    yk_surveys = [
        _survey("330784", D(2026, 11, 17), 4, 3),
        _survey("330784", D(2026, 11, 17), 5, 4, injured=True),
        _survey("330784", D(2026, 11, 17), 3, 3),
        _survey("330784", D(2026, 11, 21), 4, 2, ppe=False),
        _survey("330784", D(2026, 11, 21), 2, 5, injured=True, near_miss=True),
    ]
    for s in yk_surveys:
        _posted(system, s)
    for climate, cooperation in ((5, 4), (5, 4), (4, 3), (4, 3)):
        _posted(system, _survey("330106", D(2026, 11, 18), climate, cooperation))
    r1 = _posted(system, rectification(y1["submission_id"], "DUST-01", D(2026, 11, 19)))
    _posted(system, rectification(h3["submission_id"], "ELEC-04", D(2026, 9, 28), district="330106"))
    # retries of the same submissions: 200, stored and counted once
    _posted(system, y1, 200)
    _posted(system, y2, 200)
    _posted(system, yk_surveys[0], 200)
    _posted(system, r1, 200)
    system.sync()

    # phase 2: a correction removing a hazard, a rejection, a rejection to be lifted, more rectifications
    y5b = inspection(
        "330784",
        4,
        D(2026, 11, 10),
        [("ELEC-02", elec, general, "2026-11-20")],
        passed=3,
        replaces=y5["submission_id"],
    )
    _posted(system, y5b)
    _review(
        system,
        y6["submission_id"],
        "rejected",
        "企业名称与信用代码不符 / name does not match the credit code",
    )
    _review(system, y7["submission_id"], "rejected", "照片缺失 / photos missing")
    _posted(system, rectification(y2["submission_id"], "FIRE-01", D(2026, 11, 25)))
    _posted(system, rectification(h2["submission_id"], "FIRE-03", D(2026, 10, 18), district="330106"))
    system.sync()

    # phase 3: the rejection is lifted after the photos came; the last rectification
    _review(system, y7["submission_id"], "approved")
    _posted(system, rectification(h1["submission_id"], "DUST-03", D(2026, 11, 26), district="330102"))
    system.sync()
    return {"y6": y6["submission_id"], "h1": h1["submission_id"]}


def scenario_system(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[System]:
    """For a module-scoped fixture: both apps on SQLite (a folder of their own, ``name``) with this scenario
    posted and consumed, so reports have figures to show; the consumer is closed when the module is done."""
    system = build_system(migrated(sqlite_settings(Path(tmp_path_factory.mktemp(name)))))
    run_scenario(system)
    yield system
    system.consumer.close()


def fig(
    inspections: int,
    enterprises: int,
    checked: int,
    failed: int,
    compliance: float | None,
    mean_score: float | None,
    modules: tuple[int, int, int, int, int],
    hazards: tuple[int, int, int, dict[str, int], int, int, float | None, int, int],
    worker_survey: dict[str, Any],
) -> dict[str, Any]:
    """The expected figures; ``hazards`` is (found, general, major, by category, rectified, on time, rate,
    open, overdue)."""
    found, gen, maj, cats, rect, on_time, rate, open_, overdue = hazards
    return {
        "inspections": inspections,
        "enterprises_inspected": enterprises,
        "items_checked": checked,
        "items_failed": failed,
        "compliance_rate": compliance,
        "mean_inspection_score": mean_score,
        "module_coverage": dict(zip(("M1", "M2", "M3", "M4", "M5"), modules, strict=True)),
        "hazards": {
            "found": found,
            "found_general": gen,
            "found_major": maj,
            "found_by_category": cats,
            "rectified": rect,
            "rectified_on_time": on_time,
            "rectification_rate": rate,
            "open": open_,
            "overdue": overdue,
        },
        "worker_survey": worker_survey,
    }


SUPPRESSED = {"responses": "suppressed", "suppressed": True}
# No survey at all looks exactly like a small group: were an empty cell shown as 0, a hidden one would be
# known to hold 1-4 (see kpis.published_survey_sums)
NO_SURVEY = SUPPRESSED
# Yongkang's 5: climate 6*(4+5+3+4+2) = 108 of 30 items = 3.6; cooperation 4*(3+4+3+2+5) = 68 of 20 = 3.4;
# trained 5/5, PPE 4/5, wages 5/5, insured 0/5, injuries 2/5*100 = 40.0, near misses 1/5*100 = 20.0
YK_SURVEY = {
    "responses": 5,
    "suppressed": False,
    "safety_climate_index": 3.6,
    "cooperation_index": 3.4,
    "share_trained": 1.0,
    "share_ppe_provided": 0.8,
    "share_wages_on_time": 1.0,
    "share_insured": 0.0,
    "injuries_per_100": 40.0,
    "near_misses_per_100": 20.0,
}
# Zhejiang's survey figures come from its visible base cells only (district x month with 5 or more): Yongkang's
# November 5; Xihu's November 4 is hidden and enters no published figure, so Zhejiang shows Yongkang's 5.
ZJ_SURVEY = YK_SURVEY

EXPECTED: dict[tuple[str, str, str, str | None], dict[str, Any]] = {
    # ---- Q4 2026 -------------------------------------------------------------------------------------
    # Yongkang: Y1 Y2 Y3 Y5' Y7; enterprises e1 e2 e4 e6; checked 5+5+3+4+5 = 22, failed 2+1+1+1+0 = 5,
    # compliance 17/22 = 0.7727; score (60.0+80.0+66.7+75.0+100.0)/5 = 381.7/5 = 76.34; M1 5, M2 1 (Y2),
    # M3 1 (Y7), M4 0, M5 4; hazards DUST-01 ELEC-01 FIRE-01 MACH-09 ELEC-02 = 5 (4 general, 1 major),
    # rectified DUST-01 (on time) FIRE-01 (late) = 2, rate 0.4, open 3, overdue MACH-09 ELEC-02 = 2
    ("330784", "quarter", "2026-11-27", None): fig(
        5,
        4,
        22,
        5,
        0.7727,
        76.34,
        (5, 1, 1, 0, 4),
        (5, 4, 1, {"dust_explosion": 1, "electrical": 2, "fire": 1, "machinery": 1}, 2, 1, 0.4, 3, 2),
        YK_SURVEY,
    ),
    # Jinhua = Yongkang + J1: 6 inspections, 5 enterprises, 31/6, 25/31 = 0.8065; (381.7+88.9)/6 = 78.43;
    # M1 6, M2 2, M3 2, M4 1, M5 5; hazards 6 (4 general, 2 major), electrical 3; rectified 2, on time 1,
    # 2/6 = 0.3333, open 4, overdue 2
    ("330700", "quarter", "2026-11-27", None): fig(
        6,
        5,
        31,
        6,
        0.8065,
        78.43,
        (6, 2, 2, 1, 5),
        (6, 4, 2, {"dust_explosion": 1, "electrical": 3, "fire": 1, "machinery": 1}, 2, 1, 0.3333, 4, 2),
        YK_SURVEY,
    ),
    # Hangzhou: H1 H2; 11/3, 8/11 = 0.7273; (85.7+50.0)/2 = 67.85; M1 1, M5 2; hazards DUST-03 FIRE-03
    # MACH-10 = 3 (2 general, 1 major), rectified DUST-03 (late) FIRE-03 (on time) = 2, 0.6667, open 1,
    # overdue MACH-10 = 1; 4 survey responses: suppressed
    ("330100", "quarter", "2026-11-27", None): fig(
        2,
        2,
        11,
        3,
        0.7273,
        67.85,
        (1, 0, 0, 0, 2),
        (3, 2, 1, {"dust_explosion": 1, "fire": 1, "machinery": 1}, 2, 1, 0.6667, 1, 1),
        SUPPRESSED,
    ),
    # Zhejiang = Jinhua + Hangzhou: 8 inspections, 7 enterprises, 42/9, 33/42 = 0.7857;
    # (470.6+135.7)/8 = 606.3/8 = 75.7875 -> 75.79; M1 7, M2 2, M3 2, M4 1, M5 7; hazards 9 (6 general,
    # 3 major), dust 2, electrical 3, fire 2, machinery 2; rectified 4, on time 2, 4/9 = 0.4444, open 5,
    # overdue 3
    ("330000", "quarter", "2026-11-27", None): fig(
        8,
        7,
        42,
        9,
        0.7857,
        75.79,
        (7, 2, 2, 1, 7),
        (9, 6, 3, {"dust_explosion": 2, "electrical": 3, "fire": 2, "machinery": 2}, 4, 2, 0.4444, 5, 3),
        ZJ_SURVEY,
    ),
    # ---- Q3 2026 -------------------------------------------------------------------------------------
    # Yongkang (= Jinhua): Y4 only, 3/0, compliance 1.0, 100.0, M1; no hazard, no survey
    ("330784", "quarter", "2026-08-10", None): fig(
        1, 1, 3, 0, 1.0, 100.0, (1, 0, 0, 0, 0), (0, 0, 0, {}, 0, 0, None, 0, 0), NO_SURVEY
    ),
    ("330700", "quarter", "2026-08-10", None): fig(
        1, 1, 3, 0, 1.0, 100.0, (1, 0, 0, 0, 0), (0, 0, 0, {}, 0, 0, None, 0, 0), NO_SURVEY
    ),
    # Hangzhou: H3, 5/1, 0.8, 80.0, M1 M4; ELEC-04 general rectified on time: rate 1.0
    ("330100", "quarter", "2026-08-10", None): fig(
        1, 1, 5, 1, 0.8, 80.0, (1, 0, 0, 1, 0), (1, 1, 0, {"electrical": 1}, 1, 1, 1.0, 0, 0), NO_SURVEY
    ),
    # Zhejiang: Y4 + H3, 8/1, 7/8 = 0.875, (100.0+80.0)/2 = 90.0, M1 2, M4 1
    ("330000", "quarter", "2026-08-10", None): fig(
        2, 2, 8, 1, 0.875, 90.0, (2, 0, 0, 1, 0), (1, 1, 0, {"electrical": 1}, 1, 1, 1.0, 0, 0), NO_SURVEY
    ),
    # ---- month 2026-11 (everything of Q4 except H2 of Oct 8) -----------------------------------------
    ("330784", "month", "2026-11-27", None): fig(
        5,
        4,
        22,
        5,
        0.7727,
        76.34,
        (5, 1, 1, 0, 4),
        (5, 4, 1, {"dust_explosion": 1, "electrical": 2, "fire": 1, "machinery": 1}, 2, 1, 0.4, 3, 2),
        YK_SURVEY,
    ),
    ("330700", "month", "2026-11-27", None): fig(
        6,
        5,
        31,
        6,
        0.8065,
        78.43,
        (6, 2, 2, 1, 5),
        (6, 4, 2, {"dust_explosion": 1, "electrical": 3, "fire": 1, "machinery": 1}, 2, 1, 0.3333, 4, 2),
        YK_SURVEY,
    ),
    # Hangzhou: H1 only, 7/1, 6/7 = 0.8571, 85.7, M1 M5; DUST-03 major rectified late: 1.0; surveys 4
    ("330100", "month", "2026-11-27", None): fig(
        1,
        1,
        7,
        1,
        0.8571,
        85.7,
        (1, 0, 0, 0, 1),
        (1, 0, 1, {"dust_explosion": 1}, 1, 0, 1.0, 0, 0),
        SUPPRESSED,
    ),
    # Zhejiang: 7 inspections, 6 enterprises, 38/7, 31/38 = 0.8158; (470.6+85.7)/7 = 556.3/7 = 79.47;
    # M1 7, M2 2, M3 2, M4 1, M5 6; hazards 7 (4 general, 3 major), rectified 3, on time 1, 3/7 = 0.4286,
    # open 4, overdue 2 (MACH-09, ELEC-02)
    ("330000", "month", "2026-11-27", None): fig(
        7,
        6,
        38,
        7,
        0.8158,
        79.47,
        (7, 2, 2, 1, 6),
        (7, 4, 3, {"dust_explosion": 2, "electrical": 3, "fire": 1, "machinery": 1}, 3, 1, 0.4286, 4, 2),
        ZJ_SURVEY,
    ),
    # ---- ISO week 2026-W47, Nov 16-22: Y1 Y2 Y7 H1 and all 9 surveys ---------------------------------
    # Yongkang (= Jinhua): 3 inspections, e1 e2 e6, 15/3, 12/15 = 0.8, (60+80+100)/3 = 80.0; M1 3, M2 1,
    # M3 1, M5 2; DUST-01 ELEC-01 FIRE-01 (2 general, 1 major), rectified 2, on time 1, 0.6667, open 1
    # (ELEC-01, due 12-15: not overdue)
    ("330784", "week", "2026-11-18", None): fig(
        3,
        3,
        15,
        3,
        0.8,
        80.0,
        (3, 1, 1, 0, 2),
        (3, 2, 1, {"dust_explosion": 1, "electrical": 1, "fire": 1}, 2, 1, 0.6667, 1, 0),
        SUPPRESSED,  # survey figures are published for whole months only
    ),
    ("330700", "week", "2026-11-18", None): fig(
        3,
        3,
        15,
        3,
        0.8,
        80.0,
        (3, 1, 1, 0, 2),
        (3, 2, 1, {"dust_explosion": 1, "electrical": 1, "fire": 1}, 2, 1, 0.6667, 1, 0),
        SUPPRESSED,  # survey figures are published for whole months only
    ),
    ("330100", "week", "2026-11-18", None): fig(
        1,
        1,
        7,
        1,
        0.8571,
        85.7,
        (1, 0, 0, 0, 1),
        (1, 0, 1, {"dust_explosion": 1}, 1, 0, 1.0, 0, 0),
        SUPPRESSED,
    ),
    # Zhejiang: 4 inspections, 22/4, 18/22 = 0.8182; (240.0+85.7)/4 = 81.425 -> 81.43; M1 4, M2 1, M3 1,
    # M5 3; hazards 4 (2 general, 2 major), rectified 3, on time 1, 0.75, open 1, overdue 0
    ("330000", "week", "2026-11-18", None): fig(
        4,
        4,
        22,
        4,
        0.8182,
        81.43,
        (4, 1, 1, 0, 3),
        (4, 2, 2, {"dust_explosion": 2, "electrical": 1, "fire": 1}, 3, 1, 0.75, 1, 0),
        SUPPRESSED,
    ),
    # ---- Q4 2026, industry C34 (surveys carry no industry: none) -------------------------------------
    # Yongkang: Y2 Y7, 10/1, 0.9, (80+100)/2 = 90.0, M1 2, M2 1, M3 1, M5 1; FIRE-01 rectified late
    ("330784", "quarter", "2026-11-27", "C34"): fig(
        2, 2, 10, 1, 0.9, 90.0, (2, 1, 1, 0, 1), (1, 1, 0, {"fire": 1}, 1, 0, 1.0, 0, 0), NO_SURVEY
    ),
    # Jinhua: + J1, 19/2, 17/19 = 0.8947, (180.0+88.9)/3 = 89.63, M1 3, M2 2, M3 2, M4 1, M5 2;
    # FIRE-01 + ELEC-03 (major, open, due 12-31): rectified 1, 0.5, open 1, overdue 0
    ("330700", "quarter", "2026-11-27", "C34"): fig(
        3,
        3,
        19,
        2,
        0.8947,
        89.63,
        (3, 2, 2, 1, 2),
        (2, 1, 1, {"electrical": 1, "fire": 1}, 1, 0, 0.5, 1, 0),
        NO_SURVEY,
    ),
    # Hangzhou: H2, 4/2, 0.5, 50.0, M5; FIRE-03 on time, MACH-10 overdue
    ("330100", "quarter", "2026-11-27", "C34"): fig(
        1,
        1,
        4,
        2,
        0.5,
        50.0,
        (0, 0, 0, 0, 1),
        (2, 2, 0, {"fire": 1, "machinery": 1}, 1, 1, 0.5, 1, 1),
        NO_SURVEY,
    ),
    # Zhejiang: 4 inspections, 23/4, 19/23 = 0.8261, (268.9+50.0)/4 = 79.725 -> 79.73; M1 3, M2 2, M3 2,
    # M4 1, M5 3; hazards 4 (3 general, 1 major), rectified 2, on time 1, 0.5, open 2, overdue 1
    ("330000", "quarter", "2026-11-27", "C34"): fig(
        4,
        4,
        23,
        4,
        0.8261,
        79.73,
        (3, 2, 2, 1, 3),
        (4, 3, 1, {"electrical": 1, "fire": 2, "machinery": 1}, 2, 1, 0.5, 2, 1),
        NO_SURVEY,
    ),
}

PERIOD_KEYS = {
    ("quarter", "2026-11-27"): ("2026-Q4", "2026-10-01", "2026-12-31"),
    ("quarter", "2026-08-10"): ("2026-Q3", "2026-07-01", "2026-09-30"),
    ("month", "2026-11-27"): ("2026-11", "2026-11-01", "2026-11-30"),
    ("week", "2026-11-18"): ("2026-W47", "2026-11-16", "2026-11-22"),
}


def test_every_figure_matches_the_hand_computed_fixture(system: System) -> None:
    ids = run_scenario(system)
    mismatches = []
    for (code, period, day, industry), expected in EXPECTED.items():
        params = {"industry": industry} if industry else {}
        rep = system.report(code, period, day, **params)
        key, start, end = PERIOD_KEYS[(period, day)]
        assert rep["period"] == {"kind": period, "key": key, "start": start, "end": end}
        assert rep["industry"] == industry
        if rep["figures"] != expected:
            mismatches.append(((code, period, day, industry), rep["figures"], expected))
    assert not mismatches, mismatches

    # the rejected inspection is stored, but nothing of it counts (its ledger row does not count either)
    assert system.client.get(f"/api/v1/submissions/{ids['y6']}").get_json()["review"]["status"] == "rejected"
    checked = verify(system.aggregator.engine)
    assert checked.ok, checked.differences
    # 11 inspection lineages + 9 surveys + 5 rectifications = 25 facts
    assert checked.facts == 25


def test_the_cell_of_four_is_suppressed_in_every_output(system: System) -> None:
    run_scenario(system)
    args = {"period": "quarter", "date": "2026-11-27", "as_of": "2026-11-27"}
    resp = system.reports.get("/api/v1/reports/districts/330100", query_string={**args, "format": "csv"})
    assert resp.status_code == 200
    text = resp.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    survey_rows = {r["metric"]: r["value"] for r in rows if r["metric"].startswith("worker_survey.")}
    assert survey_rows["worker_survey.responses"] == "suppressed"
    assert "4" not in survey_rows.values()
    assert not any(k.endswith("_index") or k.startswith("worker_survey.share") for k in survey_rows)
    # side by side and trend show the same: the cell of 4 stays hidden, the cell of 5 is shown
    both = system.reports.get(
        "/api/v1/reports/districts", query_string={**args, "codes": "330100,330784"}
    ).get_json()["reports"]
    assert [r["figures"]["worker_survey"]["responses"] for r in both] == ["suppressed", 5]
    trend = system.reports.get(
        "/api/v1/reports/districts/330106/trend", query_string={**args, "period": "month", "count": 2}
    ).get_json()["reports"]
    assert [r["figures"]["worker_survey"] for r in trend] == [NO_SURVEY, SUPPRESSED]
