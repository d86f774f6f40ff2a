"""Aggregator service: events in, exact district rollups and MEM reports out.

The way through: ``service_layer.runner`` (the consume loop) reads the event log (``services.eventlog.source``)
-> ``service_layer.apply`` applies each event once, in one transaction with its position -> ``domain`` (facts,
the KPI definitions, periods) -> ``adapters`` (tables, the store).  ``views`` holds every read model (district
reports, the /metrics reconciliation), which ``entrypoints.app`` serves; ``service_layer.verify`` recomputes
the rollups from the stored facts with the same KPI definitions and holds the facts against the log;
``bootstrap`` wires the log and the database the settings name.
"""
