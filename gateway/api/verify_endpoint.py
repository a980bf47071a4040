"""`POST /v1/tools/verify`: the `verify` tool called directly, with the tool's own JSON.

200 with the verdict (`valid`, `invalid` with its counterexample, `unknown`); a spec the
checker refuses (a missing field, a refused expression) is a 400 that carries the same
verdict fields beside the OpenAI-shaped `error`, so scripts can read either. Off with
`tools.verify.endpoint: false` (then 404).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from gateway.api.caller import json_body
from gateway.api.decoding import decode_json
from gateway.errors import InvalidRequestError, NotFoundError
from gateway.verify_service import VerifyService
from tools.verify.tool import VerifyArgs

_decoder = msgspec.json.Decoder(VerifyArgs)
_encoder = msgspec.json.Encoder()


def verify_handlers(service: Callable[[], VerifyService]) -> list[HTTPRouteHandler]:
    @post("/v1/tools/verify", status_code=200)
    async def verify(request: Request[Any, Any, Any]) -> Response[bytes]:
        live = service()
        if not live.endpoint:
            raise NotFoundError(
                "`/v1/tools/verify` is turned off on this gateway (tools.verify.endpoint).",
                code="unknown_url",
            )
        body = await json_body(
            request,
            "The request body is empty: send the verify tool's JSON (`check`, `variables`, ...).",
        )
        args = decode_json(body, _decoder.decode)
        result = await live.verify(args.spec(), args.timeout())
        if result["verdict"] != "error":
            return Response(_encoder.encode(result), media_type="application/json")
        error = InvalidRequestError(
            f"The spec was refused: {result['reason']}", code="invalid_spec"
        )
        payload = {**msgspec.json.decode(error.body()), **result}
        return Response(
            _encoder.encode(payload),
            status_code=400,
            media_type="application/json",
            headers={"x-should-retry": "false"},
        )

    return [verify]
