"""OpenAPI 3.1 description of the report API (``/api/v1/openapi.json`` on the reports app).

The enums come from the same tables the API checks against (periods, GB/T 2260 districts, GB/T 4754
industries), so the document cannot promise a value the API refuses or refuse one it takes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, jsonify

from services.aggregator.domain.periods import PERIODS
from services.common.codes import districts, industries
from services.common.openapi import listing, new_spec, operation, refusals

docs = Blueprint("reports_docs", __name__, url_prefix="/api/v1")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_RATE = {"type": ["number", "null"], "description": "a fraction from 0 to 1; null when nothing to divide by"}
_COUNT = {"type": "integer", "minimum": 0}

_DAY = {"anyOf": [{"type": "string", "format": "date"}, {"const": ""}]}

REPORT: dict[str, Any] = {
    "type": "object",
    "required": ["district", "period", "industry", "as_of", "covers", "figures"],
    "properties": {
        "district": {
            "type": "object",
            "required": ["code", "level", "name_zh", "name_en"],
            "properties": {
                "code": {"type": "string"},
                "level": {"enum": ["province", "prefecture", "county"]},
                "name_zh": {"type": "string"},
                "name_en": {"type": "string"},
            },
        },
        "period": {
            "type": "object",
            "required": ["kind", "key", "start", "end"],
            "properties": {
                "kind": {"enum": list(PERIODS)},
                "key": {"type": "string", "examples": ["2026-Q4", "2026-W48"]},
                "start": {"type": "string", "format": "date"},
                "end": {"type": "string", "format": "date"},
            },
        },
        "industry": {"type": ["string", "null"]},
        "as_of": {"type": "string", "format": "date"},
        "covers": {"type": "array", "items": {"type": "string"}},
        "figures": {
            "type": "object",
            "required": [
                "inspections",
                "enterprises_inspected",
                "items_checked",
                "items_failed",
                "compliance_rate",
                "mean_inspection_score",
                "module_coverage",
                "hazards",
                "worker_survey",
            ],
            "properties": {
                "inspections": _COUNT,
                "enterprises_inspected": _COUNT,
                "items_checked": _COUNT,
                "items_failed": _COUNT,
                "compliance_rate": _RATE,
                "mean_inspection_score": {"type": ["number", "null"]},
                "module_coverage": {"type": "object", "additionalProperties": _COUNT},
                "hazards": {
                    "type": "object",
                    "required": ["found", "rectified", "rectification_rate", "open", "overdue"],
                    "properties": {
                        "found": _COUNT,
                        "found_general": _COUNT,
                        "found_major": _COUNT,
                        "found_by_category": {"type": "object", "additionalProperties": _COUNT},
                        "rectified": _COUNT,
                        "rectified_on_time": _COUNT,
                        "rectification_rate": _RATE,
                        "open": {"type": "integer"},
                        "overdue": _COUNT,
                    },
                },
                "worker_survey": {
                    "type": "object",
                    "description": "derived from district x calendar-month cells of 5 respondents or more only "
                    "(smaller cells enter no figure); with no such cell, or for a day or week, `responses` "
                    'reads "suppressed"',
                    "required": ["responses", "suppressed"],
                    "properties": {
                        "responses": {"oneOf": [_COUNT, {"const": "suppressed"}]},
                        "suppressed": {"type": "boolean"},
                    },
                },
            },
        },
    },
}


_BREAKDOWN = {"type": "array", "items": {"$ref": "#/components/schemas/Report"}}

DASHBOARD: dict[str, Any] = {
    "type": "object",
    "description": "Everything the dashboard draws for one division: every figure is a district report's",
    "required": [
        "district",
        "breadcrumb",
        "period",
        "industry",
        "as_of",
        "summary",
        "comparison",
        "children",
        "industries",
        "trend",
        "hazards",
        "freshness",
    ],
    "properties": {
        "district": REPORT["properties"]["district"],
        "breadcrumb": {
            "type": "array",
            "description": "the divisions from the province down to this one that the credential may read",
            "items": REPORT["properties"]["district"],
        },
        "period": REPORT["properties"]["period"],
        "industry": {"type": ["string", "null"]},
        "as_of": {"type": "string", "format": "date"},
        "summary": {"$ref": "#/components/schemas/Report"},
        "comparison": {
            **_BREAKDOWN,
            "description": "Hangzhou, its counties, Jinhua, its counties (Yongkang among them), as far as the "
            "credential may read them",
        },
        "children": {**_BREAKDOWN, "description": "the divisions directly below, as far as readable"},
        "industries": {
            **_BREAKDOWN,
            "description": "one report per GB/T 4754 division with data in the period (surveys name none)",
        },
        "trend": {**_BREAKDOWN, "description": "the last `count` periods up to this one, oldest first"},
        "hazards": {
            "type": "object",
            "description": "the hazards found in the period: open ones by category and severity (they sum to "
            "`summary.figures.hazards.open`), overdue ones by days past the deadline on `as_of` (they sum to "
            "`summary.figures.hazards.overdue`)",
            "required": ["as_of", "open", "overdue_by_age"],
            "properties": {
                "as_of": {"type": "string", "format": "date"},
                "open": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["category", "severity", "count"],
                        "properties": {
                            "category": {"type": "string"},
                            "severity": {"enum": ["general", "major"]},
                            "count": _COUNT,
                        },
                    },
                },
                "overdue_by_age": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["bucket", "min_days", "max_days", "count"],
                        "properties": {
                            "bucket": {"type": "string", "examples": ["1-7", "91+"]},
                            "min_days": _COUNT,
                            "max_days": {"type": ["integer", "null"]},
                            "count": _COUNT,
                        },
                    },
                },
            },
        },
        "freshness": {
            "type": "object",
            "description": "where in the event log the figures are, per partition, and when that last moved",
            "required": ["source", "partitions", "updated_at", "age_seconds", "checked_at"],
            "properties": {
                "source": {"type": "string"},
                "partitions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["partition", "position", "updated_at"],
                        "properties": {
                            "partition": _COUNT,
                            "position": {"type": "integer"},
                            "updated_at": {"type": ["string", "null"]},
                        },
                    },
                },
                "updated_at": {"type": ["string", "null"], "description": "UTC, ISO 8601"},
                "age_seconds": {"type": ["integer", "null"], "minimum": 0},
                "checked_at": {"type": "string"},
            },
        },
    },
}


def _query_parameters() -> list[dict[str, Any]]:
    return [
        {
            "name": "period",
            "in": "query",
            "description": "the period containing `date` (Asia/Shanghai days, ISO weeks)",
            "schema": {"enum": list(PERIODS), "default": "quarter"},
        },
        {
            "name": "date",
            "in": "query",
            "description": "a day of the period, 1900-01-01 to 2999-12-31; empty or left out: today",
            "schema": _DAY,
        },
        {
            "name": "as_of",
            "in": "query",
            "description": "the day 'overdue' is judged on, 1900-01-01 to 2999-12-31; empty or left out: today",
            "schema": _DAY,
        },
        {
            "name": "industry",
            "in": "query",
            "description": "a GB/T 4754-2017 division; all industries when left out or empty",
            "schema": {"enum": ["", *sorted(industries())]},
        },
        {
            "name": "format",
            "in": "query",
            "schema": {"enum": ["json", "csv", "xlsx"], "default": "json"},
        },
    ]


def _code_parameter() -> dict[str, Any]:
    return {
        "name": "code",
        "in": "path",
        "required": True,
        "description": "a GB/T 2260 code of Zhejiang; a division includes everything below it",
        "schema": {"enum": sorted(districts())},
    }


def _reports(single: bool) -> dict[str, Any]:
    body = (
        {"$ref": "#/components/schemas/Report"}
        if single
        else {
            "type": "object",
            "required": ["reports"],
            "properties": {"reports": {"type": "array", "items": {"$ref": "#/components/schemas/Report"}}},
        }
    )
    return {
        "200": {
            "description": "The report (JSON), or its rows with Chinese and English labels (CSV with a BOM, XLSX)",
            "content": {
                "application/json": {"schema": body},
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "400": {
            "description": "A query parameter or district the reports cannot answer; `errors[0].path` names it",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
        "503": {
            "description": "The aggregator's database is unavailable; retry later",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
        **refusals(
            401,
            403,
            429,
            described={
                403: "A district outside the credential's scope (reviewers and integrators: their districts "
                "and those below; the ministry reads all)",
            },
        ),
    }


def _dashboard_responses() -> dict[str, Any]:
    responses = _reports(single=True)
    ok = responses["200"]
    responses["200"] = {
        **ok,
        "description": "The view (JSON), or every figure of it as rows labelled in `lang` (CSV with a BOM; "
        "XLSX with one sheet per part)",
        "content": {
            **ok["content"],
            "application/json": {"schema": {"$ref": "#/components/schemas/DashboardView"}},
        },
    }
    return responses


@cache
def openapi() -> dict[str, Any]:
    spec = new_spec(
        "SCORE reports API",
        "Exact per-district rollups of the ILO SCORE work-safety pilot (MEM, Zhejiang): "
        "inspections, hazards and their rectification, worker surveys. Every report needs a bearer "
        "token (or the dashboard's session cookie from /signin): reviewers read their districts and those "
        "below, integrators the districts they are granted, the ministry all. Exports (CSV, XLSX) and "
        "integrators' reads are audited. Rate limits per credential and per address (429).",
    )
    spec.components.schema("Report", REPORT)
    spec.components.schema("DashboardView", DASHBOARD)
    operation(
        spec,
        "get",
        "/api/v1/reports/districts/{code}",
        "One division's figures for a period",
        _reports(single=True),
        [_code_parameter(), *_query_parameters()],
    )
    operation(
        spec,
        "get",
        "/api/v1/reports/districts",
        "Several divisions side by side (default: Zhejiang, Hangzhou, Jinhua, Yongkang)",
        _reports(single=False),
        [
            {
                "name": "codes",
                "in": "query",
                "description": "comma-separated GB/T 2260 codes, at most 50, in the order wanted; "
                "left out: Zhejiang, Hangzhou, Jinhua and Yongkang as far as the credential may read "
                "them, else its own districts",
                "schema": {"type": "string", "examples": ["330100,330700,330784"]},
            },
            *_query_parameters(),
        ],
    )
    operation(
        spec,
        "get",
        "/api/v1/reports/districts/{code}/trend",
        "The last `count` periods up to the one containing `date`, oldest first",
        _reports(single=False),
        [
            _code_parameter(),
            {
                "name": "count",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 60, "default": 4},
            },
            *_query_parameters(),
        ],
    )
    operation(
        spec,
        "get",
        "/api/v1/dashboard/{code}",
        "The dashboard's view of one division (what its charts draw), or that view as CSV or XLSX",
        _dashboard_responses(),
        [
            _code_parameter(),
            *[p for p in _query_parameters() if p["name"] != "period"],
            {
                "name": "period",
                "in": "query",
                "description": "the period containing `date`, and the step of the trend",
                "schema": {"enum": list(PERIODS), "default": "month"},
            },
            {
                "name": "count",
                "in": "query",
                "description": "periods in the trend",
                "schema": {"type": "integer", "minimum": 1, "maximum": 60, "default": 12},
            },
            {
                "name": "lang",
                "in": "query",
                "description": "the language of the CSV and XLSX headers and labels (JSON carries both)",
                "schema": {"enum": ["zh", "en"], "default": "zh"},
            },
        ],
    )
    operation(
        spec,
        "get",
        "/api/v1/codes/districts",
        "The GB/T 2260 divisions the reports know, retired ones with their successor",
        {
            **refusals(429),
            "200": listing("The code table", "districts"),
        },
        public=True,
    )
    return spec.to_dict()


@docs.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(openapi())
