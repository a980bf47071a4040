"""The tool registry: schemas for the model, names, and calls that never raise."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import msgspec
import pytest

from tools import ToolContext, ToolError, ToolRegistry, UnknownToolsError, args_schema
from tools.mcp_listing import accept_tools
from tools.names import is_function_name, public_name
from tools.registry import truncate


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


class Point(msgspec.Struct):
    x: int
    y: int = 0


class ShapeArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    points: list[Point]
    origin: Point | None = None


class Shape:
    name = "shape"
    description = "Count points."
    Args: ClassVar[type[msgspec.Struct]] = ShapeArgs

    async def run(self, args: ShapeArgs, ctx: ToolContext) -> dict[str, Any]:
        return {"name": args.name, "count": len(args.points), "request": ctx.request_id}


class EchoArgs(msgspec.Struct):
    text: str = ""
    sleep: float = 0.0
    fail: str = ""


class Echo:
    name = "echo"
    description = "Echo text."
    Args: ClassVar[type[msgspec.Struct]] = EchoArgs

    async def run(self, args: EchoArgs, ctx: ToolContext) -> str:
        if args.sleep:
            await asyncio.sleep(args.sleep)
        if args.fail == "tool":
            raise ToolError("no such thing")
        if args.fail == "crash":
            raise RuntimeError("boom")
        return args.text


class FakeSource:
    """Stands in for `McpSource` (the integration tests use real servers)."""

    def __init__(self, name: str, tools: list[dict[str, Any]]) -> None:
        import mcp_types

        self.name = name
        self._listed = accept_tools(name, [mcp_types.Tool(**tool) for tool in tools])
        self.status = "up"
        self.generation = 1
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @property
    def tools(self) -> dict[str, Any]:
        return self._listed if self.status == "up" else {}

    def go(self, status: str) -> None:
        self.status = status
        self.generation += 1

    async def call_tool(self, tool: str, arguments: dict[str, Any], timeout: float) -> str:  # noqa: ASYNC109
        self.calls.append((tool, arguments))
        return f"{tool}:{arguments}"


FILES_TOOLS = [
    {
        "name": "read",
        "description": "Read a file.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
    {"name": "list.all", "input_schema": {"type": "object", "properties": {}}},
    {"name": "broken", "input_schema": {"type": "string"}},
]


def make_registry(**kwargs: Any) -> tuple[ToolRegistry, FakeSource]:
    files = FakeSource("files", FILES_TOOLS)
    registry = ToolRegistry([Shape(), Echo()], [files], **kwargs)  # type: ignore[list-item]
    return registry, files


def test_schema_is_a_plain_object_without_refs() -> None:
    schema = args_schema(ShapeArgs)
    text = msgspec.json.encode(schema).decode()
    assert "$ref" not in text and "$defs" not in text
    assert schema["type"] == "object"
    assert schema["required"] == ["name", "points"]
    assert schema["properties"]["points"]["items"]["properties"]["x"] == {"type": "integer"}
    assert schema["properties"]["origin"]["anyOf"][0]["type"] == "object"


def test_definitions_are_openai_function_tools() -> None:
    registry, _ = make_registry()
    entries = registry.resolve(["shape", "files.read"])
    definitions = registry.definitions(entries)
    assert definitions[0] == {
        "type": "function",
        "function": {
            "name": "shape",
            "description": "Count points.",
            "parameters": args_schema(ShapeArgs),
        },
    }
    assert definitions[1]["function"]["name"] == "files__read"
    assert definitions[1]["function"]["parameters"]["required"] == ["path"]


def test_star_expands_to_a_servers_valid_tools() -> None:
    registry, _ = make_registry()
    names = [entry.name for entry in registry.resolve(["echo", "files.*", "files.read"])]
    # `broken` has no object schema: skipped at listing; duplicates collapse.
    assert names == ["echo", "files.read", "files.list.all"]
    assert all(is_function_name(e.public_name) for e in registry.resolve(["files.*"]))


def test_unknown_names_are_all_named() -> None:
    registry, _ = make_registry()
    with pytest.raises(UnknownToolsError) as caught:
        registry.resolve_static(["echo", "nope", "search.*", "files.read", "other.x"])
    assert isinstance(caught.value, ValueError)
    assert caught.value.names == ("nope", "search.*", "other.x")
    assert "nope, search.*, other.x" in str(caught.value)
    assert "files.*" in str(caught.value)


def test_a_down_server_hides_its_tools_but_stays_known() -> None:
    registry, files = make_registry()
    assert len(registry.available(["files.*", "echo"])) == 3
    files.go("down")
    assert [e.name for e in registry.available(["files.*", "echo"])] == ["echo"]
    registry.resolve_static(["files.read"])  # still a configured server
    assert registry.status() == {"files": "down"}
    files.go("up")
    assert len(registry.available(["files.*", "echo"])) == 3


def test_public_names_are_valid_and_reversible() -> None:
    assert public_name("files", "read") == "files__read"
    odd = public_name("files", "list.all")
    long = public_name("s" * 40, "t" * 40)
    assert is_function_name(odd) and is_function_name(long)
    assert odd != public_name("files", "list_all")
    registry, _ = make_registry()
    assert registry.lookup(odd) == registry.lookup("files.list.all")
    assert registry.lookup("files__read") == registry.lookup("files.read")


@pytest.mark.anyio
async def test_call_builtin_renders_json() -> None:
    registry, _ = make_registry()
    result = await registry.call(
        "shape",
        '{"name": "tri", "points": [{"x": 1}, {"x": 2}, {"x": 3}]}',
        ToolContext(request_id="r1"),
    )
    assert result.ok and result.outcome == "ok"
    assert msgspec.json.decode(result.content) == {"name": "tri", "count": 3, "request": "r1"}
    assert result.name == "shape" and result.seconds >= 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            '{"name": "tri", "points": [{"x": "one"}]}',
            "Expected `int`, got `str` - at `$.points[0].x`",
        ),
        ('{"points": []}', "Object missing required field `name`"),
        ('{"name": "a", "points": [], "color": 1}', "unknown field `color`"),
        ('{"name": tri}', "JSON is malformed"),
        ('{"name": ', "Input data was truncated"),
        ("[1]", "Expected `object`, got `array`"),
    ],
)
async def test_invalid_builtin_arguments_come_back_as_content(arguments: str, message: str) -> None:
    registry, _ = make_registry()
    result = await registry.call("shape", arguments, ToolContext())
    assert (result.ok, result.outcome) == (False, "invalid")
    assert message in result.content
    assert result.content.startswith("Invalid arguments for shape:")


@pytest.mark.anyio
async def test_mcp_tools_validate_against_their_input_schema() -> None:
    registry, files = make_registry()
    bad = await registry.call("files__read", '{"path": 3}', ToolContext())
    assert bad.outcome == "invalid"
    assert "3 is not of type 'string' (at $.path)" in bad.content
    missing = await registry.call("files.read", "{}", ToolContext())
    assert "'path' is a required property" in missing.content
    not_json = await registry.call("files.read", "path=x", ToolContext())
    assert "JSON is malformed" in not_json.content
    good = await registry.call("files__read", '{"path": "a.txt"}', ToolContext())
    assert (good.outcome, good.name) == ("ok", "files.read")
    assert files.calls == [("read", {"path": "a.txt"})]


@pytest.mark.anyio
async def test_empty_arguments_mean_no_arguments() -> None:
    registry, _ = make_registry()
    assert (await registry.call("echo", "", ToolContext())).outcome == "ok"
    assert (await registry.call("files.list.all", "", ToolContext())).ok


@pytest.mark.anyio
async def test_failures_are_short_messages() -> None:
    registry, _ = make_registry()
    told = await registry.call("echo", '{"fail": "tool"}', ToolContext())
    assert (told.outcome, told.content) == ("error", "no such thing")
    crashed = await registry.call("echo", '{"fail": "crash"}', ToolContext())
    assert (crashed.outcome, crashed.content) == ("error", "RuntimeError: boom")
    unknown = await registry.call("nope", "{}", ToolContext())
    assert unknown.outcome == "invalid" and "Unknown tool 'nope'" in unknown.content
    assert "files__read" in unknown.content


@pytest.mark.anyio
async def test_a_down_servers_tool_is_an_error_not_a_hang() -> None:
    registry, files = make_registry()
    files.go("down")
    result = await registry.call("files.read", '{"path": "a"}', ToolContext())
    assert result.outcome == "invalid" and "Unknown tool" in result.content


@pytest.mark.anyio
async def test_timeout_and_deadline() -> None:
    registry, _ = make_registry(timeout_seconds=0.05)
    started = time.perf_counter()
    result = await registry.call("echo", '{"sleep": 5}', ToolContext())
    assert (result.outcome, result.ok) == ("timeout", False)
    assert result.content == "echo timed out after 0.05 s"
    assert time.perf_counter() - started < 1
    near = ToolContext(deadline=time.monotonic() + 0.02)
    result = await registry.call("echo", '{"sleep": 5}', near, timeout=10)
    assert result.outcome == "timeout" and result.seconds < 1
    passed = ToolContext(deadline=time.monotonic() - 1)
    assert (await registry.call("echo", "{}", passed)).outcome == "timeout"


@pytest.mark.anyio
async def test_long_results_are_truncated_with_a_note() -> None:
    registry, _ = make_registry(max_result_chars=300)
    result = await registry.call("echo", msgspec.json.encode({"text": "x" * 1000}), ToolContext())
    assert result.content == "x" * 300 + "\n[truncated: 700 more characters]"
    assert truncate("short", 300) == "short"


def test_available_is_cached_until_a_source_changes() -> None:
    registry, files = make_registry()
    first = registry.available(["files.*"])
    assert registry.available(["files.*"]) is first
    files.go("up")
    assert registry.available(["files.*"]) is not first


def test_build_registry_from_settings() -> None:
    from gateway.settings.tool_types import McpServer, Tools
    from tools import McpConfigError, build_registry

    settings = Tools(
        timeout_seconds=7,
        max_result_chars=500,
        mcp_servers={"files": McpServer(command=["true"])},
    )
    registry = build_registry(settings, {})
    assert registry.status() == {"files": "starting"}
    assert (registry.timeout_seconds, registry.max_result_chars) == (7, 500)
    registry.resolve_static(["calculator", "current_time", "files.*"])
    assert [e.name for e in registry.available(["calculator", "files.*"])] == ["calculator"]
    secret = Tools(mcp_servers={"s": McpServer(url="http://x/mcp", headers_env={"A": "TOKEN"})})
    with pytest.raises(McpConfigError, match="TOKEN"):
        build_registry(secret, {})
