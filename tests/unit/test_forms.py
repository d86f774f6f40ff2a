"""The field-form contracts: every rule, strict JSON types, every error with its path, bilingual messages."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from services.common import uscc
from services.intake.forms import FieldError, Invalid, ValidSubmission, catalogue, validate
from services.intake.forms.errors import MESSAGES, Tr, render
from services.intake.forms.scoring import mean, round_half_up, score

REPO = Path(__file__).resolve().parents[2]
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=CST)
DOOR_FACTORY = uscc.make("91330784MA2HR1K6X")
CUP_FACTORY = uscc.make("91330784MA29C3FT0")
INSPECTION_ID = "3f9a6c1e-8b2d-4e57-9a41-6d0c2b7e5f13"


def item(code: str, result: str = "pass", category: str = "machinery", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "category": category, "result": result}
    if result == "fail":
        body["hazard"] = {
            "severity": "general",
            "finding": "护罩缺失 guard missing",
            "deadline": "2026-12-01",
        }
    body.update(extra)
    return body


def inspection(**data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "submission_id": INSPECTION_ID,
        "form": "factory_inspection",
        "form_version": 1,
        "collected_at": "2026-11-20T10:15:00+08:00",
        "district": "330784",
        "collector": {"id": "yk-aj-0217", "role": "inspector"},
        "data": {
            "enterprise": {
                "credit_code": DOOR_FACTORY,
                "name": "永康市恒盾门业有限公司",
                "industry": "C33",
                "headcount": 186,
            },
            "inspection_date": "2026-11-20",
            "score_modules": ["M5", "M1"],
            "items": [
                item("DUST-01", "fail", "dust_explosion"),
                item("ELEC-02", "pass", "electrical"),
                item("FIRE-03", "not_applicable", "fire"),
                item("PPE-01", "pass", "ppe"),
            ],
        },
    }
    body["data"].update(data)
    return body


def rectification(**data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "submission_id": "e2c5a8f1-4b7d-4e93-9c26-8f1a3d5b7c90",
        "form": "hazard_rectification",
        "form_version": 1,
        "collected_at": "2026-11-26T16:20:00+08:00",
        "district": "330784",
        "collector": {"id": "yk-aj-0217", "role": "inspector"},
        "data": {
            "inspection_id": INSPECTION_ID,
            "item_code": "DUST-01",
            "rectified_on": "2026-11-26",
            "verified_by": {"id": "score-coach-031", "role": "trainer"},
        },
    }
    body["data"].update(data)
    return body


def survey(**data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "submission_id": "7b3e9d1f-6a2c-4e85-9f40-2d7c5a1e8b63",
        "form": "worker_survey",
        "form_version": 1,
        "collected_at": "2026-11-21T12:35:00+08:00",
        "district": "330784",
        "collector": {"id": "score-coach-031", "role": "trainer"},
        "data": {
            "enterprise_credit_code": CUP_FACTORY,
            "age_band": "25-34",
            "tenure_band": "1-3y",
            "safety_climate": {"sc1": 4, "sc2": 3, "sc3": 4, "sc4": 5, "sc5": 3, "sc6": 4},
            "workplace_cooperation": {"wc1": 3, "wc2": 3, "wc3": 2, "wc4": 4},
            "trained_on_hazards": True,
            "ppe_provided": True,
            "injury_12m": False,
            "near_miss_12m": True,
            "wages_on_time": True,
            "social_insurance": False,
            "weekly_hours_band": "49-60",
        },
    }
    body["data"].update(data)
    return body


def errors_of(body: object, now: datetime = NOW, **kwargs: Any) -> set[tuple[str, str]]:
    with pytest.raises(Invalid) as caught:
        validate(body, now, **kwargs)
    assert all(e.code in MESSAGES for e in caught.value.errors), "every code has its message table entry"
    return {(e.path, e.code) for e in caught.value.errors}


def error_at(body: object, path: str) -> FieldError:
    with pytest.raises(Invalid) as caught:
        validate(body, NOW)
    [found] = [e for e in caught.value.errors if e.path == path]
    return found


# --- a valid submission, normalised ---------------------------------------------------------------------


def test_a_valid_inspection_is_normalised_and_scored() -> None:
    body = inspection()
    body["submission_id"] = INSPECTION_ID.upper()

    result = validate(body, NOW)

    assert isinstance(result, ValidSubmission)
    assert result.submission_id == INSPECTION_ID
    assert result.form == "factory_inspection" and result.form_version == 1
    assert result.collected_at == datetime(2026, 11, 20, 2, 15, tzinfo=UTC)
    assert result.collected_at.utcoffset() == timedelta(hours=8)
    assert result.district == "330784"
    assert result.collector == {"id": "yk-aj-0217", "role": "inspector"}
    assert result.replaces is None
    assert result.enterprise == DOOR_FACTORY
    assert result.data["score_modules"] == ["M1", "M5"]
    assert result.data["inspection_date"] == "2026-11-20"
    assert result.data["items"][0]["hazard"]["deadline"] == "2026-12-01"
    assert "hazard" not in result.data["items"][1]
    assert set(result.data) == {"enterprise", "inspection_date", "score_modules", "items"}
    assert result.computed == {
        "score": 66.7,
        "items_checked": 3,
        "items_failed": 1,
        "hazards": [
            {
                "hazard_id": f"{INSPECTION_ID}:DUST-01",
                "item_code": "DUST-01",
                "category": "dust_explosion",
                "severity": "general",
                "deadline": "2026-12-01",
            }
        ],
    }
    json.dumps(result.data)
    json.dumps(result.computed)


def test_canonical_form_is_json_ready_excludes_computed_and_ignores_uuid_case() -> None:
    lower = validate(inspection(), NOW)
    upper_body = inspection()
    upper_body["submission_id"] = INSPECTION_ID.upper()
    upper = validate(upper_body, NOW)

    canonical = lower.canonical()

    assert "computed" not in canonical
    assert canonical == upper.canonical()
    assert canonical["collected_at"] == "2026-11-20T10:15:00+08:00"
    assert canonical["enterprise"] == DOOR_FACTORY
    assert json.loads(json.dumps(canonical, sort_keys=True)) == canonical
    canonical["data"]["items"].clear()
    assert lower.data["items"], "canonical() hands out a copy"


def test_a_correction_names_the_submission_it_replaces() -> None:
    body = inspection()
    body["replaces"] = "0A5E8F2B-6D41-4C97-B3E0-7F1D2C8A9E66"

    assert validate(body, NOW).replaces == "0a5e8f2b-6d41-4c97-b3e0-7f1d2c8a9e66"


def test_replaces_may_be_null_but_not_the_submission_itself() -> None:
    body = inspection()
    body["replaces"] = None
    assert validate(body, NOW).replaces is None

    body["replaces"] = INSPECTION_ID
    assert errors_of(body) == {("replaces", "replaces_self")}


def test_a_rectification_names_no_enterprise_and_computes_nothing() -> None:
    result = validate(rectification(note="已加装防护罩"), NOW)

    assert result.enterprise is None
    assert result.computed == {}
    assert result.data == {
        "inspection_id": INSPECTION_ID,
        "item_code": "DUST-01",
        "rectified_on": "2026-11-26",
        "verified_by": {"id": "score-coach-031", "role": "trainer"},
        "note": "已加装防护罩",
    }


def test_a_survey_names_its_enterprise_and_publishes_indices_to_three_decimals() -> None:
    result = validate(survey(), NOW)

    assert result.enterprise == CUP_FACTORY
    assert result.computed == {"safety_climate_index": 3.833, "cooperation_index": 3.0}
    assert "gender" not in result.data


def test_survey_gender_is_optional_but_from_the_list() -> None:
    assert validate(survey(gender="female"), NOW).data["gender"] == "female"
    assert errors_of(survey(gender="F")) == {("data.gender", "invalid_choice")}


# --- scoring ----------------------------------------------------------------------------------------------


def test_score_is_the_share_of_applicable_items_passed() -> None:
    assert score(["pass", "pass", "fail", "not_applicable"]) == 66.7
    assert score(["pass"] * 3 + ["fail"]) == 75.0
    assert score(["fail", "fail"]) == 0.0
    assert score(["pass", "not_applicable"]) == 100.0


def test_score_rounds_half_up_not_half_even() -> None:
    # 1 of 16 = 6.25 %: Python's round() gives 6.2 (half to even, binary float); the rule is 6.3.
    assert score(["pass"] + ["fail"] * 15) == 6.3
    assert score(["pass"] * 3 + ["fail"] * 13) == 18.8
    assert score(["pass"] * 5 + ["fail"] * 11) == 31.3
    assert round_half_up(Fraction(1, 8), 2) == 0.13
    assert round_half_up(Fraction(-1, 8), 2) == -0.13


def test_score_is_none_when_no_item_applies() -> None:
    assert score(["not_applicable", "not_applicable"]) is None
    assert score([]) is None
    body = inspection(items=[item("CONF-01", "not_applicable", "confined_space")])
    computed = validate(body, NOW).computed
    assert computed == {"score": None, "items_checked": 0, "items_failed": 0, "hazards": []}


def test_inspection_score_uses_half_up_rounding_end_to_end() -> None:
    items = [item("MACH-01")] + [item(f"FIRE-{n:02d}", "fail", "fire") for n in range(1, 16)]
    computed = validate(inspection(items=items), NOW).computed

    assert computed["score"] == 6.3
    assert computed["items_checked"] == 16 and computed["items_failed"] == 15
    assert [h["hazard_id"] for h in computed["hazards"]][:2] == [
        f"{INSPECTION_ID}:FIRE-01",
        f"{INSPECTION_ID}:FIRE-02",
    ]


def test_survey_mean_rounds_to_three_decimals() -> None:
    assert mean([4, 4, 4, 4, 4, 5]) == 4.167
    assert mean([1, 2]) == 1.5
    with pytest.raises(ValueError):
        mean([])


# --- every error, with its path ---------------------------------------------------------------------------


def test_a_body_that_is_not_an_object_gets_one_error_at_the_root() -> None:
    bodies: list[object] = [[], "x", 3, None]
    for body in bodies:
        with pytest.raises(Invalid) as caught:
            validate(body, NOW)
        assert [(e.path, e.code) for e in caught.value.errors] == [("", "invalid_type")]


def test_every_error_is_reported_with_its_path_not_just_the_first() -> None:
    body = inspection()
    body["submission_id"] = "not-a-uuid"
    body["collector"] = {"id": " ", "role": "boss"}
    body["district"] = "330104"
    data = body["data"]
    data["enterprise"]["headcount"] = 0
    data["score_modules"] = ["M1", "M9"]
    data["items"][1]["result"] = "ok"
    data["items"][2]["hazard"] = {"severity": "critical", "finding": "x", "deadline": "2026-12-01"}
    data["items"].append("PPE-02")

    assert errors_of(body) == {
        ("submission_id", "invalid_format"),
        ("collector.id", "invalid_format"),
        ("collector.role", "invalid_choice"),
        ("district", "district_retired"),
        ("data.enterprise.headcount", "range"),
        ("data.score_modules[1]", "invalid_choice"),
        ("data.items[1].result", "invalid_choice"),
        ("data.items[2].hazard", "hazard_forbidden"),
        ("data.items[2].hazard.severity", "invalid_choice"),
        ("data.items[4]", "invalid_type"),
    }


def test_missing_fields_are_each_reported_as_required() -> None:
    assert errors_of({}) == {
        (field, "required")
        for field in (
            "submission_id",
            "form",
            "form_version",
            "collected_at",
            "district",
            "collector",
            "data",
        )
    }
    assert errors_of(inspection(enterprise={})) == {
        ("data.enterprise.credit_code", "required"),
        ("data.enterprise.name", "required"),
        ("data.enterprise.industry", "required"),
        ("data.enterprise.headcount", "required"),
    }


def test_every_error_has_a_message_in_english_and_chinese() -> None:
    body = survey(age_band="18-24", injury_12m="yes")
    body["collected_at"] = "2026-11-21 12:35"
    with pytest.raises(Invalid) as caught:
        validate(body, NOW)
    for error in caught.value.errors:
        assert set(error.message) == {"en", "zh"}
        assert error.message["en"] and re.search(r"[\u4e00-\u9fff]", error.message["zh"]), error


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_error_code_renders_in_both_languages(code: str) -> None:
    en, zh = MESSAGES[code]
    params = {name: Tr(f"<{name}>", f"《{name}》") for name in re.findall(r"{(\w+)}", en + zh)}

    message = render(code, params)

    assert "{" not in message["en"] and "{" not in message["zh"]
    assert all(f"<{name}>" in message["en"] for name in re.findall(r"{(\w+)}", en))
    assert all(f"《{name}》" in message["zh"] for name in re.findall(r"{(\w+)}", zh))
    assert re.search(r"[\u4e00-\u9fff]", message["zh"])


def test_a_choice_error_says_what_was_expected() -> None:
    error = error_at(inspection(items=[item("MACH-01", "passed")]), "data.items[0].result")

    assert error.code == "invalid_choice"
    assert "pass, fail, not_applicable" in error.message["en"]
    assert "pass, fail, not_applicable" in error.message["zh"]


def test_invalid_lists_every_path_in_its_text() -> None:
    with pytest.raises(Invalid, match=r"data\.items\[0\]\.result: invalid_choice"):
        validate(inspection(items=[item("MACH-01", "passed")]), NOW)


# --- unknown fields ---------------------------------------------------------------------------------------


def test_unknown_fields_are_refused_at_every_level_naming_the_allowed_ones() -> None:
    body = survey(name="李梅", phone="13805791234")
    body["worker_id_card"] = "330784199001011234"
    body["collector"]["name"] = "王老师"
    body["data"]["safety_climate"]["comment"] = "ok"

    assert errors_of(body) == {
        ("worker_id_card", "unknown_field"),
        ("collector.name", "unknown_field"),
        ("data.name", "unknown_field"),
        ("data.phone", "unknown_field"),
        ("data.safety_climate.comment", "unknown_field"),
    }
    assert "id, role" in error_at(body, "collector.name").message["en"]


@pytest.mark.parametrize("account", ["李梅", "li.mei@example.com", "-x", "x" * 65])
def test_collector_ids_are_account_ids_not_names_or_addresses(account: str) -> None:
    body = survey()
    body["collector"]["id"] = account
    assert errors_of(body) == {("collector.id", "invalid_format")}


def test_unknown_fields_inside_inspection_items_and_hazards_are_refused() -> None:
    extra_item = item("MACH-01", "fail", worker="张三")
    extra_item["hazard"]["phone"] = "13805791234"

    assert errors_of(inspection(items=[extra_item])) == {
        ("data.items[0].worker", "unknown_field"),
        ("data.items[0].hazard.phone", "unknown_field"),
    }


# --- strict JSON types ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None, "1"])
def test_booleans_must_be_json_booleans(value: object) -> None:
    assert errors_of(survey(ppe_provided=value)) == {("data.ppe_provided", "invalid_type")}


@pytest.mark.parametrize("value", ["3", 1.5, 3.0, True, None, [3]])
def test_integers_must_be_json_integers(value: object) -> None:
    body = survey()
    body["data"]["safety_climate"]["sc2"] = value
    assert errors_of(body) == {("data.safety_climate.sc2", "invalid_type")}


@pytest.mark.parametrize("value", [0, 6, -1])
def test_scale_answers_are_one_to_five(value: int) -> None:
    body = survey()
    body["data"]["safety_climate"]["sc2"] = value
    assert errors_of(body) == {("data.safety_climate.sc2", "range")}


def test_headcount_is_one_to_a_hundred_thousand() -> None:
    body = inspection()
    for value in (0, 100_001):
        body["data"]["enterprise"]["headcount"] = value
        assert errors_of(body) == {("data.enterprise.headcount", "range")}
    body["data"]["enterprise"]["headcount"] = 100_000
    assert validate(body, NOW).data["enterprise"]["headcount"] == 100_000


def test_form_version_must_be_an_integer() -> None:
    body = inspection()
    body["form_version"] = "1"
    assert errors_of(body) == {("form_version", "invalid_type")}


def test_strings_must_be_strings() -> None:
    body = inspection()
    body["data"]["enterprise"]["name"] = 42
    body["district"] = 330784
    assert errors_of(body) == {("data.enterprise.name", "invalid_type"), ("district", "invalid_type")}


def test_nested_objects_and_lists_must_have_their_json_type() -> None:
    assert errors_of(inspection(enterprise="永康市恒盾门业有限公司", items={"code": "MACH-01"})) == {
        ("data.enterprise", "invalid_type"),
        ("data.items", "invalid_type"),
    }
    body = inspection()
    body["data"] = [1]
    assert errors_of(body) == {("data", "invalid_type")}


def test_text_length_and_blankness_are_checked() -> None:
    assert errors_of(
        inspection(
            enterprise={"credit_code": DOOR_FACTORY, "name": "x" * 201, "industry": "C33", "headcount": 5}
        )
    ) == {("data.enterprise.name", "length")}
    assert errors_of(rectification(note="x" * 1001)) == {("data.note", "length")}
    assert validate(rectification(note=""), NOW).data["note"] == ""
    failed = item("MACH-01", "fail")
    failed["hazard"]["finding"] = "   "
    assert errors_of(inspection(items=[failed])) == {("data.items[0].hazard.finding", "blank")}


# --- dates and times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["20261120", "2026-W47-5", "2026/11/20", "2026-02-30", "2026-11-20T00:00:00", ""]
)
def test_dates_must_be_real_yyyy_mm_dd(value: str) -> None:
    assert errors_of(inspection(inspection_date=value)) == {("data.inspection_date", "invalid_format")}


@pytest.mark.parametrize(
    "value", ["2026-11-20T10:15:00", "2026-11-20 10:15:00+08:00", "2026-11-20", "1763605000"]
)
def test_collected_at_must_be_rfc3339_with_an_offset(value: str) -> None:
    body = inspection()
    body["collected_at"] = value
    assert errors_of(body) == {("collected_at", "invalid_format")}


def test_collected_at_accepts_utc_and_fractions() -> None:
    body = inspection()
    body["collected_at"] = "2026-11-27T03:59:59.123456Z"
    assert validate(body, NOW).collected_at == datetime(2026, 11, 27, 3, 59, 59, 123456, tzinfo=UTC)


def test_collected_at_may_lead_the_server_clock_by_the_skew_only() -> None:
    body = inspection()
    body["collected_at"] = "2026-11-27T12:09:00+08:00"
    validate(body, NOW)
    body["collected_at"] = "2026-11-27T04:11:00Z"
    assert errors_of(body) == {("collected_at", "future_date")}
    assert validate(body, NOW, clock_skew=timedelta(minutes=15))


def test_inspection_date_may_be_today_in_china_while_utc_is_still_yesterday() -> None:
    just_after_midnight_in_yongkang = datetime(2026, 11, 26, 16, 30, tzinfo=UTC)
    body = inspection(inspection_date="2026-11-27")
    body["collected_at"] = "2026-11-27T00:25:00+08:00"

    assert validate(body, just_after_midnight_in_yongkang).data["inspection_date"] == "2026-11-27"


def test_form_dates_may_not_lie_in_the_future_beyond_the_skew() -> None:
    assert errors_of(inspection(inspection_date="2026-11-28")) == {("data.inspection_date", "future_date")}
    assert errors_of(rectification(rectified_on="2026-11-28")) == {("data.rectified_on", "future_date")}
    five_to_midnight = datetime(2026, 11, 27, 23, 55, tzinfo=CST)
    assert validate(rectification(rectified_on="2026-11-28"), five_to_midnight)  # the skew reaches tomorrow
    message = error_at(inspection(inspection_date="2026-11-28"), "data.inspection_date").message
    assert "2026-11-27" in message["en"] and "2026-11-27" in message["zh"]


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError):
        validate(inspection(), datetime(2026, 11, 27, 12, 0))


# --- districts --------------------------------------------------------------------------------------------


def test_retired_districts_are_refused_with_their_successor_named() -> None:
    body = inspection()
    body["district"] = "330103"
    error = error_at(body, "district")

    assert error.code == "district_retired"
    assert "330105" in error.message["en"] and "拱墅" in error.message["zh"]
    body["district"] = "330104"
    assert "330102" in error_at(body, "district").message["en"]


def test_the_province_is_not_a_district_to_file_under_but_a_prefecture_is() -> None:
    body = inspection()
    body["district"] = "330000"
    assert errors_of(body) == {("district", "district_level")}
    body["district"] = "330700"
    assert validate(body, NOW).district == "330700"


@pytest.mark.parametrize("code", ["330199", "110101", "3307840", "yongkang"])
def test_unknown_district_codes_are_refused(code: str) -> None:
    body = inspection()
    body["district"] = code
    assert errors_of(body) == {("district", "unknown_district")}


# --- credit codes and industries -------------------------------------------------------------------------


def test_credit_code_check_character_is_verified_and_the_right_one_named() -> None:
    wrong = DOOR_FACTORY[:17] + ("0" if DOOR_FACTORY[17] != "0" else "1")
    error = error_at(survey(enterprise_credit_code=wrong), "data.enterprise_credit_code")

    assert error.code == "uscc"
    assert f"should be {DOOR_FACTORY[17]}" in error.message["en"]
    assert f"校验码应为 {DOOR_FACTORY[17]}" in error.message["zh"]


@pytest.mark.parametrize(
    "code", [DOOR_FACTORY.lower(), DOOR_FACTORY[:17], DOOR_FACTORY + "1", "9133078IMA2HR1K6X1"]
)
def test_malformed_credit_codes_are_refused(code: str) -> None:
    assert errors_of(
        inspection(
            enterprise={
                "credit_code": code,
                "name": "永康市恒盾门业有限公司",
                "industry": "C33",
                "headcount": 186,
            }
        )
    ) == {("data.enterprise.credit_code", "uscc")}


def test_any_of_the_31_characters_can_be_a_check_character() -> None:
    letter_checked = next(
        code for n in range(1000) if not (code := uscc.make(f"91330784MA2H{n:05d}"))[17].isdigit()
    )
    assert validate(survey(enterprise_credit_code=letter_checked), NOW).enterprise == letter_checked


def test_industry_comes_from_the_code_table() -> None:
    body = inspection()
    body["data"]["enterprise"]["industry"] = "C34"
    assert validate(body, NOW).data["enterprise"]["industry"] == "C34"
    body["data"]["enterprise"]["industry"] = "C25"
    assert errors_of(body) == {("data.enterprise.industry", "invalid_choice")}


# --- inspection rules -------------------------------------------------------------------------------------


def test_a_failed_item_requires_a_hazard() -> None:
    failed = item("DUST-01", "fail", "dust_explosion")
    del failed["hazard"]
    assert errors_of(inspection(items=[failed])) == {("data.items[0].hazard", "hazard_required")}


@pytest.mark.parametrize("result", ["pass", "not_applicable"])
def test_an_item_that_did_not_fail_must_not_carry_a_hazard(result: str) -> None:
    stray = item("DUST-01", result, hazard={"severity": "major", "finding": "积尘", "deadline": "2026-12-01"})
    assert errors_of(inspection(items=[stray])) == {("data.items[0].hazard", "hazard_forbidden")}


def test_a_hazard_deadline_may_be_the_inspection_day_but_not_before() -> None:
    same_day = item("ELEC-01", "fail", "electrical")
    same_day["hazard"]["deadline"] = "2026-11-20"
    earlier = item("ELEC-02", "fail", "electrical")
    earlier["hazard"]["deadline"] = "2026-11-19"

    assert errors_of(inspection(items=[same_day, earlier])) == {
        ("data.items[1].hazard.deadline", "deadline_before_inspection")
    }


def test_item_codes_are_unique_within_an_inspection_reported_at_the_repeat() -> None:
    items = [item("MACH-01"), item("MACH-02"), item("MACH-01"), item("MACH-01")]
    error = error_at(inspection(items=items), "data.items[2].code")

    assert errors_of(inspection(items=items)) == {
        ("data.items[2].code", "duplicate"),
        ("data.items[3].code", "duplicate"),
    }
    assert "index 0" in error.message["en"]


@pytest.mark.parametrize("code", ["M-01", "MACHINE-01", "mach-01", "MACH-1", "MACH-0001", "MACH_01"])
def test_item_codes_follow_the_pattern(code: str) -> None:
    assert errors_of(inspection(items=[item(code)])) == {("data.items[0].code", "invalid_format")}


def test_item_count_is_between_one_and_three_hundred() -> None:
    assert errors_of(inspection(items=[])) == {("data.items", "length")}
    many = [item(f"MACH-{n:03d}") for n in range(301)]
    assert errors_of(inspection(items=many)) == {("data.items", "length")}
    assert validate(inspection(items=many[:300]), NOW).computed["items_checked"] == 300


def test_score_modules_are_a_non_empty_set_of_m1_to_m5() -> None:
    assert errors_of(inspection(score_modules=[])) == {("data.score_modules", "length")}
    assert errors_of(inspection(score_modules=["M5", "M5"])) == {("data.score_modules[1]", "duplicate")}
    assert errors_of(inspection(score_modules=["OSH"])) == {("data.score_modules[0]", "invalid_choice")}
    assert validate(inspection(score_modules=["M5", "M4", "M3", "M2", "M1"]), NOW).data["score_modules"] == [
        "M1",
        "M2",
        "M3",
        "M4",
        "M5",
    ]


# --- form and version -------------------------------------------------------------------------------------


def test_an_unknown_form_is_refused_and_its_data_not_guessed_at() -> None:
    body = inspection()
    body["form"] = "accident_report"
    body["data"]["anything"] = 1
    assert errors_of(body) == {("form", "invalid_choice")}


def test_an_unknown_version_is_refused_naming_the_versions() -> None:
    body = rectification()
    body["form_version"] = 2
    error = error_at(body, "form_version")

    assert error.code == "unsupported_version"
    assert "1" in error.message["en"]


def test_a_body_for_one_form_with_another_forms_data_reports_the_mismatch() -> None:
    body = survey()
    body["form"] = "hazard_rectification"
    found = errors_of(body)
    assert ("data.inspection_id", "required") in found and (
        "data.enterprise_credit_code",
        "unknown_field",
    ) in found


def test_the_catalogue_lists_each_form_with_its_schema_file() -> None:
    entries = catalogue()

    assert [e["form"] for e in entries] == ["factory_inspection", "hazard_rectification", "worker_survey"]
    for entry in entries:
        assert entry["versions"] == [1]
        assert entry["title"]["en"] and entry["title"]["zh"]
        assert entry["schema"] == f"schemas/forms/{entry['form']}.v1.schema.json"
        assert (REPO / entry["schema"]).is_file()


def test_validation_does_not_change_the_body() -> None:
    body = inspection()
    before = copy.deepcopy(body)
    validate(body, NOW)
    assert body == before
