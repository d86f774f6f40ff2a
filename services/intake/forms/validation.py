"""``validate``: a request body in, a :class:`ValidSubmission` out, or every error found.

Validation is a pure function of the body and ``now`` (passed in, never read from the clock here) so that the
same body is judged the same in the service, in tests and when old submissions are replayed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from marshmallow import ValidationError

from services.common import clock

from .dataschema import DataSchema
from .envelope import LATEST_INSTANT, Envelope
from .errors import FieldError, Invalid, field_errors, make
from .fastpath import Fallback, NotCompilable, compile_loader
from .formats import OBJECT
from .registry import FORMS


@dataclass(frozen=True)
class ValidSubmission:
    """A submission that passed every rule of its form contract, normalised."""

    submission_id: str  #: canonical lower-case UUID
    form: str
    form_version: int
    collected_at: datetime  #: timezone-aware, in the offset the device sent
    district: str  #: active county-level or prefecture GB/T 2260 code
    collector: dict[str, Any]  #: {"id": ..., "role": ...}
    replaces: str | None  #: the submission id a correction replaces
    data: dict[str, Any]  #: JSON-ready, exactly the form's fields
    enterprise: str | None  #: credit code of the enterprise concerned, when the form names one
    computed: dict[str, Any]  #: server-computed figures, never taken from the client

    def with_collector(self, collector: dict[str, Any]) -> ValidSubmission:
        """This submission with another ``collector``: ``dataclasses.replace`` without its per-call walk of the
        fields and checks (a copy of the attributes is the same for a frozen dataclass without ``__post_init__``
        or init-only fields; it was a seventieth of a batch item)."""
        copied = object.__new__(ValidSubmission)
        copied.__dict__.update(self.__dict__, collector=collector)
        return copied

    def canonical(self, shared: bool = False) -> dict[str, Any]:
        """Everything the client said (not ``computed``), JSON-ready: what is hashed to recognise a retry.

        ``computed`` is left out because it is derived: a change to a scoring rule must not turn an identical
        retry into a conflict.  ``shared``: the nested values are this submission's own, not copies, for a
        caller that only serialises them (the content hash: the deep copies were a tenth of a batch item).
        """
        return {
            "submission_id": self.submission_id,
            "form": self.form,
            "form_version": self.form_version,
            "collected_at": self.collected_at.isoformat(),
            "district": self.district,
            "collector": self.collector if shared else copy.deepcopy(self.collector),
            "replaces": self.replaces,
            "data": self.data if shared else copy.deepcopy(self.data),
            "enterprise": self.enterprise,
        }


#: One envelope schema for every validation: its time bound comes from ``LATEST_INSTANT``.
_ENVELOPE = Envelope()


@lru_cache(maxsize=64)
def _form_schema(form: str, version: int, latest_date: date) -> DataSchema:
    """The schema of a form version for one ``latest_date``: built once a day per form, not per request.
    marshmallow schemas keep no state between ``load`` calls, so threads share them."""
    schema: DataSchema = FORMS[form][version](latest_date=latest_date)
    return schema


def validate(body: object, now: datetime, clock_skew: timedelta = timedelta(minutes=10)) -> ValidSubmission:
    """Check ``body`` against the envelope and its form's contract; raise :class:`Invalid` with every error.

    ``now`` (timezone-aware) bounds the dates: ``collected_at`` may not be later than ``now + clock_skew``
    and form dates not after that instant's day in Asia/Shanghai.  The form's data is checked only when the
    envelope names a known form and version (without them there is no contract to check it against).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(body, dict):
        raise Invalid([make("", "invalid_type", expected=OBJECT)])

    latest_instant = now + clock_skew
    bound = LATEST_INSTANT.set(latest_instant)
    try:
        passed = _fast(body, latest_instant)
    finally:
        LATEST_INSTANT.reset(bound)
    return passed if passed is not None else _marshmallow(body, latest_instant)


def _fast(body: dict[Any, Any], latest_instant: datetime) -> ValidSubmission | None:
    """The body loaded by the compiled loaders (:mod:`.fastpath`) when it breaks no rule; None otherwise (and
    when a schema is not compilable), and then marshmallow judges it and words the errors."""
    try:
        envelope = compile_loader(_ENVELOPE)(body)
        versions = FORMS.get(envelope["form"])
        if versions is None or envelope["form_version"] not in versions:
            return None
        schema = _form_schema(envelope["form"], envelope["form_version"], clock.today(latest_instant))
        data = body.get("data")
        if not isinstance(data, dict):
            return None
        loaded = compile_loader(schema)(data)
    except (Fallback, NotCompilable):
        return None
    return _passed(envelope, schema, loaded)


def _marshmallow(body: dict[Any, Any], latest_instant: datetime) -> ValidSubmission:
    """marshmallow's judgement of the body: the submission, or :class:`Invalid` with every error."""
    errors: list[FieldError] = []
    envelope: dict[str, Any]
    bound = LATEST_INSTANT.set(latest_instant)
    try:
        envelope = _ENVELOPE.load(body)
    except ValidationError as error:
        errors.extend(field_errors(error.messages))
        envelope = error.valid_data if isinstance(error.valid_data, dict) else {}
    finally:
        LATEST_INSTANT.reset(bound)

    form, version = envelope.get("form"), envelope.get("form_version")
    schema = None
    if form in FORMS and version is not None:
        if version in FORMS[form]:
            schema = _form_schema(form, version, clock.today(latest_instant))
        else:
            errors.append(
                make(
                    "form_version",
                    "unsupported_version",
                    form=form,
                    versions=", ".join(str(v) for v in sorted(FORMS[form])),
                    actual=version,
                )
            )

    loaded: dict[str, Any] = {}
    if schema is not None and isinstance(body.get("data"), dict):
        try:
            loaded = schema.load(body["data"])
        except ValidationError as error:
            errors.extend(field_errors(error.messages, prefix="data"))

    if errors or schema is None:
        raise Invalid(errors)
    return _passed(envelope, schema, loaded)


def _passed(envelope: dict[str, Any], schema: DataSchema, loaded: dict[str, Any]) -> ValidSubmission:
    """A body that broke no rule, loaded: the submission, normalised, with the server's figures."""
    data = schema.normalise(loaded)
    return ValidSubmission(
        submission_id=envelope["submission_id"],
        form=envelope["form"],
        form_version=envelope["form_version"],
        collected_at=envelope["collected_at"],
        district=envelope["district"],
        collector=dict(envelope["collector"]),
        replaces=envelope["replaces"],
        data=data,
        enterprise=schema.enterprise_of(data),
        computed=schema.computed(envelope["submission_id"], data),
    )
