"""The aggregator's own database: facts, base rollup cells, the hazard ledger and consumer positions."""
