"""`/v1/rag/*`: the knowledge bases over HTTP, scoped by the caller's tenant.

    GET    /v1/rag/collections                      the collections the caller may use
    POST   /v1/rag/collections/{name}/documents     upload: multipart files, or JSON
                                                    {"source", "content"} or {"documents": [..]}
    GET    /v1/rag/collections/{name}/documents     the caller's documents
    DELETE /v1/rag/collections/{name}/documents?source=S   one document and its chunks
    POST   /v1/rag/collections/{name}/search        {"query", "k", "mode", "min_score"} ->
                                                    {"results": [{"text", "source",
                                                    "location", "score", "chunk_id"}]}

A collection the caller's tenant may not use is a 404, as if it did not exist. An upload's
answer lists each file's outcome; one whose every file was refused is a 400 naming why.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from msgspec import UNSET, Meta, UnsetType

from gateway.api.caller import json_body, request_tenant
from gateway.api.decoding import decode_json
from gateway.errors import InvalidRequestError, NotFoundError
from gateway.rag_service import RagService

_encoder = msgspec.json.Encoder()
_EMPTY = "The request body is empty: send a JSON object."
_MAX_FILES = 100


class SearchBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    query: Annotated[str, Meta(min_length=1, max_length=2000)]
    k: Annotated[int, Meta(ge=1, le=200)] | UnsetType = UNSET
    mode: Literal["hybrid", "vector", "text"] = "hybrid"
    min_score: Annotated[float, Meta(ge=0)] | UnsetType | None = UNSET


class DocumentBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # The document's name: its file extension says how to read it (.md, .html, .txt, .pdf).
    source: Annotated[str, Meta(min_length=1, max_length=500)]
    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"


class UploadBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    documents: Annotated[list[DocumentBody], Meta(min_length=1, max_length=_MAX_FILES)]


_search = msgspec.json.Decoder(SearchBody)
_many = msgspec.json.Decoder(UploadBody)
_one = msgspec.json.Decoder(DocumentBody)
_any = msgspec.json.Decoder()


def rag_handlers(service: Callable[[], RagService]) -> list[HTTPRouteHandler]:
    @get("/v1/rag/collections")
    async def collections(request: Request[Any, Any, Any]) -> Response[bytes]:
        live = service()
        if live.spec is None:
            raise NotFoundError("No knowledge bases are configured on this gateway (`rag:`).")
        visible = live.visible(request_tenant(request))
        data = [{"name": n, "description": d} for n, d in sorted(visible.items())]
        return _json({"object": "list", "data": data})

    @post("/v1/rag/collections/{name:str}/search", status_code=200)
    async def search(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        live = service()
        tenant = request_tenant(request)
        collection = live.collection(name, tenant)
        body = decode_json(await json_body(request, _EMPTY), _search.decode)
        results = await live.search(
            body.query,
            collection,
            tenant,
            None if body.k is UNSET else body.k,
            mode=body.mode,
            min_score=UNSET if body.min_score is UNSET else body.min_score,
        )
        return _json({"object": "rag.search", "collection": collection, "results": results})

    @post("/v1/rag/collections/{name:str}/documents", status_code=200)
    async def upload(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        live = service()
        tenant = request_tenant(request)
        collection = live.collection(name, tenant)
        files = await _files(request)
        outcomes: list[Any] = []
        chunks = 0
        seconds = 0.0
        for source, data in files:
            summary = await live.ingest_bytes(source, data, collection, tenant)
            outcomes.extend(summary.files)
            chunks += summary.chunks
            seconds += summary.seconds
        refused = [f for f in outcomes if f.status in ("skipped", "failed")]
        if outcomes and len(refused) == len(outcomes):
            reasons = "; ".join(f"{f.source}: {f.reason}" for f in refused)
            raise InvalidRequestError(
                f"No document was ingested: {reasons}", code="invalid_document"
            )
        body = {
            "object": "rag.ingest",
            "collection": collection,
            "files": outcomes,
            "chunks": chunks,
            "seconds": round(seconds, 3),
        }
        return _json(body)

    @get("/v1/rag/collections/{name:str}/documents")
    async def documents(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        live = service()
        tenant = request_tenant(request)
        collection = live.collection(name, tenant)
        found = await live.documents(collection, tenant)
        return _json({"object": "list", "collection": collection, "data": found})

    @delete("/v1/rag/collections/{name:str}/documents", status_code=200)
    async def remove(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        live = service()
        tenant = request_tenant(request)
        collection = live.collection(name, tenant)
        source = request.query_params.get("source")
        if not source:
            raise InvalidRequestError(
                "Name the document to delete: `?source=<its source>`.", param="source"
            )
        deleted = await live.delete(collection, tenant, source)
        if not deleted:
            raise NotFoundError(f"Document `{source}` not found.", code="document_not_found")
        return _json({"object": "rag.document.deleted", "source": source, "chunks": deleted})

    return [collections, search, upload, documents, remove]


async def _files(request: Request[Any, Any, Any]) -> list[tuple[str, bytes]]:
    """The uploaded documents as (source, bytes): multipart files or JSON."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        form = await request.form()
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise InvalidRequestError("The form holds no file: send each document as a file.")
        if len(files) > _MAX_FILES:
            raise InvalidRequestError(f"At most {_MAX_FILES} files per upload.")
        return [(f.filename or "upload", await f.read()) for f in files]
    body = await json_body(request, _EMPTY)
    shape = decode_json(body, _any.decode)
    if isinstance(shape, dict) and "documents" in shape:
        items = decode_json(body, _many.decode).documents
    else:
        items = [decode_json(body, _one.decode)]
    return [(item.source, _content(item)) for item in items]


def _content(item: DocumentBody) -> bytes:
    if item.encoding == "utf-8":
        return item.content.encode()
    try:
        return base64.b64decode(item.content, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(
            f"`content` of `{item.source}` is not valid base64.", param="content"
        ) from None


def _json(body: Any) -> Response[bytes]:
    return Response(_encoder.encode(body), status_code=200, media_type="application/json")
