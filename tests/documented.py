"""Is a response one that the API's OpenAPI document promises?  Its status, content type and body."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_URI = "urn:score:openapi"


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def breaches(spec: dict[str, Any], path: str, method: str, response: Any) -> list[str]:
    """What in ``response`` (a Flask test response) the document does not promise for ``method path``;
    empty when the answer is exactly as documented."""
    operation = spec["paths"][path][method.lower()]
    status = str(response.status_code)
    documented = operation["responses"]
    if status not in documented:
        return [f"{method} {path}: status {status} is not documented ({', '.join(sorted(documented))})"]
    content = documented[status].get("content")
    if not content:
        return []
    if response.mimetype not in content:
        return [f"{method} {path}: {status} with {response.mimetype}, documented: {', '.join(content)}"]
    if response.mimetype != "application/json":
        return []
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    ref = "#/" + _pointer(
        "paths", path, method.lower(), "responses", status, "content", response.mimetype, "schema"
    )
    validator = Draft202012Validator({"$ref": _URI + ref}, registry=registry)
    return [
        f"{method} {path}: {status} body at {e.json_path}: {e.message}"
        for e in validator.iter_errors(response.get_json())
    ]
