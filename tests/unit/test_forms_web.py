"""The browser's copies of server rules agree with the server: the GB 32100 check character and the inspection
score, run by Node.js on the same corpus as the Python originals; and every layout draws only what its contract
holds (a layout naming a field or a choice the contract lacks would ask for something the server refuses)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.common import uscc
from services.intake.forms import registry
from services.intake.forms.scoring import score
from tests.servers import on_ci

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "services" / "intake" / "web" / "lib"
LAYOUTS = ROOT / "schemas" / "layouts"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if on_ci():
            raise RuntimeError("CI=true and no node here (make web needs Node.js)")
        pytest.skip("no node here; CI=true makes this an error")
    return node


def _run_js(module: str, function: str, inputs: list[Any]) -> list[Any]:
    """``function`` of the ES module ``module`` applied to each input, in Node.js."""
    script = (
        f"import {{ {function} }} from {json.dumps((WEB / module).as_uri())};\n"
        "let data = '';\n"
        "process.stdin.on('data', (c) => (data += c));\n"
        "process.stdin.on('end', () =>\n"
        f"  process.stdout.write(JSON.stringify(JSON.parse(data).map((x) => {function}(x)))));\n"
    )
    out = subprocess.run(
        [_node(), "--input-type=module", "-e", script],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: list[Any] = json.loads(out.stdout)
    return result


def _credit_code_corpus() -> list[str]:
    rng = random.Random(32100)
    codes: list[str] = []
    for example in (ROOT / "schemas" / "examples").rglob("*.json"):
        data = json.loads(example.read_text(encoding="utf-8")).get("data", {})
        for code in (data.get("enterprise", {}).get("credit_code"), data.get("enterprise_credit_code")):
            if isinstance(code, str):
                codes.append(code)
    for _ in range(300):
        first17 = "".join(rng.choice(uscc.ALPHABET) for _ in range(17))
        good = uscc.make(first17)
        codes.append(good)
        codes.append(
            first17 + rng.choice([c for c in uscc.ALPHABET if c != good[-1]])
        )  # wrong check character
    for bad in "IOSVZa-é中\U0001f600":
        codes.append(uscc.make("91330784MA2HR1K6X")[:5] + bad + "1330784MA2HR1K6")  # outside the alphabet
    codes += ["", "9", "91330784MA2HR1K6X", "91330784MA2HR1K6XXX", " 1330784MA2HR1K6X", "91330784ma2hr1k6x1"]
    return codes


def test_the_browser_judges_every_credit_code_as_the_server_does() -> None:
    corpus = _credit_code_corpus()
    assert len(corpus) > 600
    browser = _run_js("uscc.js", "problem", corpus)
    server = [uscc.problem(code) for code in corpus]
    assert browser == server
    assert server.count(None) >= 300  # the corpus holds valid codes as well as every kind of invalid one


def test_the_browser_computes_the_inspection_score_as_the_server_does() -> None:
    rng = random.Random(7)
    corpus: list[list[str]] = [[], ["not_applicable"], ["pass"], ["fail"], ["pass"] + ["fail"] * 15]
    corpus += [["pass"] * p + ["fail"] * f for p in range(0, 17) for f in range(0, 17)]  # every half-way case
    corpus += [rng.choices(["pass", "fail", "not_applicable"], k=rng.randint(1, 300)) for _ in range(200)]
    browser = _run_js("score.js", "score", corpus)
    assert browser == [score(results) for results in corpus]
    assert 6.3 in browser  # 1 of 16 = 6.25 rounds half up, where a float's round() gives 6.2


def _paths(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every path of a contract (object properties; list items as ``[*]``) with its schema."""
    found = {prefix: schema} if prefix else {}
    for key, sub in schema.get("properties", {}).items():
        found.update(_paths(sub, f"{prefix}.{key}" if prefix else key))
    if isinstance(schema.get("items"), dict):
        found.update(_paths(schema["items"], f"{prefix}[*]"))
    return found


@pytest.mark.parametrize("form", sorted(registry.FORMS))
def test_each_layout_draws_only_what_its_contract_holds(form: str) -> None:
    version = max(registry.FORMS[form])
    contract = json.loads((ROOT / registry.schema_path(form, version)).read_text(encoding="utf-8"))
    layout = json.loads((LAYOUTS / f"{form}.v{version}.layout.json").read_text(encoding="utf-8"))
    assert (layout["form"], layout["form_version"]) == (form, version)
    paths = _paths(contract)
    # evidence photos are drawn once the contract takes them (the attachments API); until then not at all
    with_photos = any(p.endswith(".photos") for p in paths)
    drawn = 0
    for section in layout["sections"]:
        assert section["fields"], "a section without fields"
        for field in section["fields"]:
            for path in field.get("fills", {}).values():
                assert path in paths, f"{form}: a picker fills {path}, which the contract lacks"
            if "path" not in field or (field["widget"] == "photos" and not with_photos):
                continue
            assert field["path"] in paths, (
                f"{form}: the layout draws {field['path']}, which the contract lacks"
            )
            drawn += 1
            sub = paths[field["path"]]
            labels = {"zh", "en"}
            assert labels <= set(field.get("label", {})), f"{field['path']}: labels in both languages"
            enum = sub.get("enum") or sub.get("items", {}).get("enum")
            if field.get("choices") and enum:
                assert set(field["choices"]) <= set(enum), f"{field['path']}: choices the contract lacks"
            if field["widget"] == "checklist":
                item = sub["items"]["properties"]
                for it in field["items"]:
                    assert it["category"] in item["category"]["enum"]
                    assert labels <= set(it["label"])
                codes = [it["code"] for it in field["items"]]
                assert len(codes) == len(set(codes)), "checklist codes repeat (the server refuses that)"
                for hazard_field in field["when_failed"]["fields"]:
                    hazard = item[field["when_failed"]["path"]]["properties"]
                    # photos arrive with the attachments contract; every other hazard field must exist now
                    assert hazard_field["path"] in hazard or (
                        hazard_field["widget"] == "photos" and not with_photos
                    )
    for path in layout.get("fixed", {}):
        assert path in paths
    for rule in layout.get("rules", []):
        assert rule["path"] in paths, rule
    asked = [f.get("path", "") for s in layout["sections"] for f in s["fields"]]
    asked += [p for s in layout["sections"] for f in s["fields"] for p in f.get("fills", {}).values()]
    drawn_data = {p.split(".")[1] for p in asked if p.startswith("data.")}
    required = contract["properties"]["data"].get("required", [])
    assert set(required) <= drawn_data, f"{form}: required fields the layout never asks for"
    assert drawn >= 3
