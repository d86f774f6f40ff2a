"""SCORE field-data platform: intake -> event log -> aggregator.

A submission travels: ``intake`` (validate, store with its outbox event in one transaction) ->
``eventlog`` (the outbox table itself on the embedded default, or Kafka via the relay) ->
``aggregator`` (exact district rollups, reports). ``common`` holds what both services share:
configuration, database engines and migrations, the code tables, the clock, and the parts of both web apps.
"""
