"""Structure checks that a regex cannot make: checksums and decodable parts."""

from __future__ import annotations

import base64
import binascii
import json
import zlib

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    return digits.rjust(width, "0")


def crc32_base62_ok(token: str) -> bool:
    """GitHub (`ghp_` and kin) and npm tokens end in six base62 digits of the CRC32 of the
    30 random characters before them."""
    _, _, rest = token.partition("_")
    if len(rest) < 36:
        return False
    random, check = rest[:30], rest[30:36]
    return base62(zlib.crc32(random.encode()), 6) == check


def b64url_json(part: str) -> object:
    """The JSON a base64url segment encodes, or None."""
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError):
        return None


def jwt_header_ok(token: str) -> bool:
    """A JWT's first segment decodes to a JSON object naming its `alg`."""
    header = b64url_json(token.split(".", 1)[0])
    return isinstance(header, dict) and "alg" in header


def basic_auth_ok(encoded: str) -> bool:
    """`Authorization: Basic` carries base64 of `user:password` with a password."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, ValueError):
        return False
    _, colon, password = decoded.partition(":")
    return bool(colon) and len(password) >= 4


def discord_id_ok(segment: str) -> bool:
    """A Discord bot token opens with the base64 of the bot's numeric user id."""
    try:
        decoded = base64.b64decode(segment + "=" * (-len(segment) % 4)).decode()
    except (binascii.Error, ValueError):
        return False
    return decoded.isdigit()
