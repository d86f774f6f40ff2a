"""The WSGI app the intake benchmark serves with gunicorn: the real intake plus a bare baseline endpoint.

``POST /bare`` parses the JSON body and answers 201 without validation or storage: the cost of Flask,
gunicorn, HTTP and authentication (the same bearer check as the real endpoint) on this machine, measured in
the same server process as the real endpoint.
"""

from __future__ import annotations

from typing import Any

from flask import request

from services.common.config import from_env
from services.intake.entrypoints.app import PERMISSIONS, create_app

PERMISSIONS["bare"] = "submit"  # checked like the real endpoint, so the baseline includes authentication
app = create_app(from_env())


@app.post("/bare")
def bare() -> Any:
    body = request.get_json()
    return {"submission_id": body.get("submission_id")}, 201
