"""The exact cache's key: a canonical hash of everything that shapes an answer.

Every top-level field of the request counts (vendor fields too: the gateway cannot know they
do not change the answer) except those that only shape delivery or bookkeeping (`stream`,
`stream_options`, `user`, `metadata`, ...), plus the tenant, the route and the model id the
client asked for. Canonical: object keys sorted at every depth and numbers normalised
(`1`, `1.0` and `1e0` are one number), so a client that reorders keys still hits.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from gateway.protocol.raw import RawFields

# Fields that change how an answer is delivered or recorded, never what it says.
DELIVERY_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
    }
)
_encoder = msgspec.json.Encoder(order="sorted")
# The key's layout version: bump it when the canonical form changes, so old entries miss.
_VERSION = b"1"


def cache_key(tenant: str, route: str, model: str, fields: RawFields) -> str:
    digest = hashlib.sha256(_VERSION)
    for part in (tenant, route, model):
        encoded = part.encode()
        digest.update(len(encoded).to_bytes(4, "big"))
        digest.update(encoded)
    canonical = {
        name: _normalised(msgspec.json.decode(value))
        for name, value in fields.items()
        if name not in DELIVERY_FIELDS and name != "model"
    }
    digest.update(_encoder.encode(canonical))
    return digest.hexdigest()


def _normalised(value: Any) -> Any:
    if isinstance(value, float):
        # Integral floats as ints (0.0 and -0.0 both as 0); others keep their exact value.
        return int(value) if value.is_integer() and abs(value) < 2**63 else value
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value
