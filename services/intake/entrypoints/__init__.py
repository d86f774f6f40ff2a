"""Ways into the intake: the HTTP API (``app``)."""
