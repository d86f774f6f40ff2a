"""Reports as rows (CSV, XLSX), labelled in Chinese and English. CSV streams row by row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

LABELS: dict[str, tuple[str, str]] = {
    "inspections": ("检查次数", "Inspections"),
    "enterprises_inspected": ("受检企业数", "Enterprises inspected"),
    "items_checked": ("检查项数", "Items checked"),
    "items_failed": ("不合格项数", "Items failed"),
    "compliance_rate": ("合规率", "Compliance rate"),
    "mean_inspection_score": ("平均检查得分", "Mean inspection score"),
    "module_coverage": ("SCORE 模块覆盖", "SCORE module coverage"),
    "hazards.found": ("发现隐患", "Hazards found"),
    "hazards.found_general": ("一般隐患", "General hazards found"),
    "hazards.found_major": ("重大隐患", "Major hazards found"),
    "hazards.found_by_category": ("按类别隐患", "Hazards by category"),
    "hazards.rectified": ("已整改隐患", "Hazards rectified"),
    "hazards.rectified_on_time": ("按期整改", "Rectified on time"),
    "hazards.rectification_rate": ("整改率", "Rectification rate"),
    "hazards.open": ("未整改隐患", "Open hazards"),
    "hazards.overdue": ("逾期未整改", "Overdue hazards"),
    "worker_survey.responses": ("职工问卷数", "Survey responses"),
    "worker_survey.suppressed": ("因样本过少而隐藏", "Suppressed (fewer than 5)"),
    "worker_survey.safety_climate_index": ("安全氛围指数", "Safety climate index"),
    "worker_survey.cooperation_index": ("劳资合作指数", "Workplace cooperation index"),
    "worker_survey.share_trained": ("接受隐患培训比例", "Share trained on hazards"),
    "worker_survey.share_ppe_provided": ("配发劳保用品比例", "Share with PPE"),
    "worker_survey.share_wages_on_time": ("工资按时发放比例", "Share paid on time"),
    "worker_survey.share_insured": ("参加社保比例", "Share insured"),
    "worker_survey.injuries_per_100": ("每百人受伤", "Injuries per 100"),
    "worker_survey.near_misses_per_100": ("每百人未遂事件", "Near misses per 100"),
}

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
