"""Typed, strict settings models: the part of pydantic's API that plugins.toml needs, without pydantic.

Importing pydantic costs about 7 MiB of resident memory, and the bot used it only to check
plugins.toml. A settings model is a class with annotated fields::

    class Settings(framework.settings.Settings):
        greeting: str = Field("Hello!", max_length=500)
        labels: list[str] = ["positive", "negative"]
        mode: Literal["wake", "always"] = "wake"

``Settings.model_validate(table)`` (or ``Settings(**table)``) returns an instance or raises
:class:`ValidationError` listing every problem of the table at once, each with its location,
kind (pydantic's names: ``string_type``, ``greater_than_equal``, ``extra_forbidden``…), message
and input. Types: ``str``, ``int`` (a bool is not one), ``float`` (an int is one), ``bool``,
``Path`` (from a string), ``X | None``, unions, ``list[T]``, ``dict[K, V]``, ``Literal[...]``,
``Any``, nested models and any other class (checked with ``isinstance``). Strict: nothing is
coerced (``"5"`` is not an int), since TOML values are typed already. Unknown keys are refused
unless the class says ``model_config = {"extra": "ignore"}`` (or ``"allow"``, which keeps them
as attributes). Assigning a field validates the value; each instance gets its own copy of the
defaults. Annotations may be strings (``from __future__ import annotations``): they are resolved
on first use with :func:`typing.get_type_hints` in the class's module (and the scope defining it).
"""

from __future__ import annotations

import copy
import operator
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import PurePath
from typing import Any, ClassVar, Literal, Self

__all__ = ["Field", "FieldInfo", "Settings", "ValidationError", "is_pydantic_model"]

_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
_INVALID: Any = object()
Loc = tuple[str | int, ...]
ErrorDetails = dict[str, Any]


class FieldInfo:
    """A field of a settings model: its default, alias and constraints (``model_fields[name]``)."""

    def __init__(self, default: Any = _MISSING, *, alias: str | None = None, ge: float | None = None,
                 gt: float | None = None, le: float | None = None, lt: float | None = None,
                 min_length: int | None = None, max_length: int | None = None, pattern: str | None = None,
                 description: str | None = None) -> None:
        self.default, self.alias, self.description = default, alias, description
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.min_length, self.max_length = min_length, max_length
        self.pattern = re.compile(pattern) if pattern is not None else None
        self.annotation: Any = None
        """The field's type, once resolved (until then the annotation's text)."""

    def is_required(self) -> bool:
        return self.default is _MISSING

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if v is not None and k != "annotation"}
        return f"FieldInfo({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def Field(default: Any = _MISSING, *, alias: str | None = None, ge: float | None = None, gt: float | None = None,
          le: float | None = None, lt: float | None = None, min_length: int | None = None,
          max_length: int | None = None, pattern: str | None = None, description: str | None = None) -> Any:
    """A field's default with constraints: bounds of a number, length of a string/list/dict, a regex
    a string must contain (``re.search``), or the key it has in the table (``alias``)."""
    return FieldInfo(default, alias=alias, ge=ge, gt=gt, le=le, lt=lt, min_length=min_length,
                     max_length=max_length, pattern=pattern, description=description)


class ValidationError(ValueError):
    """Every problem of one validation; ``errors()`` gives each as a dict of ``loc``, ``type``, ``msg``, ``input``."""

    def __init__(self, title: str, errors: list[ErrorDetails]) -> None:
        self.title, self._errors = title, errors
        super().__init__(str(self))

    def errors(self) -> list[ErrorDetails]:
        return [dict(e) for e in self._errors]

    def error_count(self) -> int:
        return len(self._errors)

    def __str__(self) -> str:
        n = len(self._errors)
        lines = [f"{n} validation error{'s' if n != 1 else ''} for {self.title}"]
        for e in self._errors:
            lines += [".".join(str(p) for p in e["loc"]) or "(table)",
                      f"  {e['msg']} [type={e['type']}, input_value={e['input']!r}]"]
        return "\n".join(lines)


def is_pydantic_model(model: object) -> bool:
    """Whether ``model`` is a pydantic ``BaseModel`` class, found without importing pydantic."""
    return isinstance(model, type) and any(
        base.__name__ == "BaseModel" and base.__module__.startswith("pydantic") for base in model.__mro__)


def _fail(errors: list[ErrorDetails], loc: Loc, kind: str, msg: str, value: Any) -> Any:
    errors.append({"type": kind, "loc": loc, "msg": msg, "input": value})
    return _INVALID


def _plural(n: float, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


_SIMPLE: dict[type, tuple[str, str]] = {
    str: ("string_type", "Input should be a valid string"),
    bool: ("bool_type", "Input should be a valid boolean"),
    int: ("int_type", "Input should be a valid integer"),
    float: ("float_type", "Input should be a valid number"),
}


def _check(tp: Any, value: Any, loc: Loc, errors: list[ErrorDetails]) -> Any:
    """``value`` as type ``tp``, or _INVALID with the reasons appended to ``errors``."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return _check_union(typing.get_args(tp), value, loc, errors)
    if origin is Literal:
        choices = typing.get_args(tp)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        shown = [repr(c) for c in choices]
        expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
        return _fail(errors, loc, "literal_error", f"Input should be {expected}", value)
    if origin is list or tp is list:
        if not isinstance(value, list | tuple):
            return _fail(errors, loc, "list_type", "Input should be a valid list", value)
        (item,) = typing.get_args(tp) or (Any,)
        before = len(errors)
        items = [_check(item, v, (*loc, i), errors) for i, v in enumerate(value)]
        return items if len(errors) == before else _INVALID
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            return _fail(errors, loc, "dict_type", "Input should be a valid dictionary", value)
        key_type, value_type = typing.get_args(tp) or (Any, Any)
        before, out = len(errors), {}
        for k, v in value.items():
            out[_check(key_type, k, (*loc, k, "[key]"), errors)] = _check(value_type, v, (*loc, k), errors)
        return out if len(errors) == before else _INVALID
    if isinstance(tp, type) and issubclass(tp, Settings):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            return _fail(errors, loc, "model_type", f"Input should be a valid dictionary or instance of {tp.__name__}",
                         value)
        return tp._validate(value, loc, errors)
    if tp in _SIMPLE:
        ok = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
        if ok or (tp is float and isinstance(value, int) and not isinstance(value, bool)):
            return float(value) if tp is float else value
        return _fail(errors, loc, *_SIMPLE[tp], value)
    if tp is type(None) or tp is None:
        return None if value is None else _fail(errors, loc, "none_required", "Input should be None", value)
    if isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, str | PathLike):
            return tp(value)
        return _fail(errors, loc, "path_type", "Input is not a valid path", value)
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        return _fail(errors, loc, "is_instance_of", f"Input should be an instance of {tp.__name__}", value)
    raise TypeError(f"framework.settings does not support the annotation {tp!r}")


def _check_union(options: Sequence[Any], value: Any, loc: Loc, errors: list[ErrorDetails]) -> Any:
    if value is None and type(None) in options:
        return None
    rest = sorted((o for o in options if o is not type(None)), key=lambda o: o is not type(value))
    attempts: list[list[ErrorDetails]] = []
    for option in rest:
        tried: list[ErrorDetails] = []
        result = _check(option, value, loc, tried)
        if not tried:
            return result
        attempts.append(tried)
    deeper = [a for a in attempts if any(len(e["loc"]) > len(loc) for e in a)]
    if len(attempts) == 1 or len(deeper) == 1:  # one option, or the one the value's shape matched
        errors.extend((deeper or attempts)[0])
        return _INVALID
    if any(len(a) != 1 for a in attempts):
        errors.extend(e for a in attempts for e in a)
        return _INVALID
    wanted = " or ".join(a[0]["msg"].removeprefix("Input should be ") for a in attempts)
    return _fail(errors, loc, "union_type", f"Input should be {wanted}", value)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "greater_than_equal": operator.ge, "greater_than": operator.gt,
    "less_than_equal": operator.le, "less_than": operator.lt}


def _constrain(field: FieldInfo, value: Any, loc: Loc, errors: list[ErrorDetails]) -> Any:
    if value is None:
        return value
    before = len(errors)
    for bound, kind, words in ((field.ge, "greater_than_equal", "greater than or equal to"),
                               (field.gt, "greater_than", "greater than"),
                               (field.le, "less_than_equal", "less than or equal to"),
                               (field.lt, "less_than", "less than")):
        if bound is not None and not _COMPARE[kind](value, bound):
            _fail(errors, loc, kind, f"Input should be {words} {bound}", value)
    if field.min_length is not None or field.max_length is not None:
        size = len(value)
        if isinstance(value, str):
            what, unit, after = "String", "character", ""
        else:
            what, unit, after = ("Dictionary" if isinstance(value, dict) else "List"), "item", " after validation"
        if field.min_length is not None and size < field.min_length:
            _fail(errors, loc, "string_too_short" if what == "String" else "too_short",
                  f"{what} should have at least {_plural(field.min_length, unit)}{after}"
                  + (f", not {size}" if after else ""), value)
        if field.max_length is not None and size > field.max_length:
            _fail(errors, loc, "string_too_long" if what == "String" else "too_long",
                  f"{what} should have at most {_plural(field.max_length, unit)}{after}"
                  + (f", not {size}" if after else ""), value)
    if field.pattern is not None and isinstance(value, str) and not field.pattern.search(value):
        _fail(errors, loc, "string_pattern_mismatch", f"String should match pattern '{field.pattern.pattern}'", value)
    return value if len(errors) == before else _INVALID


def _field_value(field: FieldInfo, value: Any, loc: Loc, errors: list[ErrorDetails]) -> Any:
    checked = _check(field.annotation, value, loc, errors)
    return checked if checked is _INVALID else _constrain(field, checked, loc, errors)


class Settings:
    """Base of a settings model: annotate fields with types and defaults (``Field(...)`` for constraints)."""

    model_config: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    """``extra``: ``"forbid"`` (default: an unknown key is an error), ``"ignore"`` or ``"allow"`` (kept)."""
    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    __resolved: ClassVar[bool] = False
    __localns: ClassVar[dict[str, Any] | None] = None
    __hash__ = None  # type: ignore[assignment]  # mutable, like a dict

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, FieldInfo] = {}
        config: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, Settings):
                fields.update(base.model_fields)
                config.update(base.model_config)
        config.update(cls.__dict__.get("model_config", {}))
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            text = annotation if isinstance(annotation, str) else repr(annotation)
            if name.startswith("_") or name in ("model_config", "model_fields") or "ClassVar" in text:
                continue
            default = cls.__dict__.get(name, _MISSING)
            field = copy.copy(default) if isinstance(default, FieldInfo) else FieldInfo(default)
            field.annotation = annotation
            fields[name] = field
            if name in cls.__dict__:
                delattr(cls, name)
        cls.model_fields, cls.model_config, cls.__resolved = fields, config, False
        frame = sys._getframe(1)  # the scope the class statement runs in, for annotations naming its locals
        cls.__localns = dict(frame.f_locals) if frame.f_locals is not frame.f_globals else None

    @classmethod
    def __resolve(cls) -> None:
        if cls.__resolved:
            return
        localns = {**(cls.__localns or {}), cls.__name__: cls}
        hints = typing.get_type_hints(cls, localns=localns)
        for name, field in cls.model_fields.items():
            field = cls.model_fields[name] = copy.copy(field)  # a subclass resolves its own copy
            field.annotation = hints[name]
        cls.__resolved = True

    @classmethod
    def _validate(cls, data: Mapping[str, Any], loc: Loc, errors: list[ErrorDetails]) -> Any:
        """An instance from ``data``, or _INVALID with every problem appended to ``errors``."""
        cls.__resolve()
        before, values, keys = len(errors), {}, set()
        for name, field in cls.model_fields.items():
            key = field.alias or name
            keys.add(key)
            if key in data:
                values[name] = _field_value(field, data[key], (*loc, key), errors)
            elif field.is_required():
                _fail(errors, (*loc, key), "missing", "Field required", dict(data))
            else:
                values[name] = copy.deepcopy(field.default)
        extra = cls.model_config.get("extra", "forbid")
        for key in data:
            if key not in keys:
                if extra == "forbid":
                    _fail(errors, (*loc, key), "extra_forbidden", "Extra inputs are not permitted", data[key])
                elif extra == "allow":
                    values[key] = data[key]
        if len(errors) > before:
            return _INVALID
        obj = cls.__new__(cls)
        obj.__dict__.update(values)
        return obj

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """An instance from a table (a mapping), or ``obj`` itself if it is one; ValidationError otherwise."""
        if isinstance(obj, cls):
            return obj
        errors: list[ErrorDetails] = []
        result = _check(cls, obj, (), errors)
        if errors:
            raise ValidationError(cls.__name__, errors)
        return typing.cast(Self, result)

    def __init__(self, **data: Any) -> None:
        errors: list[ErrorDetails] = []
        made = type(self)._validate(data, (), errors)
        if errors:
            raise ValidationError(type(self).__name__, errors)
        self.__dict__.update(made.__dict__)

    def __setattr__(self, name: str, value: Any) -> None:
        fields = type(self).model_fields
        if name in fields:
            type(self).__resolve()
            errors: list[ErrorDetails] = []
            field = fields[name]
            value = _field_value(field, value, (field.alias or name,), errors)
            if errors:
                raise ValidationError(type(self).__name__, errors)
        elif not name.startswith("_") and type(self).model_config.get("extra") != "allow":
            raise ValidationError(type(self).__name__, [{"type": "no_such_attribute", "loc": (name,), "input": value,
                                                         "msg": f"Object has no attribute '{name}'"}])
        object.__setattr__(self, name, value)

    def model_dump(self) -> dict[str, Any]:
        """The fields (and kept extras) as a dict, nested models as dicts."""
        def plain(value: Any) -> Any:
            if isinstance(value, Settings):
                return value.model_dump()
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value
        return {k: plain(v) for k, v in self.__dict__.items() if not k.startswith("_")}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if not k.startswith("_"))
        return f"{type(self).__name__}({shown})"
