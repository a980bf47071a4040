"""A chat-completions request as a Gemini `GenerateContentRequest`.

- system and developer messages -> `systemInstruction` (Gemini has one, so all of them, in
  order); user -> `user` turns; assistant -> `model` turns (text, `functionCall`);
- tool results -> `functionResponse` parts, the function's name recovered from the
  assistant's earlier call with that id, consecutive results in one `user` turn; a result
  that is a JSON object is sent as that object, anything else as `{"result": text}`;
- images, audio and files as `data:` URLs -> `inlineData` (Gemini fetches no URLs);
- the `thoughtSignature` Gemini put on a function call travels in the call's id
  (`<id>~ts~<signature>`) and goes back on the call's part; Gemini 3 needs it, and a
  history without any (another model's calls) gets Google's documented stand-in;
- tools -> one `functionDeclarations` tool, parameters as `parametersJsonSchema` (JSON
  Schema as clients write it: no key cleaning); `tool_choice` -> `functionCallingConfig`;
- sampling and limits -> `generationConfig`; `response_format` -> `responseMimeType` and
  `responseJsonSchema`.

What Gemini cannot express is dropped (`user`, `metadata`, `logit_bias`, `logprobs`,
`parallel_tool_calls`, message `name`s). A request Gemini could never serve (an image by
http URL, a non-function tool, tool-call arguments that are not JSON) is a 400 here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from msgspec import UNSET

from gateway.errors import InvalidRequestError
from gateway.protocol.chat import (
    AssistantMessage,
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    DeveloperMessage,
    FunctionDefinition,
    FunctionMessage,
    JSONObjectFormat,
    JSONSchemaFormat,
    NamedToolChoice,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from gateway.protocol.raw import RawFields

Json = dict[str, Any]
_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?:;[^,;]+=[^,;]*)*;base64,(?P<data>.*)$", re.S
)
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mp3"}
_any = msgspec.json.Decoder()
# Between a tool-call id and the thought signature it carries (never in base64 itself).
SIGNATURE_MARK = "~ts~"
SKIP_SIGNATURE = "skip_thought_signature_validator"
# Models that reject function-call history without thought signatures (Gemini 3 on).
_NEEDS_SIGNATURES = re.compile(r"gemini-(?:[3-9]|\d\d)")


def to_gemini(
    request: ChatCompletionRequest,
    fields: RawFields | None = None,
    safety_settings: Sequence[Json] = (),
    model: str = "",
) -> Json:
    """The `GenerateContentRequest` body for `request` (`fields`: its raw form, for the
    extensions some clients send, such as `top_k`; `model`: the upstream model's name)."""
    body: Json = {}
    system, contents = _contents(request.messages, _NEEDS_SIGNATURES.search(model) is not None)
    body["contents"] = contents
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    declarations = _declarations(request)
    calling = _calling_config(request, declarations)
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
    if calling:
        body["toolConfig"] = {"functionCallingConfig": calling}
    config = _generation_config(request, fields or {})
    if config:
        body["generationConfig"] = config
    if safety_settings:
        body["safetySettings"] = list(safety_settings)
    return body


# --- messages ---------------------------------------------------------------------------


def _contents(
    messages: Iterable[ChatMessage], needs_signatures: bool
) -> tuple[list[str], list[Json]]:
    system: list[str] = []
    contents: list[Json] = []
    call_names: dict[str, str] = {}  # tool call id -> function name, as the turns go
    for message in messages:
        if isinstance(message, SystemMessage | DeveloperMessage):
            text = _text_of(message.content)
            if text:
                system.append(text)
        elif isinstance(message, UserMessage):
            parts = _user_parts(message.content)
            if parts:
                contents.append({"role": "user", "parts": parts})
        elif isinstance(message, AssistantMessage):
            parts = _assistant_parts(message, call_names, needs_signatures)
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif isinstance(message, ToolMessage):
            name = call_names.get(message.tool_call_id)
            if name is None:
                raise InvalidRequestError(
                    f"tool message `{message.tool_call_id}` answers no earlier assistant "
                    "tool call (the Gemini API needs the function's name)",
                    param="messages",
                )
            _add_result(contents, name, _text_of(message.content))
        elif isinstance(message, FunctionMessage):
            _add_result(contents, message.name, message.content or "")
    return system, contents


def _add_result(contents: list[Json], name: str, text: str) -> None:
    part = {"functionResponse": {"name": name, "response": _result_object(text)}}
    last = contents[-1] if contents else None
    if last is not None and last["role"] == "user" and _only_results(last["parts"]):
        last["parts"].append(part)  # one turn answers all the calls of the turn before
    else:
        contents.append({"role": "user", "parts": [part]})


def _only_results(parts: list[Json]) -> bool:
    return all("functionResponse" in part for part in parts)


def _result_object(text: str) -> Json:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"result": text}
    return parsed if isinstance(parsed, dict) else {"result": text}


def _text_of(content: str | list[ContentPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if isinstance(part.text, str):
            texts.append(part.text)
        elif isinstance(part.refusal, str):
            texts.append(part.refusal)
    return "".join(texts)


def _user_parts(content: str | list[ContentPart]) -> list[Json]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[Json] = []
    for part in content:
        if isinstance(part.text, str):
            if part.text:
                parts.append({"text": part.text})
        elif part.image_url is not UNSET:
            parts.append(_inline(part.image_url.url, "an image_url"))
        elif part.input_audio is not UNSET:
            audio = part.input_audio
            mime = _AUDIO_MIME.get(audio.format, f"audio/{audio.format}")
            parts.append({"inlineData": {"mimeType": mime, "data": audio.data}})
        elif part.file is not UNSET and isinstance(part.file.get("file_data"), str):
            parts.append(_inline(part.file["file_data"], "a file"))
        else:
            raise InvalidRequestError(
                f"a `{part.type}` content part cannot be sent to a Gemini model",
                param="messages",
            )
    return parts


def _inline(url: str, what: str) -> Json:
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidRequestError(
            f"{what} for a Gemini model must be a base64 `data:` URL (it fetches no URLs)",
            param="messages",
        )
    return {"inlineData": {"mimeType": match["mime"], "data": match["data"]}}


def _assistant_parts(
    message: AssistantMessage, call_names: dict[str, str], needs_signatures: bool
) -> list[Json]:
    text = _text_of(message.content)
    parts: list[Json] = [{"text": text}] if text else []
    calls = message.tool_calls if isinstance(message.tool_calls, list) else []
    signed = False
    for call in calls:
        call_names[call.id] = call.function.name
        part = _function_call(call.function.name, call.function.arguments)
        signature = signature_of(call.id)
        if signature:
            part["thoughtSignature"] = signature
            signed = True
        parts.append(part)
    legacy = message.function_call
    if legacy is not None and legacy is not UNSET:
        parts.append(_function_call(legacy.name, legacy.arguments))
    first_call = next((part for part in parts if "functionCall" in part), None)
    if needs_signatures and not signed and first_call is not None:
        # Calls made by another model (or an id a client rewrote): Google's documented
        # stand-in, so that Gemini 3 accepts the history instead of answering 400.
        first_call["thoughtSignature"] = SKIP_SIGNATURE
    return parts


def with_signature(call_id: str, signature: object) -> str:
    """A tool-call id that carries Gemini's `thoughtSignature` for the call, so that the
    client hands it back with the conversation (Gemini 3 rejects calls without it)."""
    if not isinstance(signature, str) or not signature:
        return call_id
    return f"{call_id}{SIGNATURE_MARK}{signature}"


def signature_of(call_id: str) -> str | None:
    _, mark, signature = call_id.partition(SIGNATURE_MARK)
    return signature if mark and signature else None


def _function_call(name: str, arguments: str) -> Json:
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        raise InvalidRequestError(
            f"the arguments of tool call `{name}` are not JSON", param="messages"
        ) from None
    if not isinstance(args, dict):
        raise InvalidRequestError(
            f"the arguments of tool call `{name}` are not a JSON object", param="messages"
        )
    return {"functionCall": {"name": name, "args": args}}


# --- tools ------------------------------------------------------------------------------


def _declarations(request: ChatCompletionRequest) -> list[Json]:
    functions: list[FunctionDefinition] = []
    for tool in request.tools if isinstance(request.tools, list) else []:
        if tool.type != "function" or tool.function is UNSET:
            raise InvalidRequestError(
                f"a `{tool.type}` tool cannot be offered to a Gemini model", param="tools"
            )
        functions.append(tool.function)
    if isinstance(request.functions, list):
        functions.extend(request.functions)
    declarations = []
    for function in functions:
        declaration: Json = {"name": function.name}
        if isinstance(function.description, str):
            declaration["description"] = function.description
        if isinstance(function.parameters, dict) and function.parameters:
            declaration["parametersJsonSchema"] = function.parameters
        declarations.append(declaration)
    return declarations


def _calling_config(request: ChatCompletionRequest, declarations: list[Json]) -> Json:
    choice: Any = request.tool_choice
    if choice is UNSET or choice is None:
        choice = request.function_call  # the legacy form: "none", "auto" or {name}
    if choice is UNSET or choice is None:
        return {}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, NamedToolChoice) and choice.function is not UNSET:
        return {"mode": "ANY", "allowedFunctionNames": [choice.function.name]}
    if isinstance(choice, NamedToolChoice) and isinstance(choice.allowed_tools, dict):
        allowed = choice.allowed_tools
        names = [
            tool["function"]["name"]
            for tool in allowed.get("tools") or []
            if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
        ]
        if allowed.get("mode") == "required":
            return {"mode": "ANY", "allowedFunctionNames": names}
        # AUTO takes no name list: offer only the allowed declarations instead.
        declarations[:] = [d for d in declarations if d["name"] in names]
        return {"mode": "AUTO"}
    name = getattr(choice, "name", None)  # legacy `function_call: {"name": ...}`
    if isinstance(name, str):
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise InvalidRequestError(
        "this `tool_choice` cannot be expressed for a Gemini model", param="tool_choice"
    )


# --- generation config ------------------------------------------------------------------


def _generation_config(request: ChatCompletionRequest, fields: RawFields) -> Json:
    config: Json = {}
    _put(config, "temperature", request.temperature)
    _put(config, "topP", request.top_p)
    _put(config, "maxOutputTokens", request.output_token_limit)
    _put(config, "candidateCount", request.n)
    _put(config, "seed", request.seed)
    _put(config, "presencePenalty", request.presence_penalty)
    _put(config, "frequencyPenalty", request.frequency_penalty)
    stop = request.stop
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = list(stop)
    top_k = _any.decode(fields["top_k"]) if "top_k" in fields else None
    if isinstance(top_k, int) and not isinstance(top_k, bool) and top_k > 0:
        config["topK"] = top_k
    response_format = request.response_format
    if isinstance(response_format, JSONObjectFormat):
        config["responseMimeType"] = "application/json"
    elif isinstance(response_format, JSONSchemaFormat):
        config["responseMimeType"] = "application/json"
        schema = response_format.json_schema.schema
        if isinstance(schema, dict):
            config["responseJsonSchema"] = schema
    return config


def _put(config: Json, key: str, value: Any) -> None:
    if value is not None and value is not UNSET:
        config[key] = value
