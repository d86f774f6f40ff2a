"""The broker connection every Kafka client of ours is given: built from the settings, read-only, no password
in its repr."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest

from services.common.config import Settings
from services.eventlog.kafka import KafkaConnection


def _locked_settings() -> Settings:
    return replace(
        Settings(),
        kafka_bootstrap_servers="broker-1:9092,broker-2:9092",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_username="relay",
        kafka_password="s3cret-password",
    )


def test_a_connection_from_the_settings_gives_the_servers_and_the_login() -> None:
    kwargs = KafkaConnection.from_settings(_locked_settings()).client_kwargs()
    assert kwargs == {
        "bootstrap_servers": "broker-1:9092,broker-2:9092",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "relay",
        "sasl_plain_password": "s3cret-password",
    }


def test_a_connection_without_a_login_is_plaintext() -> None:
    settings = replace(Settings(), kafka_bootstrap_servers="127.0.0.1:9092")
    assert KafkaConnection.from_settings(settings).client_kwargs() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_a_connection_cannot_be_changed_after_it_is_made() -> None:
    login = {"security_protocol": "PLAINTEXT"}
    connection = KafkaConnection("127.0.0.1:9092", login)
    login["security_protocol"] = "SASL_SSL"  # the caller's dict is copied, not kept
    assert connection.client_kwargs()["security_protocol"] == "PLAINTEXT"
    with pytest.raises(TypeError):
        connection.security["security_protocol"] = "SASL_SSL"  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        connection.bootstrap_servers = "elsewhere:9092"  # type: ignore[misc]


def test_the_password_is_never_in_a_repr() -> None:
    connection = KafkaConnection.from_settings(_locked_settings())
    assert "s3cret-password" not in repr(connection)
    assert "broker-1:9092" in repr(connection)
