"""YAML as the policy file is read: YAML 1.2 booleans (only `true` / `false`), so that
`mode: off` or `on_error: no` stay the words they look like (YAML 1.1, PyYAML's default,
reads `off`, `no`, `on` and `yes` as booleans)."""

from __future__ import annotations

import re
from typing import Any

import yaml

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, _BOOL if tag == "tag:yaml.org,2002:bool" else regexp) for tag, regexp in resolvers
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)
