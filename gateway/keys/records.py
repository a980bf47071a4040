"""What a key is on the wire and at rest: the creation spec, the stored entry (the policy
file's own `ApiKey`, so a Redis entry and a pasted `keys:` entry are the same thing), the
listing, and the record the auth middleware reads."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from gateway.errors import InvalidRequestError
from gateway.settings.base_types import Name
from gateway.settings.schema import ApiKey, Budget, Limits
from middleware.auth import KeyRecord

KEY_PREFIX = "sk-sy-"
# Created ids travel in URLs (`DELETE /admin/keys/{id}`) and shell commands: keep them plain.
KeyId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Source = Literal["file", "redis", "memory"]
_SLUG = re.compile(r"[^A-Za-z0-9._:-]+")


class DuplicateKeyIdError(InvalidRequestError):
    error_code = "duplicate_key_id"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"A key with id `{key_id}` already exists.", param="id")


class KeySpec(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The body of `POST /admin/keys` (and what `gateway keys create` sends)."""

    tenant: Name
    id: KeyId | None = None
    models: list[Name] | None = None
    limits: Limits | None = None
    budget: Budget | None = None
    expires: datetime | None = None
    priority: Annotated[int, Meta(ge=-10, le=10)] = 0
    policy: Name | None = None


class KeyListing(Struct, frozen=True, kw_only=True):
    """One row of `GET /admin/keys`: never the key, never its hash."""

    id: str
    tenant: str | None
    models: list[str] | None
    expires: datetime | None
    priority: int
    limits: Limits | None
    budget: Budget | None
    policy: str | None
    source: Source
    revoked: bool


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def sha256_hex(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_entry(spec: KeySpec, key: str) -> ApiKey:
    """The stored form of a new key; raises `InvalidRequestError` for an expiry in the past."""
    if spec.expires is not None and utc(spec.expires) <= datetime.now(UTC):
        raise InvalidRequestError("`expires` is in the past.", param="expires")
    key_id = spec.id or f"{_SLUG.sub('-', spec.tenant)[:100]}-{secrets.token_hex(4)}"
    return ApiKey(
        id=key_id,
        sha256=sha256_hex(key),
        tenant=spec.tenant,
        models=spec.models,
        expires=spec.expires,
        priority=spec.priority,
        limits=spec.limits,
        budget=spec.budget,
        policy=spec.policy,
    )


def record_of(entry: ApiKey) -> KeyRecord:
    return KeyRecord(
        id=entry.id,
        sha256=entry.sha256,
        tenant=entry.tenant,
        models=tuple(entry.models) if entry.models is not None else None,
        expires=entry.expires,
        priority=entry.priority,
        limits=entry.limits,
        budget=entry.budget,
        policy=entry.policy,
    )


def listing_of(entry: ApiKey, source: Source, revoked: bool) -> KeyListing:
    fields = msgspec.structs.asdict(entry)
    del fields["sha256"]  # a listing never shows the hash
    return KeyListing(**fields, source=source, revoked=revoked)


def yaml_entry(entry: ApiKey) -> str:
    """The `keys:` entry to paste into the policy file (JSON is YAML, one line per field)."""
    fields = _without_nulls(msgspec.to_builtins(entry))
    lines = ["keys:"]
    for i, (name, value) in enumerate(fields.items()):
        if name == "priority" and value == 0:
            continue
        text = msgspec.json.encode(value).decode()
        lines.append(f"  {'- ' if i == 0 else '  '}{name}: {text}")
    return "\n".join(lines) + "\n"


def _without_nulls(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _without_nulls(v) if isinstance(v, dict) else v
        for k, v in fields.items()
        if v is not None
    }


def utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
