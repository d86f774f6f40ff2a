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


def test_the_valid_examples_are_named_request_examples_of_the_submission_operations(
    client: FlaskClient,
) -> None:
    import json
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[2] / "schemas" / "examples"
    valid = sorted(corpus.glob("*/valid/*.json"))
    spec = client.get("/api/v1/openapi.json").get_json()
    single = spec["paths"]["/api/v1/submissions"]["post"]["requestBody"]["content"]["application/json"]
    assert set(single["examples"]) == {f"{p.parts[-3]}.{p.stem}" for p in valid}
    for path in valid:
        assert single["examples"][f"{path.parts[-3]}.{path.stem}"]["value"] == json.loads(
            path.read_text("utf-8")
        )
    batch = spec["paths"]["/api/v1/submissions/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert len(batch["examples"]["the_corpus"]["value"]["submissions"]) == len(valid)
    assert not any("/invalid/" in str(e) for e in single["examples"])


def test_the_front_door_and_the_docs_page_are_served_under_the_csp(client: FlaskClient) -> None:
    for url, must in (
        ("/", [b'href="/app/"', b'href="/api/v1/docs"', b"/survey#st="]),
        ("/api/v1/docs", [b"swagger-ui"]),
    ):
        page = client.get(url, headers={"Authorization": ""})  # no credential needed
        assert page.status_code == 200 and page.mimetype == "text/html"
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp
        nonce = csp.split("'nonce-", 1)[1].split("'", 1)[0]
        text = page.get_data()
        for needle in must:
            assert needle in text, (url, needle)
        # every script and style the page has carries this response's nonce: none is inline without it
        assert text.count(b"<script") == text.count(f'<script nonce="{nonce}"'.encode()) + text.count(
            f'<script type="module" nonce="{nonce}"'.encode()
        )
        assert text.count(b"<style") == text.count(f'<style nonce="{nonce}"'.encode())
        # nothing from another host: every script and style sheet is the service's own
        assert all(src.startswith(b"/") for src in re.findall(rb'(?:src|href)="([^"]*\.(?:js|css))"', text))
