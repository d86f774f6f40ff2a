"""Who may do what on the event stream: the Kafka users of each role and their ACLs, in one place.

The broker runs with ``allow.everyone.if.no.acl.found=false``, so a user may do exactly what is granted here:

- ``relay``: WRITE the submissions topic (the idempotent producer needs nothing more on Kafka 4.x);
- ``aggregator``: READ the submissions topic and its consumer group (prefixed: ``score-aggregator`` also
  covers ``score-aggregator-rebuild``-style names), WRITE the dead-letter and rollup topics;
- ``integrator``: READ the public topics (submissions, dead letters, rollups) and the consumer groups under
  its own prefix (by default ``<user>.``), nothing else: no write, no other group, no other topic.

The admin (a super user) creates topics and calls these functions; ``deploy/local/kafka/kafka`` runs
``python -m services.eventlog.access`` to set up the local broker's users, and the tests call :func:`grant`
for their own per-test topics.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    UserScramCredentialUpsertion,
)

from services.common.config import Settings, from_env
from services.eventlog.kafka import client_security, closed_if_refused

ROLES = ("relay", "aggregator", "integrator")


def integrator_group_prefix(user: str) -> str:
    """The consumer groups an integrator may use: its own name and a dot, e.g. ``acme.reports``."""
    return f"{user}."


def role_acls(role: str, user: str, settings: Settings, group_prefix: str | None = None) -> list[ACL]:
    """The ALLOW ACLs of ``user`` acting as ``role`` on the topics and group named in ``settings``."""
    principal = f"User:{user}"

    def allow(op: ACLOperation, kind: ResourceType, name: str, prefixed: bool = False) -> ACL:
        pattern = ACLResourcePatternType.PREFIXED if prefixed else ACLResourcePatternType.LITERAL
        return ACL(principal, "*", op, ACLPermissionType.ALLOW, ResourcePattern(kind, name, pattern))

    topic, read, write = ResourceType.TOPIC, ACLOperation.READ, ACLOperation.WRITE
    if role == "relay":
        return [allow(write, topic, settings.topic)]
    if role == "aggregator":
        return [
            allow(read, topic, settings.topic),
            allow(read, ResourceType.GROUP, settings.consumer_group, prefixed=True),
            allow(write, topic, settings.dead_letter_topic),
            allow(write, topic, settings.rollup_topic),
        ]
    if role == "integrator":
        prefix = group_prefix if group_prefix is not None else integrator_group_prefix(user)
        if not prefix:
            raise ValueError("an integrator's group prefix must not be empty (it would match every group)")
        return [
            allow(read, topic, settings.topic),
            allow(read, topic, settings.dead_letter_topic),
            allow(read, topic, settings.rollup_topic),
            allow(read, ResourceType.GROUP, prefix, prefixed=True),
        ]
    raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")


def admin_client(settings: Settings, request_timeout_ms: int = 30000) -> KafkaAdminClient:
    """An admin client logged in as the user in ``settings`` (a super user for the functions below)."""
    return closed_if_refused(
        KafkaAdminClient,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="score-access",
        request_timeout_ms=request_timeout_ms,
        **client_security(settings),
    )


def set_password(admin: KafkaAdminClient, user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> None:
    """Create ``user`` or change its password."""
    errors = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, mechanism, password)])
    failed = {name: err for name, err in errors.items() if err}
    if failed:
        raise RuntimeError(f"setting the SCRAM credential of {user!r} failed: {failed}")


def _user_acls(admin: KafkaAdminClient, user: str) -> set[tuple[int, str, int, int, int]]:
    any_resource = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
    found, _error = admin.describe_acls(
        ACLFilter(f"User:{user}", None, ACLOperation.ANY, ACLPermissionType.ANY, any_resource)
    )
    return {_key(a) for a in found}


def _key(acl: ACL) -> tuple[int, str, int, int, int]:
    p = acl.resource_pattern
    return (
        int(p.resource_type),
        str(p.resource_name),
        int(p.pattern_type),
        int(acl.operation),
        int(acl.permission_type),
    )


def grant(
    admin: KafkaAdminClient,
    role: str,
    user: str,
    settings: Settings,
    *,
    group_prefix: str | None = None,
    timeout_s: float = 30.0,
) -> list[ACL]:
    """Give ``user`` the ACLs of ``role`` and return once the broker enforces them.

    Creating an ACL commits it in the controller's metadata log; the broker applies it a moment later. The
    broker answers DescribeAcls from the authorizer it checks requests with, so once every ACL is listed
    there, a client using them is not refused by a race.
    """
    acls = role_acls(role, user, settings, group_prefix)
    result = admin.create_acls(acls)
    if result["failed"]:
        raise RuntimeError(f"creating the {role} ACLs of {user!r} failed: {result['failed']}")
    wanted = {_key(a) for a in acls}
    deadline = time.monotonic() + timeout_s
    while not wanted <= _user_acls(admin, user):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {role} ACLs of {user!r} were not in force after {timeout_s}s")
        time.sleep(0.1)
    return acls


def provision(settings: Settings, passwords: dict[str, str], *, timeout_s: float = 60.0) -> None:
    """Create each role's user (named after the role) with its password and grant it its role.

    ``settings`` carries the admin login and the topic and group names the ACLs are for.
    """
    admin = admin_client(settings)
    try:
        for role in ROLES:
            set_password(admin, role, passwords[role], settings.kafka_sasl_mechanism)
            grant(admin, role, role, settings, timeout_s=timeout_s)
    finally:
        admin.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Set up the local broker's users: what ``deploy/local/kafka/kafka start`` runs once it answers."""
    parser = argparse.ArgumentParser(
        prog="python -m services.eventlog.access",
        description="Create the relay, aggregator and integrator users of a locked broker and grant each "
        "its role on the topics named by SCORE_TOPIC, SCORE_DEAD_LETTER_TOPIC, SCORE_ROLLUP_TOPIC and "
        "SCORE_CONSUMER_GROUP (defaults as in the README).",
    )
    parser.add_argument("--bootstrap", required=True, help="host:port of the broker")
    parser.add_argument(
        "--credentials-dir",
        required=True,
        type=Path,
        help="directory with <user>.password files: admin (to log in) and one per role",
    )
    args = parser.parse_args(argv)
    env = from_env()
    settings = Settings(
        kafka_bootstrap_servers=args.bootstrap,
        topic=env.topic,
        dead_letter_topic=env.dead_letter_topic,
        rollup_topic=env.rollup_topic,
        consumer_group=env.consumer_group,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_username="admin",
        kafka_password=(args.credentials_dir / "admin.password").read_text().strip(),
    )
    passwords = {role: (args.credentials_dir / f"{role}.password").read_text().strip() for role in ROLES}
    provision(settings, passwords)
    for role in ROLES:
        print(f"{role}: {', '.join(_describe(a) for a in role_acls(role, role, settings))}")
    return 0


def _describe(acl: ACL) -> str:
    p = acl.resource_pattern
    star = "*" if p.pattern_type == ACLResourcePatternType.PREFIXED else ""
    return f"{acl.operation.name} {p.resource_type.name.lower()} {p.resource_name}{star}"


if __name__ == "__main__":
    sys.exit(main())
