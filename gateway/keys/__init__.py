"""API keys at runtime: the live key table, created keys and revocations (in Redis when
configured, else in this process)."""

from gateway.keys.records import (
    KEY_PREFIX,
    DuplicateKeyIdError,
    KeyListing,
    KeySpec,
    sha256_hex,
    yaml_entry,
)
from gateway.keys.redis_store import RedisKeyStore
from gateway.keys.table import KeyTable

__all__ = [
    "KEY_PREFIX",
    "DuplicateKeyIdError",
    "KeyListing",
    "KeySpec",
    "KeyTable",
    "RedisKeyStore",
    "sha256_hex",
    "yaml_entry",
]
