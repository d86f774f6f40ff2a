"""The access module in a Flask app: authentication, coarse permissions, abuse limits, security headers.

Each service calls :func:`init_app` with its policy: which endpoints are public and which permission every
other endpoint needs.  An endpoint in neither set is refused to everyone (nothing is open by default).
Finer checks (a district, a form) happen in the views with :func:`principal` and :func:`denied`.

Credentials, in the order they are looked for:

- ``Authorization: Bearer <token>`` (RFC 6750), every endpoint;
- ``?st=<token>`` on the query string, public survey links only (as ODK Central's public links): the link
  is what a worker's phone opens, so the token is in the URL by design; a staff token there is refused;
- the dashboard's session cookie (signed, HttpOnly, SameSite=Strict), for GET requests of the reports app
  only: a browser cannot send a bearer header when it loads a page, so ``/signin`` exchanges a token for it.

Refusals are in the API's error shape (``{"error": {"code", "message"}}``), Chinese by default and English
when ``Accept-Language`` prefers it: 401 without a credential or with an unknown, expired or revoked one
(with ``WWW-Authenticate: Bearer``), 403 outside the credential's roles or districts, 429 over a rate limit
(with ``Retry-After``).  CORS: none; no ``Access-Control-*`` header is ever sent, so browsers allow only
same-origin scripts to read the APIs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from markupsafe import escape
from sqlalchemy import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from services.access.model import Denied, Principal
from services.access.store import AccessStore, digest
from services.common.config import Settings
from services.common.webapp import lang

EXTENSION = "score.access"


def store() -> AccessStore:
    access: AccessStore = current_app.extensions[EXTENSION]
    return access


def principal() -> Principal:
    """The authenticated caller of a protected endpoint (the before-request hook guarantees one)."""
    who: Principal | None = g.get("principal")
    if who is None:
        raise RuntimeError("principal() on an endpoint that is not protected")
    return who


def error(
    status: int, code: str, message: dict[str, str], errors: list[dict[str, str]] | None = None
) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message.get(lang()) or message["en"]}}
    if errors is not None:
        body["error"]["errors"] = errors
    resp = jsonify(body)
    resp.status_code = status
    return resp


def denied(exc: Denied) -> Response:
    """403 for a request outside the credential's scope."""
    errors = (
        [{"path": exc.path, "code": exc.code, "message": exc.message.get(lang(), "")}] if exc.path else None
    )
    return error(403, exc.code, exc.message, errors)


def out_of_scope(what: str, code: str) -> Denied:
    return Denied(
        "out_of_scope",
        {
            "en": f"this credential may not {what} for district {code}",
            "zh": f"此凭证无权对行政区划 {code} 执行该操作",
        },
    )


def audit(
    action: str, target: str | None = None, district: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """One audit entry for what the current caller just did."""
    store().record(
        principal(),
        action,
        target=target,
        district=district,
        detail=detail,
        address=request.remote_addr,
        request_id=g.get("request_id"),
    )


def audit_many(entries: list[tuple[str, str | None, str | None, dict[str, Any] | None]]) -> None:
    """Audit entries (action, target, district, detail) for what the current caller just did, written in one
    statement (a batch's items, each audited on its own)."""
    store().record_many(audit_rows(entries))


def audit_rows(
    entries: list[tuple[str, str | None, str | None, dict[str, Any] | None]],
) -> list[dict[str, Any]]:
    """The audit_log rows of :func:`audit_many`, for a writer that stores them with the change they record
    (same database only: :func:`shares_database`)."""
    return store().audit_rows(
        principal(), entries, address=request.remote_addr, request_id=g.get("request_id")
    )


def shares_database(engine: Engine) -> bool:
    """Whether the audit log lives behind ``engine`` (the intake's, when both share one PostgreSQL)."""
    return store().engine is engine


def csp_allow_data_images() -> None:
    """Let this response's page show ``data:`` images (``img-src 'self' data:``): Swagger UI's style sheet
    draws its icons so.  An image cannot run script; everything else of the policy stays as it is."""
    csp_allow("img-src", "data:")


def csp_nonce() -> str:
    """The nonce this response's Content-Security-Policy allows inline scripts and styles with."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def csp_allow(directive: str, *sources: str) -> None:
    """Widen this response's Content-Security-Policy by ``sources`` for one ``directive`` (e.g. the field
    app's pages: ``worker-src 'self'`` for its service worker, ``img-src blob:`` for photo previews).

    The base policy stays ``default-src 'none'`` with nonce'd scripts and styles; a page names only what it
    needs, and only for itself.
    """
    extra: dict[str, list[str]] = g.setdefault("csp_extra", {})
    extra.setdefault(directive, []).extend(sources)


#: the policy every response carries, directive -> sources ("{nonce}" is this response's nonce)
_CSP = {
    "default-src": ["'none'"],
    "script-src": ["'nonce-{nonce}'"],
    "style-src": ["'nonce-{nonce}'"],
    "connect-src": ["'self'"],
    "img-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
}


def _policy(nonce: str) -> str:
    directives = {k: list(v) for k, v in _CSP.items()}
    for directive, sources in g.get("csp_extra", {}).items():
        directives.setdefault(directive, []).extend(s for s in sources if s not in directives[directive])
    return "; ".join(f"{k} {' '.join(v)}".replace("{nonce}", nonce) for k, v in directives.items())


_MISSING = {
    "en": "sign in: send Authorization: Bearer <token>",
    "zh": "请先登录：请求需携带 Authorization: Bearer <令牌>",
}
_BAD = {
    "unknown": {"en": "the credential is not valid", "zh": "凭证无效"},
    "expired": {"en": "the credential has expired", "zh": "凭证已过期"},
    "revoked": {"en": "the credential was revoked", "zh": "凭证已被吊销"},
    "link_only": {
        "en": "only a public survey link may be sent as ?st=; send other tokens as Authorization: Bearer",
        "zh": "只有问卷公开链接可以通过 ?st= 传递；其他令牌请使用 Authorization: Bearer",
    },
}
_NO_PERMISSION = {"en": "this credential may not do this", "zh": "此凭证无权执行该操作"}


def _presented() -> tuple[str | None, str]:
    """(token, where): the token the request carries, "" for a malformed Authorization, None for none."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        return (value.strip() if scheme.lower() == "bearer" else ""), "header"
    link = request.args.get("st")
    if link is not None:
        return link, "link"
    return None, ""


def _unauthenticated(reason: str | None, html: bool) -> Response:
    if html:
        resp = Response(signin_page(reason), status=401, mimetype="text/html")
    elif reason is None:
        resp = error(401, "unauthenticated", _MISSING)
    else:
        resp = error(401, "invalid_token", _BAD[reason])
    # RFC 6750 section 3: the challenge, and why a presented token failed
    resp.headers["WWW-Authenticate"] = (
        'Bearer realm="score"' if reason is None else 'Bearer realm="score", error="invalid_token"'
    )
    return resp


def _forbidden(html: bool, message: dict[str, str] = _NO_PERMISSION) -> Response:
    if html:
        return Response(_page("403", f"<p>{escape(message['zh'])} / {escape(message['en'])}</p>"), 403)
    return error(403, "forbidden", message)


def init_app(
    app: Flask,
    access: AccessStore,
    settings: Settings,
    *,
    public: Iterable[str],
    permissions: dict[str, str],
    html: Iterable[str] = (),
    sessions: bool = False,
) -> Limiter:
    """Protect every endpoint of ``app``: ``public`` endpoints need nothing, the others their permission."""
    public, html = frozenset(public), frozenset(html)
    app.extensions[EXTENSION] = access
    if settings.proxies:
        # behind a reverse proxy the peer is the proxy: take the client from the proxies' X-Forwarded-For
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies)  # type: ignore[method-assign]
    if sessions:
        app.config.update(
            SESSION_COOKIE_NAME="score_session",
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Strict",  # never sent with a cross-site request: no CSRF on the reports
            SESSION_COOKIE_SECURE=settings.secure_cookies,
            PERMANENT_SESSION_LIFETIME=timedelta(hours=8),  # a working day
        )
        app.session_interface = _StoreKeyedSessions(access)

    @app.before_request
    def _authenticate() -> Response | None:
        g.principal = None
        if request.url_rule is None:
            return None  # 404 and 405 come next, in the app's own shape; nothing is served there
        endpoint = request.endpoint or ""
        if endpoint in public:
            return None
        is_html = endpoint in html
        token, where = _presented()
        who: Principal | None = None
        if token is not None:
            who, reason = access.authenticate(token) if token else (None, "unknown")
            if who is not None and where == "link" and who.kind != "link":
                who, reason = None, "link_only"
            if who is None:
                return _unauthenticated(reason, is_html)
        elif sessions and request.method in ("GET", "HEAD") and session.get("tid"):
            who, reason = access.principal(str(session["tid"]))
            if who is None:
                session.clear()
                return _unauthenticated(reason, is_html)
        if who is None:
            return _unauthenticated(None, is_html)
        g.principal = who
        needed = permissions.get(endpoint)
        if needed is None or not who.can(needed):
            return _forbidden(is_html)
        return None

    @app.after_request
    def _security_headers(response: Response) -> Response:
        nonce = csp_nonce()
        response.headers["Content-Security-Policy"] = _policy(nonce)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors for browsers without CSP 2
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if g.get("principal") is not None:
            response.headers["Cache-Control"] = "no-store"  # what one credential may read stays out of caches
        if settings.secure_cookies:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    limiter = _limiter(app, settings)
    if sessions:
        app.register_blueprint(_signin_blueprint(access, settings, limiter))
    return limiter


class _StoreKeyedSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, signed with the key the access migration made in the database, so every
    process and worker shares it and no key sits in a configuration file."""

    def __init__(self, access: AccessStore) -> None:
        self.access = access

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            try:
                app.secret_key = self.access.session_secret()
            except Exception:  # noqa: BLE001 - no key readable now: no session (a null one), the rest works
                return None
        return super().get_signing_serializer(app)


def _credential_key() -> str:
    """Rate-limit key per credential: the presented token's hash, the session's credential, else the address."""
    token, _ = _presented()
    if token:
        return "token:" + digest(token)[:32]
    tid = session.get("tid")
    return f"session:{tid}" if tid else "address:" + get_remote_address()


def _limiter(app: Flask, settings: Settings) -> Limiter:
    def probe() -> bool:
        return request.endpoint == "healthz"  # load balancers' probes are not abuse

    limits = []
    if settings.rate_limit_credential:
        limits.append(
            ApplicationLimit(
                settings.rate_limit_credential,
                key_function=_credential_key,
                scope="credential",
                exempt_when=probe,
            )
        )
    if settings.rate_limit_address:
        limits.append(
            ApplicationLimit(
                settings.rate_limit_address,
                key_function=get_remote_address,
                scope="address",
                exempt_when=probe,
            )
        )
    limiter = Limiter(
        get_remote_address,
        app=app,
        application_limits=limits,  # type: ignore[arg-type]
        storage_uri="memory://",  # per process: N gunicorn workers allow N times the limit (stated in docs)
        headers_enabled=True,  # X-RateLimit-* and, on 429, Retry-After
    )

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Response:
        return error(
            429,
            "too_many_requests",
            {
                "en": f"too many requests ({exc.description}); retry after the time in Retry-After",
                "zh": f"请求过于频繁（{exc.description}），请在 Retry-After 所示秒数后重试",
            },
        )

    return limiter


# -- the dashboard's sign-in ---------------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    nonce = csp_nonce()
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f'<title>SCORE · {escape(title)}</title><style nonce="{nonce}">'
        'body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:1.5rem;color:#222;max-width:40rem}'
        "input{width:100%;font-family:monospace;padding:.4rem}.err{color:#b00}.muted{color:#777}</style>"
        f"</head><body>{body}</body></html>"
    )


def signin_page(reason: str | None = None) -> str:
    problem = _BAD.get(reason or "", None)
    err = f'<p class="err">{escape(problem["zh"])} / {escape(problem["en"])}</p>' if problem else ""
    return _page(
        "登录 Sign in",
        '<h1>SCORE 安全生产报表 <span class="muted">/ sign in</span></h1>'
        f'{err}<form method="post" action="/signin"><p><label>API 令牌 / API token<br>'
        '<input name="token" type="password" autocomplete="off" required></label></p>'
        "<p><button>登录 Sign in</button></p></form>"
        '<p class="muted">令牌由管理员用 <code>score tokens create</code> 签发 / tokens are issued by an '
        "administrator with <code>score tokens create</code>.</p>",
    )


def _same_origin() -> bool:
    """A form post from a page of another site is refused (the browser names the page's origin)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == request.host_url.rstrip("/"):
        return True
    # Our pages are served with Referrer-Policy: no-referrer, so a browser posts their forms with "Origin:
    # null"; its Sec-Fetch-Site (a header no script can set) still tells this site's own pages apart
    return origin == "null" and request.headers.get("Sec-Fetch-Site") == "same-origin"


def _signin_blueprint(access: AccessStore, settings: Settings, limiter: Limiter) -> Blueprint:
    bp = Blueprint("signin", __name__)

    @bp.get("/signin")
    def signin_form() -> Any:
        return Response(signin_page(), mimetype="text/html")

    def signin() -> Any:
        if not _same_origin():
            return _forbidden(True, {"en": "sign in from this site's own page", "zh": "请从本站页面登录"})
        who, reason = access.authenticate(request.form.get("token", "").strip())
        if who is not None and who.kind != "api":
            who, reason = None, "unknown"  # device tokens and survey links are not for people at a screen
        if who is None:
            return Response(signin_page(reason), status=401, mimetype="text/html")
        session.clear()
        session["tid"] = who.token_id
        session["at"] = datetime.now().isoformat(timespec="seconds")
        session.permanent = True
        g.principal = who
        audit("session.login", target=who.token_id)
        return redirect("/", code=303)

    bp.add_url_rule(
        "/signin",
        "signin",
        limiter.limit(settings.rate_limit_signin, key_func=get_remote_address)(signin)
        if settings.rate_limit_signin
        else signin,
        methods=["POST"],
    )

    @bp.post("/signout")
    def signout() -> Any:
        if not _same_origin():
            return _forbidden(True, {"en": "sign out from this site's own page", "zh": "请从本站页面退出"})
        session.clear()
        return redirect("/signin", code=303)

    return bp


def audit_blueprint() -> Blueprint:
    """``GET /api/v1/audit`` (permission ``audit``): the audit log, newest first, filtered."""
    bp = Blueprint("audit", __name__, url_prefix="/api/v1")

    @bp.get("/audit")
    def audit_entries() -> Any:
        def when(name: str) -> datetime | None:
            raw = request.args.get(name)
            if raw is None:
                return None  # present but empty is refused like any other value that is not an instant
            try:
                value = datetime.fromisoformat(raw)
            except ValueError:
                value = None
            if value is None or value.tzinfo is None:
                raise _BadQuery(name, "an ISO 8601 instant with its offset, e.g. 2026-11-29T08:00:00+08:00")
            return value

        def number(name: str, default: int | None, low: int, high: int) -> int | None:
            raw = request.args.get(name)
            if raw is None:
                return default
            if not raw.isdigit() or not low <= int(raw) <= high:
                raise _BadQuery(name, f"a whole number from {low} to {high}")
            return int(raw)

        try:
            entries = store().audit(
                actor=request.args.get("actor") or None,
                action=request.args.get("action") or None,
                since=when("since"),
                until=when("until"),
                limit=number("limit", 100, 1, 1000) or 100,
                before_id=number("before_id", None, 1, 2**62),
            )
        except _BadQuery as exc:
            msg = {"en": f"{exc.path} must be {exc.expected}", "zh": f"{exc.path} 应为 {exc.expected}"}
            return error(
                400, "invalid_query", msg, [{"path": exc.path, "code": "invalid", "message": msg["en"]}]
            )
        return jsonify({"entries": entries})

    return bp


class _BadQuery(Exception):
    def __init__(self, path: str, expected: str) -> None:
        super().__init__(path)
        self.path = path
        self.expected = expected
