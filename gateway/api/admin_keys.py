"""`POST /admin/keys` (a new key, shown once), `GET /admin/keys` (never a key or a hash),
`DELETE /admin/keys/{id}` (revoke). The admin key is checked by the auth middleware before
any of these run."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.handlers import HTTPRouteHandler

from gateway.errors import InvalidRequestError, NotFoundError
from gateway.keys import KeySpec, KeyTable

_decoder = msgspec.json.Decoder(KeySpec)
_encoder = msgspec.json.Encoder()
_AT_RE = re.compile(r"^(?P<msg>.*) - at `\$\.?(?P<path>[^`]*)`$", re.DOTALL)


def admin_key_handlers(
    table: Callable[[], KeyTable], policies: Callable[[], Collection[str]] = tuple
) -> list[HTTPRouteHandler]:
    """`table` returns the live key table, `policies` the names of the content policy
    sets a key may name."""

    @post("/admin/keys")
    async def create_key(request: Request[Any, Any, Any]) -> Response[bytes]:
        spec = _decode(await request.body())
        if spec.policy is not None and spec.policy not in policies():
            raise InvalidRequestError(
                f"No policy set `{spec.policy}` in the policy file's `policies`.",
                param="policy",
                code="invalid_value",
            )
        keys = table()
        key, record = await keys.create(spec)
        body = {
            "id": record.id,
            # The only time the key leaves the gateway: only its hash is kept.
            "key": key,
            "tenant": record.tenant,
            "models": list(record.models) if record.models is not None else None,
            "expires": record.expires,
            "priority": record.priority,
            "limits": record.limits,
            "budget": record.budget,
            "policy": record.policy,
            "source": keys.dynamic_source,
            "revoked": False,
            # Without Redis the key lives in this process only (gone on restart).
            "persistent": keys.persistent,
        }
        return _json(body, 201)

    @get("/admin/keys")
    async def list_keys() -> Response[bytes]:
        return _json({"data": await table().list()}, 200)

    @delete("/admin/keys/{key_id:str}", status_code=200)
    async def revoke_key(request: Request[Any, Any, Any]) -> Response[bytes]:
        key_id: str = request.path_params["key_id"]
        if not await table().revoke(key_id):
            raise NotFoundError(f"No key with id `{key_id}`.", param="id")
        return _json({"id": key_id, "revoked": True}, 200)

    return [create_key, list_keys, revoke_key]


def _decode(body: bytes) -> KeySpec:
    if not body.strip():
        raise InvalidRequestError("The request body is empty: send a JSON object with `tenant`.")
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        match = _AT_RE.match(str(exc))
        detail = match["msg"] if match else str(exc)
        param = (match["path"] or None) if match else None
        if detail.startswith(("Object missing required field", "Object contains unknown field")):
            field = detail.split("`")[1]
            param = f"{param}.{field}" if param else field
        raise InvalidRequestError(
            f"Invalid key request: {detail}.", param=param, code="invalid_value"
        ) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(
            f"We could not parse the JSON body of your request ({exc}).", code="invalid_json"
        ) from None


def _json(body: Any, status: int) -> Response[bytes]:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")
