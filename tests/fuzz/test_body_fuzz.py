"""Hostile bytes at every endpoint that reads a JSON body: mutated corpus bodies with lone surrogates, keys
written twice and nesting 100,000 deep, posted to the intake app on SQLite.  Every answer must be one the
OpenAPI document promises (status, content type, body schema) and none may be a 5xx."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import inspection
from tests.conftest import System, build_system, migrated, sqlite_settings
from tests.documented import breaches
from tests.fuzz.mutations import fuzz_settings, raw_bodies, valid_corpus

EXAMPLES = 150
REVIEWS = (
    {"status": "approved", "reviewer": "bureau-yk-01"},
    {"status": "rejected", "reviewer": "bureau-yk-01", "comment": "照片缺失"},
    {"status": "has_issues", "reviewer": "bureau-hz-02", "comment": "请补充整改期限"},
)


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)

    def line(self) -> str:
        total = sum(self.statuses.values())
        server = sum(n for s, n in self.statuses.items() if s >= 500)
        spread = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return f"hypothesis hostile bodies: {total} requests, {server} responses 5xx ({spread})"


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory, fuzz_summary: Callable[[str], None]) -> Iterator[Any]:
    system: System = build_system(migrated(sqlite_settings(Path(tmp_path_factory.mktemp("bodies")))))
    reviewed = inspection()
    assert system.post(reviewed).status_code == 201
    tally = Tally()
    spec = system.client.get("/api/v1/openapi.json").get_json()

    def post(path: str, url: str, raw: bytes) -> None:
        resp = system.client.post(url, data=raw, content_type="application/json")
        tally.statuses[resp.status_code] += 1
        assert resp.status_code < 500, (url, raw[:300], resp.get_json())
        assert not breaches(spec, path, "POST", resp), (raw[:300], breaches(spec, path, "POST", resp))

    yield post, reviewed["submission_id"]
    fuzz_summary(tally.line())


SETTINGS = fuzz_settings(EXAMPLES)


@SETTINGS
@given(raw=raw_bodies(bodies=valid_corpus()))
def test_hostile_submissions_get_documented_answers(raw: bytes, intake: Any) -> None:
    post, _ = intake
    post("/api/v1/submissions", "/api/v1/submissions", raw)


def _batch_of(body: Any) -> dict[str, Any]:
    """The hostile body between two valid ones, so the batch's other items must still be judged."""
    seed = repr(body)  # fresh ids, the same on every run
    first, last = (
        {**b, "submission_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}{i}"))}
        for i, b in enumerate(valid_corpus()[:2])
    )
    return {"submissions": [first, body, last]}


@SETTINGS
@given(raw=st.one_of(raw_bodies(wrap=_batch_of, bodies=valid_corpus()), raw_bodies()))
def test_hostile_batches_get_documented_answers(raw: bytes, intake: Any) -> None:
    post, _ = intake
    post("/api/v1/submissions/batch", "/api/v1/submissions/batch", raw)


@SETTINGS
@given(raw=raw_bodies(bodies=REVIEWS))
def test_hostile_reviews_get_documented_answers(raw: bytes, intake: Any) -> None:
    post, submission_id = intake
    post("/api/v1/submissions/{submission_id}/review", f"/api/v1/submissions/{submission_id}/review", raw)
