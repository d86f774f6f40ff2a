"""The aggregator's composition root: which log to read, which database to write."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from services.aggregator.service_layer.rollup_topic import publish_pending
from services.aggregator.service_layer.runner import Consumer
from services.common.config import Settings
from services.common.db import make_engine
from services.eventlog.kafka import (
    DeadLetterPublisher,
    KafkaConnection,
    KafkaEventSource,
    KafkaLogReader,
    KafkaPublisher,
)
from services.eventlog.source import EventSource, LogReader, PositionOf, SqlEventSource, SqlLogReader


@dataclass
class Aggregator:
    settings: Settings
    engine: Engine

    @property
    def source_name(self) -> str:
        s = self.settings
        return f"kafka:{s.topic}" if s.uses_kafka else "sql:outbox"

    def log_reader(self) -> LogReader:
        """The log as it is, read outside the consumer group (verify, the /metrics reconciliation)."""
        s = self.settings
        if s.uses_kafka:
            return KafkaLogReader(KafkaConnection.from_settings(s), s.topic)
        return SqlLogReader(make_engine(s.event_log_url, read_only=True))

    def consumer(self) -> Consumer:
        s = self.settings

        def make_source(position_of: PositionOf) -> EventSource:
            if s.uses_kafka:
                return KafkaEventSource(
                    KafkaConnection.from_settings(s), s.topic, s.consumer_group, position_of
                )
            return SqlEventSource(make_engine(s.event_log_url, read_only=True), position_of)

        sink = None
        rollups = None
        if s.uses_kafka:
            connection = KafkaConnection.from_settings(s)
            sink = DeadLetterPublisher(connection, s.dead_letter_topic, self.source_name).send
            publisher: list[KafkaPublisher] = []  # created on first use: the broker may be down at start-up

            def rollups() -> int:
                if not publisher:
                    publisher.append(KafkaPublisher(connection, s.rollup_topic))
                return publish_pending(self.engine, publisher[0], s.rollup_topic)

        return Consumer(
            self.engine, self.source_name, make_source, dead_letter_sink=sink, rollup_publisher=rollups
        )


def bootstrap(settings: Settings, engine: Engine | None = None) -> Aggregator:
    url = settings.aggregator_database_url
    # ping pooled connections only after idling: a consumer checks one out per batch (see make_engine)
    return Aggregator(settings, engine or make_engine(url, ping_idle_after=1.0, **settings.pool_kwargs(url)))
