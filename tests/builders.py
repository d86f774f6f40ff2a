"""Valid submissions to start tests from; each test changes only what it is about."""

from __future__ import annotations

import copy
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.common import uscc

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: tests run against a fixed clock so date rules never rot
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=SHANGHAI)


def credit_code(n: int, district: str = "330784") -> str:
    """A valid unified social credit code for enterprise number ``n`` registered in ``district``."""
    org = f"MA{n:07d}"  # 9-character organisation code from the GB 32100 alphabet
    return uscc.make(f"91{district}{org}")


def inspection(
    district: str = "330784",
    enterprise: int = 1,
    day: date = date(2026, 11, 20),
    failed: list[tuple[str, str, str, str]] | None = None,
    passed: int = 3,
    industry: str = "C33",
    modules: list[str] | None = None,
    submission_id: str | None = None,
    replaces: str | None = None,
) -> dict[str, Any]:
    """A factory inspection; ``failed`` items are (code, category, severity, deadline)."""
    items: list[dict[str, Any]] = [
        {"code": f"MACH-{i + 1:02d}", "category": "machinery", "result": "pass"} for i in range(passed)
    ]
    for code, category, severity, deadline in failed or []:
        items.append(
            {
                "code": code,
                "category": category,
                "result": "fail",
                "hazard": {
                    "severity": severity,
                    "finding": f"{category} hazard at {code}",
                    "deadline": deadline,
                },
            }
        )
    body: dict[str, Any] = {
        "submission_id": submission_id or str(uuid.uuid4()),
        "form": "factory_inspection",
        "form_version": 1,
        "collected_at": datetime.combine(day, datetime.min.time(), SHANGHAI).replace(hour=10).isoformat(),
        "district": district,
        "collector": {"id": "insp-0042", "role": "inspector"},
        "data": {
            "enterprise": {
                "credit_code": credit_code(enterprise, district),
                "name": f"永康五金制品厂 {enterprise}",
                "industry": industry,
                "headcount": 45,
            },
            "inspection_date": day.isoformat(),
            "score_modules": modules or ["M1", "M5"],
            "items": items,
        },
    }
    if replaces:
        body["replaces"] = replaces
    return body


def rectification(
    inspection_id: str,
    item_code: str,
    on: date = date(2026, 11, 25),
    submission_id: str | None = None,
    district: str = "330784",
) -> dict[str, Any]:
    return {
        "submission_id": submission_id or str(uuid.uuid4()),
        "form": "hazard_rectification",
        "form_version": 1,
        "collected_at": datetime.combine(on, datetime.min.time(), SHANGHAI).replace(hour=15).isoformat(),
        "district": district,
        "collector": {"id": "insp-0042", "role": "inspector"},
        "data": {
            "inspection_id": inspection_id,
            "item_code": item_code,
            "rectified_on": on.isoformat(),
            "verified_by": {"id": "insp-0007", "role": "inspector"},
        },
    }


def survey(
    district: str = "330784",
    enterprise: int = 1,
    day: date = date(2026, 11, 21),
    climate: int = 4,
    cooperation: int = 3,
    injured: bool = False,
    submission_id: str | None = None,
) -> dict[str, Any]:
    return {
        "submission_id": submission_id or str(uuid.uuid4()),
        "form": "worker_survey",
        "form_version": 1,
        "collected_at": datetime.combine(day, datetime.min.time(), SHANGHAI).replace(hour=9).isoformat(),
        "district": district,
        "collector": {"id": "trainer-03", "role": "trainer"},
        "data": {
            "enterprise_credit_code": credit_code(enterprise, district),
            "age_band": "25-34",
            "tenure_band": "1-3y",
            "safety_climate": {f"sc{i}": climate for i in range(1, 7)},
            "workplace_cooperation": {f"wc{i}": cooperation for i in range(1, 5)},
            "trained_on_hazards": True,
            "ppe_provided": True,
            "injury_12m": injured,
            "near_miss_12m": False,
            "weekly_hours_band": "49-60",
            "wages_on_time": True,
            "social_insurance": False,
        },
    }


def changed(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the dotted ``path`` set to ``value`` (``items.0.result`` style)."""
    out = copy.deepcopy(body)
    target: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return out
