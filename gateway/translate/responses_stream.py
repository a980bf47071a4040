"""Chat completion chunks -> Responses API stream events, one chunk at a time.

Event order follows the API: `response.created`, `response.in_progress`; per message item
`output_item.added`, `content_part.added`, `output_text.delta`..., `output_text.done`,
`content_part.done`, `output_item.done`; per function call `output_item.added`,
`function_call_arguments.delta`..., `function_call_arguments.done`, `output_item.done`; then
`response.completed` (or `response.incomplete` when cut off, as the API does) with the whole
response and usage. An item is closed when the next one starts, so items never interleave:
upstreams that interleave the arguments of parallel calls have the later calls held back
and streamed, each whole, once the open one closes.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError
from gateway.protocol.responses import ResponsesRequest
from gateway.translate.responses import (
    call_item,
    call_item_id,
    message_item,
    message_item_id,
    response_object,
    response_status,
    response_usage,
)

Json = dict[str, Any]


class _Item:
    """One output item being streamed: a message (text) or a function call."""

    def __init__(self, item_id: str, output_index: int, *, call_id: str = "", name: str = ""):
        self.item_id = item_id
        self.output_index = output_index
        self.call_id = call_id
        self.name = name
        self.text: list[str] = []
        self.open = True

    @property
    def is_call(self) -> bool:
        return bool(self.call_id or self.name)

    def body(self, status: str) -> Json:
        joined = "".join(self.text)
        if self.is_call:
            return call_item(self.item_id, self.call_id, self.name, joined, status)
        return message_item(self.item_id, joined, None, status)


class ResponsesStream:
    """Feed chat chunks (dicts) in order; each call returns the events to send now."""

    def __init__(self, *, response_id: str, created: int, request: ResponsesRequest) -> None:
        self._response_id = response_id
        self._created = created
        self._request = request
        self._model = request.model
        self._seq = 0
        self._started = False
        self._items: list[_Item] = []
        self._current: _Item | None = None
        self._calls: dict[int, _Item] = {}  # chat tool-call index -> its item
        self._waiting: list[_Item] = []  # parallel calls after the open one, in order
        self._messages = 0
        self._finish_reason: str | None = None
        self._usage: Json | None = None

    def _event(self, type_: str, **fields: Any) -> Json:
        event = {"type": type_, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _response(self, status: str, **extra: Any) -> Json:
        return response_object(
            response_id=self._response_id,
            created=self._created,
            request=self._request,
            model=self._model,
            status=status,
            output=[]
            if status == "in_progress"
            else [i.body(_item_status(status)) for i in self._items],
            **extra,
        )

    def start(self) -> list[Json]:
        """`response.created` and `response.in_progress` (sent once, before any output)."""
        if self._started:
            return []
        self._started = True
        return [
            self._event("response.created", response=self._response("in_progress")),
            self._event("response.in_progress", response=self._response("in_progress")),
        ]

    def feed(self, chunk: Json) -> list[Json]:
        events = self.start()
        if isinstance(chunk.get("model"), str):
            self._model = chunk["model"]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # the Responses API has one output; n > 1 is not expressible
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if text:
                events.extend(self._text(text))
            for call in delta.get("tool_calls") or []:
                events.extend(self._call(call))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def _text(self, text: str) -> list[Json]:
        events: list[Json] = []
        item = self._current
        if item is None or item.is_call:
            events.extend(self._close_all())
            item = _Item(message_item_id(self._response_id, self._messages), -1)
            self._messages += 1
            self._open(item, events)
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=item.item_id,
                    output_index=item.output_index,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
            )
        item.text.append(text)
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=item.item_id,
                output_index=item.output_index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _call(self, call: Json) -> list[Json]:
        events: list[Json] = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        item = self._calls.get(index)
        if item is None:
            item = _Item(
                call_item_id(self._response_id, len(self._calls)),
                -1,
                call_id=call.get("id") or f"call_{index}",
                name=function.get("name") or "",
            )
            self._calls[index] = item
            current = self._current
            if current is not None and current.is_call:
                # Items never interleave: a parallel call waits until the open one closes.
                self._waiting.append(item)
            else:
                events.extend(self._close_current())
                self._open(item, events)
        arguments = function.get("arguments")
        if arguments:
            item.text.append(arguments)
            if item is self._current:
                events.append(self._arguments_delta(item, arguments))
        return events

    def _arguments_delta(self, item: _Item, arguments: str) -> Json:
        return self._event(
            "response.function_call_arguments.delta",
            item_id=item.item_id,
            output_index=item.output_index,
            delta=arguments,
        )

    def _close_all(self, status: str = "completed") -> list[Json]:
        """Close the open item, then stream each waiting call in turn."""
        events = self._close_current(status)
        while self._waiting:
            item = self._waiting.pop(0)
            self._open(item, events)
            if item.text:
                events.append(self._arguments_delta(item, "".join(item.text)))
            events.extend(self._close_current(status))
        return events

    def _open(self, item: _Item, events: list[Json]) -> None:
        item.output_index = len(self._items)
        self._items.append(item)
        self._current = item
        events.append(
            self._event(
                "response.output_item.added",
                output_index=item.output_index,
                item=item.body("in_progress"),
            )
        )

    def _close_current(self, status: str = "completed") -> list[Json]:
        item, self._current = self._current, None
        if item is None:
            return []
        item.open = False
        joined = "".join(item.text)
        at = {"item_id": item.item_id, "output_index": item.output_index}
        if item.is_call:
            events = [self._event("response.function_call_arguments.done", **at, arguments=joined)]
        else:
            part = {"type": "output_text", "text": joined, "annotations": []}
            events = [
                self._event(
                    "response.output_text.done", **at, content_index=0, text=joined, logprobs=[]
                ),
                self._event("response.content_part.done", **at, content_index=0, part=part),
            ]
        events.append(
            self._event(
                "response.output_item.done",
                output_index=item.output_index,
                item=item.body(status),
            )
        )
        return events

    def finish(self, error: GatewayError | None = None) -> list[Json]:
        """The closing events: `response.completed` / `.incomplete`, or `response.failed`
        when the chat stream broke after the commit point."""
        events = self.start()
        if error is not None:
            self._current = None
            response = self._response(
                "failed", error={"code": _error_code(error), "message": error.message}
            )
            return [*events, self._event("response.failed", response=response)]
        status, incomplete = response_status(self._finish_reason)
        events.extend(self._close_all("incomplete" if status == "incomplete" else "completed"))
        response = self._response(
            status, usage=response_usage(self._usage), incomplete_details=incomplete
        )
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*events, self._event(kind, response=response)]


def _item_status(response_status: str) -> str:
    # Items know only in_progress / completed / incomplete; a failed response's are cut short.
    return "completed" if response_status == "completed" else "incomplete"


def _error_code(error: GatewayError) -> str:
    # `ResponseError.code` is a closed list: the nearest of its values for our statuses.
    if error.status_code == 429:
        return "rate_limit_exceeded"
    if error.status_code == 400:
        return "invalid_prompt"
    return "server_error"
