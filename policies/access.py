"""Which models a caller's key may use: exact route ids and `prefix/*` patterns."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.context import RequestContext
from gateway.errors import PermissionDeniedError


def may_use(model: str, allowed: Sequence[str] | None) -> bool:
    if allowed is None:
        return True
    for pattern in allowed:
        if pattern == model:
            return True
        if pattern.endswith("/*") and model.startswith(pattern[:-1]) and len(model) >= len(pattern):
            return True
    return False


def check_model_access(model: str, ctx: RequestContext) -> None:
    """403 `model_not_allowed` for a model outside the key's allow-list (naming no other)."""
    if not may_use(model, ctx.allowed_models):
        raise PermissionDeniedError(
            f"This API key may not use the model `{model}`.",
            param="model",
            code="model_not_allowed",
        )
