"""A JSON object kept as its raw top-level fields.

Pass-through is the default: a request or a reply is decoded only into ``{key: raw JSON}``,
the keys a stage acts on are decoded on demand, and re-encoding writes every other field back
byte for byte, so fields this gateway does not know survive untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec

RawFields = dict[str, msgspec.Raw]

_fields_decoder = msgspec.json.Decoder(RawFields)
_encoder = msgspec.json.Encoder()


def decode_fields(data: bytes | str) -> RawFields:
    """Decode a JSON object into raw fields; raises `msgspec.DecodeError` or `ValidationError`."""
    return _fields_decoder.decode(data)


def encode_fields(fields: RawFields) -> bytes:
    return _encoder.encode(fields)


def raw(value: Any) -> msgspec.Raw:
    """Encode one value as a raw field."""
    return msgspec.Raw(_encoder.encode(value))


def from_struct(value: msgspec.Struct) -> RawFields:
    """A typed object (from a native backend) in the same shape as a passed-through one."""
    return _fields_decoder.decode(_encoder.encode(value))
