"""Roles, permissions and district scopes: plain rules, no database, no web.

A credential (an API token, a device token or a public survey link) names an account, one or more roles and
the GB/T 2260 districts it is scoped to.  A scope covers the district itself and every district below it
(DHIS2's organisation units): a Jinhua 330700 bureau reads Yongkang 330784, not Hangzhou 330100.

| role        | may                                                                           |
|-------------|-------------------------------------------------------------------------------|
| collector   | post submissions (any form) filed under its districts, upload evidence photos and |
|             | read its own; list the hazards still open in its districts                    |
| reviewer    | read and review submissions of its districts (and the photos they name); read |
|             | their reports                                                                 |
| ministry    | read every report (the whole hierarchy); reviews nothing, reads no submission |
| integrator  | read the reports of the districts it is granted (every read is audited)       |
| admin       | read the audit log and the operational metrics (tokens: the ``score`` CLI)     |
| survey      | only through a public link: post worker surveys for exactly one district      |
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.codes import ancestors, districts

ROLES = ("collector", "reviewer", "ministry", "integrator", "admin", "survey")
#: api: staff and systems; device: a field phone's long-lived token (ODK's app user); link: a public survey link
KINDS = ("api", "device", "link")

#: permission -> the roles that grant it
PERMISSIONS: dict[str, frozenset[str]] = {
    "submit": frozenset({"collector", "survey"}),
    "review": frozenset({"reviewer"}),
    "read_submission": frozenset({"reviewer"}),
    # evidence photos: collectors upload (a public survey link never: its form has no photos); a photo is read
    # by its uploader's account or by the reviewers of a district whose submissions name it
    "attach": frozenset({"collector"}),
    "read_attachment": frozenset({"collector", "reviewer"}),
    # the hazards still open in the credential's districts, for the rectification screen of a field device
    "read_hazards": frozenset({"collector"}),
    "read_report": frozenset({"reviewer", "ministry", "integrator"}),
    "operate": frozenset({"admin"}),
    "audit": frozenset({"admin"}),
}

#: the only form a public survey link may post
SURVEY_FORM = "worker_survey"

#: account names follow the forms' account-id rule: they are recorded as a submission's collector id
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Denied(Exception):
    """A request outside the credential's roles or districts (HTTP 403).  ``message`` in zh and en."""

    def __init__(self, code: str, message: dict[str, str], path: str = "") -> None:
        super().__init__(message.get("en", code))
        self.code = code
        self.message = message
        self.path = path


@dataclass(frozen=True)
class Principal:
    """Who is asking, as the credential says: never taken from a request body."""

    token_id: str
    name: str
    kind: str
    roles: frozenset[str]
    districts: tuple[str, ...]

    def can(self, permission: str) -> bool:
        return bool(self.roles & PERMISSIONS[permission])

    def covers(self, code: str, permission: str) -> bool:
        """May this credential exercise ``permission`` for district ``code``?"""
        if not self.can(permission):
            return False
        if permission == "read_report" and "ministry" in self.roles:
            return True  # the ministry reads the whole hierarchy
        if permission == "submit" and self.roles & PERMISSIONS["submit"] == {"survey"}:
            return code in self.districts  # a public link: its one district and nothing below or beside it
        chain = ancestors(code)
        return any(d in chain for d in self.districts)

    def may_submit_form(self, form: str) -> bool:
        return "collector" in self.roles or ("survey" in self.roles and form == SURVEY_FORM)


def check_grant(name: str, kind: str, roles: Iterable[str], scope: Iterable[str]) -> list[str]:
    """Every reason a credential with these properties cannot be issued (empty when it can)."""
    roles, scope = list(roles), list(scope)
    problems = []
    if not ACCOUNT_NAME.fullmatch(name):
        problems.append(
            f"name {name!r}: 1-64 ASCII letters, digits, '.', '_' or '-' (it is recorded as an id)"
        )
    if kind not in KINDS:
        problems.append(f"kind {kind!r}: one of {', '.join(KINDS)}")
    if not roles:
        problems.append("at least one role")
    for r in roles:
        if r not in ROLES:
            problems.append(f"role {r!r}: one of {', '.join(ROLES)}")
    table = districts()
    for code in scope:
        if code not in table or not table[code].active:
            problems.append(f"district {code!r}: an active GB/T 2260 code of Zhejiang")
    if kind == "link" and (set(roles) != {"survey"} or len(scope) != 1):
        problems.append("a public link has the role survey and exactly one district")
    if "survey" in roles and kind != "link":
        problems.append("the role survey is for public links only")
    needs_scope = set(roles) & {"collector", "reviewer", "integrator", "survey"}
    if needs_scope and not scope:
        problems.append(f"roles {', '.join(sorted(needs_scope))} need at least one district")
    return problems
