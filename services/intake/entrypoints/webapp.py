"""The field forms in the browser: the inspector app (``/app/``) and the public worker survey (``/survey``).

The pages are shells; the forms themselves are drawn in the browser from the published contracts
(``schemas/forms/*.schema.json``) and a layout per form (``schemas/layouts/*.layout.json``), which this
blueprint serves as they are, so a new form version is a contract and a layout, not new code here.  The
scripts are bundled by ``make web`` into ``static/build/`` (services/intake/web/ is their source).

What the browser may read without a credential: the shells, the service worker, the contracts, layouts and
code tables (they are public documents already).  What needs the device's token: ``/app/me`` (which
districts it may file under) and ``/app/records`` (the state of the records this account sent).

Every page carries the access module's strict Content-Security-Policy (nonce'd script and style, nothing
from another origin); the app's pages add only ``worker-src 'self'`` (its service worker), ``img-src blob:``
(previews of photos still on the phone) and ``manifest-src 'self'``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, send_file

from services.access import web as access_web
from services.common.codes import districts, industries
from services.intake.bootstrap import Intake
from services.intake.entrypoints.review_request import SUBMISSION_ID
from services.intake.forms import registry
from services.intake.forms.dataschema import TODAY_IN_CHINA
from services.intake.forms.errors import MESSAGES
from services.intake.forms.jsonschema_export import REPO_ROOT

webapp = Blueprint("webapp", __name__)

SCHEMAS = REPO_ROOT / "schemas"
STATIC_BUILD = Path(__file__).parent / "static" / "build"

#: endpoints anyone may load (the shells, their worker, public documents)
PUBLIC = frozenset(
    {
        "static",
        "webapp.app_shell",
        "webapp.service_worker",
        "webapp.manifest",
        "webapp.icon",
        "webapp.form_file",
        "webapp.codes",
        "webapp.messages",
        "webapp.survey_page",
    }
)
#: endpoints for a credential that may submit (a device token, or a survey link for ``/app/me``)
PERMISSIONS = {"webapp.me": "submit", "webapp.records": "submit"}

#: most ids one ``/app/records`` call answers (a device's outbox is flushed in batches of this size anyway)
MAX_RECORD_IDS = 100


@webapp.before_request
def _page_policy() -> None:
    # The only widening of the policy the pages need; everything else stays 'none' or nonce'd.
    if request.endpoint in ("webapp.app_shell", "webapp.survey_page"):
        access_web.csp_allow("worker-src", "'self'")
        access_web.csp_allow("img-src", "blob:")
        access_web.csp_allow("manifest-src", "'self'")


def _page(template: str, **context: Any) -> Response:
    html = render_template(template, nonce=access_web.csp_nonce(), **context)
    resp = Response(html, mimetype="text/html")
    # The shell is precached by the service worker, which checks for a new one on each visit.
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@webapp.get("/app/")
def app_shell() -> Response:
    """The inspector app: sign in with the device token, inspections, rectifications, the device's records."""
    return _page("app.html")


@webapp.get("/survey")
def survey_page() -> Response:
    """The worker survey behind a public link (``/survey#st=<token>``): no login, nothing kept about the worker."""
    return _page("survey.html")


@webapp.get("/app/sw.js")
def service_worker() -> Response:
    """The service worker, served from ``/app/`` so its scope is the app (not the API or the survey)."""
    path = STATIC_BUILD / "sw.js"
    if not path.is_file():
        abort(404)  # `make web` has not run
    resp = send_file(path, mimetype="text/javascript", max_age=0)
    resp.headers["Cache-Control"] = "no-cache"  # browsers check for a new worker on every navigation
    return resp


#: the app's icon: a shield with a check mark, drawn here so no image file or font is fetched from elsewhere
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" '
    'fill="#0b5394"/><path d="M32 10l18 7v13c0 12-8 21-18 24-10-3-18-12-18-24V17z" fill="#fff"/>'
    '<path d="M23 32l7 7 12-14" stroke="#0b5394" stroke-width="5" fill="none" stroke-linecap="round"/></svg>'
)


@webapp.get("/app/icon.svg")
def icon() -> Response:
    resp = Response(ICON, mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "max-age=86400"
    return resp


@webapp.get("/app/manifest.webmanifest")
def manifest() -> Response:
    """Lets a phone add the app to its home screen (it opens full screen at /app/)."""
    body = {
        "name": "SCORE 安全检查 / SCORE inspections",
        "short_name": "SCORE",
        "start_url": "/app/",
        "scope": "/app/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5394",
        "lang": "zh-CN",
        "icons": [{"src": "/app/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }
    resp = jsonify(body)
    resp.mimetype = "application/manifest+json"
    return resp


_FORM_FILE = re.compile(r"(?P<form>[a-z_]{1,40})\.v(?P<version>[0-9]{1,3})\.(?P<kind>schema|layout)\.json")


@webapp.get("/app/forms/<name>")
def form_file(name: str) -> Response:
    """A published contract (``<form>.v<n>.schema.json``) or its layout (``<form>.v<n>.layout.json``).

    Only the versions the intake accepts (``GET /api/v1/forms``) are served: the device draws exactly
    what the server will judge.
    """
    match = _FORM_FILE.fullmatch(name)
    if match is None:
        abort(404)
    form, version, kind = match["form"], int(match["version"]), match["kind"]
    if version not in registry.FORMS.get(form, {}):
        abort(404)
    folder = SCHEMAS / ("forms" if kind == "schema" else "layouts")
    path = folder / name
    if not path.is_file():
        abort(404)
    resp = send_file(path, mimetype="application/json", max_age=0)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@webapp.get("/app/codes.json")
def codes() -> Any:
    """The code tables the forms offer (active GB/T 2260 districts, GB/T 4754 industries), in both languages."""
    return {
        "districts": [
            {"code": d.code, "zh": d.name_zh, "en": d.name_en, "parent": d.parent, "level": d.level}
            for d in districts().values()
            if d.active
        ],
        "industries": [{"code": i.code, "zh": i.name_zh, "en": i.name_en} for i in industries().values()],
    }


@webapp.get("/app/messages.json")
def messages() -> Any:
    """The server's error wording (code -> English, Chinese templates): the checks the browser makes itself
    read exactly as the server's refusals would."""
    return {
        "messages": {code: {"en": en, "zh": zh} for code, (en, zh) in MESSAGES.items()},
        "today_in_china": {"en": TODAY_IN_CHINA.en, "zh": TODAY_IN_CHINA.zh},
    }


@webapp.get("/app/me")
def me() -> Any:
    """Who this token is and where it may file records: the districts a form offers, nothing more."""
    who = access_web.principal()
    where = [
        d.code
        for d in districts().values()
        if d.active and d.level != "province" and who.covers(d.code, "submit")
    ]
    return {"account": who.name, "kind": who.kind, "districts": where}


@webapp.get("/app/records")
def records() -> Any:
    """The stored state of records this account sent (``?ids=a,b,...``): newest version, review status.

    A device shows its own records' review status; it may not read other records (a collector has no
    ``read_submission``), so an id it did not send, or that is not stored, is answered ``found: false``
    whatever it names.  Worker surveys: only their state, never their answers.
    """
    who = access_web.principal()
    ids = [i.strip().lower() for i in request.args.get("ids", "").split(",") if i.strip()]
    if len(ids) > MAX_RECORD_IDS or not all(SUBMISSION_ID.fullmatch(i) for i in ids):
        return access_web.error(
            400,
            "invalid_query",
            {
                "en": f"ids: at most {MAX_RECORD_IDS} submission ids (UUIDs), comma-separated",
                "zh": f"ids：最多 {MAX_RECORD_IDS} 个提交编号（UUID），以逗号分隔",
            },
            [{"path": "ids", "code": "invalid", "message": "comma-separated UUIDs"}],
        )
    intake: Intake = current_app.extensions["score.intake"]
    answers = []
    uow = intake.uow()
    with uow:
        for sid in ids:
            sub = uow.submissions.get(sid)
            if sub is None or sub.collector.get("id") != who.name:
                answers.append({"submission_id": sid, "found": False})
                continue
            answers.append(
                {
                    "submission_id": sid,
                    "found": True,
                    "form": sub.form,
                    "received_at": sub.received_at,
                    "current": sub.superseded_by is None,
                    "superseded_by": sub.superseded_by,
                    "review": {
                        "status": sub.review_status,
                        "comment": sub.review_comment,
                        "reviewed_at": sub.reviewed_at,
                    },
                }
            )
    return {"records": answers}
