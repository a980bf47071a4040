"""`/v1/workflows/*`: durable workflow runs over HTTP, scoped by the caller's tenant.

    GET  /v1/workflows                         the workflows (name, inputs, steps)
    POST /v1/workflows/{name}/runs             {"inputs": {...}} -> {"run_id", "status"}
    GET  /v1/workflows/runs/{id}               status, each step's state, output, attempts,
                                               timings
    GET  /v1/workflows/runs/{id}/events        SSE progress (`id:` is the event's seq; resume
                                               with `?after=N` or `Last-Event-ID`)
    POST /v1/workflows/runs/{id}/approve       {"step": "approve", "comment": ...}
    POST /v1/workflows/runs/{id}/reject        {"step": "approve", "comment": ...}
    POST /v1/workflows/runs/{id}/cancel

A run of another tenant is a 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Stream
from msgspec import Meta

from gateway.api.caller import json_body, optional_json_body, request_tenant
from gateway.api.decoding import decode_json
from gateway.errors import InvalidRequestError
from gateway.workflow_service import WorkflowService

_encoder = msgspec.json.Encoder()


class StartBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    inputs: dict[str, Any] = msgspec.field(default_factory=dict)


class DecisionBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    step: Annotated[str, Meta(min_length=1, max_length=128)]
    comment: Annotated[str, Meta(max_length=4000)] | None = None


_start = msgspec.json.Decoder(StartBody)
_decision = msgspec.json.Decoder(DecisionBody)


def workflow_handlers(service: Callable[[], WorkflowService]) -> list[HTTPRouteHandler]:
    @get("/v1/workflows")
    async def listing(request: Request[Any, Any, Any]) -> Response[bytes]:
        live = service()
        live.require()
        return _json({"object": "list", "data": live.describe()})

    @post("/v1/workflows/{name:str}/runs", status_code=200)
    async def start(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        engine = service().require()
        raw = await optional_json_body(request)  # no body: no inputs
        body = StartBody() if raw is None else decode_json(raw, _start.decode)
        tenant = request_tenant(request)
        run_id = await engine.start_run(name, body.inputs, tenant=tenant)
        state = await engine.get_run(run_id, tenant=tenant)
        return _json({"object": "workflow.run", "run_id": run_id, "status": state["status"]})

    @get("/v1/workflows/runs/{run_id:str}")
    async def status(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Response[bytes]:
        engine = service().require()
        state = await engine.get_run(run_id, tenant=request_tenant(request))
        return _json({"object": "workflow.run", **state})

    @get("/v1/workflows/runs/{run_id:str}/events")
    async def events(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Stream:
        engine = service().require()
        tenant = request_tenant(request)
        after = _after(request)
        await engine.get_run(run_id, tenant=tenant)  # a 404 before the stream opens

        async def frames() -> AsyncIterator[bytes]:
            async for event in engine.events(run_id, after=after, tenant=tenant):
                if event.get("type") == "heartbeat":
                    yield b": keep-alive\n\n"
                    continue
                yield b"id: %d\nevent: %s\ndata: %s\n\n" % (
                    int(event["seq"]),
                    str(event["type"]).encode(),
                    _encoder.encode(event),
                )

        return Stream(
            frames(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    @post("/v1/workflows/runs/{run_id:str}/approve", status_code=200)
    async def approve(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Response[bytes]:
        return await _decide(request, run_id, approve=True)

    @post("/v1/workflows/runs/{run_id:str}/reject", status_code=200)
    async def reject(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Response[bytes]:
        return await _decide(request, run_id, approve=False)

    @post("/v1/workflows/runs/{run_id:str}/cancel", status_code=200)
    async def cancel(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Response[bytes]:
        engine = service().require()
        state = await engine.cancel(run_id, tenant=request_tenant(request))
        return _json({"object": "workflow.run", **state})

    async def _decide(
        request: Request[Any, Any, Any], run_id: str, approve: bool
    ) -> Response[bytes]:
        engine = service().require()
        raw = await json_body(request, 'Name the approval step: {"step": ...}.')
        body = decode_json(raw, _decision.decode)
        tenant = request_tenant(request)
        decide = engine.approve if approve else engine.reject
        await decide(run_id, body.step, body.comment, tenant=tenant)
        state = await engine.get_run(run_id, tenant=tenant)
        return _json({"object": "workflow.run", **state})

    return [listing, start, status, events, approve, reject, cancel]


def _after(request: Request[Any, Any, Any]) -> int:
    value = request.query_params.get("after") or request.headers.get("last-event-id") or "0"
    try:
        after = int(value)
    except ValueError:
        raise InvalidRequestError(
            "`after` must be an event's seq (an integer).", param="after"
        ) from None
    if after < 0:
        raise InvalidRequestError("`after` must be 0 or more.", param="after")
    return after


def _json(body: Any) -> Response[bytes]:
    return Response(_encoder.encode(body), status_code=200, media_type="application/json")
