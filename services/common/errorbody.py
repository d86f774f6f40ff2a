"""The error body both APIs answer every 4xx and 5xx with (``ERROR_SCHEMA`` in ``services.common.openapi``):
``{"error": {"code", "message", "errors": [{"path", "code", "message"}]}}``, ``errors`` only when there are
problems at paths to list."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def error_body(code: str, message: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The body alone (a batch embeds one per refused item)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        error["errors"] = errors
    return {"error": error}


def error_response(
    status: int, code: str, message: str, errors: list[dict[str, str]] | None = None
) -> Response:
    resp = jsonify(error_body(code, message, errors))
    resp.status_code = status
    return resp
