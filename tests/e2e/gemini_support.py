"""What `test_gemini_backend` runs against: the policy file, a tool, and readers of the
loopback Gemini server's request record and of raw SSE streams."""

from __future__ import annotations

from typing import Any

import httpx

KEY = "gemini-loopback-key"
CONFIG = """
defaults:
  timeouts: {{connect: 2, first_byte: 5, idle: 3}}
  retries: {{attempts: 1}}
  breaker: {{failures: 1000, window_seconds: 60, cooldown_seconds: 1}}
backends:
  gem:
    type: gemini
    base_url: {base}
    api_key_env: GEM_KEY
    discover_models: true
    safety_settings:
      - {{category: HARM_CATEGORY_HARASSMENT, threshold: BLOCK_ONLY_HIGH}}
  gem-wrong-key:
    type: gemini
    base_url: {base}
    api_key_env: GEM_WRONG_KEY
models:
  - id: gem/*
    backend: gem
    upstream_model: "*"
  - id: failover
    targets:
      - {{backend: gem, upstream_model: error-503}}
      - {{backend: gem, upstream_model: echo}}
  - id: failover-stream-error
    targets:
      - {{backend: gem, upstream_model: error-500}}
      - {{backend: gem, upstream_model: tools-2}}
  - id: wrong-key-then-good
    targets:
      - {{backend: gem-wrong-key, upstream_model: echo}}
      - {{backend: gem, upstream_model: echo}}
"""
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]


def records(upstream: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{upstream}/_test/requests", timeout=5)
    response.raise_for_status()
    records: list[dict[str, Any]] = response.json()
    return records


def last_body(upstream: str) -> dict[str, Any]:
    body: dict[str, Any] = records(upstream)[-1]["body"]
    return body


def raw_stream(gateway: str, body: dict[str, Any]) -> list[str]:
    with httpx.stream(
        "POST", f"{gateway}/v1/chat/completions", json={**body, "stream": True}, timeout=20
    ) as response:
        assert response.status_code == 200
        return [line for line in response.iter_lines() if line.startswith("data: ")]
