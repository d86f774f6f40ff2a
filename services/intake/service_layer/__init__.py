"""Use cases of the intake, each one transaction."""
