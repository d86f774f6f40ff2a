"""The field library of the form contracts: strict fields that know their own JSON Schema.

Why custom fields rather than marshmallow's own:

* JSON from a form builder must be taken literally.  marshmallow's ``Boolean`` takes ``"yes"`` and ``1``, its
  ``Integer`` takes ``"3"`` and ``True``, its ``Date`` takes ``20261127`` and week dates, its ``UUID`` takes
  32 bare hex digits.  Each of these would let two devices send the same answer in different shapes, and let a
  form builder that validates with the published JSON Schema disagree with the server.
* Every field describes itself as JSON Schema (:meth:`Contract.json_schema`), so the published schemas under
  ``schemas/forms`` are generated from the very objects that validate, enums included: they cannot drift.
* Errors are raised as :class:`~services.intake.forms.errors.Err` (code + parameters) so that the client gets
  a stable code and a message in English and Chinese.

Objects made of these fields are in :mod:`.objects`; the formats and parsers behind them in :mod:`.formats`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar

from marshmallow import ValidationError, fields

from services.common import personal, uscc
from services.common.codes import districts

from .errors import SCHEMA_KEY, Err, Tr, fail
from .formats import (
    ARRAY,
    BOOLEAN,
    DATE,
    DATE_PATTERN,
    DATE_TIME,
    DATE_TIME_PATTERN,
    INTEGER,
    NOT_BLANK_PATTERN,
    OBJECT,
    STRING,
    USCC_PATTERN,
    UUID,
    UUID_PATTERN,
    full,
    parse_date,
    parse_date_time,
    parse_uuid,
)

_T = TypeVar("_T")


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


class Scalar(Contract, fields.Field[_T]):
    """A field whose JSON value must be of one type (``json_type``, as ``json.loads`` gives it; ``true`` is
    never a number): ``invalid_type`` naming :attr:`expected` otherwise, then the field's own :meth:`check`."""

    json_type: ClassVar[type]

    def check(self, value: Any) -> _T:
        """The loaded value of a JSON value of the right type, or raise the rule it breaks."""
        result: _T = value
        return result

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> _T:
        if value.__class__ is self.json_type:  # the usual case, decided without isinstance
            return self.check(value)
        if not isinstance(value, self.json_type) or (isinstance(value, bool) and self.json_type is not bool):
            raise fail("invalid_type", expected=self.expected)
        return self.check(value)


class Text(Scalar[str]):
    """A string, by default non-blank, with a length range and optionally a pattern."""

    expected = STRING
    json_type = str

    def __init__(
        self,
        *,
        max_length: int,
        min_length: int = 1,
        pattern: str | None = None,
        pattern_expected: Tr | None = None,
        blank_ok: bool = False,
        no_personal_numbers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: refuse text holding a mobile or resident identity number (free text, account ids)
        self.no_personal_numbers = no_personal_numbers
        self.max_length = max_length
        self.min_length = min_length
        self.pattern = pattern
        self.pattern_expected = pattern_expected or Tr(
            f"a string matching {pattern}", f"匹配 {pattern} 的字符串"
        )
        self.blank_ok = blank_ok

    def check(self, value: str) -> str:
        if self.no_personal_numbers:
            kind = personal.personal_number(value)
            if kind is not None:
                raise fail("personal_data", kind=Tr(kind, _PERSONAL_ZH[kind]))
        if self.pattern is not None and not full(self.pattern).fullmatch(value):
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


class Choice(Scalar[str]):
    """One of a fixed list of strings (an enum), e.g. an inspection result or a code from a table."""

    expected = STRING
    json_type = str

    def __init__(
        self, choices: Sequence[str], *, labels: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.choices = list(choices)
        self.labels = dict(labels or {})

    def _labels(self) -> str:
        return "; ".join(f"{code} {self.labels[code]}" for code in self.choices if code in self.labels)

    def check(self, value: str) -> str:
        if value not in self.choices:
            raise fail("invalid_choice", choices=", ".join(self.choices))
        return value

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class Integer(Scalar[int]):
    """A JSON integer in a range: not ``"3"``, not ``1.5``, not ``3.0``, not ``true``."""

    expected = INTEGER
    json_type = int

    def __init__(self, *, minimum: int, maximum: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def check(self, value: int) -> int:
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


class Boolean(Scalar[bool]):
    """A JSON ``true`` or ``false``; ``"yes"``, ``1`` and ``"true"`` are refused."""

    expected = BOOLEAN
    json_type = bool

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class Formatted(Scalar[_T]):
    """A string in one textual format (:attr:`expected`), parsed: ``invalid_type`` for anything but a
    string, ``invalid_format`` for a string :attr:`parse` does not read (it returns None).  Its JSON Schema
    names the format (:attr:`json_format`) and the pattern it matches (:attr:`json_pattern`)."""

    json_format: str
    json_pattern: str
    #: the format's parser (``formats``): a value, or None for a string not in the format
    parse: Callable[[str], _T | None]

    json_type = str

    def _json_schema(self) -> dict[str, Any]:
        # "format" alone would not do: without optional packages (e.g. rfc3339-validator for "date-time") the
        # Python jsonschema library does not assert a format, so the pattern carries the rule.
        return {"type": "string", "format": self.json_format, "pattern": self.json_pattern}

    def check(self, value: str) -> _T:
        parsed = self.parse(value)
        if parsed is None:
            raise fail("invalid_format", expected=self.expected)
        return parsed


class IsoDate(Formatted[date]):
    """A calendar date written ``YYYY-MM-DD``; loaded as :class:`datetime.date`."""

    expected = DATE
    json_format, json_pattern = "date", DATE_PATTERN
    parse = staticmethod(parse_date)


class Timestamp(Formatted[datetime]):
    """An RFC 3339 date-time that states its UTC offset; loaded timezone-aware.

    A time without offset is refused: a collector's device may be set to any zone and the day a record
    belongs to (Asia/Shanghai) must not be guessed.
    """

    expected = DATE_TIME
    json_format, json_pattern = "date-time", DATE_TIME_PATTERN
    parse = staticmethod(parse_date_time)


class Uuid(Formatted[str]):
    """A UUID in its hyphenated 36-character form, either case; loaded as the canonical lower-case string."""

    expected = UUID
    json_format, json_pattern = "uuid", UUID_PATTERN
    parse = staticmethod(parse_uuid)


class CreditCode(Scalar[str]):
    """A unified social credit code (GB 32100-2015) whose check character is right."""

    expected = STRING
    json_type = str

    def check(self, value: str) -> str:
        problem = uscc.problem(value)
        if problem is not None:
            raise fail("uscc", detail=_uscc_detail(value, problem))
        if not value.startswith("9"):
            # SCORE's factories are registered with market regulation (9x); a resident identity number can
            # pass the check character, and must not be stored as a factory's code
            raise fail("uscc_not_enterprise", authority=value[0])
        return value

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": USCC_PATTERN}


_PERSONAL_ZH = {"mobile number": "手机号码", "resident identity number": "居民身份证号码"}


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


class DistrictCode(Scalar[str]):
    """A GB/T 2260 code a submission may be filed under: active, county-level or prefecture, not province.

    Retired codes (Hangzhou's 2021 reorganisation: 330103 下城, 330104 江干) are refused with their successor
    named, so that a device with an outdated list is told exactly what to send instead.
    """

    expected = STRING
    json_type = str

    def check(self, value: str) -> str:
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


class AnyObject(Scalar[dict[str, Any]]):
    """A JSON object checked elsewhere (the envelope's ``data``, by the form's own schema)."""

    expected = OBJECT
    json_type = dict

    def _json_schema(self) -> dict[str, Any]:
        return {"type": "object"}


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


#: at most this many evidence photos per hazard or rectification
MAX_PHOTOS = 5
#: the server rule behind every ``photos`` list, for the JSON Schema $comment
PHOTOS_SERVER_RULE = (
    "each id names a photo this account uploaded first (PUT /api/v1/attachments/<id>); "
    "another is refused with unknown_attachment at its path."
)


def free_text(description: str, *, required: bool) -> Text:
    """A remark in words, up to 1,000 characters, that must not hold a phone or identity number (free text
    is where people write them); an optional one may be left blank."""
    if required:
        return Text(
            max_length=1000, no_personal_numbers=True, required=True, metadata={"description": description}
        )
    return Text(
        min_length=0,
        max_length=1000,
        blank_ok=True,
        no_personal_numbers=True,
        metadata={"description": description},
    )


def photos(max_items: int, what: str) -> ListOf:
    """An optional list of evidence photos: attachment ids (UUIDs), each once; left out when there is none."""
    return ListOf(
        Uuid(),
        min_items=1,
        max_items=max_items,
        unique=True,
        metadata={
            "description": f"Evidence photos of {what}: the ids (UUIDs) the device gave them when it uploaded "
            f"them, 1 to {max_items}; leave the field out when there is none.",
            "server_rules": PHOTOS_SERVER_RULE,
        },
    )
