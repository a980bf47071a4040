"""`{{ ... }}` references in workflow values: finding them (validation) and resolving them (runs).

A reference is a dotted path and nothing else: `inputs.x`, `steps.s.output`,
`steps.s.output.a.0.b`, `item`, `item.text`. There are no expressions, filters or calls, so a
workflow file can never run code. A value that is exactly one reference keeps the referenced
value's JSON type (`"{{steps.facts.output}}"` -> a list); a reference inside a longer string is
stringified (strings as they are, everything else as compact JSON). Dicts and lists are rendered
member by member.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Anything between double braces; the path grammar is checked separately so that a malformed
# reference is reported instead of being left in the text silently.
_BRACES = re.compile(r"\{\{(.*?)\}\}")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
ROOTS = ("inputs", "steps", "item")


class TemplateError(ValueError):
    """A reference that does not resolve against the run's values."""


@dataclass(frozen=True)
class Reference:
    """One `{{ path }}` occurrence; `parts` is the dotted path split."""

    text: str
    parts: tuple[str, ...]

    @property
    def root(self) -> str:
        return self.parts[0]


def references(value: Any) -> Iterator[Reference | str]:
    """Every reference in a value (recursively); a malformed one is yielded as its raw text."""
    if isinstance(value, str):
        for match in _BRACES.finditer(value):
            inner = match.group(1).strip()
            if _PATH.match(inner) and inner.split(".")[0] in ROOTS:
                yield Reference(match.group(0), tuple(inner.split(".")))
            else:
                yield match.group(0)
    elif isinstance(value, Mapping):
        for member in value.values():
            yield from references(member)
    elif isinstance(value, list | tuple):
        for member in value:
            yield from references(member)


def render(value: Any, scope: Mapping[str, Any], *, lenient: bool = False) -> Any:
    """`value` with every reference replaced from `scope` (keys: inputs, steps, item).

    `scope["steps"]` maps a step name to `{"output": ...}`. With `lenient`, a path that does not
    resolve gives None (conditions use this: a skipped step's output is absent); otherwise it
    raises TemplateError naming the path.
    """
    if isinstance(value, str):
        whole = _BRACES.fullmatch(value.strip())
        if whole and value.count("{{") == 1:
            return _lookup(whole.group(1).strip(), scope, lenient)
        return _BRACES.sub(lambda m: _stringify(_lookup(m.group(1).strip(), scope, lenient)), value)
    if isinstance(value, Mapping):
        return {key: render(member, scope, lenient=lenient) for key, member in value.items()}
    if isinstance(value, list | tuple):
        return [render(member, scope, lenient=lenient) for member in value]
    return value


def _lookup(path: str, scope: Mapping[str, Any], lenient: bool) -> Any:
    parts = path.split(".")
    if not _PATH.match(path) or parts[0] not in scope:
        if lenient:
            return None
        raise TemplateError(f"unresolvable reference '{{{{{path}}}}}'")
    current: Any = scope[parts[0]]
    for depth, part in enumerate(parts[1:], start=1):
        found, current = _member(current, part)
        if not found:
            if lenient:
                return None
            where = ".".join(parts[:depth])
            raise TemplateError(f"'{{{{{path}}}}}': {where} has no member '{part}'")
    return current


def _member(container: Any, part: str) -> tuple[bool, Any]:
    if isinstance(container, Mapping):
        return (part in container, container.get(part))
    if isinstance(container, list) and part.isdigit() and int(part) < len(container):
        return (True, container[int(part)])
    return (False, None)


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def truthy(value: Any) -> bool:
    """A `when:` value's verdict; the strings false/0/no/null/none (any case) count as false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "null", "none")
    return bool(value)
