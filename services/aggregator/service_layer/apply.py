"""Apply events to the rollups: each event at most once, atomically with the log position it came from.

At-least-once in (the relay may re-send, Kafka may redeliver after a rebalance), exact out: an event's id
is claimed in ``processed_events`` in the same transaction as its effects and the consumer's position.
The position is locked for the transaction and may only move to the record that follows it: a batch that
starts anywhere else is dropped where it repeats what was applied and refused where it would skip something.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Engine

from services.aggregator.adapters.store import Counts, Store, fact_row, hazard_rows
from services.aggregator.adapters.tables import FACT_WIDTHS, HAZARD_WIDTHS, METRIC_WIDTH
from services.aggregator.domain import facts as f
from services.aggregator.domain.kpis import (
    Cell,
    MemberCell,
    contributions,
    delta,
    members,
    memberships,
    metrics,
    rectification,
)
from services.eventlog.envelope import Event, parse_json
from services.eventlog.source import Delivery

log = logging.getLogger(__name__)


@dataclass
class Tally:
    """What became of the records read: a batch's sums, and a consumer's since it started (``ConsumerStats``)."""

    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    #: records at or before the stored position, read again (after a rewind or a rebalance) and dropped
    redelivered: int = 0

    def add(self, other: Tally) -> None:
        for name in ("applied", "duplicates", "dead_letters", "redelivered"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class BatchResult(Tally):
    positions: dict[int, int] = field(default_factory=dict)
    #: the deliveries dead-lettered in this batch, with the reason (forwarded to the dead-letter topic)
    rejected: list[tuple[Delivery, str]] = field(default_factory=list)
    counts: dict[int, Counts] = field(default_factory=dict)

    def count(self, partition: int) -> Counts:
        return self.counts.setdefault(partition, Counts())


class PositionGap(RuntimeError):
    """A batch does not start where the stored position ends: applying it would skip records.  Nothing of
    it is written; ``resume_after`` says where each partition must be read again from."""

    def __init__(self, message: str, resume_after: dict[int, int]) -> None:
        super().__init__(message)
        self.resume_after = resume_after


@dataclass(frozen=True)
class _Effects:
    """What one fact adds to the rollups, derived once (the check before writing, the batch's sums and the
    ledger rows all use it: deriving it twice was a tenth of the apply time in a profile)."""

    cells: Counter[Cell]
    members: Counter[MemberCell]
    rectification: tuple[str, date, bool] | None


def _effects(fact: f.Fact) -> _Effects:
    return _Effects(contributions(fact), members(fact), rectification(fact))


class _NewEffects(NamedTuple):
    """What a brand-new fact adds (it replaces nothing): ``kpis.metrics`` of its own (district, day, industry),
    its memberships, its rectification; derived once, before anything is written.  A named tuple: built per
    event, ~4x cheaper than a frozen dataclass."""

    metrics: dict[str, int]
    members: list[MemberCell]
    rectification: tuple[str, date, bool] | None


class _Changes:
    """Cell and member deltas of a whole batch, written at the end in one sorted pass."""

    def __init__(self) -> None:
        self.cells: Counter[Cell] = Counter()
        self.members: Counter[MemberCell] = Counter()
        # the new facts' metrics summed per (district, day, industry): cell keys are built once per batch
        self._groups: dict[tuple[str, date, str], dict[str, int]] = {}

    def add(self, group: tuple[str, date, str], new: _NewEffects) -> None:
        """A fact that replaces nothing, of this (district, day, industry): its contributions are the delta."""
        sums = self._groups.get(group)
        if sums is None:
            self._groups[group] = dict(new.metrics)
        else:
            for metric, value in new.metrics.items():
                sums[metric] = sums.get(metric, 0) + value
        members = self.members
        for member in new.members:
            members[member] = members.get(member, 0) + 1  # (Counter's += calls __missing__ in Python)

    def cell_deltas(self) -> dict[Cell, int]:
        """Every cell the batch changes, with its summed delta (none that sums to zero)."""
        out = Counter(self.cells)
        for (district, day, industry), sums in self._groups.items():
            for metric, value in sums.items():
                out[(district, day, industry, metric)] += value
        return {k: v for k, v in out.items() if v}

    def change(self, old: _Effects | None, new: _Effects | None) -> None:
        for k, v in delta(old.cells if old else Counter(), new.cells if new else Counter()).items():
            self.cells[k] += v
        for k2, v2 in delta(old.members if old else Counter(), new.members if new else Counter()).items():
            self.members[k2] += v2


def batch_start(deliveries: Sequence[Delivery]) -> dict[int, int]:
    """For each partition of a batch, the position its first record follows: where to read it again."""
    start: dict[int, int] = {}
    for d in deliveries:
        start.setdefault(d.partition, d.previous)
    return start


class _Derived(NamedTuple):
    """A first version of a submission, derived from its payload alone (``prepare``): its ``facts`` row, its
    hazard ledger rows, its (district, day, industry) and what it adds there.  Everything the bulk path writes
    for it, built before its batch's transaction; the payload's parsed JSON is not kept (a batch of them held
    in memory cost more than it saved)."""

    row: tuple[Any, ...]
    hazards: list[dict[str, Any]]
    group: tuple[str, date, str]
    new: _NewEffects


#: per delivery (by ``id``): a first version derived (or the reason it cannot be applied), another event's
#: parsed payload, or nothing (no event, or a payload that is not a JSON object: the apply step meets it again)
Prepared = dict[int, "_Derived | f.UnusableEvent | dict[str, Any]"]


def prepare(deliveries: Sequence[Delivery]) -> Prepared:
    """What applying ``deliveries`` needs that reads nothing stored: each payload parsed once, and a first
    version's rows and effects derived (most of the apply step's Python).  The consumer runs this on its
    polling thread while the previous batch's transaction runs on the apply thread, where the process would
    otherwise wait for PostgreSQL: the transaction then mostly writes what is ready.  Whether a first version
    is still new (stored before, or earlier in the batch) is the transaction's to decide; when it is not, the
    careful path parses the payload again."""
    out: Prepared = {}
    for d in deliveries:
        event = d.event
        if event is None:
            continue
        try:
            data = _payload(d)
        except f.UnusableEvent:
            continue
        if (
            event.type == f.ACCEPTED
            and not data.get("replaces")
            and data.get("submission_id") == event.subject
        ):
            try:
                out[id(d)] = _derive(event, data)
            except f.UnusableEvent as exc:
                out[id(d)] = exc  # dead-lettered in its place, if it is still new there
            except Exception:  # noqa: BLE001 - derived again in the transaction, which fails as it did before
                log.debug("deriving event %s ahead of its batch failed", event.id, exc_info=True)
        else:
            out[id(d)] = data
    return out


def _derive(event: Event, data: dict[str, Any]) -> _Derived:
    fact = f.fact_from_submission(event.subject, data)
    new = _checked_new(fact)
    # the fact's payload is the event's payload: stored as the text received, not encoded again
    return _Derived(
        fact_row(fact, event.data_json), hazard_rows(fact), (fact.district, fact.day, fact.industry), new
    )


def follow(deliveries: Sequence[Delivery], stored: dict[int, int]) -> list[Delivery]:
    """The deliveries that come after the stored positions, checked to follow them without a hole.

    Records at or before a stored position were applied already (they are read again after a rewind or a
    rebalance) and are dropped.  The first record after it must name it as its predecessor, and each next one
    the one before: otherwise records were skipped and the whole batch is refused (PositionGap).
    """
    last = dict(stored)
    fresh: list[Delivery] = []
    for d in deliveries:
        at = last[d.partition]
        if d.offset <= stored[d.partition]:
            continue
        if d.previous != at:
            raise PositionGap(
                f"partition {d.partition}: record {d.offset} follows {d.previous}, but the last record applied "
                f"is {at}; records in between were not read",
                {p: stored[p] for p in stored},
            )
        last[d.partition] = d.offset
        fresh.append(d)
    return fresh


def apply_batch(
    engine: Engine,
    source: str,
    deliveries: Sequence[Delivery],
    track_rollups: bool = False,
    prepared: Prepared | None = None,
) -> BatchResult:
    """Apply ``deliveries`` in one transaction. ``track_rollups`` also records which district x period
    rollups changed, for the rollup topic (``rollup_topic.publish_pending``); ``prepared`` is
    ``prepare(deliveries)`` if the caller ran it already (the consumer, on its polling thread)."""
    result = BatchResult()
    if not deliveries:
        return result
    if prepared is None:
        prepared = prepare(deliveries)
    with engine.begin() as conn:
        store = Store(conn)
        try:
            _apply_in(store, source, deliveries, prepared, track_rollups, result)
        except BaseException as exc:
            store.abort(exc)  # a COPY in progress ends as failed: nothing of the batch is written
            raise
    result.applied = sum(c.applied for c in result.counts.values())
    result.duplicates = sum(c.duplicates for c in result.counts.values())
    result.dead_letters = sum(c.dead_letters for c in result.counts.values())
    return result


def _apply_in(
    store: Store,
    source: str,
    deliveries: Sequence[Delivery],
    prepared: Prepared,
    track_rollups: bool,
    result: BatchResult,
) -> None:
    """The body of ``apply_batch``'s transaction."""
    stored = store.lock_positions(source, {d.partition for d in deliveries})
    fresh = follow(deliveries, stored)
    result.redelivered = len(deliveries) - len(fresh)
    changes = _Changes()
    # One round trip each for the whole batch: which events are new, which new submissions are already
    # stored, as a lineage or as a version of one (those take the careful path).
    claimed = store.claim_many([(d.event.id, d.partition, d.offset) for d in fresh if d.event is not None])
    lineages_stored = store.stored_submissions(
        [d.event.subject for d in fresh if d.event is not None and d.event.type in (f.ACCEPTED, f.CORRECTED)]
    )
    # ids claimed above for a record whose payload then turned out not to be JSON (a broken envelope: no
    # event, so no claim): the claim goes to the next record of the batch with that id, else is dropped
    unowned: set[str] = set()
    positions = result.positions
    counts_of: dict[int, Counts] = {}  # result.count(p) per partition, without a Counts() built per event
    for d in fresh:
        positions[d.partition] = d.offset
        counts = counts_of.get(d.partition) or counts_of.setdefault(d.partition, result.count(d.partition))
        pre = prepared.get(id(d))
        if pre is None and d.event is not None and not d.json_checked:
            # prepare() found no JSON object here; the source left that check to this step (json_checked)
            try:
                _payload(d)
            except _NotJson as exc:
                if d.event.id in claimed:
                    unowned.add(d.event.id)
                d = replace(d, event=None, error=str(exc))
            except f.UnusableEvent:
                pass  # JSON but not an object: dead-lettered with its event below, as from any source
        if d.event is None:
            store.dead_letter(source, d.partition, d.offset, None, d.error or "malformed", _raw(d))
            counts.dead_letters += 1
            result.rejected.append((d, d.error or "malformed"))
            continue
        if d.event.id not in claimed:
            counts.duplicates += 1
            continue
        claimed.discard(d.event.id)  # the same id twice in one batch: the second is a duplicate
        if d.event.id in unowned:
            unowned.discard(d.event.id)
            store.move_claim(d.event.id, d.partition, d.offset)
        try:
            if isinstance(pre, (_Derived, f.UnusableEvent)) and _still_new(
                store, d.event.subject, lineages_stored
            ):
                _add_new(store, changes, d.event.subject, pre, lineages_stored)
            else:
                data = pre if isinstance(pre, dict) else _payload(d)
                _apply(store, changes, d.event, data, lineages_stored)
            counts.applied += 1
        except f.UnusableEvent as exc:
            log.warning("dead-lettering event %s: %s", d.event.id, exc)
            store.dead_letter(source, d.partition, d.offset, d.event.id, str(exc), d.event.data_json)
            counts.dead_letters += 1
            result.rejected.append((d, str(exc)))
    store.release_claims(unowned)
    store.flush()  # the buffered new facts
    store.refresh_hazards()  # the rectification state of the hazards the batch touched
    cells = changes.cell_deltas()
    store.add_cells(cells)
    store.add_members({k: v for k, v in changes.members.items() if v})
    if track_rollups:
        store.mark_rollups_changed({(d, day) for (d, day, _i, _m) in cells})
    for partition, offset in sorted(result.positions.items()):
        store.advance_position(source, partition, stored[partition], offset, result.counts[partition])


def _raw(d: Delivery) -> str | None:
    if d.raw_value is None:
        return None
    return d.raw_value.decode("utf-8", "replace")


def _still_new(store: Store, subject: str, lineages_stored: set[str]) -> bool:
    """Whether nothing in the database or earlier in the batch has touched the lineage ``subject`` names."""
    return subject not in lineages_stored and not store.pending(subject)


def _is_brand_new(store: Store, event: Event, data: dict[str, Any], lineages_stored: set[str]) -> bool:
    """The common case: a first version of an inspection, survey or rectification, whose lineage nothing in
    the database or earlier in the batch has touched.  Nothing stored can change (a rectification only adds
    its own ledger row; whether a hazard counts as rectified is read from those rows), so its rows can be
    buffered and written in bulk.  Corrections (``replaces``), reviews and anything already seen take the
    careful path.  (``prepare`` picks the same events by the payload's part of this test.)"""
    return (
        event.type == f.ACCEPTED
        and not data.get("replaces")
        and data.get("submission_id") == event.subject
        and _still_new(store, event.subject, lineages_stored)
    )


def _add_new(
    store: Store,
    changes: _Changes,
    subject: str,
    derived: _Derived | f.UnusableEvent,
    lineages_stored: set[str],
) -> None:
    """The bulk path: a brand-new fact's rows buffered, its effects summed into the batch's."""
    if isinstance(derived, f.UnusableEvent):
        raise derived
    store.add_new_fact(subject, derived.row, derived.hazards, derived.new.rectification)
    changes.add(derived.group, derived.new)
    lineages_stored.add(subject)  # store.pending forgets it at the next flush


def _apply(
    store: Store, changes: _Changes, event: Event, data: dict[str, Any], lineages_stored: set[str]
) -> None:
    """One event's effects; ``data`` is its payload (``_payload``); ``lineages_stored`` holds the submission
    ids of the batch's events that were stored before it began (as lineages or versions), and every id the
    careful path stores as it goes (the bulk path's are ``store.pending``)."""
    if _is_brand_new(store, event, data, lineages_stored):
        _add_new(store, changes, event.subject, _derive(event, data), lineages_stored)
        return
    if event.type in (f.ACCEPTED, f.CORRECTED):
        sid = _str(data, "submission_id")
        replaces = data.get("replaces")
        if replaces:
            lineage = store.lineage_of(str(replaces))
            if lineage is None:
                raise f.UnusableEvent(f"correction of unknown submission {replaces}")
        else:
            lineage = sid
        if sid != event.subject or sid in lineages_stored or store.pending(sid):
            # stored already (the batch's one query, or earlier in the batch): as a version of this lineage
            # (a redelivery under another event id) it is applied again; as another lineage's, it is refused.
            # The intake never reuses a submission id; another producer might, and storing it would break
            # facts.submission_id's uniqueness (failing the batch for ever) or graft it onto a lineage.  Asked
            # only then: a query per correction was ~15 us an event of the consumer's and PostgreSQL's CPU.
            known = store.lineage_of(sid)
            if known is not None and known != lineage:
                raise f.UnusableEvent(f"submission {sid} is stored already, as a version of {known}")
        old = store.fact(lineage)
        new = f.fact_from_submission(lineage, data)
        if old is not None and old.form != new.form:
            # the intake refuses such a correction; stored, the old form's ledger rows (a rectification's
            # mark, an inspection's hazards) would outlive it and differ from a recomputation
            raise f.UnusableEvent(f"a version of a {old.form} cannot be a {new.form}")
        effects = _checked(new)
        store.add_version(sid, lineage)
        _commit_fact(store, changes, old, new, effects)
        lineages_stored.add(sid)
    elif event.type == f.REVIEWED:
        sid = _str(data, "submission_id")
        lineage = store.lineage_of(sid)
        old = store.fact(lineage) if lineage else None
        if old is None:
            raise f.UnusableEvent(f"review of unknown submission {sid}")
        if old.submission_id != sid:
            return  # a review of a version that has since been replaced changes nothing that counts
        new = old.reviewed(_str(data, "status"))
        _commit_fact(store, changes, old, new, _checked(new))
    else:
        raise f.UnusableEvent(f"unknown event type {event.type!r}")


def _checked(fact: f.Fact) -> _Effects:
    """Derive everything the rollups will need from ``fact`` before anything is written, so that a payload
    missing a field is dead-lettered on its own instead of failing (and endlessly retrying) its batch."""
    try:
        effects = _effects(fact)
        _ = fact.hazards
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:  # inf: round(1e308 * 10)
        raise f.UnusableEvent(f"payload lacks what the rollups need: {exc!r}") from exc
    _fits(
        fact,
        {metric: value for (_d, _day, _i, metric), value in effects.cells.items()},
        effects.rectification,
    )
    return effects


def _checked_new(fact: f.Fact) -> _NewEffects:
    """``_checked`` for a fact that replaces nothing (the bulk path)."""
    try:
        effects = _NewEffects(metrics(fact), memberships(fact), rectification(fact))
        _ = fact.hazards
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:  # inf: round(1e308 * 10)
        raise f.UnusableEvent(f"payload lacks what the rollups need: {exc!r}") from exc
    _fits(fact, effects.metrics, effects.rectification)
    return effects


#: The most one event may add to a cell: far above any real count (an inspection's items, a survey's score
#: sums), and far enough below the 64-bit columns that sums of billions of events cannot overflow them.
MAX_CONTRIBUTION = 2**31 - 1


_W_ID, _W_FORM, _W_DISTRICT = FACT_WIDTHS["lineage_id"], FACT_WIDTHS["form"], FACT_WIDTHS["district"]
_W_ENTERPRISE, _W_INDUSTRY, _W_STATUS = (
    FACT_WIDTHS["enterprise"],
    FACT_WIDTHS["industry"],
    FACT_WIDTHS["review_status"],
)
_W_SEVERITY, _W_CATEGORY, _W_HAZARD = (
    HAZARD_WIDTHS["severity"],
    HAZARD_WIDTHS["category"],
    HAZARD_WIDTHS["hazard_id"],
)


def _fits(fact: f.Fact, metrics: dict[str, int], mark: tuple[str, date, bool] | None) -> None:
    """Refuse a fact whose rows the database would refuse: a text wider than its column, a NUL character
    (PostgreSQL's text cannot hold one) or a lone surrogate, a number too large for a cell.  Each failed the
    whole batch, retried for ever; the intake never sends one, another producer on the topic might (the event
    fuzz test found each).  Runs for every event: the checks are few C-level calls over all the texts at once
    (~2 us; one call per text and metric was ~9 us, a seventh of the consumer's Python per event)."""
    if metrics and (max(metrics.values()) > MAX_CONTRIBUTION or min(metrics.values()) < -MAX_CONTRIBUTION):
        raise f.UnusableEvent(f"a figure of the payload is beyond ±{MAX_CONTRIBUTION}")
    hazards = fact.hazards
    enterprise = fact.enterprise or ""
    texts = [
        fact.lineage_id,
        fact.submission_id,
        fact.form,
        fact.district,
        enterprise,
        fact.industry,
        fact.review_status,
        *metrics,
    ]
    for h in hazards:
        texts += (h.severity, h.category, h.item_code)
    if mark is not None:
        texts.append(mark[0])
    joined = "".join(texts)
    if "\0" in joined or not (joined.isascii() or _utf8(joined)):
        raise f.UnusableEvent("a text of the payload holds a NUL character or a lone surrogate")
    if (
        len(fact.lineage_id) > _W_ID
        or len(fact.submission_id) > _W_ID
        or len(fact.form) > _W_FORM
        or len(fact.district) > _W_DISTRICT
        or len(enterprise) > _W_ENTERPRISE
        or len(fact.industry) > _W_INDUSTRY
        or len(fact.review_status) > _W_STATUS
        or (metrics and max(map(len, metrics)) > METRIC_WIDTH)
        or (mark is not None and len(mark[0]) > _W_HAZARD)
        or any(
            len(h.severity) > _W_SEVERITY
            or len(h.category) > _W_CATEGORY
            or len(fact.lineage_id) + 1 + len(h.item_code) > _W_HAZARD
            for h in hazards
        )
    ):
        raise f.UnusableEvent("a text of the payload is wider than its column")


def _utf8(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (a lone surrogate, from a "\\ud800" escape, has none)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _commit_fact(store: Store, changes: _Changes, old: f.Fact | None, new: f.Fact, effects: _Effects) -> None:
    store.put_fact(new)
    changes.change(_effects(old) if old else None, effects)
    if new.form == "factory_inspection":
        store.replace_inspection_hazards(new)
    elif new.form == "hazard_rectification":
        store.put_rectification(new.lineage_id, effects.rectification)


def _payload(d: Delivery) -> dict[str, Any]:
    """The payload of a delivery's event: the source's parse if it kept one, else parsed here, from the
    record's bytes when the source has them (orjson reads UTF-8 bytes directly; a str would be encoded again).
    Parsed per event (``prepare``; again on the careful path) and not kept: see ``envelope.check_kafka``."""
    assert d.event is not None
    try:
        if d.data is not None:
            data = d.data
        else:
            data = parse_json(d.raw_value if d.raw_value is not None else d.event.data_json)
    except json.JSONDecodeError as exc:
        raise _NotJson(f"payload is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise f.UnusableEvent("payload is not a JSON object")
    return data


class _NotJson(f.UnusableEvent):
    """A payload that is not JSON: from a source that checked it (``Delivery.json_checked``) an unusable
    event; from one that did not, a record that breaks the envelope (``envelope.check_kafka``)."""


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise f.UnusableEvent(f"payload lacks {key}")
    return value
