"""`GET /v1/models` and `GET /v1/models/{id}`."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct


class Model(Struct, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "gateway"


class ModelList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Model]
