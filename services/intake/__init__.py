"""Intake service: field forms in, validated submissions and their events out.

The way in: ``entrypoints`` (Flask, thin; domain error codes to HTTP statuses) -> ``forms`` (validation
contract, the error catalogue) -> ``service_layer`` (use cases, one unit of work per request) -> ``domain``
(rules, error codes, plain events) -> ``adapters`` (tables, repository, events as CloudEvents) + the outbox.
"""
