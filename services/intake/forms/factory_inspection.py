"""Form ``factory_inspection`` v1: an inspector's (or SCORE coach's) checklist visit to one factory.

Each checklist item passes, fails or does not apply; a failed item *is* a hidden hazard (隐患) and must carry
its severity (general 一般 / major 重大), what was found and the rectification deadline, because the hazard
ledger and the overdue notices are built from exactly these records.  An item that did not fail must not carry
a hazard: a stray hazard on a passed item would put a phantom on the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, validates, validates_schema

from services.common.codes import SCORE_MODULES, industries

from . import scoring
from .dataschema import DataSchema
from .errors import Err, Tr
from .fields import MAX_PHOTOS, Choice, CreditCode, Integer, IsoDate, ListOf, Text, free_text, photos
from .formats import parse_date
from .objects import FormSchema, Obj

CATEGORIES = (
    "machinery",
    "electrical",
    "fire",
    "dust_explosion",
    "chemicals",
    "confined_space",
    "ppe",
    "emergency_exits",
    "housekeeping",
    "management",
)
MODULE_LABELS = {
    "M1": "workplace cooperation 职场合作",
    "M2": "quality management 质量管理",
    "M3": "productivity and cleaner production 生产率与清洁生产",
    "M4": "human resources management 人力资源管理",
    "M5": "occupational safety and health 职业安全健康",
}
RESULTS = ("pass", "fail", "not_applicable")
SEVERITIES = ("general", "major")
ITEM_CODE_PATTERN = r"^[A-Z]{2,6}-[0-9]{2,3}$"
ITEM_CODE = Tr(
    "a checklist item code: 2-6 capital letters, a hyphen and 2-3 digits, e.g. DUST-03",
    "检查项编号：2-6 个大写字母、连字符和 2-3 位数字，如 DUST-03",
)


class Enterprise(FormSchema):
    json_description = "The factory inspected."

    credit_code = CreditCode(
        required=True,
        metadata={
            "description": "Unified social credit code (统一社会信用代码, GB 32100-2015).",
            "server_rules": "the GB 32100 check character (18th, mod 31).",
        },
    )
    name = Text(
        max_length=200,
        required=True,
        metadata={"description": "Registered name, e.g. 永康市某某工贸有限公司."},
    )
    industry = Choice(
        list(industries()),
        labels={code: f"{i.name_zh} {i.name_en}" for code, i in industries().items()},
        required=True,
        metadata={"description": "GB/T 4754-2017 manufacturing division. Codes:"},
    )
    headcount = Integer(
        minimum=1, maximum=100_000, required=True, metadata={"description": "Employees on site."}
    )


class Hazard(FormSchema):
    json_description = "The hidden hazard (隐患) a failed item reveals."

    severity = Choice(
        SEVERITIES, required=True, metadata={"description": "general 一般事故隐患 or major 重大事故隐患."}
    )
    finding = free_text("What was found, in words (no phone or identity numbers).", required=True)
    deadline = IsoDate(
        required=True,
        metadata={
            "description": "Rectification deadline.",
            "server_rules": "not before the inspection's inspection_date.",
        },
    )
    photos = photos(MAX_PHOTOS, 'the hazard as found ("before")')


class Item(FormSchema):
    json_description = "One checklist item; a hazard is required if and only if the result is fail."
    json_schema_extra = {
        "if": {"properties": {"result": {"const": "fail"}}, "required": ["result"]},
        "then": {"required": ["hazard"]},
        "else": {"not": {"required": ["hazard"]}},
    }

    code = Text(
        max_length=10,
        pattern=ITEM_CODE_PATTERN,
        pattern_expected=ITEM_CODE,
        required=True,
        metadata={
            "description": "Checklist item code, e.g. DUST-03.",
            "server_rules": "unique within the inspection: no two items share a code.",
        },
    )
    category = Choice(CATEGORIES, required=True)
    result = Choice(RESULTS, required=True)
    hazard = Obj(Hazard, metadata={"description": "Required when result is fail, forbidden otherwise."})

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _hazard_iff_fail(self, data: Mapping[str, Any], original: object, **kwargs: Any) -> None:
        if not isinstance(original, Mapping) or "result" not in data:
            return
        if data["result"] == "fail" and "hazard" not in original:
            raise ValidationError([Err("hazard_required")], field_name="hazard")
        if data["result"] != "fail" and "hazard" in original:
            raise ValidationError([Err("hazard_forbidden", result=data["result"])], field_name="hazard")


class FactoryInspection(DataSchema):
    """``data`` of factory_inspection v1."""

    form = "factory_inspection"
    version = 1
    title = Tr("Factory safety inspection", "企业安全检查")
    json_description = "A checklist visit to one factory; every failed item records a hidden hazard."

    enterprise = Obj(Enterprise, required=True)
    inspection_date = IsoDate(
        required=True,
        metadata={
            "description": "Day of the visit (Asia/Shanghai).",
            "server_rules": "not after today in Asia/Shanghai, allowing the clock skew.",
        },
    )
    score_modules = ListOf(
        Choice(SCORE_MODULES, labels=MODULE_LABELS),
        min_items=1,
        max_items=len(SCORE_MODULES),
        unique=True,
        required=True,
        metadata={"description": "ILO SCORE modules the factory takes part in, each once."},
    )
    items = ListOf(
        Obj(Item),
        min_items=1,
        max_items=300,
        required=True,
        metadata={"description": "The checklist items, 1 to 300."},
    )

    @validates("inspection_date")
    def _inspection_date_not_future(self, value: Any, **kwargs: Any) -> None:
        self.not_future(value)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _across_items(self, data: Mapping[str, Any], original: object, **kwargs: Any) -> None:
        """Rules spanning items, read from the original items so that indexes stay right when some failed."""
        if not isinstance(original, Mapping) or not isinstance(original.get("items"), list):
            return
        errors: dict[int, Any] = {}
        inspection_date = parse_date(original.get("inspection_date"))
        seen: dict[str, int] = {}
        for index, raw in enumerate(original["items"]):
            if not isinstance(raw, Mapping):
                continue
            code = raw.get("code")
            if isinstance(code, str):
                if code in seen:
                    errors.setdefault(index, {})["code"] = [Err("duplicate", value=code, first=seen[code])]
                else:
                    seen[code] = index
            hazard = raw.get("hazard")
            if inspection_date is not None and isinstance(hazard, Mapping):
                deadline = parse_date(hazard.get("deadline"))
                if deadline is not None and deadline < inspection_date:
                    errors.setdefault(index, {})["hazard"] = {
                        "deadline": [
                            Err(
                                "deadline_before_inspection",
                                inspection_date=inspection_date.isoformat(),
                                actual=deadline.isoformat(),
                            )
                        ]
                    }
        if errors:
            raise ValidationError({"items": errors})

    def normalise(self, loaded: Mapping[str, Any]) -> dict[str, Any]:
        data = super().normalise(loaded)
        data["score_modules"] = sorted(data["score_modules"])  # a set: M2, M1 and M1, M2 are the same answer
        return data

    def computed(self, submission_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        items = data["items"]
        results = [item["result"] for item in items]
        return {
            "score": scoring.score(results),
            "items_checked": sum(1 for r in results if r != "not_applicable"),
            "items_failed": sum(1 for r in results if r == "fail"),
            "hazards": [
                {
                    "hazard_id": f"{submission_id}:{item['code']}",
                    "item_code": item["code"],
                    "category": item["category"],
                    "severity": item["hazard"]["severity"],
                    "deadline": item["hazard"]["deadline"],
                }
                for item in items
                if item["result"] == "fail"
            ],
        }

    def enterprise_of(self, data: Mapping[str, Any]) -> str | None:
        code: str = data["enterprise"]["credit_code"]
        return code
