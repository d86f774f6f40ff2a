"""The field forms as people use them: a phone-sized Chromium fills the inspector app and the worker survey.

What a form sends must be what an API client would send: each test builds the equivalent request by hand, posts
it to a second, fresh intake with a credential of the same account, and requires the stored submission and its
outbox event to be equal field for field (only *when* it arrived may differ).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import text

from tests.browser.conftest import FieldSite, screenshot, wait_until
from tests.builders import credit_code

CHINA = ZoneInfo("Asia/Shanghai")
ENTERPRISE: dict[str, Any] = {
    "credit_code": credit_code(7),
    "name": "永康市恒盾门业有限公司",
    "industry": "C33",
    "headcount": 186,
}


def today() -> date:
    return datetime.now(CHINA).date()


def field(page: Page, path: str) -> Any:
    """The drawn field for a body path (its wrapper carries the path the server's errors name)."""
    return page.locator(f'[data-path="{path}"]')


def shot(page: Page, name: str) -> None:
    """A screenshot at phone size, and the page fits the 360 px screen: nothing to scroll sideways."""
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, (
        f"{name} is wider than the phone"
    )
    screenshot(page, name)


def enroll(page: Page, site: FieldSite, token: str) -> None:
    """Open the enrollment link a first start prints: the token lands on the phone, the app opens."""
    page.goto(f"{site.url}/app/#device={token}")
    expect(page.locator("nav.menu")).to_be_visible()
    assert "device=" not in page.url  # the token left the address bar (and the history)


def fill_inspection(
    page: Page, enterprise: dict[str, Any], answers: dict[str, str], hazards: dict[str, dict[str, str]]
) -> None:
    page.goto(page.url.split("#")[0] + "#new/factory_inspection")
    expect(page.locator(".checklist")).to_be_visible()
    field(page, "data.enterprise.credit_code").locator("input").fill(enterprise["credit_code"])
    field(page, "data.enterprise.name").locator("input").fill(enterprise["name"])
    field(page, "data.enterprise.industry").locator("select").select_option(enterprise["industry"])
    field(page, "data.enterprise.headcount").locator("input").fill(str(enterprise["headcount"]))
    for module in ("M1", "M5"):
        field(page, "data.score_modules").locator(f'input[value="{module}"]').check()
    for code, result in answers.items():
        page.locator(f'fieldset.item[data-code="{code}"] input[value="{result}"]').check()
    for code, hazard in hazards.items():
        base = f"data.items{{{code}}}.hazard"
        field(page, f"{base}.severity").locator(f'input[value="{hazard["severity"]}"]').check()
        field(page, f"{base}.finding").locator("textarea").fill(hazard["finding"])
        field(page, f"{base}.deadline").locator("input").fill(hazard["deadline"])


def send(page: Page) -> None:
    page.locator("button.send").click()
    expect(page.locator("ul.records")).to_be_visible()


def stored_equal(a: FieldSite, b: FieldSite, submission_id: str) -> None:
    row_a, events_a = a.stored(submission_id)
    row_b, events_b = b.stored(submission_id)
    assert row_a == row_b
    assert events_a == events_b and len(events_a) == 1


def test_an_inspection_filled_in_the_app_is_stored_as_an_api_client_would_store_it(
    phone: Any, field_site: Any
) -> None:
    site, api = field_site("app"), field_site("api")
    token = site.device("yk-phone-1")
    page = phone().new_page()
    page.goto(f"{site.url}/app/")
    expect(page.locator("#token")).to_be_visible()
    shot(page, "app-signin")
    enroll(page, site, token)
    shot(page, "app-home")
    deadline = (today() + timedelta(days=14)).isoformat()
    answers = {
        "MACH-01": "pass",
        "MACH-03": "pass",
        "ELEC-01": "fail",
        "FIRE-01": "pass",
        "CONF-01": "not_applicable",
    }
    finding = "冲压车间配电箱门未关闭，线路裸露。"
    fill_inspection(
        page,
        ENTERPRISE,
        answers,
        {"ELEC-01": {"severity": "major", "finding": finding, "deadline": deadline}},
    )
    # the score the server will compute, before sending: 3 passed of 4 applicable
    expect(page.locator(".score-value")).to_have_text("75.0")
    expect(page.locator(".send-score")).to_contain_text("75.0")
    shot(page, "app-inspection")
    send(page)
    record = page.locator("li.record").first
    expect(record).to_have_attribute("data-state", "accepted")
    expect(record.locator(".badge.review-pending")).to_be_visible()  # its review status, read back
    shot(page, "app-records")
    submission_id = record.get_attribute("data-id")
    assert submission_id

    stored = site.submissions()
    assert [s["id"] for s in stored] == [submission_id]
    expected = {
        "submission_id": submission_id,
        "form": "factory_inspection",
        "form_version": 1,
        "collected_at": stored[0]["collected_at"],  # the phone's clock, with its offset
        "district": "330784",
        "collector": {"id": "yk-phone-1", "role": "inspector"},
        "data": {
            "enterprise": ENTERPRISE,
            "inspection_date": today().isoformat(),
            "score_modules": ["M1", "M5"],
            "items": [
                {"code": "MACH-01", "category": "machinery", "result": "pass"},
                {"code": "MACH-03", "category": "machinery", "result": "pass"},
                {
                    "code": "ELEC-01",
                    "category": "electrical",
                    "result": "fail",
                    "hazard": {"severity": "major", "finding": finding, "deadline": deadline},
                },
                {"code": "FIRE-01", "category": "fire", "result": "pass"},
                {"code": "CONF-01", "category": "confined_space", "result": "not_applicable"},
            ],
        },
    }
    assert api.post(expected, api.device("yk-phone-1")).status_code == 201
    stored_equal(site, api, submission_id)


def _survey_answers(page: Page) -> None:
    """Answer every screen of the survey as a worker would (tapping the choices, one screen at a time)."""
    choices = {
        "data.age_band": "35-44",
        "data.tenure_band": "3-5y",
        "data.gender": "undisclosed",
        "data.weekly_hours_band": "49-60",
        **{f"data.safety_climate.sc{i}": str(1 + i % 5) for i in range(1, 7)},
        **{f"data.workplace_cooperation.wc{i}": str(i) for i in range(1, 5)},
        "data.trained_on_hazards": "true",
        "data.ppe_provided": "true",
        "data.injury_12m": "false",
        "data.near_miss_12m": "true",
        "data.wages_on_time": "true",
        "data.social_insurance": "false",
    }
    next_button = page.locator(".sendbar button[type=submit]")
    while True:
        screen = page.locator("section.form-section:visible")
        for path, value in choices.items():
            target = screen.locator(f'[data-path="{path}"] input[value="{value}"]')
            if target.count():
                target.check()
        if next_button.text_content() in ("提交问卷", "Send my answers"):
            return
        next_button.click()


def test_a_survey_by_its_public_link_is_stored_as_an_api_client_would_store_it(
    phone: Any, field_site: Any
) -> None:
    site, api = field_site("app"), field_site("api")
    link = site.link("330784", "yk-2026q4")
    code = credit_code(9)
    page = phone().new_page()
    page.goto(f"{site.url}/survey#st={link}&e={code}")  # the QR code on the factory's poster
    expect(page.locator(".district")).to_contain_text("330784")
    expect(field(page, "data.enterprise_credit_code").locator("input")).to_have_value(code)
    shot(page, "survey-start")
    page.locator(".sendbar button[type=submit]").click()
    expect(field(page, "data.age_band")).to_be_visible()
    # a screen is not left unanswered: the server's own words, on the question
    page.locator(".sendbar button[type=submit]").click()
    expect(field(page, "data.age_band").locator(".error")).to_have_text("为必填项")
    shot(page, "survey-question-required")
    _survey_answers(page)
    shot(page, "survey-last-screen")
    page.locator(".sendbar button[type=submit]").click()
    expect(page.locator(".done")).to_be_visible()
    shot(page, "survey-thanks")
    # nothing of the worker stays on the phone: no cookie, no IndexedDB, nothing in either storage
    assert page.context.cookies() == []
    assert page.evaluate("sessionStorage.length + localStorage.length") <= 1  # at most the language choice
    assert page.evaluate("sessionStorage.getItem('score.survey.answer')") is None
    assert page.evaluate("indexedDB.databases().then((d) => d.length)") == 0

    [stored] = site.submissions()
    expected = {
        "submission_id": stored["id"],
        "form": "worker_survey",
        "form_version": 1,
        "collected_at": stored["collected_at"],
        "district": "330784",
        "collector": {"id": "survey-yk-2026q4", "role": "trainer"},
        "data": {
            "enterprise_credit_code": code,
            "age_band": "35-44",
            "tenure_band": "3-5y",
            "gender": "undisclosed",
            "weekly_hours_band": "49-60",
            "safety_climate": {f"sc{i}": 1 + i % 5 for i in range(1, 7)},
            "workplace_cooperation": {f"wc{i}": i for i in range(1, 5)},
            "trained_on_hazards": True,
            "ppe_provided": True,
            "injury_12m": False,
            "near_miss_12m": True,
            "wages_on_time": True,
            "social_insurance": False,
        },
    }
    assert api.post(expected, api.link("330784", "yk-2026q4")).status_code == 201
    stored_equal(site, api, stored["id"])


def test_a_survey_link_posts_only_for_its_own_district(phone: Any, field_site: Any) -> None:
    site = field_site("app")
    link = site.link("330784", "yk-2026q4")
    page = phone(locale="en-US").new_page()
    # A page that believes the link is Hangzhou's (a stale or altered copy): the server still refuses it.
    page.route(
        "**/app/me",
        lambda route: route.fulfill(
            json={"account": "survey-yk-2026q4", "kind": "link", "districts": ["330100"]}, status=200
        ),
    )
    page.goto(f"{site.url}/survey#st={link}&e={credit_code(9)}")
    expect(page.locator(".district")).to_contain_text("330100")
    page.locator(".sendbar button[type=submit]").click()
    _survey_answers(page)
    page.locator(".sendbar button[type=submit]").click()
    box = page.locator(".form-errors")
    expect(box).to_be_visible()
    expect(box).to_contain_text("district: this credential may not submit for district 330100")
    shot(page, "survey-other-district-refused")
    assert site.submissions() == [] and site.outbox() == []
    # and without any credential the survey page asks for the QR code instead of a login
    bare = phone().new_page()
    bare.goto(f"{site.url}/survey")
    expect(bare.locator("main")).to_contain_text("请扫描海报上的二维码")
    assert not bare.locator("input[type=password]").count()


@pytest.mark.parametrize(
    ("locale", "message"),
    [
        ("zh-CN", "不得包含个人信息：其中含有手机号码"),
        ("en-US", "must not contain personal data: it holds a mobile number"),
    ],
)
def test_a_record_the_server_refuses_shows_its_message_on_the_field_it_names(
    phone: Any, field_site: Any, locale: str, message: str
) -> None:
    site = field_site("app")
    page = phone(locale=locale).new_page()
    enroll(page, site, site.device())
    deadline = (today() + timedelta(days=7)).isoformat()
    # a phone number in the finding: no schema can tell, only the server refuses it
    fill_inspection(
        page,
        ENTERPRISE,
        {"MACH-01": "pass", "DUST-01": "fail"},
        {
            "DUST-01": {
                "severity": "general",
                "finding": "抛光工位积尘，联系人 138 1234 5678",
                "deadline": deadline,
            }
        },
    )
    send(page)
    record = page.locator("li.record").first
    expect(record).to_have_attribute("data-state", "needs_fixing")
    expect(record.locator(".errors")).to_contain_text("data.items[1].hazard.finding")
    shot(page, f"app-needs-fixing-{locale}")
    record.locator("a.button").click()  # Fix
    finding = field(page, "data.items{DUST-01}.hazard.finding")
    expect(finding.locator(".error")).to_have_text(message)
    expect(finding.locator("textarea")).to_have_attribute("aria-invalid", "true")
    assert re.search(r"\bDUST-01\b", finding.locator("xpath=ancestor::fieldset[1]").inner_text())
    shot(page, f"app-server-error-on-field-{locale}")
    assert site.submissions() == []
    # fixed and sent again with the same submission_id: stored once
    finding.locator("textarea").fill("抛光工位积尘，未定期清扫。")
    send(page)
    expect(page.locator("li.record").first).to_have_attribute("data-state", "accepted")
    assert len(site.submissions()) == 1 and len(site.outbox()) == 1
    wait_until(lambda: site.submissions()[0]["review_status"] == "pending", what="stored")


IDB_PHOTOS = """async () => {
  const db = await new Promise((ok, fail) => {
    const r = indexedDB.open("score-app");
    r.onsuccess = () => ok(r.result);
    r.onerror = fail;
  });
  const photos = await new Promise((ok) => {
    const r = db.transaction("photos").objectStore("photos").getAll();
    r.onsuccess = () => ok(r.result);
  });
  const out = [];
  for (const p of photos) {
    const d = await crypto.subtle.digest("SHA-256", await p.blob.arrayBuffer());
    out.push({ id: p.id, type: p.blob.type, uploaded: p.uploaded,
               sha256: [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("") });
  }
  return out;
}"""


def test_offline_three_inspections_wait_on_the_phone_through_a_reload_and_arrive_once_each(
    phone: Any, field_site: Any
) -> None:
    from tests.images import photo

    site = field_site("app")
    context = phone()
    page = context.new_page()
    enroll(page, site, site.device())
    # the service worker holds the shell before the network goes
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
    context.set_offline(True)
    expect(page.locator(".net.off")).to_be_visible()
    camera = photo("image/jpeg", seed=3, size=(2400, 1800))  # a phone camera's photo, larger than 1600 px
    deadline = (today() + timedelta(days=10)).isoformat()
    enterprises = [
        {**ENTERPRISE, "credit_code": credit_code(20 + i), "name": f"永康市离线五金厂 {i}"} for i in range(3)
    ]
    for i, enterprise in enumerate(enterprises):
        fill_inspection(
            page,
            enterprise,
            {"MACH-01": "pass", "ELEC-01": "fail" if i == 0 else "pass"},
            {"ELEC-01": {"severity": "general", "finding": "配电箱门未关", "deadline": deadline}}
            if i == 0
            else {},
        )
        if i == 0:
            photos = field(page, "data.items{ELEC-01}.hazard.photos")
            photos.locator("input[type=file]").set_input_files(
                files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": camera}]
            )
            expect(photos.locator("img")).to_have_count(1)
            shot(page, "app-hazard-with-photo-offline")
        send(page)
    expect(page.locator("li.record")).to_have_count(3)
    expect(page.locator('li.record[data-state="queued"]')).to_have_count(3)
    assert site.submissions() == []
    reloaded = page.reload()  # offline: the service worker serves the app, IndexedDB still holds the queue
    assert reloaded is not None and reloaded.from_service_worker
    page.evaluate("location.hash = '#records'")
    expect(page.locator('li.record[data-state="queued"]')).to_have_count(3)
    shot(page, "app-offline-queued-after-reload")
    queued = sorted(page.locator("li.record").evaluate_all("(els) => els.map((e) => e.dataset.id)"))
    assert site.submissions() == []

    context.set_offline(False)  # the network returns: the queue goes out by itself
    wait_until(lambda: len(site.submissions()) == 3, timeout=90, what="three stored submissions")
    expect(page.locator('li.record[data-state="accepted"]')).to_have_count(3)
    shot(page, "app-synced-after-offline")
    stored = site.submissions()
    assert sorted(s["id"] for s in stored) == queued  # exactly those three, once each
    assert sorted(e["subject"] for e in site.outbox()) == queued
    # the photo: resized on the phone, uploaded before its record, stored with the hash of what was sent
    [on_phone] = page.evaluate(IDB_PHOTOS)
    assert on_phone["uploaded"] is True and on_phone["type"] == "image/jpeg"
    with site.intake.engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(text("SELECT id, sha256, content, size FROM attachments")).mappings()
        ]
    assert len(rows) == 1 and rows[0]["id"] == on_phone["id"]
    assert rows[0]["sha256"] == on_phone["sha256"] == hashlib.sha256(rows[0]["content"]).hexdigest()
    assert max(Image.open(io.BytesIO(rows[0]["content"])).size) == 1600  # 2400 px made 1600 on the phone
    with_photo = next(s for s in stored if "ELEC-01" in s["data"] and '"fail"' in s["data"])
    assert json.loads(with_photo["data"])["items"][1]["hazard"]["photos"] == [on_phone["id"]]


def test_what_is_typed_survives_a_reload(phone: Any, field_site: Any) -> None:
    site = field_site("app")
    page = phone().new_page()
    enroll(page, site, site.device())
    page.goto(f"{site.url}/app/#new/factory_inspection")
    field(page, "data.enterprise.name").locator("input").fill("永康市半途五金厂")
    page.locator('fieldset.item[data-code="DUST-01"] input[value="fail"]').check()
    field(page, "data.items{DUST-01}.hazard.finding").locator("textarea").fill("除尘器未接地")
    expect(page.locator(".saved")).not_to_be_empty()  # saved on the phone as it is typed
    page.reload()
    expect(field(page, "data.enterprise.name").locator("input")).to_have_value("永康市半途五金厂")
    expect(field(page, "data.items{DUST-01}.hazard.finding").locator("textarea")).to_have_value(
        "除尘器未接地"
    )
    page.evaluate("location.hash = '#home'")
    expect(page.locator("li.record.state-draft")).to_have_count(1)
    shot(page, "app-home-with-draft")
    assert site.submissions() == []


def test_a_reviewed_record_shows_its_review_and_is_corrected_from_the_phone(
    phone: Any, field_site: Any
) -> None:
    site = field_site("app")
    reviewer = site.access.issue("yk-bureau", ["reviewer"], ["330784"], created_by="tests").token
    page = phone().new_page()
    enroll(page, site, site.device())
    fill_inspection(page, ENTERPRISE, {"MACH-01": "pass", "FIRE-01": "pass"}, {})
    send(page)
    first = page.locator("li.record").first
    expect(first).to_have_attribute("data-state", "accepted")
    original = first.get_attribute("data-id")
    review = {
        "status": "has_issues",
        "comment": "消防检查项不全 / fire items incomplete",
        "review_id": str(uuid.uuid4()),
    }
    resp = site.app.test_client().post(
        f"/api/v1/submissions/{original}/review", json=review, headers={"Authorization": f"Bearer {reviewer}"}
    )
    assert resp.status_code == 200, resp.get_json()
    page.locator("button", has_text="立即发送").click()  # also reads the review status of sent records
    expect(first.locator(".badge.review-has_issues")).to_be_visible()
    expect(first.locator(".comment")).to_have_text(review["comment"])
    shot(page, "app-record-reviewed")
    first.locator("button", has_text="更正").click()
    expect(page.locator("h1")).to_contain_text("更正记录")
    expect(field(page, "data.enterprise.name").locator("input")).to_have_value(ENTERPRISE["name"])
    page.locator('fieldset.item[data-code="FIRE-02"] input[value="pass"]').check()
    shot(page, "app-correction")
    send(page)
    newest = page.locator(f'li.record:not([data-id="{original}"])').first
    expect(newest).to_have_attribute("data-state", "accepted")
    rows = {r["id"]: r for r in site.submissions()}
    correction = newest.get_attribute("data-id")
    assert set(rows) == {original, correction}
    assert rows[correction]["replaces"] == original and rows[original]["superseded_by"] == correction
    items = json.loads(rows[correction]["data"])["items"]
    assert [(i["code"], i["result"]) for i in items] == [
        ("MACH-01", "pass"),
        ("FIRE-01", "pass"),
        ("FIRE-02", "pass"),
    ]
    # the replaced version can no longer be corrected from the phone
    page.locator("button", has_text="立即发送").click()
    expect(page.locator(f'li.record[data-id="{original}"] button', has_text="更正")).to_have_count(0)


def test_a_hazard_picked_from_the_open_list_is_rectified_as_an_api_client_would_rectify_it(
    phone: Any, field_site: Any
) -> None:
    from tests.images import photo

    site, api = field_site("app"), field_site("api")
    found_on = today() - timedelta(days=3)
    overdue, later = (today() - timedelta(days=1)).isoformat(), (today() + timedelta(days=20)).isoformat()
    inspection_body = {
        "submission_id": str(uuid.uuid4()),
        "form": "factory_inspection",
        "form_version": 1,
        "collected_at": datetime.combine(found_on, datetime.min.time(), CHINA).replace(hour=10).isoformat(),
        "district": "330784",
        "collector": {"id": "x", "role": "inspector"},
        "data": {
            "enterprise": ENTERPRISE,
            "inspection_date": found_on.isoformat(),
            "score_modules": ["M5"],
            "items": [
                {"code": "ELEC-01", "category": "electrical", "result": "fail",
                 "hazard": {"severity": "general", "finding": "配电箱门未关闭", "deadline": overdue}},
                {"code": "DUST-01", "category": "dust_explosion", "result": "fail",
                 "hazard": {"severity": "major", "finding": "除尘器无泄爆装置", "deadline": later}},
            ],
        },
    }  # fmt: skip
    app_token, api_token = site.device("yk-phone-1"), api.device("yk-phone-1")
    assert site.post(inspection_body, app_token).status_code == 201
    assert api.post(inspection_body, api_token).status_code == 201
    elsewhere = {**inspection_body, "submission_id": str(uuid.uuid4()), "district": "330106"}
    assert (
        site.post(elsewhere, site.device("hz-phone", "330106")).status_code == 201
    )  # not this phone's district

    page = phone().new_page()
    enroll(page, site, app_token)
    page.goto(f"{site.url}/app/#hazards")
    cards = page.locator(".hazard-card")
    expect(cards).to_have_count(2)
    expect(cards.filter(has_text="ELEC-01")).to_have_class(re.compile(r"\boverdue\b"))
    expect(cards.filter(has_text="ELEC-01").locator(".badge.overdue")).to_have_text("已逾期")
    expect(cards.filter(has_text="DUST-01")).not_to_have_class(re.compile(r"\boverdue\b"))
    shot(page, "app-open-hazards")
    cards.filter(has_text="ELEC-01").click()
    expect(field(page, "data.inspection_id").locator("input")).to_have_value(inspection_body["submission_id"])
    expect(field(page, "data.item_code").locator("input")).to_have_value("ELEC-01")
    field(page, "data.verified_by.id").locator("input").fill("score-coach-031")
    field(page, "data.verified_by.role").locator('input[value="trainer"]').check()
    note = "已关闭配电箱并加锁。Box closed and locked."
    field(page, "data.note").locator("textarea").fill(note)
    after = photo("image/jpeg", seed=11, size=(1200, 900))
    field(page, "data.photos").locator("input[type=file]").set_input_files(
        files=[{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": after}]
    )
    expect(field(page, "data.photos").locator("img")).to_have_count(1)
    shot(page, "app-rectification")
    send(page)
    record = page.locator("li.record").first
    expect(record).to_have_attribute("data-state", "accepted")
    shot(page, "app-rectification-sent")
    rectification_id = record.get_attribute("data-id")
    assert rectification_id
    [on_phone] = page.evaluate(IDB_PHOTOS)
    with site.intake.engine.connect() as conn:
        uploaded = conn.execute(text("SELECT content FROM attachments")).scalar_one()
    assert hashlib.sha256(uploaded).hexdigest() == on_phone["sha256"]

    # the API client: the same photo first, then the same rectification
    put = api.app.test_client().put(
        f"/api/v1/attachments/{on_phone['id']}",
        data=uploaded,
        headers={"Authorization": f"Bearer {api_token}", "Content-Type": "image/jpeg"},
    )
    assert put.status_code == 201, put.get_json()
    stored = next(s for s in site.submissions() if s["id"] == rectification_id)
    expected = {
        "submission_id": rectification_id,
        "form": "hazard_rectification",
        "form_version": 1,
        "collected_at": stored["collected_at"],
        "district": "330784",
        "collector": {"id": "yk-phone-1", "role": "inspector"},
        "data": {
            "inspection_id": inspection_body["submission_id"],
            "item_code": "ELEC-01",
            "rectified_on": today().isoformat(),
            "verified_by": {"id": "score-coach-031", "role": "trainer"},
            "note": note,
            "photos": [on_phone["id"]],
        },
    }
    assert api.post(expected, api_token).status_code == 201
    stored_equal(site, api, rectification_id)
    # the rectified hazard leaves the open list
    page.goto(f"{site.url}/app/#hazards")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("DUST-01")


UNNAMED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !(el.tagName === "BUTTON" && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 120))"""


def test_the_forms_are_labelled_and_work_from_the_keyboard(phone: Any, field_site: Any) -> None:
    site = field_site("app")
    page = phone(locale="en-US").new_page()
    enroll(page, site, site.device())
    # keyboard only: Tab to the first menu entry, Enter opens a new inspection
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('href')") == "#new/factory_inspection":
            break
    page.keyboard.press("Enter")
    expect(page.locator(".checklist")).to_be_visible()
    assert page.evaluate(UNNAMED_CONTROLS) == []  # every control has a label (or its own visible text)
    item = page.locator('fieldset.item[data-code="MACH-01"]')
    item.locator('input[value="pass"]').focus()
    page.keyboard.press("ArrowRight")  # radios move with the arrow keys: pass -> fail opens the hazard
    expect(item.locator('input[value="fail"]')).to_be_checked()
    expect(field(page, "data.items{MACH-01}.hazard.severity")).to_be_visible()
    # client-side checks in the server's words, before anything is sent: the credit code's check character
    field(page, "data.enterprise.credit_code").locator("input").fill(ENTERPRISE["credit_code"][:17] + "0")
    page.locator("button.send").click()
    expected = f"check character should be {ENTERPRISE['credit_code'][17]}, got 0"
    expect(field(page, "data.enterprise.credit_code").locator(".error")).to_contain_text(expected)
    expect(field(page, "data.items{MACH-01}.hazard.severity").locator(".error")).to_have_text("is required")
    shot(page, "app-client-checks-en")
    assert site.submissions() == []
    survey = phone().new_page()
    survey.goto(f"{site.url}/survey#st={site.link()}")
    expect(field(survey, "data.enterprise_credit_code")).to_be_visible()
    assert survey.evaluate(UNNAMED_CONTROLS) == []
