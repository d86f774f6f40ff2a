"""Ways into the aggregator: the report API and dashboard (``app``); the consumer runs from the CLI."""
