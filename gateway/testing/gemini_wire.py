"""What the loopback Gemini server checks of a `GenerateContentRequest`, as Google's API does:
unknown fields, roles, part shapes, function responses matching the calls they answer,
generation and tool settings. Each problem is the message of a 400 INVALID_ARGUMENT."""

from __future__ import annotations

import base64
import binascii
from typing import Any

_TOP = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
}
_DATA_KEYS = {"text", "inlineData", "functionCall", "functionResponse", "fileData"}
_PART_KEYS = _DATA_KEYS | {"thought", "thoughtSignature"}
_GENERATION = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
}
_MODES = {"AUTO", "ANY", "NONE", "VALIDATED"}


class WireError(Exception):
    """The request breaks Gemini's documented shape."""


def check_request(body: Any) -> None:
    if not isinstance(body, dict):
        raise WireError("the request body must be a JSON object")
    unknown = set(body) - _TOP
    if unknown:
        raise WireError(f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}"')
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise WireError("* GenerateContentRequest.contents: contents is not specified")
    previous: dict[str, Any] | None = None
    for i, content in enumerate(contents):
        _check_content(content, f"contents[{i}]", previous)
        previous = content
    system = body.get("systemInstruction")
    if system is not None:
        if not isinstance(system, dict) or set(system) - {"parts", "role"}:
            raise WireError("systemInstruction must be a Content")
        _check_parts(system.get("parts"), "systemInstruction")
    _check_tools(body.get("tools"), body.get("toolConfig"))
    _check_generation(body.get("generationConfig"))
    for setting in body.get("safetySettings") or []:
        if not isinstance(setting, dict) or set(setting) != {"category", "threshold"}:
            raise WireError("safetySettings entries need exactly category and threshold")


def _check_content(content: Any, where: str, previous: dict[str, Any] | None) -> None:
    if not isinstance(content, dict) or set(content) - {"role", "parts"}:
        raise WireError(f"{where} must be a Content (role, parts)")
    if content.get("role") not in ("user", "model"):
        raise WireError(f"{where}.role must be `user` or `model`")
    parts = _check_parts(content.get("parts"), where)
    responses = [p["functionResponse"]["name"] for p in parts if "functionResponse" in p]
    if responses:
        called = [
            p["functionCall"]["name"]
            for p in (previous or {}).get("parts", [])
            if "functionCall" in p
        ]
        if sorted(called) != sorted(responses):
            raise WireError(
                "Please ensure that the number of function response parts is equal to the "
                "number of function call parts of the function call turn."
            )


def _check_parts(parts: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(parts, list) or not parts:
        raise WireError(f"{where}.parts must not be empty")
    for j, part in enumerate(parts):
        if not isinstance(part, dict) or set(part) - _PART_KEYS:
            raise WireError(f"{where}.parts[{j}] has unknown fields")
        data = set(part) & _DATA_KEYS
        if len(data) != 1:
            raise WireError(f"{where}.parts[{j}] must hold exactly one kind of data")
        kind = data.pop()
        value = part[kind]
        if kind == "text" and not isinstance(value, str):
            raise WireError(f"{where}.parts[{j}].text must be a string")
        if kind == "inlineData":
            _check_inline(value, f"{where}.parts[{j}].inlineData")
        if kind in ("functionCall", "functionResponse"):
            payload = "args" if kind == "functionCall" else "response"
            if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                raise WireError(f"{where}.parts[{j}].{kind} needs a name")
            if payload in value and not isinstance(value[payload], dict):
                raise WireError(f"{where}.parts[{j}].{kind}.{payload} must be an object")
            if kind == "functionResponse" and payload not in value:
                raise WireError(f"{where}.parts[{j}].functionResponse needs a response")
    return parts


def _check_inline(value: Any, where: str) -> None:
    if not isinstance(value, dict) or set(value) != {"mimeType", "data"}:
        raise WireError(f"{where} needs exactly mimeType and data")
    try:
        base64.b64decode(value["data"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise WireError(f"{where}.data is not base64") from None


def _check_tools(tools: Any, config: Any) -> None:
    names: set[str] = set()
    for tool in tools or []:
        if not isinstance(tool, dict) or set(tool) - {"functionDeclarations"}:
            raise WireError("only functionDeclarations tools are served here")
        for declaration in tool["functionDeclarations"]:
            allowed = {"name", "description", "parameters", "parametersJsonSchema"}
            if set(declaration) - allowed or "name" not in declaration:
                raise WireError("a FunctionDeclaration has unknown fields")
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise WireError("parameters and parametersJsonSchema are mutually exclusive")
            names.add(declaration["name"])
    if config is None:
        return
    calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(calling, dict) or calling.get("mode") not in _MODES:
        raise WireError("toolConfig.functionCallingConfig.mode must be AUTO, ANY or NONE")
    allowed_names = calling.get("allowedFunctionNames")
    if allowed_names is not None:
        if calling["mode"] not in ("ANY", "VALIDATED"):
            raise WireError("allowedFunctionNames needs mode ANY")
        if not set(allowed_names) <= names:
            raise WireError("allowedFunctionNames names an undeclared function")


def _check_generation(config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict) or set(config) - _GENERATION:
        raise WireError("generationConfig has unknown fields")
    if ("responseJsonSchema" in config or "responseSchema" in config) and config.get(
        "responseMimeType"
    ) != "application/json":
        raise WireError("a response schema needs responseMimeType application/json")
    stops = config.get("stopSequences")
    if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
        raise WireError("stopSequences: at most 5 strings")
