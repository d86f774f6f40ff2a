"""Who may do what: credentials scoped to GB/T 2260 districts, and the append-only audit log.

Both services use this package through its small API (``bootstrap``, :class:`AccessStore`,
:class:`Principal`, and the Flask glue in :mod:`services.access.web`); neither imports the other's
internals.  Its tables have their own Alembic history (``score migrate`` runs it) in the database
``SCORE_ACCESS_DATABASE_URL`` names, by default the intake's.
"""

from __future__ import annotations

from services.access.model import (
    KINDS,
    PERMISSIONS,
    ROLES,
    Denied,
    Principal,
)
from services.access.store import AccessStore, Issued, TokenInfo, bootstrap

__all__ = [
    "KINDS",
    "PERMISSIONS",
    "ROLES",
    "AccessStore",
    "Denied",
    "Issued",
    "Principal",
    "TokenInfo",
    "bootstrap",
]
