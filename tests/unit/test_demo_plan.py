"""The demo plan: deterministic, valid by the intake's own contracts, realistic where it matters."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from services.common import uscc
from services.common.codes import covered, industries
from services.demo.plan import SURVEY_THRESHOLD, make_plan
from services.intake import forms
from tests.builders import NOW

ANCHOR = NOW.date()


def test_the_same_seed_makes_the_same_plan_and_another_seed_another() -> None:
    a, b = make_plan(3, "small", ANCHOR), make_plan(3, "small", ANCHOR)
    assert a.first_versions == b.first_versions and a.rectifications == b.rectifications
    assert [r.review_id for r in a.reviews] == [r.review_id for r in b.reviews]
    other = make_plan(4, "small", ANCHOR)
    assert not {s["submission_id"] for s in a.first_versions} & {
        s["submission_id"] for s in other.first_versions
    }


def test_ids_do_not_depend_on_the_anchor_day_so_a_later_run_names_the_same_submissions() -> None:
    a, b = make_plan(1, "small", ANCHOR), make_plan(1, "small", ANCHOR + timedelta(days=40))
    ids = {s["submission_id"] for s in a.first_versions if s["form"] == "factory_inspection"}
    assert ids == {s["submission_id"] for s in b.first_versions if s["form"] == "factory_inspection"}
    assert a.probe == b.probe


def test_every_submission_passes_the_intakes_contract_and_lies_before_the_anchor() -> None:
    plan = make_plan(1, "small", ANCHOR)
    bodies = plan.first_versions + plan.corrections + plan.rectifications
    for body in bodies:
        forms.validate(body, now=NOW, clock_skew=timedelta(minutes=10))  # raises forms.Invalid
        assert date.fromisoformat(body["collected_at"][:10]) < ANCHOR
        assert date.fromisoformat(body["collected_at"][:10]) >= ANCHOR - timedelta(days=366)
    assert len({b["submission_id"] for b in bodies}) == len(bodies)


def test_enterprises_have_valid_credit_codes_of_companies_in_their_county() -> None:
    plan = make_plan(2, "medium", ANCHOR)
    codes = [e.credit_code for e in plan.enterprises]
    assert len(set(codes)) == len(codes)
    for e in plan.enterprises:
        assert uscc.problem(e.credit_code) is None
        assert e.credit_code.startswith("91" + e.district)
        assert e.district in covered("330100") + covered("330700")
        assert e.industry in industries()


def test_yongkang_is_the_hardware_capital_and_the_pilot_its_home() -> None:
    plan = make_plan(1, "medium", ANCHOR)
    yongkang = [e for e in plan.enterprises if e.district == "330784"]
    assert len(yongkang) > len(plan.enterprises) / 5  # the largest county of the demo
    mix = Counter(e.industry for e in yongkang)
    assert mix.most_common(1)[0][0] == "C33"  # metal products: doors, cups, cookware
    assert (mix["C33"] + mix["C34"]) / len(yongkang) > 0.5
    assert {"C33", "C34", "C38"} <= set(mix)


def test_the_plan_has_every_case_the_reports_distinguish() -> None:
    plan = make_plan(1, "small", ANCHOR)
    c = plan.counts()
    assert c["corrections"] and c["rejections"] and c["approvals"] and c["rectified_late"]
    hazards = [
        i["hazard"]
        for s in plan.first_versions
        if s["form"] == "factory_inspection"
        for i in s["data"]["items"]
        if i["result"] == "fail"
    ]
    assert {h["severity"] for h in hazards} == {"general", "major"}
    assert (
        len(
            {
                i["category"]
                for s in plan.first_versions
                if s["form"] == "factory_inspection"
                for i in s["data"]["items"]
                if i["result"] == "fail"
            }
        )
        >= 6
    )
    # still open: hazards found and neither rectified nor rejected, some of them past their deadline
    assert sum(plan.expected.hazards_found.values()) > sum(plan.expected.rectified.values())
    cells = plan.expected.survey_cells
    assert any(n >= SURVEY_THRESHOLD for n in cells.values())
    assert any(0 < n < SURVEY_THRESHOLD for n in cells.values())
    # a rejection names an inspection's newest version, with a comment (the intake requires one)
    assert all(r.comment for r in plan.reviews if r.status == "rejected")
