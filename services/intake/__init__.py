"""Intake service: field forms in, validated submissions and their events out.

The way in: ``entrypoints`` (Flask, thin) -> ``forms`` (validation contract) -> ``service_layer`` (one unit
of work per request) -> ``domain`` (rules, events) -> ``adapters`` (tables, repository) + the outbox.
"""
