"""A scriptable stand-in for Google's Gemini API on loopback, for end-to-end tests and demos.

It speaks the documented wire format: `POST /v1beta/models/{model}:generateContent` and
`:streamGenerateContent?alt=sse` (`data: <GenerateContentResponse>` events, no `[DONE]`),
`GET /v1beta/models` (paged), the key in `x-goog-api-key`, errors as Google's
`{"error": {code, message, status, details}}`. Requests are checked as Google checks them
(`gemini_wire`); `GET /_test/requests` returns every request received.

Behaviour is chosen by the model name, or by a last user message `script:<name>`:

    echo (default)   the last user text back (or the function results it was sent)
    tools-1/tools-2  one / two parallel functionCalls of the first declared function
    max-tokens       a cut answer, finishReason MAX_TOKENS
    safety           no content, finishReason SAFETY with safetyRatings
    blocked          no candidates: promptFeedback.blockReason SAFETY
    thinking         a thought part, then the answer (thoughtsTokenCount in usage)

Models named `gemini-3*` sign their function calls (`thoughtSignature`) and, as Gemini 3
does, reject a history whose function calls lack one.
    error-<status>   Google's error body (429 with a RetryInfo `retryDelay` of 7s)
    error-mid-stream two text events, then an error event
    cut-stream       two text events, then the connection ends without a finishReason

    python -m gateway.testing.gemini_upstream --port 9200 [--require-key KEY]
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from gateway.testing.gemini_wire import WireError, check_request
from gateway.testing.serving import serve_app, upstream_parser

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
LISTED = [
    ("gemini-2.5-flash", ["generateContent", "countTokens"]),
    ("gemini-2.5-pro", ["generateContent"]),
    ("text-embedding-004", ["embedContent"]),
    ("gemini-2.0-flash", ["generateContent"]),
]
RETRY_DELAY = "7s"
THOUGHT_SIGNATURE = "c2lnbmVkIHRob3VnaHRzIDEyMw=="


def google_error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Any:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def _error_response(status: int, message: str, details: Any = None) -> web.Response:
    return web.json_response(google_error(status, message, details), status=status)


def scripted_error(status: int) -> web.Response:
    details = None
    if status == 429:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": "generate_content_requests", "quotaId": "rpm"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": RETRY_DELAY},
        ]
    return _error_response(status, f"scripted error {status}", details)


def _last_user(contents: list[dict[str, Any]]) -> dict[str, Any]:
    users = [c for c in contents if c["role"] == "user"]
    return users[-1] if users else {"parts": []}


def _text(parts: list[dict[str, Any]]) -> str:
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str))


def _words(text: str) -> int:
    return len(text.split())


class GeminiUpstream:
    def __init__(self, *, require_key: str | None = None) -> None:
        self.require_key = require_key
        self.records: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(r"/v1beta/{name:(models|tunedModels)/[^:]+}:{method}", self.generate)
        app.router.add_get("/v1beta/models", self.models)
        app.router.add_get("/_test/requests", self.requests)
        app.router.add_delete("/_test/requests", self.clear)
        return app

    async def requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.records)

    async def clear(self, request: web.Request) -> web.Response:
        self.records.clear()
        return web.Response(status=204)

    def _key_problem(self, request: web.Request) -> web.Response | None:
        if not self.require_key:
            return None
        key = request.headers.get("x-goog-api-key")
        if key is None:
            return _error_response(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key != self.require_key:
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
            return _error_response(400, "API key not valid. Please pass a valid API key.", [info])
        return None

    async def models(self, request: web.Request) -> web.Response:
        if (problem := self._key_problem(request)) is not None:
            return problem
        size = 2  # small pages, so clients must follow nextPageToken
        start = int(request.query.get("pageToken") or 0)
        page = LISTED[start : start + size]
        body: dict[str, Any] = {
            "models": [
                {"name": f"models/{name}", "supportedGenerationMethods": methods}
                for name, methods in page
            ]
        }
        if start + size < len(LISTED):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["name"].split("/", 1)[1]
        method = request.match_info["method"]
        raw_body = await request.read()
        record: dict[str, Any] = {
            "model": model,
            "method": method,
            "query": dict(request.query),
            "key": request.headers.get("x-goog-api-key"),
            "body": None,
        }
        self.records.append(record)
        if (problem := self._key_problem(request)) is not None:
            return problem
        if method not in ("generateContent", "streamGenerateContent"):
            return _error_response(404, f"method {method} not found")
        try:
            body = json.loads(raw_body)
            record["body"] = body
            check_request(body)
        except (ValueError, WireError) as exc:
            return _error_response(400, str(exc))
        if model.startswith("gemini-3") and not _signed(body["contents"]):
            return _error_response(
                400, "Function call is missing a thought_signature in functionCall parts."
            )
        script = model
        last_text = _text(_last_user(body["contents"])["parts"])
        if last_text.startswith("script:"):
            script = last_text.removeprefix("script:").split()[0]
        if script.startswith("error-") and script[6:].isdigit():
            return scripted_error(int(script[6:]))
        events = _events(script, body, signed=model.startswith("gemini-3"))
        if method == "generateContent":
            if script in ("error-mid-stream", "cut-stream"):
                return scripted_error(500)
            return web.json_response(_merge(events))
        if request.query.get("alt") != "sse":
            return _error_response(400, "this server streams only with alt=sse")
        return await self._stream(request, script, events)

    async def _stream(
        self, request: web.Request, script: str, events: list[dict[str, Any]]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for i, event in enumerate(events):
            if i == 2 and script == "error-mid-stream":
                error = google_error(500, "An internal error has occurred mid-stream.")
                await response.write(b"data: " + json.dumps(error).encode() + b"\r\n\r\n")
                break
            if i == 2 and script == "cut-stream":
                break
            await response.write(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
            await asyncio.sleep(0)
        await response.write_eof()
        return response


def _usage(body: dict[str, Any], answer: int, thoughts: int = 0) -> dict[str, Any]:
    prompt = sum(_words(_text(c["parts"])) for c in body["contents"]) + 1
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": answer,
        "totalTokenCount": prompt + answer + thoughts,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _text_events(
    body: dict[str, Any], text: str, finish: str, thoughts: int = 0
) -> list[dict[str, Any]]:
    """The answer a word at a time, usage (cumulative) on every event, as Google streams."""
    words = text.split(" ")
    pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] or [""]
    n = int(body.get("generationConfig", {}).get("candidateCount", 1))
    events = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        candidates = []
        for index in range(n):
            candidate: dict[str, Any] = {
                "content": {"role": "model", "parts": [{"text": piece}]},
                "index": index,
            }
            if last:
                candidate["finishReason"] = finish
            candidates.append(candidate)
        events.append(
            {
                "candidates": candidates,
                "usageMetadata": _usage(body, i + 1, thoughts),
                "modelVersion": "loopback",
                "responseId": "loopback-response",
            }
        )
    return events


def _echo_text(body: dict[str, Any]) -> str:
    parts = _last_user(body["contents"])["parts"]
    results = [p["functionResponse"] for p in parts if "functionResponse" in p]
    if results:
        return "results: " + json.dumps({r["name"]: r["response"] for r in results}, sort_keys=True)
    return _text(parts) or "(nothing)"


def _function_name(body: dict[str, Any]) -> str:
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            return str(declaration["name"])
    return "get_weather"


def _signed(contents: list[dict[str, Any]]) -> bool:
    """Gemini 3's rule: the first function call of every model turn carries a signature."""
    for content in contents:
        calls = [p for p in content["parts"] if "functionCall" in p]
        if content["role"] == "model" and calls and "thoughtSignature" not in calls[0]:
            return False
    return True


def _events(script: str, body: dict[str, Any], signed: bool = False) -> list[dict[str, Any]]:
    if script in ("tools-1", "tools-2"):
        name = _function_name(body)
        cities = ["Paris", "Rome"][: int(script[-1])]
        calls: list[dict[str, Any]] = [
            {"functionCall": {"name": name, "args": {"city": c}}} for c in cities
        ]
        if signed:  # as Gemini 3 does: on the first call of a parallel batch only
            calls[0]["thoughtSignature"] = THOUGHT_SIGNATURE
        candidate = {
            "content": {"role": "model", "parts": calls},
            "finishReason": "STOP",
            "index": 0,
        }
        first = {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}}]}
        return [first, {"candidates": [candidate], "usageMetadata": _usage(body, 8)}]
    if script == "max-tokens":
        return _text_events(body, "this answer was cut", "MAX_TOKENS")
    if script == "safety":
        ratings = [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
        ]
        candidate = {"finishReason": "SAFETY", "index": 0, "safetyRatings": ratings}
        return [{"candidates": [candidate], "usageMetadata": _usage(body, 0)}]
    if script == "blocked":
        feedback = {
            "blockReason": "SAFETY",
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}],
        }
        return [{"promptFeedback": feedback, "usageMetadata": _usage(body, 0)}]
    if script == "thinking":
        thought = {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "hmm", "thought": True}]}}
            ]
        }
        return [thought, *_text_events(body, _echo_text(body), "STOP", thoughts=5)]
    return _text_events(body, _echo_text(body), "STOP")


def _merge(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The events of a stream as the one response `generateContent` would send."""
    merged: dict[str, Any] = {}
    candidates: dict[int, dict[str, Any]] = {}
    for event in events:
        for key in ("usageMetadata", "promptFeedback", "modelVersion", "responseId"):
            if key in event:
                merged[key] = event[key]
        for candidate in event.get("candidates", []):
            index = candidate.get("index", 0)
            into = candidates.setdefault(index, {"index": index})
            parts = candidate.get("content", {}).get("parts", [])
            if parts:
                content = into.setdefault("content", {"role": "model", "parts": []})
                content["parts"].extend(parts)
            for key in ("finishReason", "safetyRatings"):
                if key in candidate:
                    into[key] = candidate[key]
    if candidates:
        merged["candidates"] = [candidates[i] for i in sorted(candidates)]
    return merged


def main() -> None:
    args = upstream_parser(__doc__, 9200).parse_args()
    upstream = GeminiUpstream(require_key=args.require_key)
    asyncio.run(serve_app(upstream.app(), args.host, args.port, "loopback gemini upstream"))


if __name__ == "__main__":
    main()
