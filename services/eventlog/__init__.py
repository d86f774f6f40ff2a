"""The event log both services agree on.

- ``envelope``: the CloudEvents 1.0 envelope and its Kafka binary-mode binding (the public contract).
- ``outbox``: the table an event is written to in the same transaction as the change it announces.
- ``source``: what a consumer reads: ``SqlEventSource`` (the outbox table in order; the embedded default)
  and ``KafkaEventSource`` behind one interface.
- ``relay``: moves outbox rows to Kafka, marking them only after the broker acknowledged them.
- ``kafka``: the Kafka side of all of these (topics, producers, the group member, the log reader).
- ``metrics``: the outbox's backlog and the relay's counters, for the intake's ``/metrics``.
"""
