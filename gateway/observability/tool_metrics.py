"""Gateway tool runs, on the container's registry: calls by tool and outcome, and their
duration. The tool label is a configured tool's name (built-ins and MCP servers' tools),
never a name a client or a model made up."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ToolMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "gateway_tool_calls",
            "Gateway tool calls, by tool and outcome (ok, error, invalid, timeout).",
            ("tool", "outcome"),
            registry=registry,
        )
        self.duration = Histogram(
            "gateway_tool_duration_seconds",
            "Time a gateway tool call took, by tool.",
            ("tool",),
            buckets=_BUCKETS,
            registry=registry,
        )

    def record(self, tool: str, outcome: str, seconds: float) -> None:
        self.calls.labels(tool, outcome).inc()
        self.duration.labels(tool).observe(seconds)
