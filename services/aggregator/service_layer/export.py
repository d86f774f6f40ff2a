"""Reports as rows (CSV, XLSX), labelled in Chinese and English. CSV streams row by row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from services.aggregator.service_layer.labels import METRIC_LABELS as LABELS

HEADER = [
    "district",
    "district_zh",
    "district_en",
    "period",
    "industry",
    "metric",
    "label_zh",
    "label_en",
    "value",
]


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and prefix not in ("module_coverage", "hazards.found_by_category"):
        for k, v in value.items():
            yield from _flatten(f"{prefix}.{k}" if prefix else k, v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield f"{prefix}.{k}", v
    else:
        yield prefix, value


def rows(reports: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    for r in reports:
        d = r["district"]
        for metric, value in _flatten("", r["figures"]):
            base = metric.rsplit(".", 1)[0] if metric not in LABELS else metric
            zh, en = LABELS.get(metric) or LABELS.get(base, (metric, metric))
            if base != metric and metric not in LABELS:
                suffix = metric.rsplit(".", 1)[1]
                zh, en = f"{zh}：{suffix}", f"{en}: {suffix}"
            yield [
                d["code"],
                d["name_zh"],
                d["name_en"],
                r["period"]["key"],
                r["industry"] or "*",
                metric,
                zh,
                en,
                "" if value is None else value,
            ]


def csv_stream(reports: Iterable[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")  # BOM: Excel opens UTF-8 Chinese text correctly only with it
    writer.writerow(HEADER)
    yield buf.getvalue()
    for row in rows(reports):
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        yield buf.getvalue()


def xlsx_bytes(reports: Iterable[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("报表 Report")
    ws.append(HEADER)
    for row in rows(reports):
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
