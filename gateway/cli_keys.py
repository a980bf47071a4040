"""`gateway keys create | list | revoke`: against Redis directly (the policy file's
`state.redis_url_env`), against a running gateway's admin API (`--url`), or, with neither,
`create` prints the `keys:` entry to paste into the policy file.

A created key is printed once, alone on stdout (so `KEY=$(gateway keys create ...)` works);
everything else goes to stderr. Exit codes: 0 done, 1 not found or refused, 2 bad usage or
configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from gateway.errors import GatewayError
from gateway.keys import KeySpec, KeyTable, sha256_hex, yaml_entry
from gateway.keys.records import new_entry, new_secret
from gateway.resilience.redis_client import connect_redis
from gateway.settings.loader import ConfigError, load_settings
from gateway.settings.schema import Settings

CONFIG_ENV = "GATEWAY_CONFIG"
URL_ENV = "GATEWAY_URL"
DEFAULT_ADMIN_ENV = "GATEWAY_ADMIN_KEY"


class _Usage(Exception):
    """Bad usage or configuration: exit 2."""


def add_keys_parser(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help=f"policy file (or ${CONFIG_ENV})")
    common.add_argument(
        "--url", metavar="BASE_URL", help=f"a running gateway's admin API (or ${URL_ENV})"
    )
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys")
    commands = keys.add_subparsers(dest="keys_command", required=True)
    create = commands.add_parser("create", parents=[common], help="a new key, printed once")
    create.add_argument("--tenant", required=True)
    create.add_argument("--id", dest="key_id", help="default: the tenant and a random suffix")
    create.add_argument("--models", nargs="+", metavar="MODEL", help="allowed models (all)")
    create.add_argument("--rpm", type=int)
    create.add_argument("--tpm", type=int)
    create.add_argument("--max-parallel", type=int)
    create.add_argument("--usd-per-day", type=float)
    create.add_argument("--usd-per-month", type=float)
    create.add_argument("--expires", metavar="RFC3339", help="e.g. 2027-01-01T00:00:00Z")
    create.add_argument("--priority", type=int, default=0)
    create.add_argument("--policy", help="a content policy set from the policy file's `policies`")
    listing = commands.add_parser("list", parents=[common], help="every key (never the key)")
    listing.add_argument("--json", action="store_true", help="print the JSON listing")
    revoke = commands.add_parser("revoke", parents=[common], help="refuse a key from now on")
    revoke.add_argument("id")


def run_keys(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except _Usage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except GatewayError as exc:  # the store refused (duplicate id, Redis unreachable, ...)
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get(URL_ENV)
    settings = _settings(args, required=not url)
    if url:
        return _over_http(args, url.rstrip("/"), settings)
    assert settings is not None
    redis_env = settings.state.redis_url_env
    redis_url = os.environ.get(redis_env) if redis_env else None
    if redis_env and not redis_url:
        print(f"note: ${redis_env} is not set: not using Redis", file=sys.stderr)
    if redis_url is None:
        return _without_redis(args, settings)
    client = connect_redis(redis_url, max(settings.state.timeout_seconds, 1.0))
    table = KeyTable.from_settings(settings, client)
    try:
        return await _with_table(args, table)
    finally:
        await client.aclose()


def _settings(args: argparse.Namespace, *, required: bool) -> Settings | None:
    path = args.config or os.environ.get(CONFIG_ENV)
    if path is None and not required:
        return None
    return load_settings(path or None)


async def _with_table(args: argparse.Namespace, table: KeyTable) -> int:
    if args.keys_command == "create":
        key, record = await table.create(_spec(args))
        print(key)
        print(
            f"Created key `{record.id}` (stored in Redis). It is not shown again.", file=sys.stderr
        )
        return 0
    if args.keys_command == "list":
        _print_listing(args, msgspec.to_builtins(await table.list()))
        return 0
    if await table.revoke(args.id):
        print(f"Revoked key `{args.id}`.", file=sys.stderr)
        return 0
    print(f"error: no key with id `{args.id}`", file=sys.stderr)
    return 1


def _without_redis(args: argparse.Namespace, settings: Settings) -> int:
    if args.keys_command == "create":
        spec = _spec(args)
        if spec.policy is not None and spec.policy not in settings.policies:
            raise _Usage(f"--policy: the policy file has no policy set `{spec.policy}`")
        if spec.id is not None and any(k.id == spec.id for k in settings.keys):
            raise _Usage(f"the policy file already has a key with id `{spec.id}`")
        key = new_secret()
        try:
            entry = new_entry(spec, key)
        except GatewayError as exc:
            raise _Usage(exc.message) from None
        assert entry.sha256 == sha256_hex(key)
        print(key)
        print()
        print(yaml_entry(entry), end="")
        print(
            "No Redis configured: add the entry above to the policy file's `keys:` (only its "
            "sha256 is kept; the key is not shown again).",
            file=sys.stderr,
        )
        return 0
    if args.keys_command == "list":
        rows = [
            {"id": k.id, "tenant": k.tenant, "source": "file", "revoked": False}
            for k in settings.keys
        ]
        _print_listing(args, rows)
        return 0
    raise _Usage(
        "without Redis, revoke a key by removing it from the policy file "
        "(or use --url against the running gateway)"
    )


def _over_http(args: argparse.Namespace, url: str, settings: Settings | None) -> int:
    admin_env = (settings.auth.admin_key_env if settings else None) or DEFAULT_ADMIN_ENV
    admin = os.environ.get(admin_env)
    headers = {"authorization": f"Bearer {admin}"} if admin else {}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=10.0) as client:
            if args.keys_command == "create":
                reply = client.post("/admin/keys", content=msgspec.json.encode(_spec(args)))
            elif args.keys_command == "list":
                reply = client.get("/admin/keys")
            else:
                reply = client.delete(f"/admin/keys/{quote(args.id, safe='')}")
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if reply.status_code >= 400:
        print(f"error: {reply.status_code}: {_message(reply)}", file=sys.stderr)
        if reply.status_code == 401:
            print(f"(the admin key is read from ${admin_env})", file=sys.stderr)
        return 2 if reply.status_code == 400 else 1
    body = reply.json()
    if args.keys_command == "create":
        print(body["key"])
        where = "persistent" if body.get("persistent") else "in that process only (not persistent)"
        print(f"Created key `{body['id']}` ({where}). It is not shown again.", file=sys.stderr)
    elif args.keys_command == "list":
        _print_listing(args, body["data"])
    else:
        print(f"Revoked key `{body['id']}`.", file=sys.stderr)
    return 0


def _spec(args: argparse.Namespace) -> KeySpec:
    limits = {"rpm": args.rpm, "tpm": args.tpm, "max_parallel": args.max_parallel}
    budget = {"usd_per_day": args.usd_per_day, "usd_per_month": args.usd_per_month}
    document: dict[str, Any] = {
        "tenant": args.tenant,
        "id": args.key_id,
        "models": args.models,
        "priority": args.priority,
        "limits": limits if any(v is not None for v in limits.values()) else None,
        "budget": budget if any(v is not None for v in budget.values()) else None,
        "policy": args.policy,
    }
    if args.expires:
        try:
            document["expires"] = datetime.fromisoformat(args.expires)
        except ValueError:
            raise _Usage(f"--expires: `{args.expires}` is not an RFC 3339 time") from None
    try:
        return msgspec.convert(document, KeySpec)
    except msgspec.ValidationError as exc:
        raise _Usage(f"invalid key: {exc}") from None


def _print_listing(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    if getattr(args, "json", False):
        print(msgspec.json.encode({"data": rows}).decode())
        return
    print(f"{'ID':<32} {'TENANT':<20} {'SOURCE':<7} {'STATE':<8} EXPIRES")
    for row in rows:
        state = "revoked" if row.get("revoked") else "active"
        expires = row.get("expires") or "-"
        tenant = row.get("tenant") or "-"
        print(f"{row['id']:<32} {tenant:<20} {row['source']:<7} {state:<8} {expires}")


def _message(reply: httpx.Response) -> str:
    try:
        return str(reply.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return reply.text[:200]
