"""Rollup changes reach the compacted rollup topic: the latest record per district x period is the figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from services.eventlog.kafka import client_security
from tests.builders import inspection
from tests.conftest import build_system, migrated, real_settings
from tests.topics import read_topic


@pytest.mark.kafka
@pytest.mark.postgres
def test_the_latest_rollup_record_per_key_is_the_current_figure(request: pytest.FixtureRequest) -> None:
    system = build_system(migrated(real_settings(request)))
    first = inspection(district="330784", enterprise=1)
    assert system.post(first).status_code == 201
    system.sync()
    assert system.post(inspection(district="330784", enterprise=2)).status_code == 201
    assert system.post(inspection(district="330102", enterprise=3)).status_code == 201
    system.sync()
    while system.consumer.publish_rollups():
        pass

    admin = KafkaAdminClient(
        bootstrap_servers=system.settings.kafka_bootstrap_servers, **client_security(system.settings)
    )
    configs = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, system.settings.rollup_topic, {"cleanup.policy": None})]
    )
    admin.close()
    assert "compact" in json.dumps(configs, default=str)

    records = read_topic(system.settings.kafka_bootstrap_servers, system.settings.rollup_topic)
    latest = {r.key.decode(): json.loads(r.value) for r in records}
    schema = json.loads(
        (Path(__file__).parents[2] / "schemas/events/rollup.updated.v1.schema.json").read_text()
    )
    for r in records:
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(json.loads(r.value))
        assert dict(r.headers)["ce_type"] == b"org.ilo.score.rollup.updated.v1"
    system.consumer.close()
    assert latest["330784:quarter:2026-Q4"]["figures"]["inspections"] == 2
    assert latest["330700:quarter:2026-Q4"]["figures"]["inspections"] == 2  # Jinhua includes Yongkang
    assert latest["330100:month:2026-11"]["figures"]["inspections"] == 1
    assert latest["330000:year:2026"]["figures"]["inspections"] == 3
    assert latest["330784:day:2026-11-20"]["district"]["name_zh"] == "永康市"
