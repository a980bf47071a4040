"""`GET /v1/models` and `GET /v1/models/{id}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from msgspec import UNSET

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from gateway.errors import ModelNotFoundError
from gateway.protocol.models import Model, ModelList
from policies.access import may_use
from routers.catalog import CatalogEntry, ModelCatalog

_encoder = msgspec.json.Encoder()


def _model(entry: CatalogEntry, created: int, catalog: ModelCatalog) -> Model:
    meta = catalog.meta_for(entry)
    return Model(
        id=entry.id,
        created=created,
        owned_by=entry.owned_by,
        meta=dict(meta) if meta is not None else UNSET,
    )


def model_handlers(current: Callable[[], ModelCatalog], created: int) -> list[HTTPRouteHandler]:
    @get("/v1/models", sync_to_thread=False)
    def list_models(request: Request[Any, Any, Any]) -> Response[bytes]:
        catalog = current()
        allowed = _allowed(request)
        listing = ModelList(
            data=[_model(e, created, catalog) for e in catalog.entries() if may_use(e.id, allowed)]
        )
        return Response(_encoder.encode(listing), media_type="application/json")

    @get("/v1/models/{model_id:path}", sync_to_thread=False)
    def retrieve_model(request: Request[Any, Any, Any], model_id: FromPath[str]) -> Response[bytes]:
        catalog = current()
        model_id = model_id.lstrip("/")
        entry = catalog.describe(model_id)
        if entry is None or not may_use(model_id, _allowed(request)):
            raise ModelNotFoundError(model_id)  # a model the key may not use is not listed
        body = _encoder.encode(_model(entry, created, catalog))
        return Response(body, media_type="application/json")

    return [list_models, retrieve_model]


def _allowed(request: Request[Any, Any, Any]) -> tuple[str, ...] | None:
    ctx = request.scope.get(CONTEXT_SCOPE_KEY)
    return ctx.allowed_models if isinstance(ctx, RequestContext) else None
