"""framework.settings: the strict settings models plugins.toml is checked with (instead of pydantic)."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Literal

import pytest

from framework import hookimpl
from framework.config import ConfigError, describe_validation_error, load_config
from framework.plugins import PluginHost
from framework.settings import Field, Settings, ValidationError, is_pydantic_model


class Group(Settings):
    roles: list[str | int] = []
    users: list[int] = []


class Everything(Settings):
    name: str = "x"
    count: int = 1
    ratio: float = 0.5
    on: bool = False
    where: Path = Path("data")
    maybe: int | None = None
    tags: list[str] = ["a"]
    table: dict[str, int] = {}
    engine: str | dict[str, str] = "whisper"
    mixed: list[str | int] = []
    mode: Literal["wake", "always"] = "wake"
    group: Group = Group()
    groups: dict[str, Group] = {}
    anything: Any = None


def errors_of(model: type[Settings], data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["type"], e["input"]) for e in caught.value.errors()]


def test_defaults_and_each_type_accepted() -> None:
    assert Everything() == Everything.model_validate({})
    got = Everything.model_validate({
        "name": "n", "count": 3, "ratio": 2, "on": True, "where": "/srv/bot", "maybe": 4, "tags": ["b", "c"],
        "table": {"k": 1}, "engine": {"en": "whisper", "ko": "vosk"}, "mixed": ["admins", 42], "mode": "always",
        "group": {"roles": [1]}, "groups": {"mods": {"users": [7], "roles": ["Mod"]}}, "anything": [1, "two"]})
    assert (got.name, got.count, got.on, got.where, got.maybe) == ("n", 3, True, Path("/srv/bot"), 4)
    assert got.ratio == 2.0 and isinstance(got.ratio, float)
    assert (got.tags, got.table, got.mixed, got.mode) == (["b", "c"], {"k": 1}, ["admins", 42], "always")
    assert got.engine == {"en": "whisper", "ko": "vosk"} and got.anything == [1, "two"]
    assert got.group == Group(roles=[1]) and got.groups["mods"] == Group(users=[7], roles=["Mod"])
    assert isinstance(got.groups["mods"], Group)
    assert Everything.model_validate({"engine": "vosk"}).engine == "vosk"
    assert Everything.model_validate({"maybe": None}).maybe is None


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("name", 5, "string_type"),
    ("count", True, "int_type"),  # a bool is not an int
    ("count", "5", "int_type"),  # nothing is coerced
    ("count", 1.5, "int_type"),
    ("ratio", "0.5", "float_type"),
    ("ratio", False, "float_type"),
    ("on", 1, "bool_type"),
    ("on", "true", "bool_type"),
    ("where", 3, "path_type"),
    ("maybe", "4", "int_type"),
    ("tags", "a", "list_type"),
    ("table", [1], "dict_type"),
    ("engine", 5, "union_type"),
    ("mode", "sometimes", "literal_error"),
    ("group", "admins", "model_type"),
])
def test_each_wrong_type_is_refused(key: str, value: Any, kind: str) -> None:
    assert errors_of(Everything, {key: value}) == [(key, kind, value)]


def test_messages_name_what_was_expected() -> None:
    with pytest.raises(ValidationError) as caught:
        Everything.model_validate({"name": 5, "ratio": "x", "mode": "sometimes", "engine": 5, "tags": "a"})
    messages = {e["loc"][0]: e["msg"] for e in caught.value.errors()}
    assert messages == {"name": "Input should be a valid string", "ratio": "Input should be a valid number",
                        "mode": "Input should be 'wake' or 'always'", "tags": "Input should be a valid list",
                        "engine": "Input should be a valid string or a valid dictionary"}
    assert isinstance(caught.value, ValueError) and "5 validation errors for Everything" in str(caught.value)


def test_every_error_at_once_with_its_nested_location() -> None:
    assert sorted(errors_of(Everything, {
        "tags": ["ok", 3], "table": {"k": "v"}, "engine": {"en": 1}, "mixed": [1.5],
        "groups": {"mods": {"users": ["ann"], "colour": "red"}}, "group": {"roles": [None]}, "nonsense": 1,
    })) == sorted([
        ("tags.1", "string_type", 3), ("table.k", "int_type", "v"), ("engine.en", "string_type", 1),
        ("mixed.0", "union_type", 1.5), ("groups.mods.users.0", "int_type", "ann"),
        ("groups.mods.colour", "extra_forbidden", "red"), ("group.roles.0", "union_type", None),
        ("nonsense", "extra_forbidden", 1),
    ])


class Bounded(Settings):
    workers: int = Field(4, ge=1, le=64)
    interval: float = Field(3.0, gt=0, lt=60)
    prefix: str = Field("!", min_length=1, max_length=5)
    labels: list[str] = Field(["a"], min_length=1, max_length=2)
    schema_name: str | None = Field(None, alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    required: str = Field()


def test_constraints() -> None:
    ok = Bounded.model_validate({"workers": 64, "interval": 59.5, "prefix": "?!", "schema": "bot", "required": "r"})
    assert (ok.workers, ok.interval, ok.prefix, ok.schema_name) == (64, 59.5, "?!", "bot")
    with pytest.raises(ValidationError) as caught:
        Bounded.model_validate({"workers": 0, "interval": 0, "prefix": "", "labels": [], "schema": "Bad-Name",
                                "schema_name": "x"})
    got = {(".".join(map(str, e["loc"])), e["type"]): e["msg"] for e in caught.value.errors()}
    assert got == {
        ("workers", "greater_than_equal"): "Input should be greater than or equal to 1",
        ("interval", "greater_than"): "Input should be greater than 0",
        ("prefix", "string_too_short"): "String should have at least 1 character",
        ("labels", "too_short"): "List should have at least 1 item after validation, not 0",
        ("schema", "string_pattern_mismatch"): "String should match pattern '^[a-z_][a-z0-9_]{0,62}$'",
        ("required", "missing"): "Field required",
        ("schema_name", "extra_forbidden"): "Extra inputs are not permitted",  # the table's key is the alias
    }
    too_big = errors_of(Bounded, {"workers": 65, "interval": 60, "prefix": "longer", "labels": ["a", "b", "c"],
                                  "required": "r"})
    assert [kind for _, kind, _ in too_big] == ["less_than_equal", "less_than", "string_too_long", "too_long"]
    assert errors_of(Bounded, {"schema": None, "required": 3}) == [("required", "string_type", 3)]
    assert Bounded.model_fields["schema_name"].alias == "schema"
    assert Bounded.model_fields["workers"].default == 4 and Bounded.model_fields["required"].is_required()


def test_assignment_is_validated() -> None:
    bounded = Bounded(required="r")
    bounded.workers = 8
    assert bounded.workers == 8
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        bounded.workers = 0
    with pytest.raises(ValidationError, match="valid integer"):
        bounded.workers = "8"
    assert bounded.workers == 8
    settings = Everything()
    settings.where = "/tmp/elsewhere"  # type: ignore[assignment]
    assert settings.where == Path("/tmp/elsewhere")
    with pytest.raises(ValidationError, match="no attribute 'wher'"):
        settings.wher = Path("x")  # type: ignore[attr-defined]


def test_defaults_are_not_shared() -> None:
    one, two = Everything(), Everything.model_validate({})
    one.tags.append("mine")
    one.group.roles.append(1)
    one.groups["x"] = Group()
    assert two.tags == ["a"] and two.group.roles == [] and two.groups == {}
    assert Everything().tags == ["a"] and Everything.model_fields["tags"].default == ["a"]


def test_unknown_keys_ignored_or_kept_when_the_class_says_so() -> None:
    class Lenient(Settings):
        model_config = {"extra": "ignore"}
        a: int = 1

    class Open(Settings):
        model_config = {"extra": "allow"}
        a: int = 1

    assert Lenient.model_validate({"a": 2, "b": 3}) == Lenient(a=2)
    kept = Open.model_validate({"b": 3})
    assert kept.b == 3 and kept.model_dump() == {"a": 1, "b": 3}  # type: ignore[attr-defined]


def test_subclasses_inherit_fields_and_annotations_may_name_local_classes() -> None:
    class Voice(Settings):
        rate: int = Field(170, ge=60, le=400)

    class PerGuild(Voice):
        guilds: dict[str, Voice] = {}

    got = PerGuild.model_validate({"rate": 100, "guilds": {"1": {"rate": 200}}})
    assert got.rate == 100 and got.guilds == {"1": Voice(rate=200)}
    assert errors_of(PerGuild, {"guilds": {"1": {"rate": 10}}}) == [("guilds.1.rate", "greater_than_equal", 10)]
    assert repr(Voice()) == "Voice(rate=170)" and Voice() != PerGuild()
    assert PerGuild().model_dump() == {"rate": 170, "guilds": {}}


def test_describe_validation_error_names_table_and_key() -> None:
    with pytest.raises(ValidationError) as caught:
        Everything.model_validate({"groups": {"mods": {"users": ["ann"]}}, "colour": "red"})
    assert describe_validation_error("[plugins.x]", caught.value).splitlines() == [
        "[plugins.x]: key `groups.mods.users.0`: Input should be a valid integer (got 'ann')",
        "[plugins.x]: unknown key `colour`"]


def test_pydantic_models_are_recognised_without_importing_pydantic() -> None:
    assert not is_pydantic_model(Everything) and not is_pydantic_model(dict) and not is_pydantic_model(None)
    from pydantic import BaseModel

    class Old(BaseModel):
        a: int = 1

    assert is_pydantic_model(Old)


@pytest.mark.parametrize("kind", ["framework.settings", "pydantic"])
def test_plugin_settings_of_either_kind_through_the_hook(tmp_path: Path, kind: str) -> None:
    """A third-party plugin's model may be pydantic's; both kinds report every problem with table and key."""
    if kind == "pydantic":
        from pydantic import BaseModel, ConfigDict
        from pydantic import Field as PydanticField

        class Model(BaseModel):
            model_config = ConfigDict(extra="forbid")
            level: int = PydanticField(3, ge=1)
            name: str = "n"
    else:
        class Model(Settings):  # type: ignore[no-redef]
            level: int = Field(3, ge=1)
            name: str = "n"

    plugin = types.SimpleNamespace(settings_model=hookimpl(lambda: Model))
    path = tmp_path / "plugins.toml"
    path.write_text("[plugins.levels]\nlevel = 5\n", "utf-8")
    host = PluginHost(load_config(path))
    host.load_all({"levels": plugin})
    assert isinstance(host.settings("levels"), Model) and host.settings("levels").level == 5
    path.write_text("[plugins.levels]\nlevel = 0\nname = 1\nlevle = 2\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        PluginHost(load_config(path)).load_all({"levels": plugin})
    assert str(caught.value).splitlines() == [
        "[plugins.levels]: unknown key `levle`",
        "[plugins.levels]: key `level`: Input should be greater than or equal to 1 (got 0)",
        "[plugins.levels]: key `name`: Input should be a valid string (got 1)"]


def test_a_settings_model_that_is_neither_kind_fails_the_plugin(tmp_path: Path) -> None:
    host = PluginHost(load_config(tmp_path / "none.toml"))
    host.load_all({"odd": types.SimpleNamespace(settings_model=hookimpl(lambda: dict))})
    assert host.infos["odd"].status == "failed" and "not a framework.settings.Settings" in str(host.infos["odd"].error)
