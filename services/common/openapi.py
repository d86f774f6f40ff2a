"""Pieces both OpenAPI documents (intake and reports) share: the document's frame, one operation, the error
body every 4xx and 5xx carries and the access refusals."""

from __future__ import annotations

from typing import Any

from apispec import APISpec

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


def new_spec(title: str, description: str) -> APISpec:
    """An OpenAPI 3.1 document whose operations take the bearer credential unless they say otherwise, with the
    shared error body as ``#/components/schemas/Error``."""
    spec = APISpec(
        title=title,
        version="1.0.0",
        openapi_version="3.1.0",
        info={"description": description},
        security=[{"bearer": []}],
    )
    spec.components.security_scheme("bearer", BEARER_SCHEME)
    spec.components.schema("Error", ERROR_SCHEMA)
    return spec


def operation(
    spec: APISpec,
    method: str,
    path: str,
    summary: str,
    responses: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
    **fields: Any,
) -> None:
    """Describe one operation; ``public``: no credential; ``fields``: its others (description, requestBody)."""
    described: dict[str, Any] = {"summary": summary, **fields}
    if public:
        described["security"] = []
    if parameters is not None:
        described["parameters"] = parameters
    described["responses"] = responses
    spec.path(path=path, operations={method: described})


def listing(description: str, key: str) -> dict[str, Any]:
    """A response whose body is ``{key: [objects]}`` (the code tables, the form list)."""
    schema = {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": {"type": "object"}}},
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}
