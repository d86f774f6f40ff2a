"""The aggregator's use cases: apply events, rebuild, verify, report."""
