"""The dashboard's view (``views.dashboard``) as rows: CSV (one table with a section column) and XLSX (one
sheet per section), headed and labelled in the language the page is shown in.

Values are the API's: counts as integers, rates as fractions (XLSX shows them as percentages, as the page
does), suppressed survey figures as the word for "suppressed", never 0, and figures with nothing to divide
by left empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from services.aggregator.service_layer.export import LABELS
from services.aggregator.service_layer.labels import CATEGORY_LABELS, SECTION_LABELS, SEVERITY_LABELS
from services.common.codes import industries

#: the figures the dashboard compares, draws and exports
KEY_METRICS = (
    "inspections",
    "enterprises_inspected",
    "compliance_rate",
    "mean_inspection_score",
    "hazards.found",
    "hazards.found_major",
    "hazards.rectified",
    "hazards.rectification_rate",
    "hazards.open",
    "hazards.overdue",
    "worker_survey.responses",
    "worker_survey.safety_climate_index",
    "worker_survey.cooperation_index",
)


HEADERS = {
    "zh": ["部分", "行政区划代码", "行政区划", "期间", "行业", "指标代码", "指标", "数值"],
    "en": ["section", "district_code", "district", "period", "industry", "metric_code", "metric", "value"],
}
SUPPRESSED = {"zh": "已隐藏", "en": "suppressed"}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "zh" else pair[1]


def _figure(figures: dict[str, Any], key: str) -> Any:
    """The figure ``key`` (dotted); every survey figure of a suppressed report reads "suppressed"."""
    if key.startswith("worker_survey.") and figures["worker_survey"].get("suppressed"):
        return "suppressed"
    v: Any = figures
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def _cell(value: Any, lang: str) -> Any:
    if value == "suppressed":
        return SUPPRESSED[lang]
    return "" if value is None else value


def rows(view: dict[str, Any], lang: str, metrics: Iterable[str] = KEY_METRICS) -> Iterator[list[Any]]:
    """Every figure of the view, one row each, in the order the page shows them."""
    metrics = list(metrics)
    names = industries()

    def report_rows(section: str, report: dict[str, Any]) -> Iterator[list[Any]]:
        d = report["district"]
        ind = report["industry"] or ""
        industry = f"{ind} {_pick((names[ind].name_zh, names[ind].name_en), lang)}" if ind in names else ""
        for key in metrics:
            yield [
                _pick(SECTION_LABELS[section], lang),
                d["code"],
                _pick((d["name_zh"], d["name_en"]), lang),
                report["period"]["key"],
                industry,
                key,
                _pick(LABELS[key], lang),
                _cell(_figure(report["figures"], key), lang),
            ]

    yield from report_rows("summary", view["summary"])
    for section in ("comparison", "children", "industries", "trend"):
        for report in view[section]:
            yield from report_rows(section, report)
    d = view["district"]
    where = [
        d["code"],
        _pick((d["name_zh"], d["name_en"]), lang),
        view["period"]["key"],
        view["industry"] or "",
    ]
    for h in view["hazards"]["open"]:
        label = f"{_pick(CATEGORY_LABELS.get(h['category'], (h['category'],) * 2), lang)} · "
        label += _pick(SEVERITY_LABELS.get(h["severity"], (h["severity"],) * 2), lang)
        yield [
            _pick(SECTION_LABELS["hazards_open"], lang),
            *where,
            f"hazards.open.{h['category']}.{h['severity']}",
            label,
            h["count"],
        ]
    for b in view["hazards"]["overdue_by_age"]:
        days = "天" if lang == "zh" else " days"
        yield [
            _pick(SECTION_LABELS["hazards_overdue"], lang),
            *where,
            f"hazards.overdue.{b['bucket']}",
            f"{b['bucket']}{days}",
            b["count"],
        ]


def csv_stream(view: dict[str, Any], lang: str, metrics: Iterable[str] = KEY_METRICS) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")  # BOM: Excel opens UTF-8 Chinese text correctly only with it
    writer.writerow(HEADERS[lang])
    yield buf.getvalue()
    for row in rows(view, lang, metrics):
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        yield buf.getvalue()


def xlsx_bytes(view: dict[str, Any], lang: str, metrics: Iterable[str] = KEY_METRICS) -> bytes:
    """One sheet per section (named in ``lang``), the CSV's rows in each; rates formatted as percentages."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    sheets: dict[str, Any] = {}
    for row in rows(view, lang, metrics):
        section = row[0]
        if section not in sheets:
            sheets[section] = wb.create_sheet(section[:31])  # Excel's limit on a sheet name
            sheets[section].append(HEADERS[lang])
        value = row[-1]
        if str(row[5]).endswith("_rate") and isinstance(value, float):
            cell = WriteOnlyCell(sheets[section], value=value)
            cell.number_format = "0.0%"
            sheets[section].append([*row[:-1], cell])
        else:
            sheets[section].append(row)
    if not sheets:
        wb.create_sheet(_pick(SECTION_LABELS["summary"], lang)).append(HEADERS[lang])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
