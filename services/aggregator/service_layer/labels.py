"""The reports' words in Chinese and English: metric, period, hazard category and severity, export section.

One table, ``labels.csv`` beside this module (``table,key,zh,en``), read by the dashboard page, its export and
the report export alike, so a label is corrected in one place and reviewed as a data change.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

#: (zh, en) by key, by table
Labels = dict[str, tuple[str, str]]


def _read() -> dict[str, Labels]:
    tables: defaultdict[str, Labels] = defaultdict(dict)
    text = (Path(__file__).with_name("labels.csv")).read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        tables[row["table"]][row["key"]] = (row["zh"], row["en"])
    return dict(tables)


_TABLES = _read()
METRIC_LABELS: Labels = _TABLES["metric"]
PERIOD_LABELS: Labels = _TABLES["period"]
CATEGORY_LABELS: Labels = _TABLES["category"]
SEVERITY_LABELS: Labels = _TABLES["severity"]
SECTION_LABELS: Labels = _TABLES["section"]
