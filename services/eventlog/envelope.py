"""CloudEvents 1.0 envelope, Kafka protocol binding in binary mode.

The payload (``data``) travels as the Kafka record value, JSON; every other attribute is a ``ce_`` header
and ``content-type`` names the payload's media type.  The JSON bytes are produced once, when the event is
written to the outbox, and sent exactly as stored: what an integrator receives is what was recorded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from services.common.canonical import canonical_json
from services.common.frozen import quick_init

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "org.ilo.score."


@quick_init
@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    subject: str
    time: str  # RFC 3339, UTC
    key: str  # the Kafka record key: keeps one enterprise's events in order
    data_json: str

    @property
    def data(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.data_json)
        return result

    @classmethod
    def new(
        cls,
        type: str,
        source: str,
        subject: str,
        key: str,
        data: Mapping[str, Any],
        id: str | None = None,
        time: datetime | None = None,
    ) -> Event:
        return cls(
            id=id or str(uuid.uuid4()),
            type=type,
            source=source,
            subject=subject,
            time=event_time(time),
            key=key,
            data_json=canonical_json(data),
        )

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return kafka_headers(self.id, self.source, self.type, self.time, self.subject)

    def kafka_key(self) -> bytes:
        return self.key.encode()

    def kafka_value(self) -> bytes:
        return self.data_json.encode()


def event_time(time: datetime | None = None) -> str:
    """An event's ``time`` attribute: RFC 3339 in UTC with ``Z`` (now, when not given)."""
    return (time or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


#: a Kafka record as the producer takes it: key, value, headers
KafkaRecord = tuple[bytes, bytes, list[tuple[str, bytes]]]

_SPECVERSION = SPECVERSION.encode()
_CONTENT_TYPE = CONTENT_TYPE.encode()
#: the headers ``check_kafka`` reads (the CloudEvents attributes an ``Event`` holds); others are skipped undecoded
_EVENT_HEADERS = frozenset(("ce_id", "ce_type", "ce_source", "ce_specversion", "ce_subject", "ce_time"))
_REQUIRED_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_specversion")


def kafka_headers(id: str, source: str, type: str, time: str, subject: str) -> list[tuple[str, bytes]]:
    """The CloudEvents headers of an event with these attributes.

    A function of the attributes, not only a method of :class:`Event`: the relay builds records straight
    from outbox rows without an ``Event`` per row (that object and the rows' attribute lookups were ~5 us of
    the relay's per-record CPU)."""
    return kafka_headers_utf8(id.encode(), source.encode(), type.encode(), time.encode(), subject.encode())


def kafka_headers_utf8(
    id: bytes, source: bytes, type: bytes, time: bytes, subject: bytes
) -> list[tuple[str, bytes]]:
    """:func:`kafka_headers` of attributes already UTF-8 (the relay reads them so from PostgreSQL): the one
    place the headers are spelled out."""
    return [
        ("ce_specversion", _SPECVERSION),
        ("ce_id", id),
        ("ce_source", source),
        ("ce_type", type),
        ("ce_time", time),
        ("ce_subject", subject),
        ("content-type", _CONTENT_TYPE),
    ]


class MalformedEvent(ValueError):
    """A record that does not follow the envelope contract (goes to the dead-letter path)."""


def check_kafka(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> Event:
    """The event of a Kafka record, its envelope checked: the CloudEvents headers it needs, the spec version,
    a payload of UTF-8 text.  The payload's JSON is left to whoever parses it (the aggregator, once, in
    ``apply.prepare``, keeping a first version's rows, not the parse; a payload that is not JSON is then
    dead-lettered as a broken envelope, as here).

    Why no parse here: the aggregator's poll thread spent ~10 us a record on the earlier full parse (a str
    decoded for every header, a dict of them, and a parse of the payload only to check it, done again when
    applied), competing for the interpreter lock with the thread that applies the previous batch.  Here: the
    six headers an event needs are decoded, nothing else (~2 us); and a parsed ~1.3 KB payload is ~60 Python
    containers, which kept alive for a batch of 10,000 cost ~35 us an event in allocation and collector
    passes, against ~5 us for the one parse whose result is freed at once."""
    # one comprehension, then a decode of only the values used: ~1 us less than a loop filling a dict of
    # decoded values (this runs for every record the aggregator reads)
    raw = {name: v for name, v in headers or () if name in _EVENT_HEADERS and v is not None}  # null: no value
    try:
        ident, type_, source, spec = raw["ce_id"], raw["ce_type"], raw["ce_source"], raw["ce_specversion"]
    except KeyError:
        missing = [h for h in _REQUIRED_HEADERS if h not in raw]
        raise MalformedEvent(f"missing CloudEvents headers: {', '.join(missing)}") from None
    if spec != _SPECVERSION:  # only these bytes decode to "1.0"
        raise MalformedEvent(f"unsupported ce_specversion {spec.decode('utf-8', 'replace')}")
    try:
        text = (value or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEvent(f"payload is not JSON: {exc}") from exc
    subject, time = raw.get("ce_subject"), raw.get("ce_time")
    return Event(
        ident.decode("utf-8", "replace"),
        type_.decode("utf-8", "replace"),
        source.decode("utf-8", "replace"),
        "" if subject is None else subject.decode("utf-8", "replace"),
        "" if time is None else time.decode("utf-8", "replace"),
        (key or b"").decode("utf-8", "replace"),
        text,
    )


def parse_json(value: str | bytes) -> Any:
    """``json.loads`` of ``value`` (bytes: read as UTF-8) at orjson's speed (less than half the time on our
    payloads).  What orjson refuses (NaN, Infinity, a byte-order mark, ...) is handed to the standard parser,
    which decides, so the same texts are accepted.  One difference in value, outside every contract: an
    integer beyond 64 bits comes back as a float."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value if isinstance(value, str) else value.decode("utf-8"))
