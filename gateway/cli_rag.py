"""`gateway rag ingest | search | list | delete`: the knowledge bases of the policy file
(`--config FILE`, else `$GATEWAY_CONFIG`), in this process (LanceDB directly, as `serve`
opens it; several writers at once are LanceDB's to order).

    gateway rag ingest docs/ paper.pdf --collection papers [--tenant team-a]
    gateway rag search "barrier certificate" --collection papers [--k 5] [--mode hybrid]

`ingest` shows a progress bar (files, chunks, embeddings/s) and ends with a summary; files it
cannot read are listed with the reason and the rest is ingested (exit 0 when at least one
file went in or nothing needed to, 1 when every file was refused). Exit 2: bad usage or
configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.errors import GatewayError
from gateway.rag_service import RagService
from gateway.settings.loader import ConfigError, load_settings

if TYPE_CHECKING:
    from tools.rag.records import IngestProgress, IngestSummary

CONFIG_ENV = "GATEWAY_CONFIG"
_encoder = msgspec.json.Encoder()


def add_rag_parser(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help=f"policy file (or ${CONFIG_ENV})")
    common.add_argument("--collection", required=True, help="a collection under rag.collections")
    common.add_argument("--tenant", help="whose documents (default: none, single-tenant)")
    rag = subparsers.add_parser("rag", help="ingest into and search the knowledge bases")
    commands = rag.add_subparsers(dest="rag_command", required=True)
    ingest = commands.add_parser("ingest", parents=[common], help="add files or directories")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    search = commands.add_parser("search", parents=[common], help="search a collection")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=None, help="passages (default rag.default_k)")
    search.add_argument("--mode", choices=["hybrid", "vector", "text"], default="hybrid")
    search.add_argument("--json", action="store_true", help="print the results as JSON")
    listing = commands.add_parser("list", parents=[common], help="the collection's documents")
    listing.add_argument("--json", action="store_true")
    remove = commands.add_parser("delete", parents=[common], help="remove one document")
    remove.add_argument("source", help="the document's source, as `list` shows it")


def run_rag(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config or os.environ.get(CONFIG_ENV) or None)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.rag is None:
        print("error: the policy file has no `rag:` section (knowledge bases)", file=sys.stderr)
        return 2
    service = RagService(settings, embed_threads=min(4, os.cpu_count() or 1))
    try:
        collection = service.collection(args.collection, args.tenant)
    except GatewayError as exc:
        spec = settings.rag.collections.get(args.collection)
        if spec is not None and spec.tenants:
            print(
                f"error: collection `{args.collection}` is for the tenants "
                f"{', '.join(spec.tenants)}: pass --tenant",
                file=sys.stderr,
            )
        else:
            known = ", ".join(sorted(settings.rag.collections)) or "none"
            print(f"error: {exc.message} (collections: {known})", file=sys.stderr)
        return 2
    if args.rag_command == "search" and args.k is not None and args.k < 1:
        print("error: --k must be at least 1", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(service, args, collection))
    except GatewayError as exc:  # the store cannot be opened or written
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


async def _run(service: RagService, args: argparse.Namespace, collection: str) -> int:
    try:
        if args.rag_command == "ingest":
            return await _ingest(service, args, collection)
        if args.rag_command == "search":
            results = await service.search(
                args.query, collection, args.tenant, args.k, mode=args.mode
            )
            if args.json:
                print(_encoder.encode({"results": results}).decode())
            for i, r in enumerate([] if args.json else results, 1):
                print(f"{i}. [{r.source}, {r.location}] score {r.score:.3f}\n   {_short(r.text)}")
            if not results and not args.json:
                print("no passages found", file=sys.stderr)
            return 0
        if args.rag_command == "list":
            docs = await service.documents(collection, args.tenant)
            if args.json:
                print(_encoder.encode(docs).decode())
            for d in [] if args.json else docs:
                print(f"{d.source}\t{d.chunks} chunks\t{d.hash[:12]}")
            return 0
        deleted = await service.delete(collection, args.tenant, args.source)
        if not deleted:
            print(f"error: no document `{args.source}` in {collection}", file=sys.stderr)
            return 1
        print(f"deleted {args.source} ({deleted} chunks)", file=sys.stderr)
        return 0
    finally:
        await service.aclose()


async def _ingest(service: RagService, args: argparse.Namespace, collection: str) -> int:
    from tqdm import tqdm

    bar = tqdm(total=None, unit="file", file=sys.stderr, desc=f"ingest {collection}")

    def progress(update: IngestProgress) -> None:  # on the store's worker thread
        bar.total = update.files_total
        bar.n = update.files_done
        bar.set_postfix(chunks=update.chunks, emb_s=f"{update.embeddings_per_second:.0f}")
        bar.refresh()

    try:
        summary = await service.ingest_paths(args.paths, collection, args.tenant, progress)
    finally:
        bar.close()
    _print_summary(summary)
    went_in = summary.ingested + summary.unchanged
    return 0 if went_in or not summary.files else 1


def _print_summary(summary: IngestSummary) -> None:
    refused = summary.skipped
    print(
        f"{summary.ingested} ingested, {summary.unchanged} unchanged, {len(refused)} "
        f"refused; {summary.chunks} chunks in {summary.seconds:.1f} s",
        file=sys.stderr,
    )
    for outcome in refused:
        print(f"  {outcome.status}: {outcome.source}: {outcome.reason}", file=sys.stderr)
    if not sys.stdout.isatty():
        print(json.dumps(msgspec.to_builtins(summary)))


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
