"""The base of every form's ``data`` schema: its name, version and title, the future-date rule, the
normalised data, the server's computed figures and the enterprise the record is about."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar

from .errors import Tr, fail
from .formats import jsonable
from .objects import FormSchema

#: how the future-date rule explains its limit
TODAY_IN_CHINA = Tr(
    "today in China Standard Time, Asia/Shanghai, allowing for device clock skew",
    "中国标准时间（Asia/Shanghai）的今天，已考虑设备时钟误差",
)


class DataSchema(FormSchema):
    """The ``data`` object of one version of one form.

    A schema instance is made per validation with ``latest_date``: the latest calendar date a field of the
    form may name (today in Asia/Shanghai, plus the allowed clock skew): the rules depend on the moment.
    """

    form: ClassVar[str]
    version: ClassVar[int]
    title: ClassVar[Tr]

    def __init__(self, *, latest_date: date, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latest_date = latest_date

    def not_future(self, value: date) -> None:
        """Raise ``future_date`` when ``value`` lies after today in China (field validators call this)."""
        if value > self.latest_date:
            raise fail(
                "future_date",
                latest=self.latest_date.isoformat(),
                basis=TODAY_IN_CHINA,
                actual=value.isoformat(),
            )

    def normalise(self, loaded: Mapping[str, Any]) -> dict[str, Any]:
        """The loaded data as stored and published: JSON-ready, exactly the form's fields."""
        result: dict[str, Any] = jsonable(loaded)
        return result

    def computed(self, submission_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Figures the server derives from normalised ``data``; never taken from the client."""
        return {}

    def enterprise_of(self, data: Mapping[str, Any]) -> str | None:
        """The credit code of the enterprise the record is about, when the form names one."""
        return None
