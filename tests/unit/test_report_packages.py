"""A report package's bytes: the same figures make the same files (only the manifest's time differs), and a
package checks itself."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openpyxl import load_workbook

from services.aggregator.domain.kpis import derive
from services.aggregator.domain.periods import period_of
from services.aggregator.service_layer import packages

PERIOD = period_of("quarter", date(2026, 8, 1))
REPO = Path(__file__).resolve().parents[2]


def _figures(inspections: int = 3) -> packages.Figures:
    report = {
        "district": {"code": "330784", "name_zh": "永康市", "name_en": "Yongkang", "level": "county"},
        "covers": ["330784"],
        "period": PERIOD.as_dict(),
        "industry": None,
        "as_of": PERIOD.end.isoformat(),
        "figures": derive({"inspections": inspections, "hazards_found": 2}, {}, {"rectified": 1}),
    }
    return packages.Figures(
        report, {"source": "sql:outbox", "partitions": {"0": 41}}, packages.content_sha256(report)
    )


def test_the_same_figures_make_the_same_files_whenever_they_are_packaged() -> None:
    a = packages.unpack(packages.build(_figures(), 1, datetime(2026, 10, 2, tzinfo=UTC)))
    b = packages.unpack(packages.build(_figures(), 1, datetime(2026, 11, 9, tzinfo=UTC)))
    assert a[1]["report.xlsx"] == b[1]["report.xlsx"] and a[1]["report.json"] == b[1]["report.json"]
    assert {k: v for k, v in a[0].items() if k != "generated_at"} == {
        k: v for k, v in b[0].items() if k != "generated_at"
    }
    other = packages.unpack(packages.build(_figures(inspections=4), 1, datetime(2026, 10, 2, tzinfo=UTC)))
    assert other[0]["content_sha256"] != a[0]["content_sha256"]
    assert other[0]["idempotency_key"] != a[0]["idempotency_key"]


def test_a_package_is_labelled_in_both_languages_and_lists_every_files_checksum() -> None:
    manifest, files = packages.unpack(packages.build(_figures(), 2, datetime(2026, 10, 2, tzinfo=UTC), 1))
    assert manifest["title_zh"] == "永康市 2026-Q3 安全生产季报"
    assert manifest["title_en"] == "Yongkang quarterly work-safety report 2026-Q3"
    assert (manifest["version"], manifest["supersedes_version"]) == (2, 1)
    assert manifest["figures_as_of"] == "2026-09-30"
    assert {f["name"] for f in manifest["files"]} == {"report.json", "report.xlsx"}
    for f in manifest["files"]:
        assert hashlib.sha256(files[f["name"]]).hexdigest() == f["sha256"]
    sums = {
        name: digest
        for digest, name in (line.split("  ") for line in files["SHA256SUMS"].decode().splitlines())
    }
    assert set(sums) == {"report.json", "report.xlsx", "manifest.json"}
    assert all(hashlib.sha256(files[n]).hexdigest() == d for n, d in sums.items())
    rows = json.loads(files["report.json"])["rows"]
    assert {
        "metric": "hazards.rectification_rate",
        "label_zh": "整改率",
        "label_en": "Rectification rate",
    }.items() <= next(r for r in rows if r["metric"] == "hazards.rectification_rate").items()
    book = load_workbook(io.BytesIO(files["report.xlsx"]))
    assert book.properties.created == datetime(
        2026, 9, 30, 16, 0
    )  # the period's end, China's midnight, in UTC
    sheet = book.active
    assert sheet is not None and sheet["G2"].value == "检查次数" and sheet["H2"].value == "Inspections"


def test_a_damaged_package_is_refused() -> None:
    body = json.loads(packages.build(_figures(), 1, datetime(2026, 10, 2, tzinfo=UTC)))
    body["files"]["report.json"]["base64"] = body["files"]["report.xlsx"]["base64"]
    with pytest.raises(ValueError, match="report.json: checksum mismatch"):
        packages.unpack(json.dumps(body).encode())


def test_a_package_document_follows_its_published_schema() -> None:
    schema = json.loads((REPO / "schemas" / "packages" / "report-package.v1.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    body = json.loads(packages.build(_figures(), 1, datetime(2026, 10, 2, tzinfo=UTC)))
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
    manifest, files = packages.unpack(json.dumps(body).encode())
    assert json.loads(files["manifest.json"]) == manifest
    Draft202012Validator(schema["$defs"]["manifest"] | {"$defs": schema["$defs"]}).validate(manifest)
