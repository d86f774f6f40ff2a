"""Form ``hazard_rectification`` v1: a hazard found at an inspection has been fixed, and someone verified it.

The record names the inspection (its submission id) and the item code; together they are the hazard id
``<inspection_id>:<item_code>`` that the factory inspection published.  Whether that inspection exists, failed
that item and concerns which enterprise is for the service layer to check against stored records: a contract
can only see one request.
"""

from __future__ import annotations

from typing import Any

from marshmallow import validates

from .dataschema import DataSchema
from .errors import Tr
from .factory_inspection import ITEM_CODE, ITEM_CODE_PATTERN
from .fields import MAX_PHOTOS, IsoDate, Text, Uuid, free_text, photos
from .objects import Obj
from .people import Person


class HazardRectification(DataSchema):
    """``data`` of hazard_rectification v1."""

    form = "hazard_rectification"
    version = 1
    title = Tr("Hazard rectification", "隐患整改")
    json_description = "A hazard found at a factory inspection has been rectified and the fix verified."

    inspection_id = Uuid(
        required=True,
        metadata={"description": "submission_id of the factory_inspection that found the hazard."},
    )
    item_code = Text(
        max_length=10,
        pattern=ITEM_CODE_PATTERN,
        pattern_expected=ITEM_CODE,
        required=True,
        metadata={"description": "Code of the failed checklist item, e.g. DUST-03."},
    )
    rectified_on = IsoDate(
        required=True,
        metadata={
            "description": "Day the hazard was fixed (Asia/Shanghai).",
            "server_rules": "not after today in Asia/Shanghai, allowing the clock skew.",
        },
    )
    verified_by = Obj(Person, required=True, metadata={"description": "Who verified the fix on site."})
    note = free_text("Optional remark, e.g. what was done (no phone or identity numbers).", required=False)
    photos = photos(MAX_PHOTOS, 'the fix ("after")')

    @validates("rectified_on")
    def _rectified_on_not_future(self, value: Any, **kwargs: Any) -> None:
        self.not_future(value)
