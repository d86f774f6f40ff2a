"""The OpenAPI document is served, describes every route and embeds the form contracts."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from services.intake.forms.registry import FORMS


def test_openapi_describes_the_api_and_the_forms(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    documented = set(spec["paths"])
    routes = {
        re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", str(rule))
        for rule in client.application.url_map.iter_rules()
        if str(rule).startswith("/api/v1/") and "openapi" not in str(rule) and not str(rule).endswith("/docs")
    }
    assert routes == documented
    schemas = spec["components"]["schemas"]
    for form, versions in FORMS.items():
        for version in versions:
            assert schemas[f"{form}.v{version}"]["properties"]["form"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"openapi.json" in page.data
