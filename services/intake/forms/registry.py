"""Which forms exist, in which versions: the one table the validator, the catalogue and the exporter share."""

from __future__ import annotations

from typing import Any

from .dataschema import DataSchema
from .factory_inspection import FactoryInspection
from .hazard_rectification import HazardRectification
from .worker_survey import WorkerSurvey

#: form -> version -> the schema of its ``data``
FORMS: dict[str, dict[int, type[DataSchema]]] = {}
for _cls in (FactoryInspection, HazardRectification, WorkerSurvey):
    FORMS.setdefault(_cls.form, {})[_cls.version] = _cls


def schema_path(form: str, version: int) -> str:
    """Where the published JSON Schema of a form version lives, relative to the repository root."""
    return f"schemas/forms/{form}.v{version}.schema.json"


def catalogue() -> list[dict[str, Any]]:
    """The forms a device may submit, for form builders and the API's discovery endpoint."""
    result = []
    for form, versions in FORMS.items():
        latest = versions[max(versions)]
        result.append(
            {
                "form": form,
                "versions": sorted(versions),
                "title": {"en": latest.title.en, "zh": latest.title.zh},
                "schema": schema_path(form, max(versions)),
            }
        )
    return result
