"""A year of field data for the demo, made from a seed: enterprises, inspections, hazards, rectifications,
corrections, reviews and worker surveys in Hangzhou, Jinhua and Yongkang.

Pure and deterministic: the same seed, size and anchor day give the same submissions, byte for byte, with
the same ``submission_id`` s and ``review_id`` s, so a second run is a retry the intake recognises (200, stored
once) rather than new data.  Ids do not depend on the anchor day: a run on a later day with the same seed
names the same submissions, and ``seed`` recovers the first run's anchor from the intake instead of sending
other content under those ids.

Every date lies strictly before the anchor day (the intake refuses a ``collected_at`` in its future), and the
plan computes the figures the reports must then show (``Expected``), so a test can hold one against the other.
"""

from __future__ import annotations

import csv
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from services.common import uscc
from services.common.codes import districts

_HERE = Path(__file__).parent
CHINA = ZoneInfo("Asia/Shanghai")
#: the namespace of every demo id: uuid5(NAMESPACE, "<seed>:<size>:<what>:<n>")
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:score:demo-seed")
#: the survey base cell is visible from this many respondents (``kpis.published_survey_sums``)
SURVEY_THRESHOLD = 5


@dataclass(frozen=True)
class Size:
    enterprises: int
    #: share of (district, month) survey cells with 5 or more respondents, and with 1 to 4
    visible_cells: float
    small_cells: float
    #: respondents in a visible cell
    cell_respondents: tuple[int, int]


SIZES: dict[str, Size] = {
    "small": Size(enterprises=70, visible_cells=0.2, small_cells=0.15, cell_respondents=(5, 8)),
    "medium": Size(enterprises=400, visible_cells=0.55, small_cells=0.2, cell_respondents=(6, 16)),
}

# -- where: the pilot's prefectures and counties, Yongkang weighted as the pilot's home ----------------------

#: county -> weight in the enterprise mix and its industries with weights (GB/T 4754-2017 divisions)
DISTRICT_MIX: dict[str, tuple[int, dict[str, int]]] = {
    # Yongkang, China's "hardware capital": security doors, vacuum cups and cookware (C33), power tools and
    # garden machinery (C34), small appliances (C38), plastic parts (C29), repair shops (C43)
    "330784": (30, {"C33": 50, "C34": 22, "C38": 12, "C29": 8, "C43": 4, "C24": 4}),
    "330723": (5, {"C33": 45, "C34": 35, "C24": 20}),  # Wuyi: cups, tools, sporting goods
    "330782": (6, {"C24": 35, "C18": 25, "C41": 20, "C29": 20}),  # Yiwu: small commodities, garments
    "330783": (4, {"C20": 40, "C21": 35, "C39": 25}),  # Dongyang: wood carving, furniture, magnetics
    "330726": (3, {"C30": 60, "C33": 40}),  # Pujiang: crystal glass, locks
    "330781": (3, {"C17": 50, "C26": 30, "C30": 20}),  # Lanxi: textiles, chemicals, cement
    "330702": (3, {"C36": 40, "C34": 35, "C13": 25}),  # Wucheng: auto parts, machinery, food
    "330703": (2, {"C36": 50, "C38": 50}),  # Jindong: vehicles, electrical
    "330727": (1, {"C13": 100}),  # Pan'an: herbs and food
    "330109": (7, {"C17": 30, "C18": 20, "C36": 25, "C34": 25}),  # Xiaoshan: textiles, auto parts
    "330110": (5, {"C39": 40, "C38": 30, "C17": 30}),  # Yuhang
    "330113": (3, {"C18": 50, "C34": 50}),  # Linping
    "330114": (4, {"C26": 35, "C39": 35, "C36": 30}),  # Qiantang: chemicals, electronics, vehicles
    "330111": (3, {"C22": 60, "C30": 40}),  # Fuyang: paper, building materials
    "330112": (2, {"C34": 50, "C20": 50}),  # Lin'an
    "330108": (2, {"C39": 100}),  # Binjiang: electronics
    "330182": (2, {"C26": 60, "C30": 40}),  # Jiande: chemicals, cement
    "330122": (1, {"C41": 50, "C24": 50}),  # Tonglu: pens, toys
    "330106": (1, {"C23": 100}),  # Xihu: printing
    "330127": (1, {"C13": 100}),  # Chun'an: drinks
}

#: per industry (GB/T 4754-2017 division): what its factories make, for their registered names, and the
#: checklist categories that apply in them besides ``EVERYWHERE`` (``industries.csv`` beside this module)
_INDUSTRIES = list(csv.DictReader((_HERE / "industries.csv").read_text(encoding="utf-8").splitlines()))
PRODUCTS: dict[str, tuple[str, ...]] = {
    row["industry"]: tuple(row["products"].split()) for row in _INDUSTRIES
}
RELEVANT: dict[str, tuple[str, ...]] = {
    row["industry"]: tuple(row["categories"].split()) for row in _INDUSTRIES
}

BRANDS = "金华鑫达宏盛恒源兴瑞丰泰安佳美宝利通正德永"
SUFFIXES = ("有限公司", "工贸有限公司", "实业有限公司", "科技有限公司")

# -- what: a checklist whose items are the hazards MEM Order No. 10 and the bureaus look for ---------------


@dataclass(frozen=True)
class CheckItem:
    code: str
    category: str
    finding: str
    major_share: float = 0.0  # how often a failure of it is a major hazard (重大事故隐患)


#: the checklist, in its order (the plan draws from it by position): ``checklist.csv`` beside this module
CHECKLIST: tuple[CheckItem, ...] = tuple(
    CheckItem(row["code"], row["category"], row["finding"], float(row["major_share"]))
    for row in csv.DictReader((_HERE / "checklist.csv").read_text(encoding="utf-8").splitlines())
)

#: the categories that apply in every factory
EVERYWHERE = ("fire", "emergency_exits", "management")

REJECTION_COMMENTS = (
    "检查记录与现场照片不符，请复查 / the record does not match the site photos",
    "检查日期与执法台账不一致 / the date differs from the enforcement ledger",
    "企业名称与信用代码不符 / the name does not match the credit code",
)


@dataclass(frozen=True)
class Enterprise:
    credit_code: str
    name: str
    district: str
    industry: str
    headcount: int
    #: how unsafe it starts (the share of checklist items it fails before SCORE coaching)
    risk: float


@dataclass
class Review:
    submission_id: str  #: the version reviewed (the newest)
    review_id: str
    status: str
    comment: str | None


@dataclass
class Expected:
    """The figures the reports must show once the plan is applied, for the whole pilot and per county."""

    inspections: Counter[str] = field(default_factory=Counter)
    hazards_found: Counter[str] = field(default_factory=Counter)
    hazards_major: Counter[str] = field(default_factory=Counter)
    rectified: Counter[str] = field(default_factory=Counter)
    rectified_on_time: Counter[str] = field(default_factory=Counter)
    #: respondents per survey base cell (county, "YYYY-MM")
    survey_cells: Counter[tuple[str, str]] = field(default_factory=Counter)

    def published_responses(self, covering: set[str] | None = None) -> int:
        """Respondents the reports publish: those of visible cells (5 or more), within ``covering``."""
        return sum(
            n
            for (d, _m), n in self.survey_cells.items()
            if n >= SURVEY_THRESHOLD and (covering is None or d in covering)
        )

    def cells(self) -> tuple[int, int]:
        """(visible, suppressed) survey base cells."""
        visible = sum(1 for n in self.survey_cells.values() if n >= SURVEY_THRESHOLD)
        return visible, len(self.survey_cells) - visible


@dataclass
class Plan:
    seed: int
    size: str
    anchor: date
    enterprises: list[Enterprise]
    #: first versions (inspections and surveys), in the order a field team would send them
    first_versions: list[dict[str, Any]]
    corrections: list[dict[str, Any]]
    rectifications: list[dict[str, Any]]
    reviews: list[Review]
    expected: Expected
    #: (submission id, days before the anchor of its inspection_date): how a rerun finds the first run's anchor
    probe: tuple[str, int]

    @property
    def submissions(self) -> int:
        return len(self.first_versions) + len(self.corrections) + len(self.rectifications)

    def counts(self) -> dict[str, int]:
        forms = Counter(s["form"] for s in self.first_versions)
        late = sum(self.expected.rectified.values()) - sum(self.expected.rectified_on_time.values())
        visible, suppressed = self.expected.cells()
        return {
            "enterprises": len(self.enterprises),
            "inspections": forms["factory_inspection"],
            "hazards": sum(self.expected.hazards_found.values()),
            "rectifications": len(self.rectifications),
            "rectified_late": late,
            "corrections": len(self.corrections),
            "rejections": sum(1 for r in self.reviews if r.status == "rejected"),
            "approvals": sum(1 for r in self.reviews if r.status == "approved"),
            "surveys": forms["worker_survey"],
            "survey_cells_visible": visible,
            "survey_cells_suppressed": suppressed,
        }


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _at(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), CHINA).isoformat()


class _Ids:
    def __init__(self, seed: int, size: str) -> None:
        self.prefix = f"{seed}:{size}"

    def __call__(self, what: str, n: int) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.prefix}:{what}:{n}"))


def credit_code(rng: random.Random, district: str, taken: set[str]) -> str:
    """A valid GB 32100 code of a company (91) registered in ``district``, not yet in ``taken``."""
    while True:
        org = "".join(rng.choice(uscc.ALPHABET) for _ in range(9))
        code = uscc.make(f"91{district}{org}")
        if code not in taken:
            taken.add(code)
            return code


def _place(county: str, prefecture: str) -> str:
    """How a registered name starts: 永康市…, 武义…, 杭州萧山… (a district under its city's name)."""
    if county.endswith("区"):
        return prefecture.removesuffix("市") + county.removesuffix("区")
    return county.removesuffix("县")


def _enterprises(rng: random.Random, n: int) -> list[Enterprise]:
    table = districts()
    weights = {d: w for d, (w, _mix) in DISTRICT_MIX.items()}
    taken: set[str] = set()
    names: set[str] = set()
    out = []
    for i in range(n):
        # every county appears at least once in a small plan, Yongkang most
        district = list(DISTRICT_MIX)[i] if i < len(DISTRICT_MIX) else _weighted(rng, weights)
        industry = _weighted(rng, DISTRICT_MIX[district][1])
        place = _place(table[district].name_zh, table[table[district].parent or district].name_zh)
        while True:
            brand = "".join(rng.sample(BRANDS, 2))
            name = f"{place}{brand}{rng.choice(PRODUCTS[industry])}{rng.choice(SUFFIXES)}"
            if name not in names:
                names.add(name)
                break
        out.append(
            Enterprise(
                credit_code=credit_code(rng, district, taken),
                name=name,
                district=district,
                industry=industry,
                headcount=int(min(2000, max(8, rng.lognormvariate(4.0, 0.9)))),
                risk=rng.uniform(0.05, 0.3),
            )
        )
    return out


def make_plan(seed: int, size: str, anchor: date) -> Plan:
    """The whole demo for ``seed`` and ``size``, its dates counted back from ``anchor`` (exclusive)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}")
    spec = SIZES[size]
    rng = random.Random(f"{seed}:{size}")
    ids = _Ids(seed, size)
    enterprises = _enterprises(rng, spec.enterprises)
    expected = Expected()
    inspections: list[tuple[int, dict[str, Any]]] = []  # (days before anchor, body)
    hazards: list[tuple[dict[str, Any], dict[str, Any], Enterprise]] = []  # (inspection, item, enterprise)
    for ent in enterprises:
        visits = rng.choice((1, 2, 2, 3, 3, 4))
        for back in sorted(rng.sample(range(2, 365), visits), reverse=True):
            day = anchor - timedelta(days=back)
            body = _inspection(rng, ids("inspection", len(inspections)), ent, day, back)
            inspections.append((back, body))
            hazards += [(body, item, ent) for item in body["data"]["items"] if item["result"] == "fail"]

    # reviews: some inspections rejected by the bureau (they then count nowhere), some approved
    reviews: list[Review] = []
    rejected: set[str] = set()
    corrections: list[dict[str, Any]] = []
    newest: dict[str, str] = {}
    for n, (_back, body) in enumerate(inspections):
        draw = rng.random()
        if draw < 0.05:
            # a correction: the inspector fixes the headcount and marks an item that did not apply
            fixed = _corrected(rng, body, ids("correction", len(corrections)))
            corrections.append(fixed)
            newest[body["submission_id"]] = fixed["submission_id"]
        elif draw < 0.09:
            rejected.add(body["submission_id"])
            reviews.append(
                Review(body["submission_id"], ids("review", n), "rejected", rng.choice(REJECTION_COMMENTS))
            )
        elif draw < 0.2:
            reviews.append(Review(body["submission_id"], ids("review", n), "approved", None))
    # a corrected inspection is approved on its newest version now and then
    for n, fixed in enumerate(corrections):
        if n % 2 == 0:
            reviews.append(Review(fixed["submission_id"], ids("review-correction", n), "approved", None))

    rectifications: list[dict[str, Any]] = []
    for body, item, ent in hazards:
        found = date.fromisoformat(body["data"]["inspection_date"])
        deadline = date.fromisoformat(item["hazard"]["deadline"])
        counts = body["submission_id"] not in rejected
        if counts:
            expected.hazards_found[ent.district] += 1
            expected.hazards_major[ent.district] += item["hazard"]["severity"] == "major"
        draw = rng.random()
        if draw < 0.62:  # fixed in time
            on = found + timedelta(days=rng.randint(0, (deadline - found).days))
        elif draw < 0.82:  # fixed late
            on = deadline + timedelta(days=rng.randint(1, 45))
        else:  # still open (and overdue once its deadline passes)
            continue
        if on >= anchor:
            continue  # not yet: open today
        rectifications.append(_rectification(ids("rectification", len(rectifications)), body, item, on))
        if counts:
            expected.rectified[ent.district] += 1
            expected.rectified_on_time[ent.district] += on <= deadline
    for _back, body in inspections:
        if body["submission_id"] not in rejected:
            expected.inspections[body["district"]] += 1

    surveys = _surveys(rng, spec, enterprises, anchor, ids, expected)
    # sent oldest first, surveys mixed in, as field phones would flush their queues over the year
    first = sorted(
        [b for _back, b in inspections] + surveys, key=lambda b: (b["collected_at"], b["submission_id"])
    )
    rectifications.sort(key=lambda b: (b["data"]["rectified_on"], b["submission_id"]))
    # reviews name the version that is current when they are sent (after the corrections)
    for r in reviews:
        r.submission_id = newest.get(r.submission_id, r.submission_id)
    probe = (inspections[0][1]["submission_id"], inspections[0][0])
    return Plan(seed, size, anchor, enterprises, first, corrections, rectifications, reviews, expected, probe)


def _inspection(rng: random.Random, sid: str, ent: Enterprise, day: date, back: int) -> dict[str, Any]:
    relevant = set(RELEVANT[ent.industry]) | set(EVERYWHERE)
    pool = [c for c in CHECKLIST if c.category in relevant]
    chosen = sorted(rng.sample(pool, min(len(pool), rng.randint(8, 14))), key=lambda c: c.code)
    # SCORE coaching works: a factory fails fewer items the later in the year it is inspected
    failure = ent.risk * (0.45 + 0.55 * back / 365)
    items: list[dict[str, Any]] = []
    for c in chosen:
        draw = rng.random()
        if draw < failure:
            severity = "major" if rng.random() < c.major_share else "general"
            days = rng.randint(30, 90) if severity == "major" else rng.randint(3, 30)
            items.append(
                {
                    "code": c.code,
                    "category": c.category,
                    "result": "fail",
                    "hazard": {
                        "severity": severity,
                        "finding": c.finding,
                        "deadline": (day + timedelta(days=days)).isoformat(),
                    },
                }
            )
        elif draw > 0.95:
            items.append({"code": c.code, "category": c.category, "result": "not_applicable"})
        else:
            items.append({"code": c.code, "category": c.category, "result": "pass"})
    modules = sorted({"M1", "M5"} | set(rng.sample(("M2", "M3", "M4"), rng.randint(0, 2))))
    return {
        "submission_id": sid,
        "form": "factory_inspection",
        "form_version": 1,
        "collected_at": _at(day, rng.randint(9, 16), rng.choice((0, 15, 30, 45))),
        "district": ent.district,
        "collector": {"id": "demo-inspector", "role": "inspector"},
        "data": {
            "enterprise": {
                "credit_code": ent.credit_code,
                "name": ent.name,
                "industry": ent.industry,
                "headcount": ent.headcount,
            },
            "inspection_date": day.isoformat(),
            "score_modules": modules,
            "items": items,
        },
    }


def _corrected(rng: random.Random, body: dict[str, Any], sid: str) -> dict[str, Any]:
    """A correction of an inspection: the headcount was mistyped and a passed item did not apply.  Failed
    items (the hazards) stay as they were, so rectifications naming them still find them."""
    data = body["data"]
    items = [dict(i) for i in data["items"]]
    passed = [k for k, i in enumerate(items) if i["result"] == "pass"]
    if passed:
        k = rng.choice(passed)
        items[k] = {"code": items[k]["code"], "category": items[k]["category"], "result": "not_applicable"}
    enterprise = {**data["enterprise"], "headcount": data["enterprise"]["headcount"] + rng.randint(1, 40)}
    day = date.fromisoformat(data["inspection_date"])
    return {
        **body,
        "submission_id": sid,
        "replaces": body["submission_id"],
        "collected_at": _at(day, 18, 30),
        "data": {**data, "enterprise": enterprise, "items": items},
    }


def _rectification(sid: str, inspection: dict[str, Any], item: dict[str, Any], on: date) -> dict[str, Any]:
    return {
        "submission_id": sid,
        "form": "hazard_rectification",
        "form_version": 1,
        "collected_at": _at(on, 15),
        "district": inspection["district"],
        "collector": {"id": "demo-inspector", "role": "inspector"},
        "data": {
            "inspection_id": inspection["submission_id"],
            "item_code": item["code"],
            "rectified_on": on.isoformat(),
            "verified_by": {"id": "demo-verifier", "role": "inspector"},
            "note": f"已整改：{item['hazard']['finding']}",
        },
    }


def _months_before(anchor: date, count: int) -> list[date]:
    """The first days of the ``count`` calendar months up to the anchor's, oldest first."""
    firsts = [anchor.replace(day=1)]
    while len(firsts) < count:
        firsts.append((firsts[-1] - timedelta(days=1)).replace(day=1))
    return firsts[::-1]


def _surveys(
    rng: random.Random,
    spec: Size,
    enterprises: list[Enterprise],
    anchor: date,
    ids: _Ids,
    expected: Expected,
) -> list[dict[str, Any]]:
    """Worker surveys by survey base cell (county x month): most cells get enough respondents to publish,
    some get 1 to 4 (the reports keep those suppressed), many get none."""
    by_district: dict[str, list[Enterprise]] = {}
    for e in enterprises:
        by_district.setdefault(e.district, []).append(e)
    out: list[dict[str, Any]] = []
    for first in _months_before(anchor, 12):
        last = min((first + timedelta(days=32)).replace(day=1), anchor) - timedelta(days=1)
        if last < first:
            continue  # the anchor is the 1st: nothing of this month lies before it
        for district in sorted(by_district):
            draw = rng.random()
            # Yongkang, the pilot's home, is surveyed every month
            if district == "330784" or draw < spec.visible_cells:
                n = rng.randint(*spec.cell_respondents)
            elif draw < spec.visible_cells + spec.small_cells:
                n = rng.randint(1, SURVEY_THRESHOLD - 1)
            else:
                continue
            for _ in range(n):
                ent = rng.choice(by_district[district])
                day = first + timedelta(days=rng.randint(0, (last - first).days))
                out.append(_survey(rng, ids("survey", len(out)), ent, day))
                expected.survey_cells[(district, first.strftime("%Y-%m"))] += 1
    return out


def _survey(rng: random.Random, sid: str, ent: Enterprise, day: date) -> dict[str, Any]:
    # workers of a riskier factory see a poorer safety climate; answers scatter around that
    centre = 4.4 - 6 * ent.risk

    def scale() -> int:
        return max(1, min(5, round(rng.gauss(centre, 0.8))))

    safe = 1 - ent.risk
    return {
        "submission_id": sid,
        "form": "worker_survey",
        "form_version": 1,
        "collected_at": _at(day, rng.randint(8, 19), rng.choice((0, 10, 20, 30, 40, 50))),
        "district": ent.district,
        "collector": {"id": "demo-trainer", "role": "trainer"},
        "data": {
            "enterprise_credit_code": ent.credit_code,
            "age_band": rng.choices(("16-24", "25-34", "35-44", "45-54", "55+"), (12, 34, 28, 18, 8))[0],
            "tenure_band": rng.choice(("<1y", "1-3y", "3-5y", "5y+")),
            "gender": rng.choices(("female", "male", "undisclosed"), (38, 57, 5))[0],
            "safety_climate": {f"sc{i}": scale() for i in range(1, 7)},
            "workplace_cooperation": {f"wc{i}": scale() for i in range(1, 5)},
            "trained_on_hazards": rng.random() < safe,
            "ppe_provided": rng.random() < safe + 0.05,
            "injury_12m": rng.random() < ent.risk / 4,
            "near_miss_12m": rng.random() < ent.risk,
            "weekly_hours_band": rng.choices(("<=40", "41-48", "49-60", ">60"), (15, 35, 38, 12))[0],
            "wages_on_time": rng.random() < 0.93,
            "social_insurance": rng.random() < safe - 0.1,
        },
    }
