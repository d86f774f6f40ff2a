"""The living demo: ``score demo seed`` sends a year of realistic field data through the intake's HTTP API.

A client of the API like any field phone (no import of the intake's internals): ``plan`` makes the data from
a seed (pure, deterministic), ``client`` speaks HTTP with the standard library, ``seed`` sends the plan in
the order a field team would and counts what the intake answered.
"""
