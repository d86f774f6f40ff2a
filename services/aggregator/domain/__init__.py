"""Facts and KPI definitions: plain Python, shared by the incremental rollup and its verifier."""
