"""`GET /v1/models` and `GET /v1/models/{id}`."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from msgspec import UNSET

from gateway.errors import ModelNotFoundError
from gateway.protocol.models import Model, ModelList
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
    def list_models() -> Response[bytes]:
        catalog = current()
        listing = ModelList(data=[_model(e, created, catalog) for e in catalog.entries()])
        return Response(_encoder.encode(listing), media_type="application/json")

    @get("/v1/models/{model_id:path}", sync_to_thread=False)
    def retrieve_model(model_id: FromPath[str]) -> Response[bytes]:
        catalog = current()
        model_id = model_id.lstrip("/")
        entry = catalog.describe(model_id)
        if entry is None:
            raise ModelNotFoundError(model_id)
        body = _encoder.encode(_model(entry, created, catalog))
        return Response(body, media_type="application/json")

    return [list_models, retrieve_model]
