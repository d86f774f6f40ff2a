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
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

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

        _INLINE[load_as_is] = _Inline(json_type, None, allow_none, own)
        return load_as_is

    def load_checked(value: Any) -> Any:
        if value.__class__ is json_type:
            return check(value)
        if value is None:
            if allow_none:
                return None
            raise Fallback
        return own(value, None, None)

    _INLINE[load_checked] = _Inline(json_type, check, allow_none, own)
    return load_checked


class _Inline(NamedTuple):
    """What a scalar field's loader does, for :func:`compile_loader` to write in place of calling it."""

    json_type: type
    check: Loader | None  #: None: a value of ``json_type`` is the answer as it is
    allow_none: bool
    own: Callable[[Any, None, None], Any]  #: the field's ``_deserialize``, for a value of another type


#: the scalar loaders made by :func:`_field_loader`, with what they do (weak: a loader lives with its schema)
_INLINE: WeakKeyDictionary[Loader, _Inline] = WeakKeyDictionary()


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
    if not field.allow_none:
        # the schema's loader gives up on None as on anything that is not an object: one call less
        return compile_loader(schema)
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
    load = _generate(type(schema).__name__, entries, field_validators, schema_validators, allowed, schema)
    schema.__dict__["_score_fast_loader"] = load
    return load


def _generate(
    name: str,
    entries: list[tuple[str, str, Loader, bool, Any]],
    field_validators: list[tuple[Callable[..., Any], str, str]],
    schema_validators: list[tuple[Callable[..., Any], bool]],
    allowed: frozenset[str],
    schema: Schema,
) -> Loader:
    """The schema's loader as one function written out for its fields (``exec``): what a loop over
    ``entries`` calling each field's loader did, in straight-line code with each scalar field's loader
    (:data:`_INLINE`) written in place.  The loop's unpacking and the call per field were a third of a
    validation.  Every name the code uses is bound in its namespace; no text from a schema enters the code
    (keys and attributes are bound as values too)."""
    ns: dict[str, Any] = {
        "Fallback": Fallback,
        "Mapping": Mapping,
        "missing": missing,
        "allowed": allowed,
        "dict_class": schema.dict_class,
        "unknown": schema.unknown,
        "partial": schema.partial,
    }
    code = [
        "def load(raw):",
        "    if type(raw) is not dict and not isinstance(raw, Mapping):  # type() first: ABC checks are slow",
        "        raise Fallback",
        "    if not allowed.issuperset(raw):",
        "        raise Fallback  # an unknown key",
        "    out = dict_class()",
        "    try:",
    ]
    for i, (attr, key, loader, required, default) in enumerate(entries):
        ns[f"a{i}"], ns[f"k{i}"] = attr, key
        code += [f"        v = raw.get(k{i}, missing)", "        if v is missing:"]
        if required:
            code.append("            raise Fallback")
        elif default is missing:
            code.append("            pass")
        else:
            ns[f"d{i}"] = default
            code.append(
                f"            out[a{i}] = d{i}()" if callable(default) else f"            out[a{i}] = d{i}"
            )
        code.append("        else:")
        inline = _INLINE.get(loader)
        if inline is None:
            ns[f"l{i}"] = loader
            code.append(f"            out[a{i}] = l{i}(v)")
            continue
        ns[f"t{i}"], ns[f"o{i}"] = inline.json_type, inline.own
        code.append(f"            if v.__class__ is t{i}:")
        if inline.check is None:
            code.append(f"                out[a{i}] = v")
        else:
            ns[f"c{i}"] = inline.check
            code.append(f"                out[a{i}] = c{i}(v)")
        code.append("            elif v is None:")
        code.append(
            f"                out[a{i}] = None" if inline.allow_none else "                raise Fallback"
        )
        code += ["            else:", f"                out[a{i}] = o{i}(v, None, None)"]
    for j, (method, field_name, key) in enumerate(field_validators):
        ns[f"fv{j}"], ns[f"fn{j}"], ns[f"fk{j}"] = method, field_name, key
        code += [
            f"        if fn{j} in out and fv{j}(out[fn{j}], data_key=fk{j}) is missing:",
            f"            del out[fn{j}]  # marshmallow drops a field whose validator returns `missing`",
        ]
    for m, (method, pass_original) in enumerate(schema_validators):
        ns[f"sv{m}"] = method
        original = "raw, " if pass_original else ""
        code.append(f"        sv{m}(out, {original}partial=partial, many=False, unknown=unknown)")
    code += [
        "    except Fallback:",
        "        raise",
        "    except Exception as exc:  # a rule objected (ValidationError) or choked: marshmallow judges",
        "        raise Fallback from exc",
        "    return out",
    ]
    exec(compile("\n".join(code), f"<fast loader of {name}>", "exec"), ns)  # noqa: S102 - our own code
    load: Loader = ns["load"]
    return load
