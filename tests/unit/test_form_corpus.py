"""The published contract and the server agree: every example in schemas/examples is judged the same by the
JSON Schema (what form builders run) and by ``validate`` (what the server runs).

Invalid examples break one rule each and list the errors the server must report.  Those whose rule JSON
Schema cannot express say ``"jsonschema_can_tell": false``; for them we check that the JSON Schema really does
accept the body, so that the flag stays honest in both directions.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from services.intake.forms import Invalid, catalogue, jsonschema_export, validate
from services.intake.forms.errors import MESSAGES

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "schemas" / "examples"
FORMS = [entry["form"] for entry in catalogue()]
#: the corpus's "today": examples are dated in November 2026 and must not rot
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone(timedelta(hours=8)))


def examples(kind: str) -> list[Path]:
    return sorted(EXAMPLES.glob(f"*/{kind}/*.json"))


def example_id(path: Path) -> str:
    return f"{path.parts[-3]}/{path.stem}"


@cache
def json_schema_validator(form: str) -> Draft202012Validator:
    [entry] = [e for e in catalogue() if e["form"] == form]
    schema = json.loads((REPO / entry["schema"]).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


def json_schema_errors(form: str, body: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in json_schema_validator(form).iter_errors(body)]


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_corpus_has_enough_examples_of_each_form() -> None:
    for form in FORMS:
        assert len(list((EXAMPLES / form / "valid").glob("*.json"))) >= 3, form
        assert len(list((EXAMPLES / form / "invalid").glob("*.json"))) >= 6, form
    assert {p.name for p in EXAMPLES.iterdir() if p.is_dir()} == set(FORMS)


@pytest.mark.parametrize("form", FORMS)
def test_each_published_schema_is_a_valid_2020_12_schema(form: str) -> None:
    Draft202012Validator.check_schema(json_schema_validator(form).schema)


def test_the_committed_json_schemas_are_what_the_generator_produces() -> None:
    for path, content in jsonschema_export.outputs().items():
        assert path.read_text(encoding="utf-8") == content, (
            f"{path.relative_to(REPO)} is stale: run python -m services.intake.forms.jsonschema_export"
        )
    assert jsonschema_export.main(["--check"]) == 0


@pytest.mark.parametrize("path", examples("valid"), ids=example_id)
def test_valid_examples_pass_the_json_schema_and_the_server(path: Path) -> None:
    body = load(path)
    form = path.parts[-3]

    assert body["form"] == form
    assert json_schema_errors(form, body) == []
    submission = validate(body, NOW)
    assert submission.form == form
    # the normalised submission (less the enterprise the server derives) still meets the published contract
    stored = {k: v for k, v in submission.canonical().items() if k != "enterprise"}
    assert json_schema_errors(form, stored) == []


@pytest.mark.parametrize("path", examples("invalid"), ids=example_id)
def test_invalid_examples_fail_the_server_with_exactly_the_expected_errors(path: Path) -> None:
    example = load(path)
    assert set(example) <= {"description", "expected_errors", "jsonschema_can_tell", "submission"}
    assert example["description"] and example["expected_errors"]

    with pytest.raises(Invalid) as caught:
        validate(example["submission"], NOW)

    expected = {(e["path"], e["code"]) for e in example["expected_errors"]}
    assert {(e.path, e.code) for e in caught.value.errors} == expected
    assert all(e.code in MESSAGES for e in caught.value.errors)


@pytest.mark.parametrize("path", examples("invalid"), ids=example_id)
def test_invalid_examples_fail_the_json_schema_unless_it_cannot_tell(path: Path) -> None:
    example = load(path)
    form = path.parts[-3]

    errors = json_schema_errors(form, example["submission"])

    if example.get("jsonschema_can_tell", True):
        assert errors, "the JSON Schema should refuse this example too"
    else:
        assert errors == [], "marked jsonschema_can_tell: false, yet the JSON Schema refuses it"


#: codes of the rules only the server checks (schemas/README.md): JSON Schema accepting these is expected
SERVER_ONLY_CODES = {
    "uscc",
    "uscc_not_enterprise",
    "personal_data",
    "future_date",
    "deadline_before_inspection",
    "replaces_self",
}
#: values put in place of each part of a valid body, one at a time
MUTATIONS: list[object] = [
    None, "", " ", "x", 0, -1, 1, 6, 3.5, True, False, [], {}, "2026-02-30", "330103", "330000", "fail",
    "x" * 1001, "3f9a6c1e-8b2d-4e57-9a41-6d0c2b7e5f13", "2026-11-20T10:00:00+08:00",
]  # fmt: skip


def _mutants(body: Any) -> Any:
    """Every body that differs from ``body`` in one place: a value replaced, a key removed or one added."""

    def walk(node: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(node, dict):
            yield path, "add", "extra"
            for key, child in node.items():
                yield path + (key,), "delete", None
                yield from walk(child, path + (key,))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                yield from walk(child, path + (index,))
        for value in MUTATIONS:
            if path:
                yield path, "set", value

    for path, action, value in walk(body, ()):
        mutant = json.loads(json.dumps(body))
        parent = mutant
        for key in path[:-1] if action != "add" else path:
            parent = parent[key]
        if action == "add":
            parent[value] = 1
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
        yield f"{action} {path} {value!r:.20}", mutant


@pytest.mark.parametrize("form", FORMS)
def test_one_change_mutants_of_a_valid_example_are_judged_alike_by_schema_and_server(form: str) -> None:
    """Beyond the hand-written corpus: thousands of one-change bodies, and no disagreement but the known ones."""
    richest = max(sorted((EXAMPLES / form / "valid").glob("*.json")), key=lambda path: path.stat().st_size)
    base = load(richest)
    disagreements = []
    for change, mutant in _mutants(base):
        schema_accepts = not json_schema_errors(form, mutant)
        try:
            validate(mutant, NOW)
            codes: set[str] = set()
        except Invalid as invalid:
            codes = {e.code for e in invalid.errors}
        if schema_accepts and codes and not codes <= SERVER_ONLY_CODES:
            disagreements.append(f"{change}: schema accepts, server says {sorted(codes)}")
        if not schema_accepts and not codes:
            disagreements.append(f"{change}: schema refuses, server accepts")
    assert disagreements == []
