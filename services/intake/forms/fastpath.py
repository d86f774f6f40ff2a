"""A compiled load of the form contracts for bodies that pass: marshmallow's judgement without its machinery.

A marshmallow ``Schema.load`` spends most of its time in its own bookkeeping (an error store, a getter closure
per field, hook lookups, a validator partial per field), not in the rules: half of a batch's CPU went there.
:func:`compile_loader` walks a schema's fields once and returns a plain function that loads a body the way
``Schema.load`` does *when the body breaks no rule*, calling the very same rule code: each scalar field's own
``deserialize``, each ``@validates`` method and each ``@validates_schema`` method of the same schema instances
marshmallow would use.  At the first rule that objects (any exception at all) it gives up with
:class:`Fallback`, and the caller runs marshmallow, which finds and words every error as it always has.

So the fast path can only ever accept, never refuse, and marshmallow stays the contract's one source: a field
or hook the compiler does not know (a ``pre_load``/``post_load`` hook, an ``unknown`` policy other than
EXCLUDE, a nested ``many``) makes :func:`compile_loader` raise :class:`NotCompilable` and that schema is
always loaded by marshmallow.  ``tests/unit/test_fastpath.py`` proves on the example corpus, generated
bodies and mutations of both that :func:`services.intake.forms.validate` answers exactly as marshmallow alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.utils import missing

from .fields import ListOf, Scalar
from .objects import FormSchema, Obj

Loader = Callable[[Any], Any]


class Fallback(Exception):  # noqa: N818 - not an error: "let marshmallow judge this body"
    """The body breaks a rule (or might): marshmallow must judge it and word the errors."""


class NotCompilable(TypeError):
    """A schema uses a marshmallow feature the compiler does not reproduce: marshmallow loads it."""


def _field_loader(field: fields.Field[Any], name: str) -> Loader:
    """``field.deserialize`` for a present value, as marshmallow calls it inside ``Schema.load``."""
    if field.pre_load or field.post_load:
        raise NotCompilable(f"{name}: field pre_load/post_load")
    if isinstance(field, Obj):
        return _nested_loader(field, name)
    if isinstance(field, ListOf):
        return _list_loader(field, name)
    if not isinstance(field, Scalar):
        raise NotCompilable(f"{name}: {type(field).__name__} is not a form-contract field")
    if field.validators or type(field)._deserialize is not Scalar._deserialize:
        deserialize = field.deserialize

        def load_field(value: Any) -> Any:
            return deserialize(value)

        return load_field
    # Field.deserialize of a present value without validators, inlined: None as allow_none says, else the
    # field's own _deserialize (its type, format and every rule), which reads neither key nor enclosing object.
    # Scalar._deserialize's usual case is inlined too (a value of exactly its JSON type goes to the field's
    # check, and with Scalar's own check, which accepts any such value, is the answer): three calls less per
    # value, a seventh of a validation
    own = field._deserialize  # noqa: SLF001
    json_type, check, allow_none = field.json_type, field.check, field.allow_none
    if type(field).check is Scalar.check:

        def load_as_is(value: Any) -> Any:
            if value.__class__ is json_type:
                return value
            if value is None:
                if allow_none:
                    return None
                raise Fallback
            return own(value, None, None)

        return load_as_is

    def load_checked(value: Any) -> Any:
        if value.__class__ is json_type:
            return check(value)
        if value is None:
            if allow_none:
                return None
            raise Fallback
        return own(value, None, None)

    return load_checked


def _none_as_allowed(load: Loader, allow_none: bool) -> Loader:
    """``load`` behind the check every field makes first: None is the answer where ``allow_none``, else an
    objection (marshmallow words it); any other value goes to ``load``."""

    def load_or_none(value: Any) -> Any:
        if value is None:
            if allow_none:
                return None
            raise Fallback
        return load(value)

    return load_or_none


def _nested_loader(field: Obj, name: str) -> Loader:
    """``Nested.deserialize``: None as ``allow_none`` says, else the nested schema's load."""
    if field.many or field.validators:
        raise NotCompilable(f"{name}: nested many or validators")
    if field.unknown not in (None, EXCLUDE):
        raise NotCompilable(f"{name}: unknown={field.unknown}")
    schema = field.schema  # the instance marshmallow loads with (built once, kept by the field)
    return _none_as_allowed(compile_loader(schema), field.allow_none)


def _list_loader(field: ListOf, name: str) -> Loader:
    """``ListOf.deserialize`` of a list that passes: its size, each item, and uniqueness when asked."""
    if field.validators:
        raise NotCompilable(f"{name}: list validators")
    inner = _field_loader(field.inner, f"{name}[]")
    allow_none = field.allow_none
    low, high, unique = field.min_items, field.max_items, field.unique

    def load_list(value: Any) -> Any:
        if value is None and allow_none:
            return None
        if not isinstance(value, list) or not low <= len(value) <= high:
            raise Fallback
        result = [inner(item) for item in value]
        if unique:
            # the items ListOf compares (strings and integers, not booleans), on the values as sent
            seen = [v for v in value if isinstance(v, str | int) and not isinstance(v, bool)]
            if len(set(seen)) != len(seen):
                raise Fallback
        return result

    return load_list


def compile_loader(schema: Schema) -> Loader:
    """A loader equal to ``schema.load`` on every body it returns for; :class:`Fallback` on the others.

    Cached on the schema instance (a marshmallow schema keeps no state between loads, so threads share both).
    """
    cached: Loader | None = schema.__dict__.get("_score_fast_loader")
    if cached is not None:
        return cached
    hooks = schema._hooks  # noqa: SLF001 - what marshmallow would run, read once
    if hooks[PRE_LOAD] or hooks[POST_LOAD]:
        raise NotCompilable(f"{type(schema).__name__}: pre_load/post_load hooks")
    if schema.unknown != EXCLUDE or schema.many or schema.partial:
        raise NotCompilable(f"{type(schema).__name__}: unknown/many/partial")
    entries: list[tuple[str, str, Loader, bool, Any]] = []
    for attr, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else attr
        if field.attribute not in (None, attr) or "." in attr:
            raise NotCompilable(f"{type(schema).__name__}.{attr}: attribute")
        entries.append((attr, key, _field_loader(field, attr), bool(field.required), field.load_default))
    # @validates(field...) methods: called with the loaded value of each named field that was loaded
    field_validators: list[tuple[Callable[..., Any], str, str]] = []
    for attr_name, _many, kwargs in hooks[VALIDATES]:
        method = getattr(schema, attr_name)
        for field_name in kwargs["field_names"]:
            field = schema.fields[field_name]
            key = field.data_key if field.data_key is not None else field_name
            field_validators.append((method, field_name, key))
    # @validates_schema methods: those taking the collection first, as marshmallow orders them (many=False:
    # both kinds are called once with the whole object)
    schema_validators = [
        (getattr(schema, attr_name), bool(kwargs.get("pass_original", False)))
        for pass_collection in (True, False)
        for attr_name, hook_many, kwargs in hooks[VALIDATES_SCHEMA]
        if hook_many == pass_collection
    ]
    # FormSchema._reject_unknown objects exactly when the body has a key that is not a field's data key: a
    # set lookup says the same without calling it (it ran for every object of every body), and when there is
    # such a key the body goes to marshmallow
    allowed = frozenset(field.data_key or name for name, field in schema.load_fields.items())  # as the hook
    schema_validators = [
        (method, pass_original)
        for method, pass_original in schema_validators
        if getattr(method, "__func__", None) is not FormSchema._reject_unknown
    ]
    dict_class = schema.dict_class
    unknown, partial = schema.unknown, schema.partial

    def load(raw: Any) -> Any:
        if type(raw) is not dict and not isinstance(raw, Mapping):  # type() first: ABC checks are slow
            raise Fallback
        if not allowed.issuperset(raw):
            raise Fallback  # an unknown key
        out = dict_class()
        try:
            for attr, key, loader, required, default in entries:
                value = raw.get(key, missing)
                if value is missing:
                    if required:
                        raise Fallback
                    if default is not missing:
                        out[attr] = default() if callable(default) else default
                    continue
                out[attr] = loader(value)
            for method, field_name, key in field_validators:
                if field_name in out and method(out[field_name], data_key=key) is missing:
                    del out[field_name]  # marshmallow drops a field whose validator returns `missing`
            for method, pass_original in schema_validators:
                if pass_original:
                    method(out, raw, partial=partial, many=False, unknown=unknown)
                else:
                    method(out, partial=partial, many=False, unknown=unknown)
        except Fallback:
            raise
        except Exception as exc:  # a rule objected (ValidationError) or choked: marshmallow judges
            raise Fallback from exc
        return out

    schema.__dict__["_score_fast_loader"] = load
    return load
