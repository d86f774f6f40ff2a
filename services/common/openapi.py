"""Pieces both OpenAPI documents (intake and reports) share: the error body every 4xx and 5xx carries."""

from __future__ import annotations

from typing import Any

#: ``{"error": {"code", "message", "errors": [{"path", "code", "message"}]}}``: ``message`` is one string in the
#: language asked for (zh-CN by default, en by ``Accept-Language``; the reports' own 400s are in English).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "zh-CN or en, by Accept-Language"},
                "errors": {
                    "type": "array",
                    "description": "one per problem found, each at its path in the request",
                    "items": {
                        "type": "object",
                        "required": ["path", "code", "message"],
                        "properties": {
                            "path": {"type": "string", "examples": ["data.items[3].hazard.severity"]},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}

#: the credential every protected operation takes (services/access): an OAuth 2 bearer token (RFC 6750)
BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "A token from `score tokens create` (or a public survey link's, which may also be sent as "
    "`?st=` on POST /api/v1/submissions), sent as `Authorization: Bearer <token>`. 401 without one or with an "
    "unknown, expired or revoked one; 403 outside its roles or districts.",
}

_REFUSALS = {
    401: "No credential, or one that is unknown, expired or revoked (`WWW-Authenticate: Bearer`)",
    403: "The credential's roles or districts do not allow this",
    429: "Over a rate limit (per credential and per client address); retry after `Retry-After` seconds",
}
_REFUSAL_HEADERS = {
    401: {
        "WWW-Authenticate": {"description": "the Bearer challenge (RFC 6750)", "schema": {"type": "string"}}
    },
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
}


def refusals(*codes: int, described: dict[int, str] | None = None) -> dict[str, Any]:
    """The access refusals (401, 403, 429) as OpenAPI responses in the shared error shape."""
    out: dict[str, Any] = {}
    for code in codes:
        response: dict[str, Any] = {
            "description": (described or {}).get(code, _REFUSALS[code]),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if code in _REFUSAL_HEADERS:
            response["headers"] = _REFUSAL_HEADERS[code]
        out[str(code)] = response
    return out
