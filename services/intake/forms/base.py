"""The building blocks of every form contract: strict fields and objects that know their own JSON Schema.

Why custom fields rather than marshmallow's own:

* JSON from a form builder must be taken literally.  marshmallow's ``Boolean`` takes ``"yes"`` and ``1``, its
  ``Integer`` takes ``"3"`` and ``True``, its ``Date`` takes ``20261127`` and week dates, its ``UUID`` takes
  32 bare hex digits.  Each of these would let two devices send the same answer in different shapes, and let a
  form builder that validates with the published JSON Schema disagree with the server.
* Every field describes itself as JSON Schema (:meth:`Contract.json_schema`), so the published schemas under
  ``schemas/forms`` are generated from the very objects that validate, enums included: they cannot drift.
* Errors are raised as :class:`~services.intake.forms.errors.Err` (code + parameters) so that the client gets
  a stable code and a message in English and Chinese.

Unknown fields are refused everywhere (``unknown_field``, naming the allowed ones): the worker survey is
anonymous, and a strict contract is what keeps names, phone numbers or ID numbers from slipping in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from services.common import uscc
from services.common.codes import districts

from .errors import SCHEMA_KEY, Err, Tr, fail

# JSON types, as named in messages
STRING = Tr("a string", "字符串")
INTEGER = Tr(
    "an integer (a whole number, not a string, a decimal or true/false)", "整数（不能是字符串、小数或布尔值）"
)
BOOLEAN = Tr(
    "true or false (JSON booleans, not strings or numbers)",
    "true 或 false（JSON 布尔值，不能是字符串或数字）",
)
OBJECT = Tr("a JSON object", "一个 JSON 对象")
ARRAY = Tr("a JSON array", "一个 JSON 数组")

# The textual formats, each with the ECMA-262-compatible pattern the JSON Schema uses and the server
# matches in full (Python's ``$`` would also match before a trailing newline, hence ``fullmatch``).
DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
USCC_PATTERN = f"^[{uscc.ALPHABET}]{{18}}$"
NOT_BLANK_PATTERN = r"\S"

DATE = Tr("a calendar date YYYY-MM-DD, e.g. 2026-11-27", "YYYY-MM-DD 格式的日期，如 2026-11-27")
DATE_TIME = Tr(
    "an RFC 3339 date-time with its UTC offset, e.g. 2026-11-27T09:30:00+08:00",
    "带时区偏移的 RFC 3339 日期时间，如 2026-11-27T09:30:00+08:00",
)
UUID = Tr(
    "a UUID in its 36-character form, e.g. 6f1c2d3e-4a5b-4c6d-8e7f-1a2b3c4d5e6f",
    "一个 36 位格式的 UUID，如 6f1c2d3e-4a5b-4c6d-8e7f-1a2b3c4d5e6f",
)


def _full(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.removeprefix("^").removesuffix("$"))


def parse_date(value: object) -> date | None:
    """A strict ``YYYY-MM-DD`` calendar date, or None (no week dates, no ``20261127``)."""
    if isinstance(value, str) and _full(DATE_PATTERN).fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:  # 2026-02-30
            return None
    return None


def parse_date_time(value: object) -> datetime | None:
    """A strict RFC 3339 date-time with offset, timezone-aware, or None."""
    if isinstance(value, str) and _full(DATE_TIME_PATTERN).fullmatch(value):
        try:
            return datetime.fromisoformat(value.upper())
        except ValueError:
            return None
    return None


class Contract:
    """Mixin for fields: coded errors for marshmallow's built-in failures, and the field's JSON Schema.

    ``metadata["description"]`` becomes the JSON Schema ``description``; ``metadata["server_rules"]``
    (rules only the server can check, e.g. the credit code's check character) becomes its ``$comment``.
    """

    expected: ClassVar[Tr] = Tr("a value", "一个值")
    allow_none: bool
    metadata: Mapping[str, Any]

    def make_error(self, key: str, **kwargs: Any) -> ValidationError:
        if key == "required":
            return fail("required")
        return fail("invalid_type", expected=self.expected)  # "null", "invalid", "type"

    def _json_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def _labels(self) -> str:
        """What the codes of an enum mean, for the JSON Schema description ("" when self-explanatory)."""
        return ""

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {}
        own = self._json_schema()
        description = " ".join(
            filter(None, [self.metadata.get("description"), own.pop("description", None), self._labels()])
        )
        if description:
            schema["description"] = description
        schema.update(own)
        if self.allow_none:
            schema["type"] = [schema["type"], "null"]  # the other keywords constrain strings, numbers... only
        if self.metadata.get("server_rules"):
            schema["$comment"] = "Checked by the server only: " + self.metadata["server_rules"]
        return schema


class Text(Contract, fields.Field[str]):
    """A string, by default non-blank, with a length range and optionally a pattern."""

    expected = STRING

    def __init__(
        self,
        *,
        max_length: int,
        min_length: int = 1,
        pattern: str | None = None,
        pattern_expected: Tr | None = None,
        blank_ok: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.min_length = min_length
        self.pattern = pattern
        self.pattern_expected = pattern_expected or Tr(
            f"a string matching {pattern}", f"匹配 {pattern} 的字符串"
        )
        self.blank_ok = blank_ok

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if not isinstance(value, str):
            raise fail("invalid_type", expected=STRING)
        if self.pattern is not None and not _full(self.pattern).fullmatch(value):
            raise fail("invalid_format", expected=self.pattern_expected)
        if self.pattern is None and not self.blank_ok and value.strip() == "":
            raise fail("blank")
        if not self.min_length <= len(value) <= self.max_length:
            raise fail(
                "length",
                min=self.min_length,
                max=self.max_length,
                actual=len(value),
                unit=Tr("characters", "字符"),
            )
        return value

    def _json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "string",
            "minLength": self.min_length,
            "maxLength": self.max_length,
        }
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        elif not self.blank_ok:
            schema["pattern"] = NOT_BLANK_PATTERN
        return schema


class Choice(Contract, fields.Field[str]):
    """One of a fixed list of strings (an enum), e.g. an inspection result or a code from a table."""

    expected = STRING

    def __init__(
        self, choices: Sequence[str], *, labels: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.choices = list(choices)
        self.labels = dict(labels or {})

    def _labels(self) -> str:
        return "; ".join(f"{code} {self.labels[code]}" for code in self.choices if code in self.labels)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if not isinstance(value, str):
            raise fail("invalid_type", expected=STRING)
        if value not in self.choices:
            raise fail("invalid_choice", choices=", ".join(self.choices))
        return value

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class Integer(Contract, fields.Field[int]):
    """A JSON integer in a range: not ``"3"``, not ``1.5``, not ``3.0``, not ``true``."""

    expected = INTEGER

    def __init__(self, *, minimum: int, maximum: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("invalid_type", expected=INTEGER)
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            raise fail(
                "range", min=self.minimum, max=self.maximum if self.maximum is not None else "∞", actual=value
            )
        return value

    def _json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer", "minimum": self.minimum}
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


class Boolean(Contract, fields.Field[bool]):
    """A JSON ``true`` or ``false``; ``"yes"``, ``1`` and ``"true"`` are refused."""

    expected = BOOLEAN

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise fail("invalid_type", expected=BOOLEAN)
        return value

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class IsoDate(Contract, fields.Field[date]):
    """A calendar date written ``YYYY-MM-DD``; loaded as :class:`datetime.date`."""

    expected = DATE

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> date:
        if not isinstance(value, str):
            raise fail("invalid_type", expected=DATE)
        parsed = parse_date(value)
        if parsed is None:
            raise fail("invalid_format", expected=DATE)
        return parsed

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date", "pattern": DATE_PATTERN}


class Timestamp(Contract, fields.Field[datetime]):
    """An RFC 3339 date-time that states its UTC offset; loaded timezone-aware.

    A time without offset is refused: a collector's device may be set to any zone and the day a record
    belongs to (Asia/Shanghai) must not be guessed.
    """

    expected = DATE_TIME

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime:
        if not isinstance(value, str):
            raise fail("invalid_type", expected=DATE_TIME)
        parsed = parse_date_time(value)
        if parsed is None:
            raise fail("invalid_format", expected=DATE_TIME)
        return parsed

    def _json_schema(self) -> dict[str, Any]:
        # "format" alone would not do: without the optional rfc3339-validator package the Python jsonschema
        # library does not assert "date-time", so the pattern carries the rule.
        return {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}


class Uuid(Contract, fields.Field[str]):
    """A UUID in its hyphenated 36-character form, either case; loaded as the canonical lower-case string."""

    expected = UUID

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if not isinstance(value, str):
            raise fail("invalid_type", expected=UUID)
        if not _full(UUID_PATTERN).fullmatch(value):
            raise fail("invalid_format", expected=UUID)
        return value.lower()

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}


class CreditCode(Contract, fields.Field[str]):
    """A unified social credit code (GB 32100-2015) whose check character is right."""

    expected = STRING

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if not isinstance(value, str):
            raise fail("invalid_type", expected=STRING)
        problem = uscc.problem(value)
        if problem is not None:
            raise fail("uscc", detail=_uscc_detail(value, problem))
        return value

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": USCC_PATTERN}


def _uscc_detail(code: str, problem: str) -> Tr:
    """``uscc.problem`` explains in English; say the same in Chinese."""
    if len(code) != 18:
        return Tr(problem, f"应为 18 位，实际为 {len(code)} 位")
    bad = "".join(sorted({c for c in code if c not in uscc.ALPHABET}))
    if bad:
        return Tr(problem, f"含有 GB 32100 字符集以外的字符：{bad}（不使用 I、O、S、V、Z 及小写字母）")
    return Tr(problem, f"校验码应为 {uscc.check_character(code[:17])}，实际为 {code[17]}")


def submission_districts() -> list[str]:
    """The codes a submission may name: active county-level and prefecture divisions (from districts.csv)."""
    return [d.code for d in districts().values() if d.active and d.level in ("county", "prefecture")]


class DistrictCode(Contract, fields.Field[str]):
    """A GB/T 2260 code a submission may be filed under: active, county-level or prefecture, not province.

    Retired codes (Hangzhou's 2021 reorganisation: 330103 下城, 330104 江干) are refused with their successor
    named, so that a device with an outdated list is told exactly what to send instead.
    """

    expected = STRING

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if not isinstance(value, str):
            raise fail("invalid_type", expected=STRING)
        table = districts()
        district = table.get(value)
        if district is None:
            raise fail("unknown_district", value=value)
        if not district.active:
            successor = table.get(district.successor or "")
            raise fail(
                "district_retired",
                value=value,
                name_en=district.name_en,
                name_zh=district.name_zh,
                successor=district.successor or "?",
                successor_en=successor.name_en if successor else "?",
                successor_zh=successor.name_zh if successor else "?",
            )
        if district.level not in ("county", "prefecture"):
            raise fail("district_level", value=value, name_en=district.name_en, name_zh=district.name_zh)
        return value

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": submission_districts()}

    def _labels(self) -> str:
        table = districts()
        return "Codes: " + "; ".join(
            f"{c} {table[c].name_zh} {table[c].name_en}" for c in submission_districts()
        )


class AnyObject(Contract, fields.Field[dict[str, Any]]):
    """A JSON object checked elsewhere (the envelope's ``data``, by the form's own schema)."""

    expected = OBJECT

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail("invalid_type", expected=OBJECT)
        return value

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "object"}


class Obj(Contract, fields.Nested):
    """A nested object with its own :class:`FormSchema`."""

    expected = OBJECT

    def __init__(self, schema_cls: type[FormSchema], **kwargs: Any) -> None:
        super().__init__(schema_cls, **kwargs)
        self.schema_cls = schema_cls

    def _json_schema(self) -> dict[str, Any]:
        return object_json_schema(self.schema_cls)


class ListOf(Contract, fields.List):
    """A JSON array with a size range, optionally of unique values (reported at the later duplicate)."""

    expected = ARRAY

    def __init__(
        self, inner: fields.Field, *, min_items: int, max_items: int, unique: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(inner, **kwargs)
        self.min_items = min_items
        self.max_items = max_items
        self.unique = unique

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if not isinstance(value, list):
            raise fail("invalid_type", expected=ARRAY)
        errors: dict[Any, Any] = {}
        if not self.min_items <= len(value) <= self.max_items:
            errors[SCHEMA_KEY] = [
                Err(
                    "length",
                    min=self.min_items,
                    max=self.max_items,
                    actual=len(value),
                    unit=Tr("items", "项"),
                )
            ]
        result: Any
        try:
            result = super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            assert isinstance(error.messages, dict)
            errors.update(error.messages)
            result = error.valid_data
        if self.unique:
            first: dict[Any, int] = {}
            for index, item in enumerate(value):
                if isinstance(item, str | int) and not isinstance(item, bool):
                    if item in first:
                        duplicate = Err("duplicate", value=item, first=first[item])
                        errors[index] = [*errors.get(index, []), duplicate]
                    else:
                        first[item] = index
        if errors:
            raise ValidationError(errors, valid_data=result)
        return result

    def _json_schema(self) -> dict[str, Any]:
        assert isinstance(self.inner, Contract)
        schema: dict[str, Any] = {
            "type": "array",
            "items": self.inner.json_schema(),
            "minItems": self.min_items,
            "maxItems": self.max_items,
        }
        if self.unique:
            schema["uniqueItems"] = True
        return schema


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
        allowed = [field.data_key or name for name, field in self.load_fields.items()]
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


def jsonable(value: Any) -> Any:
    """Loaded values back to JSON: dates and date-times as ISO 8601 strings, everything else as is."""
    if isinstance(value, Mapping):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


ROLES = ("inspector", "trainer", "enterprise")
#: account ids are machine identifiers; the pattern keeps personal names (and e-mail addresses) out
ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ACCOUNT_ID = Tr(
    "a platform account id: 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
    "平台账号：1-64 个 ASCII 字母、数字、“.”、“_”或“-”，以字母或数字开头",
)


class Person(FormSchema):
    """Who collected or verified a record: an account id and the role it acted in (never a name)."""

    json_description = "A platform account and the role it acted in; no names or phone numbers."

    id = Text(
        max_length=64,
        pattern=ACCOUNT_ID_PATTERN,
        pattern_expected=ACCOUNT_ID,
        required=True,
        metadata={
            "description": "Platform account id, e.g. yk-aj-0217 (not a name: ASCII letters and digits)."
        },
    )
    role = Choice(
        ROLES, required=True, metadata={"description": "inspector (MEM bureau), trainer (SCORE), enterprise."}
    )


#: how the future-date rule explains its limit
TODAY_IN_CHINA = Tr(
    "today in China Standard Time, Asia/Shanghai, allowing for device clock skew",
    "中国标准时间（Asia/Shanghai）的今天，已考虑设备时钟误差",
)


class DataSchema(FormSchema):
    """The ``data`` object of one version of one form.

    A schema instance is made per validation with ``latest_date``: the latest calendar date a field of the
    form may name (today in Asia/Shanghai, plus the allowed clock skew): the rules depend on the moment.
    """

    form: ClassVar[str]
    version: ClassVar[int]
    title: ClassVar[Tr]

    def __init__(self, *, latest_date: date, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latest_date = latest_date

    def not_future(self, value: date) -> None:
        """Raise ``future_date`` when ``value`` lies after today in China (field validators call this)."""
        if value > self.latest_date:
            raise fail(
                "future_date",
                latest=self.latest_date.isoformat(),
                basis=TODAY_IN_CHINA,
                actual=value.isoformat(),
            )

    def normalise(self, loaded: Mapping[str, Any]) -> dict[str, Any]:
        """The loaded data as stored and published: JSON-ready, exactly the form's fields."""
        result: dict[str, Any] = jsonable(loaded)
        return result

    def computed(self, submission_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Figures the server derives from normalised ``data``; never taken from the client."""
        return {}

    def enterprise_of(self, data: Mapping[str, Any]) -> str | None:
        """The credit code of the enterprise the record is about, when the form names one."""
        return None
