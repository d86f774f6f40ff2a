"""Objects of the form contracts: a schema of fields (:class:`FormSchema`), an object nested in another
(:class:`Obj`), and the JSON Schema of each, generated from its fields.

Unknown fields are refused everywhere (``unknown_field``, naming the allowed ones): the worker survey is
anonymous, and a strict contract is what keeps names, phone numbers or ID numbers from slipping in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from .errors import Err
from .fields import Contract
from .formats import OBJECT


class FormSchema(Schema):
    """An object of a form contract: no unknown fields, coded errors, exportable as JSON Schema."""

    class Meta:
        # Unknown fields are reported by _reject_unknown below (with the allowed ones named) rather than by
        # marshmallow's RAISE, whose message cannot carry parameters.
        unknown = EXCLUDE

    error_messages = {"type": Err("invalid_type", expected=OBJECT)}

    #: the object's JSON Schema description
    json_description: ClassVar[str] = ""
    #: JSON Schema keywords for rules across fields that JSON Schema can express (e.g. if/then/else)
    json_schema_extra: ClassVar[Mapping[str, Any]] = {}
    #: rules across fields that only the server checks, for the JSON Schema $comment
    server_rules: ClassVar[tuple[str, ...]] = ()

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _reject_unknown(self, data: Mapping[str, Any], original: object, **kwargs: Any) -> None:
        if not isinstance(original, Mapping):
            return
        allowed = self.__dict__.get("_allowed_keys")
        if allowed is None:  # the fields of an instance never change: listed once, not on every load
            allowed = self.__dict__["_allowed_keys"] = [
                field.data_key or name for name, field in self.load_fields.items()
            ]
        unknown = [key for key in original if key not in allowed]
        if unknown:
            raise ValidationError(
                {key: [Err("unknown_field", allowed=", ".join(allowed))] for key in unknown}
            )


def object_json_schema(schema_cls: type[FormSchema]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one object of a form contract, generated from its fields."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in schema_cls._declared_fields.items():
        if not isinstance(field, Contract):
            raise TypeError(f"{schema_cls.__name__}.{name} is not a form-contract field")
        key = field.data_key or name
        properties[key] = field.json_schema()
        if field.required:
            required.append(key)
    schema: dict[str, Any] = {}
    if schema_cls.json_description:
        schema["description"] = schema_cls.json_description
    schema["type"] = "object"
    schema["properties"] = properties
    schema["required"] = required
    schema["additionalProperties"] = False
    schema.update(schema_cls.json_schema_extra)
    if schema_cls.server_rules:
        schema["$comment"] = "Checked by the server only: " + " ".join(schema_cls.server_rules)
    return schema


class Obj(Contract, fields.Nested):
    """A nested object with its own :class:`FormSchema`."""

    expected = OBJECT

    def __init__(self, schema_cls: type[FormSchema], **kwargs: Any) -> None:
        super().__init__(schema_cls, **kwargs)
        self.schema_cls = schema_cls

    def _json_schema(self) -> dict[str, Any]:
        return object_json_schema(self.schema_cls)
