"""Pieces both OpenAPI documents (intake and reports) share: the error body every 4xx and 5xx carries."""

from __future__ import annotations

from typing import Any

#: ``{"error": {"code", "message", "errors": [{"path", "code", "message"}]}}``: ``message`` is one string in the
#: language asked for (the intake: zh-CN by default, en by ``Accept-Language``; the reports: English).
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
