"""Aggregator service: events in, exact district rollups and MEM reports out.

The way through: ``entrypoints.consumer`` reads the event log -> ``service_layer.consumer`` applies each event
once, in one transaction with its position -> ``domain`` (facts and the KPI definitions) -> ``adapters``
(tables).  ``service_layer.reports`` and ``entrypoints.app`` read the rollups back; ``service_layer.verify``
recomputes them from the stored facts with the same KPI definitions.
"""
