"""The envelope every submission travels in, whatever the form.

``submission_id`` is chosen by the device (a UUID) so that a retry over a flaky network is recognised as the
same submission; ``replaces`` names the submission a correction supersedes (ODK's deprecatedID).
``collected_at`` must state its offset, and may not lie in the future beyond the allowed clock skew.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, validates, validates_schema

from .errors import Err, Tr
from .fields import AnyObject, Choice, DistrictCode, Integer, Timestamp, Uuid
from .objects import FormSchema, Obj
from .people import Person
from .registry import FORMS

SERVER_CLOCK = Tr(
    "the server's clock plus the allowed device clock skew",
    "服务器时间加上允许的设备时钟误差",
)


#: The latest ``collected_at`` of the validation running in this thread (``validation.validate`` sets it):
#: one shared Envelope instance serves every request instead of a schema built per request.
LATEST_INSTANT: ContextVar[datetime] = ContextVar("latest_instant")


class Envelope(FormSchema):
    """The request body around a form's ``data``; ``data`` itself is checked by the form's own schema."""

    json_description = "A field submission: the envelope and the form's data."

    submission_id = Uuid(
        required=True,
        metadata={"description": "Chosen by the device, once per record: a retry reuses it (idempotency)."},
    )
    form = Choice(list(FORMS), required=True)
    form_version = Integer(minimum=1, required=True)
    collected_at = Timestamp(
        required=True,
        metadata={
            "description": "When the record was completed on the device, with its UTC offset.",
            "server_rules": "not later than the server's clock plus the allowed skew (default 10 minutes).",
        },
    )
    district = DistrictCode(
        required=True,
        metadata={
            "description": "GB/T 2260 code of the county-level division (or prefecture) the record is filed "
            "under, e.g. 330784 永康市 Yongkang. Retired 330103 下城 and 330104 江干 are refused; use 330105 "
            "拱墅 and 330102 上城. The province 330000 is not a place to file a record."
        },
    )
    collector = Obj(Person, required=True, metadata={"description": "The account that collected the record."})
    replaces = Uuid(
        load_default=None,
        metadata={
            "description": "For a correction: the submission_id of the submission it replaces.",
            "server_rules": "must differ from submission_id.",
        },
    )
    data = AnyObject(required=True, metadata={"description": "The form's answers."})

    def __init__(self, *, latest_instant: datetime | None = None, **kwargs: Any) -> None:
        """``latest_instant`` fixes the bound for this instance; without it the bound is ``LATEST_INSTANT``
        of the running validation (building a marshmallow schema costs more than the check itself)."""
        super().__init__(**kwargs)
        self._latest_instant = latest_instant

    @property
    def latest_instant(self) -> datetime:
        return self._latest_instant if self._latest_instant is not None else LATEST_INSTANT.get()

    @validates("collected_at")
    def _collected_at_not_future(self, value: datetime, **kwargs: Any) -> None:
        if value > self.latest_instant:
            raise ValidationError(
                [
                    Err(
                        "future_date",
                        latest=self.latest_instant.isoformat(),
                        basis=SERVER_CLOCK,
                        actual=value.isoformat(),
                    )
                ]
            )

    @validates_schema(skip_on_field_errors=False)
    def _replaces_other(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        replaces = data.get("replaces")
        if replaces is not None and replaces == data.get("submission_id"):
            raise ValidationError([Err("replaces_self")], field_name="replaces")
