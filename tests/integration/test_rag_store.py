"""tools.rag.KnowledgeStore on a real LanceDB directory with the real MiniLM embedder:
ingest and search in every mode, re-ingest, replacement, deletion, tenant isolation, bad
input, and atomicity when the embedder fails mid-file."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from gateway.embeddings.onnx_minilm import OnnxMiniLM
from gateway.settings.backend_types import OnnxEmbedderSpec
from tests.unit.test_rag_chunking import make_pdf
from tools.rag import AsyncKnowledgeStore, KnowledgeStore, RagError
from tools.rag.table import has_vector_index

MODES = ("hybrid", "vector", "text")

BARRIER = """# Barrier certificates

A barrier certificate proves that trajectories starting in the initial set never reach the
unsafe set. It is found with sum-of-squares programming for polynomial systems.

## Conditions

The certificate is non-positive on the initial set and positive on the unsafe set.
"""

OPS = """Error SWY-E1042 means the upstream closed the connection before a full response.

Rate limits answer HTTP 429 with a retry-after header.
"""

SECRET = "Project NIGHTJAR-4471 budget: the quokka protocol ships on 3 March."


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLM:
    return OnnxMiniLM.from_spec(OnnxEmbedderSpec())


@pytest.fixture()
def store(tmp_path: Path, embedder: OnnxMiniLM) -> KnowledgeStore:
    return KnowledgeStore(tmp_path / "db", embedder)


def _write(directory: Path, files: dict[str, str | bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


def _sources(results: Sequence[object]) -> list[str]:
    return [r.source for r in results]  # type: ignore[attr-defined]


def test_ingest_then_search_finds_the_right_chunk_in_every_mode(
    tmp_path: Path, store: KnowledgeStore
) -> None:
    docs = _write(tmp_path / "docs", {"barrier.md": BARRIER, "ops.txt": OPS})
    progress: list[object] = []
    summary = store.ingest([docs], collection="papers", tenant="team-a", progress=progress.append)
    assert [(f.source, f.status) for f in summary.files] == [
        ("docs/barrier.md", "ingested"),
        ("docs/ops.txt", "ingested"),
    ]
    assert summary.chunks == 3 and progress[-1].files_done == 2  # type: ignore[attr-defined]
    assert max(p.chunks for p in progress) == 3  # type: ignore[attr-defined]
    for mode in MODES:
        top = store.search("SWY-E1042", collection="papers", tenant="team-a", k=3, mode=mode)  # type: ignore[arg-type]
        assert top[0].source == "docs/ops.txt" and "SWY-E1042" in top[0].text, mode
        assert top[0].location == "line 1"
    para = store.search(
        "how do I show my robot never enters the forbidden region",
        collection="papers",
        tenant="team-a",
        k=1,
        mode="vector",
    )
    assert para[0].source == "docs/barrier.md"  # no shared words: the vectors found it
    cond = store.search("non-positive", collection="papers", tenant="team-a", k=1, mode="text")
    assert cond[0].location == "Barrier certificates > Conditions"
    assert (
        store.search("SWY-E1042", collection="papers", tenant="team-a", mode="text", min_score=1e9)
        == []
    )
    assert store.search("anything", collection="nothing-here", tenant="team-a") == []
    with pytest.raises(RagError):
        store.search("x", collection="papers", tenant="team-a", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(RagError):
        store.search("x", collection="../etc", tenant="team-a")


def test_reingest_unchanged_is_a_no_op_and_a_changed_file_replaces_its_chunks(
    tmp_path: Path, store: KnowledgeStore
) -> None:
    docs = _write(tmp_path / "docs", {"ops.txt": OPS})
    store.ingest([docs], collection="kb", tenant=None)
    table = store._table("kb", create=False)
    version = table.version
    before = store.documents("kb", None)
    again = store.ingest([docs], collection="kb", tenant=None)
    assert [f.status for f in again.files] == ["unchanged"] and again.chunks == 0
    assert table.version == version  # nothing written, not even index upkeep
    assert store.documents("kb", None) == before

    (docs / "ops.txt").write_text("Error SWY-E2001 means a policy denied the request.\n")
    changed = store.ingest([docs], collection="kb", tenant=None)
    assert [f.status for f in changed.files] == ["ingested"]
    texts = [
        r.text for r in store.search("SWY error", collection="kb", tenant=None, k=10, mode="text")
    ]
    assert texts == ["Error SWY-E2001 means a policy denied the request."]  # old chunks gone
    docs_after = store.documents("kb", None)
    assert [(d.source, d.chunks) for d in docs_after] == [("docs/ops.txt", 1)]
    assert docs_after[0].hash == hashlib.sha256((docs / "ops.txt").read_bytes()).hexdigest()


def test_delete_removes_a_source_for_that_tenant_only(
    tmp_path: Path, store: KnowledgeStore
) -> None:
    store.ingest_bytes("ops.txt", OPS.encode(), collection="kb", tenant="a")
    store.ingest_bytes("ops.txt", OPS.encode(), collection="kb", tenant="b")
    assert store.delete("kb", "a", "ops.txt") == 1
    assert store.documents("kb", "a") == []
    assert store.search("SWY-E1042", collection="kb", tenant="a", mode="text") == []
    assert [d.source for d in store.documents("kb", "b")] == ["ops.txt"]
    assert store.delete("kb", "a", "ops.txt") == 0


def test_a_tenant_cannot_reach_another_tenants_chunk_in_any_mode(
    tmp_path: Path, store: KnowledgeStore
) -> None:
    store.ingest_bytes("secret.txt", SECRET.encode(), collection="kb", tenant="team-a")
    store.ingest_bytes("ops.txt", OPS.encode(), collection="kb", tenant="team-b")
    # team-a sees its chunk for the exact text in every mode: the queries below are ones
    # that would find it.
    for mode in MODES:
        own = store.search(SECRET, collection="kb", tenant="team-a", k=5, mode=mode)  # type: ignore[arg-type]
        assert own and own[0].text == SECRET
    for intruder in ("team-b", None, "team-a' OR '1'='1", "TEAM-A", "team-a "):
        for mode in MODES:
            for query in (SECRET, "NIGHTJAR-4471", "quokka protocol"):
                got = store.search(query, collection="kb", tenant=intruder, k=50, mode=mode)  # type: ignore[arg-type]
                assert all("NIGHTJAR" not in r.text for r in got), (intruder, mode, query)
        assert all(d.source != "secret.txt" for d in store.documents("kb", intruder))
        assert store.delete("kb", intruder, "secret.txt") == 0
    assert [d.source for d in store.documents("kb", "team-a")] == ["secret.txt"]
    with pytest.raises(RagError):
        store.search("x", collection="kb", tenant="")  # "" would alias the no-tenant scope


def test_bad_inputs_are_skipped_with_reasons_and_the_rest_is_ingested(
    tmp_path: Path, store: KnowledgeStore
) -> None:
    docs = _write(
        tmp_path / "docs",
        {
            "good.md": BARRIER,
            "paper.pdf": make_pdf(["Page one on Lyapunov functions.", "Page two on LQR."]),
            "corrupt.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog broken",
            "fake.txt": b"\x00\x00ELF binary\x00",
            "blob.bin": b"\x7fELF",
            "blank.md": "   \n\n",
        },
    )
    with (docs / "huge.txt").open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    (tmp_path / "empty").mkdir()
    summary = store.ingest(
        [docs, tmp_path / "empty", tmp_path / "missing.md"], collection="kb", tenant=None
    )
    by_name = {f.source.rsplit("/", 1)[-1]: f for f in summary.files}
    assert by_name["good.md"].status == "ingested"
    assert by_name["paper.pdf"].status == "ingested" and by_name["paper.pdf"].chunks == 2
    expected = {
        "corrupt.pdf": "PDF",
        "fake.txt": "binary",
        "blob.bin": "unsupported file type",
        "blank.md": "no text",
        "huge.txt": "size cap",
        "empty": "empty directory",
        "missing.md": "no such file",
    }
    for name, reason in expected.items():
        assert by_name[name].status == "skipped" and reason in (by_name[name].reason or ""), name
    pages = store.search("Lyapunov", collection="kb", tenant=None, k=5, mode="text")
    assert [r.location for r in pages if r.source == "docs/paper.pdf"] == ["page 1"]
    oversize = store.ingest_bytes("up.md", b"x" * 100, collection="kb", tenant=None)
    assert oversize.files[0].status == "ingested"
    store.max_bytes = 10
    assert "size cap" in (
        store.ingest_bytes("up2.md", b"x" * 100, collection="kb", tenant=None).files[0].reason or ""
    )


class FailingEmbedder:
    """The real embedder until `fail_after` calls, then an error: a failure mid-file."""

    def __init__(self, inner: OnnxMiniLM, fail_after: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self.max_tokens = inner.max_tokens
        self.calls = 0
        self.fail_after = fail_after

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        self.calls += 1
        if self.calls > self.fail_after:
            raise RuntimeError("embedder exploded")
        return self.inner.embed(texts)


def test_an_embedder_failure_mid_file_leaves_the_old_chunks_whole(
    tmp_path: Path, embedder: OnnxMiniLM
) -> None:
    failing = FailingEmbedder(embedder, fail_after=10**6)
    store = KnowledgeStore(tmp_path / "db", failing, batch_size=2)
    old = "\n\n".join(f"Old paragraph {i} about barrier certificates." for i in range(4))
    store.ingest_bytes("doc.md", old.encode(), collection="kb", tenant="t")
    old_ids = sorted(
        r.chunk_id
        for r in store.search("paragraph", collection="kb", tenant="t", k=20, mode="text")
    )
    assert len(old_ids) == 1
    new = "\n\n".join(f"New paragraph {i} on Lyapunov functions. " * 12 for i in range(6))
    failing.calls, failing.fail_after = 0, 1  # the first batch embeds, the second raises
    summary = store.ingest_bytes("doc.md", new.encode(), collection="kb", tenant="t")
    assert summary.files[0].status == "failed" and "embedder exploded" in (
        summary.files[0].reason or ""
    )
    assert failing.calls == 2  # it did fail mid-file, after one batch
    after = store.search("paragraph", collection="kb", tenant="t", k=20, mode="text")
    assert sorted(r.chunk_id for r in after) == old_ids
    assert all("Old paragraph" in r.text for r in after)
    assert store.documents("kb", "t")[0].hash == hashlib.sha256(old.encode()).hexdigest()
    # A first ingest that fails writes nothing at all.
    failing.calls = 0
    store.ingest_bytes("other.md", new.encode(), collection="kb", tenant="t")
    assert [d.source for d in store.documents("kb", "t")] == ["doc.md"]


class HashEmbedder:
    """Cheap unit vectors (no model): for the row counts the ANN index needs."""

    name = "hash"
    dimensions = 32
    max_tokens = 512

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=self.dimensions)
            out.append((v / np.linalg.norm(v)).tolist())
        return out, 0


def test_the_ann_index_appears_past_the_threshold_and_search_stays_scoped(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "db", HashEmbedder(), ann_threshold=300)
    text = "\n\n".join(f"Paragraph {i} mentions token{i} once." for i in range(200))
    store.ingest_bytes("a.txt", text.encode(), collection="kb", tenant="a")
    table = store._table("kb", create=False)
    assert not has_vector_index(table)
    store.ingest_bytes("b.txt", text.encode(), collection="kb", tenant="b")
    rows = table.count_rows()
    assert has_vector_index(table) == (rows >= 300), rows
    got = store.search("token7 once", collection="kb", tenant="b", k=10, mode="vector")
    assert got and all(r.source == "b.txt" for r in got)
    assert all(
        r.source == "b.txt" for r in store.search("token7", collection="kb", tenant="b", k=10)
    )


def _fts_details(table: object) -> dict[str, object]:
    configs = table.list_indices()  # type: ignore[attr-defined]
    return next(dict(c.index_details) for c in configs if c.columns[0] == "search_text")


def test_bm25_keeps_stop_words_and_an_old_tokenizer_index_is_rebuilt_on_the_next_write(
    tmp_path: Path,
) -> None:
    """`not` and `after` are in Lance's English stop list; they carry the meaning here."""
    from lancedb.index import FTS

    store = KnowledgeStore(tmp_path / "db", HashEmbedder())
    notes = "A 429 does not trip the breaker.\n\nThe breaker opens after five failures.\n"
    store.ingest_bytes("notes.txt", notes.encode(), collection="kb", tenant=None)
    table = store._table("kb", create=False)
    assert _fts_details(table)["remove_stop_words"] is False
    got = store.search("not", collection="kb", tenant=None, mode="text")
    assert [r.source for r in got] == ["notes.txt"]
    # A directory written before the change: its index dropped stop words. It still
    # answers (no match for a stop word), and the next write rebuilds it.
    table.create_index("search_text", config=FTS(), replace=True)
    assert store.search("not", collection="kb", tenant=None, mode="text") == []
    store.ingest_bytes(
        "more.txt", b"Half-open probes run after the cool-down.", collection="kb", tenant=None
    )
    assert _fts_details(table)["remove_stop_words"] is False
    got = store.search("after", collection="kb", tenant=None, k=5, mode="text")
    assert sorted(r.source for r in got) == ["more.txt", "notes.txt"]


def test_a_store_refuses_an_embedder_of_another_size(tmp_path: Path, store: KnowledgeStore) -> None:
    store.ingest_bytes("ops.txt", OPS.encode(), collection="kb", tenant=None)
    other = KnowledgeStore(tmp_path / "db", HashEmbedder())
    with pytest.raises(RagError, match="384-d"):
        other.search("x", collection="kb", tenant=None)
    with pytest.raises(RagError, match="384-d"):
        other.ingest_bytes("x.txt", b"hello", collection="kb", tenant=None)


def test_the_async_facade_runs_off_the_event_loop(tmp_path: Path, embedder: OnnxMiniLM) -> None:
    async def scenario() -> list[str]:
        facade = AsyncKnowledgeStore(KnowledgeStore(tmp_path / "db", embedder))
        try:
            await facade.ingest_bytes("ops.txt", OPS.encode(), collection="kb", tenant="t")
            found = await asyncio.gather(
                *(facade.search("SWY-E1042", collection="kb", tenant="t", mode=m) for m in MODES)  # type: ignore[arg-type]
            )
            assert [d.source for d in await facade.documents("kb", "t")] == ["ops.txt"]
            assert await facade.delete("kb", "t", "ops.txt") > 0
            return [results[0].source for results in found]
        finally:
            await facade.aclose()

    assert asyncio.run(scenario()) == ["ops.txt"] * 3
