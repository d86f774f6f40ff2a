"""A district's report package for one period: the figures as JSON and XLSX (labelled in Chinese and English),
a manifest with the log position the figures include and every file's SHA-256, and ``SHA256SUMS``.

What a package *says* is its content: the district, the period and the figures as of the period's last day.
Its checksum (``content_sha256``, SHA-256 of the canonical JSON of exactly that) is what decides whether a
package is new: the log position, the time it was made and the version number are about the package, not
its content, so a rerun over unchanged figures yields the same checksum and is not delivered again.

Figures are taken as of the period's last day (``as_of`` = period end): open and overdue hazards as they stood
when the period closed, as the quarterly hazard statistics are reported.  "Rectified" counts rectifications
so far, so a hazard fixed after the period closed changes the package: a new version (see ``delivery``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine

from services.aggregator import views
from services.aggregator.domain.periods import Period
from services.aggregator.service_layer import export
from services.common.canonical import canonical_json
from services.common.clock import CHINA

FORMAT = "score.report-package.v1"
JSON_TYPE = "application/json"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_PERIOD_ZH = {"day": "日报", "week": "周报", "month": "月报", "quarter": "季报", "year": "年报"}
_PERIOD_EN = {"day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly", "year": "annual"}


@dataclass(frozen=True)
class Figures:
    """A district's report for a period and what identifies its content."""

    report: dict[str, Any]
    position: dict[str, Any]  #: {"source": ..., "partitions": {partition: offset}}
    content_sha256: str

    @property
    def district(self) -> str:
        code: str = self.report["district"]["code"]
        return code


def figures(engine: Engine, source: str, code: str, period: Period) -> Figures:
    """The report of ``code`` for ``period`` as of its last day, and the log position it includes at least.

    The position is read first: the figures read after it include every event up to it (and perhaps a few
    more, applied in between), which is what "as of position" may promise without one snapshot over both.
    """
    with engine.connect() as conn:
        stored = views.stored_positions(conn, source)
    position = {"source": source, "partitions": {str(p): off for p, (off, _n) in sorted(stored.items())}}
    report = views.district_report(engine, code, period, as_of=period.end)
    return Figures(report, position, content_sha256(report))


def content_sha256(report: dict[str, Any]) -> str:
    content = {k: report[k] for k in ("district", "period", "industry", "as_of", "figures")}
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def package_name(code: str, period: Period, version: int) -> str:
    return f"score-{code}-{period.kind}-{period.key}-v{version}"


def idempotency_key(code: str, period: Period, version: int, checksum: str) -> str:
    """The same for every attempt of one version, other for every other version (even one whose figures
    equal an older version's: a receiver must store it as the newest, not drop it as a replay)."""
    raw = f"{code}|{period.kind}|{period.key}|v{version}|{checksum}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def build(fig: Figures, version: int, generated_at: datetime, supersedes: int | None = None) -> bytes:
    """The package as one JSON document (what an HTTP destination receives; a folder gets its files):
    ``{"manifest": {...}, "files": {name: {"media_type", "sha256", "base64"}}}``."""
    report = fig.report
    period = report["period"]
    code = fig.district
    kind, key = period["kind"], period["key"]
    district = report["district"]
    rows = [dict(zip(export.HEADER, row, strict=True)) for row in export.rows([report])]
    report_json = json.dumps(
        {"format": FORMAT, **report, "rows": rows}, ensure_ascii=False, indent=1, sort_keys=True
    ).encode("utf-8")
    stamp = datetime.combine(date.fromisoformat(period["end"]) + timedelta(days=1), time(0), CHINA)
    files = {
        "report.json": (JSON_TYPE, report_json),
        "report.xlsx": (XLSX_TYPE, reproducible_xlsx(export.xlsx_bytes([report]), stamp)),
    }
    name = package_name(code, _period(period), version)
    manifest = {
        "format": FORMAT,
        "package": name,
        "title_zh": f"{district['name_zh']} {key} 安全生产{_PERIOD_ZH[kind]}",
        "title_en": f"{district['name_en']} {_PERIOD_EN[kind]} work-safety report {key}",
        "district": district,
        "period": period,
        "figures_as_of": report["as_of"],
        "log_position": fig.position,
        "version": version,
        "supersedes_version": supersedes,
        "content_sha256": fig.content_sha256,
        "idempotency_key": idempotency_key(code, _period(period), version, fig.content_sha256),
        "generated_at": generated_at.isoformat(),
        "files": [
            {"name": n, "media_type": t, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for n, (t, b) in files.items()
        ],
    }
    manifest_json = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
    files["manifest.json"] = (JSON_TYPE, manifest_json)
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, (_t, b) in sorted(files.items()))
    files["SHA256SUMS"] = ("text/plain; charset=utf-8", sums.encode("ascii"))
    body = {
        "manifest": manifest,
        "files": {
            n: {
                "media_type": t,
                "sha256": hashlib.sha256(b).hexdigest(),
                "base64": base64.b64encode(b).decode(),
            }
            for n, (t, b) in files.items()
        },
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")


def unpack(payload: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest, files) of a package document, each file checked against its SHA-256."""
    body = json.loads(payload)
    files = {}
    for name, f in body["files"].items():
        data = base64.b64decode(f["base64"])
        if hashlib.sha256(data).hexdigest() != f["sha256"]:
            raise ValueError(f"{name}: checksum mismatch")
        files[name] = data
    manifest: dict[str, Any] = body["manifest"]
    return manifest, files


def _period(d: dict[str, str]) -> Period:
    return Period(d["kind"], d["key"], date.fromisoformat(d["start"]), date.fromisoformat(d["end"]))


_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def reproducible_xlsx(data: bytes, stamp: datetime) -> bytes:
    """The same workbook with its document times set to ``stamp`` and fixed ZIP entry times, so the same
    figures give the same bytes (openpyxl writes the time of writing into both)."""
    when = stamp.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds").encode() + b"Z"
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_TIMES.sub(lambda m: m.group(1) + when + m.group(3), content)
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, content)
    return out.getvalue()
