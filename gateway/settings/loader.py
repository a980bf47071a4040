"""Load the policy file: YAML -> environment overrides -> strict decode -> cross-checks.

Every problem is collected (not just the first) and reported with its key path, and for an
unknown key with the keys allowed there, so `gateway check` can print them all at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from gateway.settings.backend_types import BackendSpec
from gateway.settings.checks import cross_check
from gateway.settings.plugins import PluginError, installed_plugins, load_plugin
from gateway.settings.schema import Settings
from gateway.settings.yaml_load import load_yaml

ENV_PREFIX = "GATEWAY__"
_MAX_PASSES = 50
_ERROR_RE = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN_RE = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_MISSING_RE = re.compile(r"^Object missing required field `(?P<key>[^`]*)`$")
_EXPONENT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
_SEGMENT_RE = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_OPTIONAL_RE = re.compile(r"^Expected `([^`]+?) \| null`")


class ConfigError(Exception):
    """The policy file is invalid; `problems` lists every error found, each with its path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration in {source}:\n{listed}")


def load_settings(path: str | Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a policy file (or the embedded default when `path` is None)."""
    env = os.environ if env is None else env
    if path is None:
        from gateway.settings.defaults import default_document

        return parse_settings(default_document(env), "<embedded default>", env)
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"the file is not UTF-8 text: {exc}"]) from exc
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc
    if document is None:
        document = {}
    return parse_settings(document, source, env)


def parse_settings(document: Any, source: str, env: Mapping[str, str]) -> Settings:
    if not isinstance(document, dict):
        raise ConfigError(source, ["$: the top level must be a mapping of keys to values"])
    document = apply_env_overrides(document, env)
    problems: list[str] = []
    settings = _decode_collecting(document, problems)
    if settings is not None and not problems:
        problems.extend(cross_check(settings))
    if problems or settings is None:
        raise ConfigError(source, problems or ["$: invalid configuration"])
    return settings


def apply_env_overrides(document: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """`GATEWAY__SERVER__PORT=9000` sets `server.port`. Levels are joined by `__`; names
    match existing keys case-insensitively (`GATEWAY__BACKENDS__OpenAI__...` finds `OpenAI`),
    a number indexes a list (`GATEWAY__MODELS__0__BACKEND`), values are parsed as YAML
    scalars (and `1e3`-style numbers as numbers)."""
    result: dict[str, Any] = _deep_copy(document)
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or len(name) == len(ENV_PREFIX):
            continue
        keys = name[len(ENV_PREFIX) :].split("__")
        node: Any = result
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ConfigError(name, [f"{name}: `{key}` is not an index of that list"])
                if last:
                    node[int(key)] = _scalar(env[name])
                else:
                    node = node[int(key)]
                continue
            match = next((k for k in node if isinstance(k, str) and k.lower() == key.lower()), None)
            field = match if match is not None else key.lower()
            if last:
                node[field] = _scalar(env[name])
            else:
                if not isinstance(node.get(field), dict | list):
                    node[field] = {}
                node = node[field]
    return result


def _scalar(text: str) -> Any:
    value = load_yaml(text)
    if isinstance(value, str) and _EXPONENT_RE.match(value):
        return float(value)  # YAML 1.1 reads `1e3` as a string
    return value


# --- strict decoding that reports every error ---------------------------------------------


def _decode_collecting(document: dict[str, Any], problems: list[str]) -> Settings | None:
    """Decode every entry of the top-level collections on its own (so that paths name the
    entry and one bad entry does not hide the next), then the rest of the document."""
    data = _deep_copy(document)
    backends = data.get("backends")
    if isinstance(backends, dict):
        _plugin_entries(backends, problems)
    info = msgspec.inspect.type_info(Settings)
    assert isinstance(info, msgspec.inspect.StructType)
    for field_info in info.fields:
        name = field_info.encode_name
        entries = data.get(name)
        entry_type = _collection_entry_type(field_info.type)
        if entry_type is None or not isinstance(entries, dict | list):
            continue
        keyed: list[tuple[str | int, Any]] = (
            list(entries.items()) if isinstance(entries, dict) else list(enumerate(entries))
        )
        bad: list[Any] = []
        for key, entry in keyed:
            before = len(problems)
            ok = _collect(entry, entry_type, (name, key), problems)
            # An entry with any error is left out of the rest (it was reported once here,
            # even if it decoded after its bad node was dropped).
            if ok is None or len(problems) > before:
                bad.append(key)
        if isinstance(entries, dict):
            for key in bad:
                del entries[key]
        else:
            data[name] = [e for i, e in enumerate(entries) if i not in bad]
    result = _collect(data, Settings, (), problems)
    return result if isinstance(result, Settings) else None


def _built_in_backend_types() -> list[str]:
    union = msgspec.inspect.type_info(BackendSpec)
    assert isinstance(union, msgspec.inspect.UnionType)
    return [str(t.tag) for t in union.types if isinstance(t, msgspec.inspect.StructType)]


def _plugin_entries(backends: dict[Any, Any], problems: list[str]) -> None:
    """`type: <plugin>` entries, checked against the plugin's own Struct (errors at the
    entry's own paths), become `type: plugin` entries carrying the checked keys."""
    built_in = _built_in_backend_types()
    for name, entry in list(backends.items()):
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(kind, str) or kind in built_in:
            continue
        where = f"$.backends.{name}.type"
        try:
            plugin = load_plugin(kind)
        except PluginError as exc:
            problems.append(f"{where}: {exc}")
            del backends[name]
            continue
        if plugin is None:
            known = ", ".join([t for t in built_in if t != "plugin"] + installed_plugins())
            problems.append(f"{where}: unknown backend type `{kind}` (known types: {known})")
            del backends[name]
            continue
        config = {k: v for k, v in entry.items() if k != "type"}
        before = len(problems)
        checked = _collect(config, plugin.spec, ("backends", name), problems)
        if checked is None or len(problems) > before:
            del backends[name]
            continue
        backends[name] = {"type": "plugin", "plugin": kind, "config": config}


def _collect(data: Any, typ: Any, base: tuple[str | int, ...], problems: list[str]) -> Any | None:
    """Convert `data` to `typ`; on each error record it, drop the offending node, retry."""
    data = _deep_copy(data)
    removed: set[tuple[str | int, ...]] = set()
    for _ in range(_MAX_PASSES):
        try:
            return msgspec.convert(data, typ)
        except msgspec.ValidationError as exc:
            match = _ERROR_RE.match(str(exc))
            message = match["msg"] if match else str(exc)
            raw_path = (match["path"] if match else None) or "$"
            path = _parse_path(raw_path)
            if path is None:
                problems.append(f"{_show(base)}{raw_path[1:]}: {message}")
                return None
            unknown = _UNKNOWN_RE.match(message)
            missing = _MISSING_RE.match(message)
            where = _show((*base, *path))
            if unknown:
                allowed = ", ".join(_allowed_keys(typ, data, path)) or "none"
                problems.append(
                    f"{where}: unknown key `{unknown['key']}` (allowed keys: {allowed})"
                )
                target: tuple[str | int, ...] = (*path, unknown["key"])
            elif missing:
                if (*path, missing["key"]) not in removed:  # else already reported
                    problems.append(f"{where}: missing required key `{missing['key']}`")
                # The object cannot be completed: drop it so that the rest can be checked.
                target = path
            else:
                problems.append(f"{where}: {_explain(message)}")
                target = path
            if not target or not _delete(data, target):
                return None
            removed.add(target)
    return None


def _collection_entry_type(info: Any) -> Any:
    if isinstance(info, msgspec.inspect.DictType):
        return _python_type(info.value_type)
    if isinstance(info, msgspec.inspect.ListType):
        return _python_type(info.item_type)
    return None


def _parse_path(raw_path: str) -> tuple[str | int, ...] | None:
    if not raw_path.startswith("$"):
        return None
    path: list[str | int] = []
    rest = raw_path[1:]
    while rest:
        m = _SEGMENT_RE.match(rest)
        if m is None:
            return None
        path.append(m[1] if m[1] is not None else int(m[2]))
        rest = rest[m.end() :]
    return tuple(path)


def _explain(message: str) -> str:
    if message.startswith("Invalid value"):
        return f"{message} (see `gateway schema` for the allowed values)"
    # An optional key says `str | null`; `null` only means "leave it out": name the type.
    return _OPTIONAL_RE.sub(r"Expected `\1`", message)


def _show(path: tuple[str | int, ...]) -> str:
    out = "$"
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else f".{seg}"
    return out


def _python_type(info: Any) -> Any:
    if isinstance(info, msgspec.inspect.StructType):
        return info.cls
    if isinstance(info, msgspec.inspect.UnionType):
        from typing import Union

        return Union[tuple(_python_type(t) for t in info.types)]  # noqa: UP007
    return Any


def _allowed_keys(typ: Any, data: Any, path: tuple[str | int, ...]) -> list[str]:
    info: Any = msgspec.inspect.type_info(typ)
    node = data
    for seg in path:
        info = _narrow(info, node)
        node = _child(node, seg)
        if isinstance(info, msgspec.inspect.StructType) and isinstance(seg, str):
            info = {f.encode_name: f.type for f in info.fields}.get(seg)
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
        elif isinstance(info, msgspec.inspect.ListType):
            info = info.item_type
        else:
            return []
    info = _narrow(info, node)
    if isinstance(info, msgspec.inspect.StructType):
        keys = [f.encode_name for f in info.fields]
        if info.tag_field:
            keys.insert(0, info.tag_field)
        return keys
    return []


def _child(node: Any, seg: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(seg)
    if isinstance(node, list) and isinstance(seg, int) and seg < len(node):
        return node[seg]
    return None


def _narrow(info: Any, node: Any) -> Any:
    """Pick the union member that `node` is meant to be (by tag for tagged structs)."""
    if not isinstance(info, msgspec.inspect.UnionType):
        return info
    structs: list[Any] = [t for t in info.types if isinstance(t, msgspec.inspect.StructType)]
    if isinstance(node, dict):
        for t in structs:
            if t.tag_field and node.get(t.tag_field) == t.tag:
                return t
        if len(structs) == 1:
            return structs[0]
    for t in info.types:
        if isinstance(t, msgspec.inspect.DictType | msgspec.inspect.ListType):
            return t
    return info


def _delete(data: Any, path: tuple[str | int, ...]) -> bool:
    node = data
    for seg in path[:-1]:
        try:
            node = node[seg]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1]
    try:
        del node[last]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
