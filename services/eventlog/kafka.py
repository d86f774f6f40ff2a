"""Apache Kafka adapters (kafka-python 3): topics, the relay's producer and the consumer's source."""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)
from kafka.net.compat import KafkaNetClient
from kafka.structs import OffsetAndMetadata

from services.common.config import ConfigError, Settings
from services.eventlog import kafka_records
from services.eventlog.envelope import Event, KafkaRecord, MalformedEvent, check_kafka
from services.eventlog.source import NOTHING, Delivery, LogRecord, PositionOf

log = logging.getLogger(__name__)


def client_security(settings: Settings) -> dict[str, Any]:
    """The kafka-python keyword arguments that log a client in as ``settings`` says: the one place every
    client of ours (admin, producers, consumers, the log reader) gets them from."""
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        kwargs |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_username,
            "sasl_plain_password": settings.kafka_password,
        }
    if protocol in ("SSL", "SASL_SSL") and settings.kafka_ssl_cafile:
        kwargs["ssl_cafile"] = settings.kafka_ssl_cafile
    return kwargs


class KafkaLoginError(ConfigError):
    """The broker refused our login, or closed every request of a client that gave none."""


_Client = TypeVar("_Client")


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to log in to them: the broker arguments every client of ours shares.

    Built from the settings (:meth:`from_settings`) by the composition roots, or from a test broker's own
    address and login; the clients (:class:`KafkaPublisher`, :class:`KafkaEventSource`,
    :class:`DeadLetterPublisher`, :class:`KafkaLogReader`, the admin of :func:`ensure_topics`) take one instead
    of a bootstrap string and a loose dict of login arguments each.
    """

    bootstrap_servers: str
    #: kafka-python's security keyword arguments (:func:`client_security`); read-only, and never in a repr:
    #: they hold the password
    security: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", MappingProxyType(dict(self.security)))

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConnection:
        """The brokers and the login ``settings`` name (``services.common.config`` read them)."""
        return cls(settings.kafka_bootstrap_servers, client_security(settings))

    def client_kwargs(self) -> dict[str, Any]:
        """The kafka-python keyword arguments of this connection (``KafkaConsumer(**c.client_kwargs(), ...)``)."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.security}

    def client(self, make: Callable[..., _Client], **kwargs: Any) -> _Client:
        """``make(**self.client_kwargs(), **kwargs)``, with a refused login named as one.

        Raises :class:`KafkaLoginError` (user, broker, the broker's reason, the settings to check) instead of
        kafka-python's bare bootstrap timeout when the broker refused the login or closes every connection of
        a client without one; any other failure is raised as it is.
        """
        try:
            return closed_if_refused(make, **self.client_kwargs(), **kwargs)
        except KafkaTimeoutError as exc:
            error = _login_error(self.bootstrap_servers, self.security)
            if error is None:
                raise
            log.error("%s", error)
            raise error from exc


def closed_if_refused(make: Callable[..., _Client], **kwargs: Any) -> _Client:
    """``make(**kwargs)`` (a kafka-python client class), its network client closed if the constructor fails.

    kafka-python starts a client's IO thread before its first bootstrap, and a constructor that then raises
    (no broker within ``bootstrap_timeout_ms``, a refused login) left that thread running for the life of the
    process, reconnecting with jittered backoff: one more after every failed start of a relay or consumer that
    retries while the broker is down.  The documented ``kafka_client`` option lets us keep hold of the network
    client it builds and close it."""
    made: list[KafkaNetClient] = []

    def tracked(*args: Any, **config: Any) -> KafkaNetClient:
        client = KafkaNetClient(*args, **config)
        made.append(client)
        return client

    try:
        return make(**kwargs, kafka_client=tracked)
    except BaseException:
        for client in made:
            try:
                client.close()
            except Exception:  # closing what never worked must not hide why it did not
                log.debug("closing a half-built Kafka client failed", exc_info=True)
        raise


def _login_error(bootstrap_servers: str, security: Mapping[str, Any]) -> KafkaLoginError | None:
    protocol = security.get("security_protocol", "PLAINTEXT")
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL") and str(security.get("sasl_mechanism", "")).startswith(
        "SCRAM-"
    ):
        reason = _scram_refusal(bootstrap_servers, security)
        if reason is not None:
            return KafkaLoginError(
                f"Kafka at {bootstrap_servers} refused the login of user {security.get('sasl_plain_username')!r} "
                f"({security.get('sasl_mechanism')}): {reason}. Check SCORE_KAFKA_USERNAME and "
                "SCORE_KAFKA_PASSWORD / SCORE_KAFKA_PASSWORD_FILE (and SCORE_KAFKA_SASL_MECHANISM)."
            )
    if protocol == "PLAINTEXT" and _accepts_tcp(bootstrap_servers):
        return KafkaLoginError(
            f"Kafka at {bootstrap_servers} accepts connections but answered no request of a client without a "
            "login: the broker requires authentication. Set SCORE_KAFKA_USERNAME and "
            "SCORE_KAFKA_PASSWORD_FILE (SCORE_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL)."
        )
    return None


def _scram_refusal(
    bootstrap_servers: str, security: Mapping[str, Any], timeout_s: float = 10.0
) -> str | None:
    """Log in once with SCRAM, by hand, and say why the broker refused (None: accepted, or no answer).

    kafka-python cannot tell: a Kafka 4 broker usually closes the connection after a wrong password's proof
    instead of answering with the error, so kafka-python sees "socket disconnected" and retries as if the
    broker were down. Here that close, right after the proof, is the refusal. SaslHandshake v1 and
    SaslAuthenticate v0 are the two requests (KIP-152); the SCRAM arithmetic is kafka-python's own.
    """
    from kafka.net.sasl.scram import ScramClient

    server = bootstrap_servers.split(",")[0].strip()
    host, _, port = server.rpartition(":")
    scram = ScramClient(
        str(security.get("sasl_plain_username", "")),
        str(security.get("sasl_plain_password", "")),
        str(security["sasl_mechanism"]),
    )
    try:
        sock: socket.socket = socket.create_connection(
            (host.strip("[]") or "localhost", int(port)), timeout_s
        )
    except (OSError, ValueError):
        return None  # down or unreachable: not a login problem
    try:
        if security.get("security_protocol") == "SASL_SSL":
            context = ssl.create_default_context(cafile=security.get("ssl_cafile") or None)
            sock = context.wrap_socket(sock, server_hostname=host.strip("[]"))
        error, mechanisms = _handshake(sock, str(security["sasl_mechanism"]))
        if error:
            return f"the broker offers {', '.join(mechanisms) or 'no SASL mechanism'} (error {error})"
        error, message, server_first = _authenticate(sock, 2, scram.first_message())
        if error:
            return message or f"error {error}"
        scram.process_server_first_message(server_first)
        try:
            error, message, _ = _authenticate(sock, 3, scram.final_message())
        except ConnectionError:
            return "the broker closed the connection on the password's proof: wrong user name or password"
        return (message or f"error {error}") if error else None
    except (OSError, ValueError, struct.error):
        return None
    finally:
        sock.close()


def _request(sock: socket.socket, api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """Send one request (header v1) and return the response body after its correlation id."""
    client_id = b"score-login-check"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    size = struct.unpack(">i", _read(sock, 4))[0]
    response = _read(sock, size)
    if struct.unpack(">i", response[:4])[0] != correlation_id:
        raise ValueError("unexpected correlation id")
    return response[4:]


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed by the broker")
        data += chunk
    return data


def _handshake(sock: socket.socket, mechanism: str) -> tuple[int, list[str]]:
    name = mechanism.encode()
    body = _request(sock, 17, 1, 1, struct.pack(">h", len(name)) + name)  # SaslHandshake v1
    error, count = struct.unpack(">hi", body[:6])
    mechanisms, at = [], 6
    for _ in range(max(count, 0)):
        (length,) = struct.unpack(">h", body[at : at + 2])
        mechanisms.append(body[at + 2 : at + 2 + length].decode())
        at += 2 + length
    return error, mechanisms


def _authenticate(sock: socket.socket, correlation_id: int, token: bytes) -> tuple[int, str, bytes]:
    body = _request(sock, 36, 0, correlation_id, struct.pack(">i", len(token)) + token)  # SaslAuthenticate v0
    error, length = struct.unpack(">hh", body[:4])
    message = body[4 : 4 + length].decode("utf-8", "replace") if length > 0 else ""
    at = 4 + max(length, 0)
    (size,) = struct.unpack(">i", body[at : at + 4])
    return error, message, body[at + 4 : at + 4 + max(size, 0)]


def _accepts_tcp(bootstrap_servers: str) -> bool:
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=2):
                return True
        except (OSError, ValueError):
            continue
    return False


def topic_specs(settings: Settings) -> dict[str, dict[str, Any]]:
    """The project's topics as ``create_topics`` arguments.

    ``replication_factor`` -1 and no ``min.insync.replicas`` leave both to the broker (1 and 1 on the
    single-node development broker); a cluster sets ``SCORE_TOPIC_REPLICATION_FACTOR=3`` and
    ``SCORE_TOPIC_MIN_INSYNC_REPLICAS=2``, so that with the relay's ``acks=all`` an acknowledged record is on
    two disks at least and one broker may be lost at any time without stopping the relay.
    """
    replicas = settings.topic_replication_factor
    durability: dict[str, str] = {}
    if settings.topic_min_insync_replicas > 0:
        durability["min.insync.replicas"] = str(settings.topic_min_insync_replicas)
    return {
        settings.topic: {
            "num_partitions": settings.topic_partitions,
            "replication_factor": replicas,
            "configs": {
                "retention.ms": str(settings.topic_retention_ms),
                "retention.bytes": "-1",
                **durability,
            },
        },
        settings.dead_letter_topic: {
            "num_partitions": 1,
            "replication_factor": replicas,
            "configs": {"retention.ms": "-1", **durability},
        },
        settings.rollup_topic: {
            "num_partitions": settings.topic_partitions,
            "replication_factor": replicas,
            "configs": {"cleanup.policy": "compact", **durability},
        },
    }


def ensure_topics(settings: Settings, timeout_s: float = 30.0, only: Sequence[str] | None = None) -> None:
    """Create the project's topics if missing (``only``: just these of them).

    Submission events are kept for ever (``retention.ms=-1``) so any consumer can rebuild from the start; the
    rollup topic is compacted (latest value per district+period key). On a locked broker creating needs the
    admin's login (``score migrate``); a service that may only use its topics asks for ``only`` those, which
    then must exist already.
    """
    admin = KafkaConnection.from_settings(settings).client(
        KafkaAdminClient, client_id="score-admin", request_timeout_ms=30000
    )
    try:
        wanted = topic_specs(settings)
        if only is not None:
            wanted = {name: spec for name, spec in wanted.items() if name in only}
        existing = set(admin.list_topics())  # on a locked broker: the topics this user may see
        missing = {name: spec for name, spec in wanted.items() if name not in existing}
        if missing:
            try:
                admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass  # another process won the race; that is fine
            except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError) as exc:
                raise KafkaLoginError(
                    f"user {settings.kafka_username!r} may not create the topics {sorted(missing)} on "
                    f"{settings.kafka_bootstrap_servers} ({type(exc).__name__}): create them with the "
                    "admin's login (score migrate), or grant this user its role (services/eventlog/access.py)"
                ) from exc
        admin.wait_for_topics(list(wanted), timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()


class KafkaPublisher:
    """Idempotent producer (acks=all): ``publish`` returns only when every record was acknowledged."""

    def __init__(self, connection: KafkaConnection, topic: str, delivery_timeout_ms: int = 20000) -> None:
        self.topic = topic
        linger_ms = 5
        self._producer = connection.client(
            KafkaProducer,
            client_id="score-relay",
            acks="all",
            enable_idempotence=True,
            max_in_flight_requests_per_connection=5,  # idempotence keeps per-partition order with 5 in flight
            linger_ms=linger_ms,
            compression_type=None,
            # Shorter than the relay lease, so a stalled relay gives up before another may take over.
            delivery_timeout_ms=delivery_timeout_ms,
            # kafka-python requires delivery_timeout_ms >= linger_ms + request_timeout_ms.
            request_timeout_ms=min(10000, delivery_timeout_ms - linger_ms),
            # Bounded waits for a broker that is down: start-up, metadata and delivery together stay well
            # inside the relay's 60 s lease (10 + 10 + 20 s).
            bootstrap_timeout_ms=10000,
            max_block_ms=10000,
            reconnect_backoff_max_ms=2000,
        )

    def ready(self) -> None:
        """Connect and fetch the topic's metadata now, which the first send would otherwise wait for
        (raises ``KafkaTimeoutError`` after ``max_block_ms``); the relay benchmark times sending only."""
        self._producer.partitions_for(self.topic)

    def publish(self, events: Sequence[Event], topic: str | None = None) -> None:
        futures = self.send(events, topic)
        self._producer.flush()
        for f in futures:
            f.get(timeout=0)  # raises the delivery error, if any

    def send(self, events: Sequence[Event], topic: str | None = None) -> list[Any]:
        """Hand ``events`` to the producer without waiting (see :meth:`send_records`)."""
        return self.send_records([(e.kafka_key(), e.kafka_value(), e.kafka_headers()) for e in events], topic)

    def send_records(self, records: Sequence[KafkaRecord], topic: str | None = None) -> list[Any]:
        """Hand ``(key, value, headers)`` records to the producer without waiting: one future per record, in
        order (the relay keeps sending while earlier records are in flight).  ``future.get()`` raises the
        delivery error, if any; records of one partition are delivered in the order sent or not at all
        (idempotence)."""
        send, name = self._producer.send, topic or self.topic
        return [send(name, key=key, value=value, headers=headers) for key, value, headers in records]

    def close(self) -> None:
        try:
            self._producer.close(timeout=5)
        except KafkaTimeoutError:
            # kafka-python's close() flushes first and, when that times out (the broker away), raises before it
            # stops its network thread, which then retried the broker for the life of the process: one more
            # for every publisher the relay dropped during an outage.  What was not sent is still unmarked in
            # the outbox; stop the thread without sending it.
            sender = self._producer._sender
            if sender is not None:
                sender.force_close()
                sender.join(5)
            raise


@dataclass
class DeadLetterPublisher:
    """Copies records a consumer could not apply to the dead-letter topic, as received, with the reason.

    The original key, value and CloudEvents headers are kept; ``score_dlq_reason``, ``score_dlq_source``,
    ``score_dlq_partition`` and ``score_dlq_offset`` headers say why and where from.  The producer connects
    on the first dead letter, not before.
    """

    connection: KafkaConnection
    topic: str
    consumer: str  #: whose records these are (``score_dlq_source``)
    _producer: KafkaProducer | None = field(default=None, init=False, repr=False)

    def send(self, rejected: Sequence[tuple[Delivery, str]]) -> None:
        if self._producer is None:
            self._producer = self.connection.client(KafkaProducer, client_id="score-dlq", acks="all")
        for d, reason in rejected:
            headers = list(d.event.kafka_headers()) if d.event is not None else []
            headers += [
                ("score_dlq_reason", reason.encode()[:1000]),
                ("score_dlq_source", self.consumer.encode()),
                ("score_dlq_partition", str(d.partition).encode()),
                ("score_dlq_offset", str(d.offset).encode()),
            ]
            key = d.event.kafka_key() if d.event is not None else d.raw_key
            value = d.event.kafka_value() if d.event is not None else d.raw_value
            self._producer.send(self.topic, key=key, value=value, headers=headers)
        self._producer.flush(timeout=30)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, source: KafkaEventSource) -> None:
        self._source = source

    def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))
        self._source.seek_to_stored(assigned)


class KafkaEventSource:
    """A consumer-group member that resumes from the positions its owner stored with its effects.

    Seeking is an optimisation, not what keeps the figures exact: the consumer's transaction drops records at
    or before its stored position and refuses one that does not follow it (``apply.PositionGap``).  So when
    the database is down during a rebalance and the stored positions cannot be read, the member may start from
    the group's committed offsets (committed only after the database commit, so never ahead of it) or the
    beginning, and the worst outcome is re-reading records it then drops.
    """

    def __init__(
        self,
        connection: KafkaConnection,
        topic: str,
        group_id: str,
        position_of: PositionOf,
        metadata_timeout_s: float = 60.0,
    ) -> None:
        self._topic = topic
        self._position_of = position_of
        self._last_polled: dict[int, int] = {}  # partition -> offset of the last record polled
        self._consumer = connection.client(
            KafkaConsumer,
            group_id=group_id,
            client_id=f"{group_id}-member",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            session_timeout_ms=10000,
            heartbeat_interval_ms=3000,
            # While catching up the consumer asks for up to 10,000 records a poll; with the default 1 MiB per
            # partition a fetch carries ~750 of our ~1.3 KB records, so a batch waited on several fetch round
            # trips.  8 MiB per partition (32 MiB a response) lets one or two fetches fill it.
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
        )
        # the records of each fetch decoded by our loop, not kafka-python's (~23 -> ~12 us a record, the same
        # ConsumerRecords: see kafka_records)
        kafka_records.install(self._consumer)
        # Join the group only once this client knows the topic's partitions.  A group leader that assigns
        # without them (kafka-python's assignors log "No partition metadata for topic") hands out nothing and
        # only notices at the next metadata refresh, minutes later: members that sit idle meanwhile.
        deadline = time.monotonic() + metadata_timeout_s
        while not self._consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                self._consumer.close(autocommit=False)
                raise TimeoutError(f"topic {topic!r} has no partitions after {metadata_timeout_s}s")
            time.sleep(0.2)
        self._consumer.subscribe([topic], listener=_Rebalance(self))

    def seek_to_stored(self, partitions: Any) -> None:
        """Start each partition after its stored position; if the database cannot say, keep Kafka's start."""
        for tp in partitions:
            try:
                last = self._position_of(tp.partition)
            except Exception as exc:  # noqa: BLE001 - see the class docstring: a later check catches any gap
                log.warning(
                    "stored position of partition %d unreadable (%s); the apply step will check it",
                    tp.partition,
                    exc,
                )
                continue
            self._seek_after(tp, NOTHING if last is None else last)

    def _seek_after(self, tp: TopicPartition, last: int) -> None:
        if last == NOTHING:
            self._consumer.seek_to_beginning(tp)
        else:
            self._consumer.seek(tp, last + 1)

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Delivery]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        out: list[Delivery] = []
        for tp, records in sorted(batches.items(), key=lambda kv: kv[0].partition):
            for r in records:
                try:
                    event: Event | None
                    # the envelope without the payload's JSON: the consumer parses each payload once and keeps
                    # only what it derives (a batch of parsed payloads held in memory cost more than parsing
                    # twice, and parsing twice was ~5 us a record on this thread; see envelope.check_kafka)
                    event = check_kafka(r.key, r.value, r.headers)
                    error = None
                except MalformedEvent as exc:
                    event, error = None, str(exc)
                # Offsets of a topic written without transactions and never compacted are contiguous.
                out.append(
                    Delivery(
                        tp.partition,
                        r.offset,
                        event,
                        error,
                        r.key,
                        r.value,
                        after=r.offset - 1,
                        json_checked=False,
                    )
                )
            if records:
                self._last_polled[tp.partition] = records[-1].offset
        return out

    def rewind(self, after: dict[int, int]) -> None:
        assigned = {tp.partition for tp in self._consumer.assignment()}
        for partition, last in after.items():
            if partition in assigned:  # a partition revoked meanwhile is its new owner's to read
                self._seek_after(TopicPartition(self._topic, partition), last)

    def committed(self, positions: dict[int, int]) -> None:
        offsets = {
            TopicPartition(self._topic, p): OffsetAndMetadata(o + 1, "", -1) for p, o in positions.items()
        }
        try:
            self._consumer.commit_async(offsets)
        except Exception:  # noqa: BLE001 - lag reporting only; the database holds the real positions
            log.debug("offset commit for lag reporting failed", exc_info=True)

    def behind(self) -> bool | None:
        """True while an assigned partition holds records past the last one polled (from the high-water
        marks of the latest fetches: no request to the broker); None when no mark is known yet."""
        known = False
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            known = True
            if self._last_polled.get(tp.partition, -1) < high - 1:
                return True
        return False if known else None

    def end_positions(self) -> dict[int, int]:
        parts = self._consumer.partitions_for_topic(self._topic) or set()
        ends = self._consumer.end_offsets([TopicPartition(self._topic, p) for p in parts])
        return {tp.partition: off - 1 for tp, off in ends.items()}

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class KafkaLogReader:
    """Reads the submissions topic outside any consumer group: verify's view of the log, and the /metrics
    reconciliation (how many records lie at or before a position)."""

    def __init__(self, connection: KafkaConnection, topic: str) -> None:
        self._topic = topic
        self._consumer = connection.client(
            KafkaConsumer,
            client_id="score-log-reader",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
            # /metrics uses this reader: a broker that is down must make it answer late, not hang
            bootstrap_timeout_ms=5000,
            request_timeout_ms=10000,
        )

    def _partitions(self) -> list[TopicPartition]:
        parts = self._consumer.partitions_for_topic(self._topic) or set()
        return [TopicPartition(self._topic, p) for p in sorted(parts)]

    def bounds(self) -> dict[int, tuple[int, int]]:
        """Per partition: (first offset still in the log, offset the next record will get)."""
        tps = self._partitions()
        starts = self._consumer.beginning_offsets(tps)
        ends = self._consumer.end_offsets(tps)
        return {tp.partition: (starts[tp], ends[tp]) for tp in tps}

    def records_through(self, positions: dict[int, int]) -> dict[int, int]:
        bounds = self.bounds()
        return {
            p: max(0, min(pos + 1, bounds[p][1]) - bounds[p][0])
            for p, pos in positions.items()
            if p in bounds
        }

    def end_positions(self) -> dict[int, int]:
        return {p: end - 1 for p, (_start, end) in self.bounds().items()}

    def scan(self, timeout_s: float = 300.0) -> Iterator[LogRecord]:
        """Every record up to the end offsets of the moment the scan starts, partition by partition."""
        bounds = self.bounds()
        for partition, (start, end) in bounds.items():
            if end <= start:
                continue
            tp = TopicPartition(self._topic, partition)
            self._consumer.assign([tp])
            self._consumer.seek(tp, start)
            deadline = time.monotonic() + timeout_s
            next_offset = start
            while next_offset < end:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"reading partition {partition} of {self._topic} took over {timeout_s}s"
                    )
                for records in self._consumer.poll(timeout_ms=1000).values():
                    for r in records:
                        if r.offset < end:
                            ids = [v for k, v in r.headers if k == "ce_id"]
                            event_id = ids[0].decode("utf-8", "replace") if ids else None
                            yield LogRecord(partition, r.offset, event_id)
                # the fetch position, not the last record: it also steps over offsets that hold no record
                next_offset = self._consumer.position(tp) or next_offset

    def close(self) -> None:
        self._consumer.close(autocommit=False)
