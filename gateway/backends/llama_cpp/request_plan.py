"""From an OpenAI request to what the token loop needs: prompt tokens, sampling, grammar.

Everything the local backend cannot honour is a clear 400 here, before the model is queued.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.backends.llama_cpp.chat_prompt import function_tools
from gateway.backends.llama_cpp.generation import Sampling
from gateway.backends.llama_cpp.json_grammar import json_grammar
from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.tool_grammar import tool_call_grammar
from gateway.errors import InvalidRequestError
from gateway.protocol.chat import (
    ChatCompletionRequest,
    DeveloperMessage,
    FunctionDefinition,
    FunctionName,
    JSONObjectFormat,
    JSONSchemaFormat,
    NamedToolChoice,
    SystemMessage,
    ToolMessage,
)
from gateway.protocol.completions import CompletionRequest

CONTEXT_CODE = "context_length_exceeded"


@dataclass(frozen=True, slots=True)
class Plan:
    tokens: list[int]
    sampling: Sampling
    # Set when the output must be a call to one of these tools (forced `tool_choice`).
    forced_tools: tuple[str, ...] = ()
    # Functions the model may call on its own (`tool_choice: auto`): its text is parsed.
    auto_functions: tuple[FunctionDefinition, ...] = ()
    # `parallel_tool_calls: false`: of the calls the text holds, only the first is made.
    auto_parallel: bool = True


def plan_chat(
    model: LoadedModel, request: ChatCompletionRequest, context_overflow: str = "error"
) -> Plan:
    _common_checks(request.n)
    forced = _forced_tools(request)
    if forced:
        request = _offering_only(request, forced)
    if context_overflow == "trim_oldest":
        request = _trimmed_to_fit(model, request)
    rendered = model.prompter.render(request)
    grammar: str | None = None
    if forced:
        grammar = _forced_call_grammar(request, forced)
    elif isinstance(request.response_format, JSONSchemaFormat):
        schema = request.response_format.json_schema.schema
        grammar = _schema_grammar(schema if isinstance(schema, dict) else {"type": "object"})
    elif isinstance(request.response_format, JSONObjectFormat):
        grammar = _schema_grammar({"type": "object"})
    tokens = model.tokenize(rendered.text, add_bos=not rendered.has_bos)
    stops = (*rendered.stop, *_stops(request.stop))
    auto = () if forced or request.tool_choice == "none" else tuple(_functions(request))
    sampling = _sampling(model, request, tokens, stops, _grammar(model, grammar))
    if len(forced) == 1:
        sampling = dataclasses.replace(sampling, drafts=_call_heads(model, forced[0]))
    return Plan(
        tokens=tokens,
        sampling=sampling,
        forced_tools=forced,
        auto_functions=auto,
        auto_parallel=request.parallel_tool_calls is not False,
    )


def _call_heads(model: LoadedModel, name: str) -> tuple[tuple[int, ...], ...]:
    """The tokens a call to `name` most likely starts with, up to its arguments (where the
    schema takes over), as the tools preamble writes it and as pretty-printed JSON does:
    drafts the engine verifies against the sampler, so a model that writes the call
    otherwise loses nothing but the guess."""
    quoted = json.dumps(name)
    heads = (f'{{"name": {quoted}, "arguments":', f'{{ "name": {quoted}, "arguments":')
    return tuple(tuple(model.tokenize(head, add_bos=False)) for head in heads)


def _offering_only(request: ChatCompletionRequest, names: tuple[str, ...]) -> ChatCompletionRequest:
    """The request with only the tools it may call this turn: the others would lengthen the
    prompt (every token of it is prefilled) for nothing."""
    tools = [t for t in function_tools(request) if t.function.name in names]
    return msgspec.structs.replace(request, tools=tools)


def _forced_call_grammar(request: ChatCompletionRequest, names: tuple[str, ...]) -> str:
    functions = [f for f in _functions(request) if f.name in names]
    # A named function is exactly one call (OpenAI's "forced function"); `required` is one
    # or more unless `parallel_tool_calls` is false.
    parallel = request.tool_choice == "required" and request.parallel_tool_calls is not False
    try:
        return tool_call_grammar(functions, parallel=parallel)
    except Exception as exc:  # the converter raises bare Exceptions and ValueErrors
        raise _unsupported_schema(str(exc), param="tools") from None


def _schema_grammar(schema: dict[str, Any]) -> str:
    try:
        return json_grammar(schema)
    except Exception as exc:  # the converter raises bare Exceptions and ValueErrors
        raise _unsupported_schema(str(exc)) from None


def _trimmed_to_fit(model: LoadedModel, request: ChatCompletionRequest) -> ChatCompletionRequest:
    """Drop the oldest non-system turns until the prompt (and `max_tokens`) fits; system
    messages and the last turn always stay. A tool result goes with the call before it."""
    budget = model.n_ctx - (request.output_token_limit or 1)
    messages = list(request.messages)
    while True:
        candidate = msgspec.structs.replace(request, messages=messages)
        rendered = model.prompter.render(candidate)
        if len(model.tokenize(rendered.text, add_bos=not rendered.has_bos)) <= budget:
            return candidate
        droppable = [
            i
            for i, m in enumerate(messages[:-1])
            if not isinstance(m, SystemMessage | DeveloperMessage)
        ]
        if not droppable:
            return candidate  # cannot shrink further: the usual 400 follows
        del messages[droppable[0]]
        while (
            len(messages) > 1
            and droppable[0] < len(messages) - 1
            and isinstance(messages[droppable[0]], ToolMessage)
        ):
            del messages[droppable[0]]


def plan_text(model: LoadedModel, request: CompletionRequest) -> Plan:
    _common_checks(request.n)
    if request.echo is True:
        raise InvalidRequestError("`echo` is not supported by local models", param="echo")
    prompt: Any = request.prompt
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]  # a batch of one: `["text"]` or `[[ids]]`
    if isinstance(prompt, list) and not all(isinstance(p, int) for p in prompt):
        raise InvalidRequestError(
            "local models take one prompt per request, not a batch", param="prompt"
        )
    suffix = request.suffix if isinstance(request.suffix, str) else None
    if isinstance(prompt, list):
        if suffix:
            raise InvalidRequestError("`suffix` needs a text prompt", param="suffix")
        vocab = model.llm.n_vocab()
        if any(not 0 <= t < vocab for t in prompt):
            raise InvalidRequestError(
                f"token ids must be below {vocab} for this model", param="prompt"
            )
        tokens = list(prompt)
    else:
        text = prompt if isinstance(prompt, str) else ""
        if suffix is not None:
            tokens = _fill_in_middle(model, request.model, text, suffix)
        else:
            tokens = model.tokenize(text, add_bos=True)
    if not tokens:
        raise InvalidRequestError("the prompt is empty", param="prompt")
    return Plan(tokens=tokens, sampling=_sampling(model, request, tokens, _stops(request.stop)))


def _common_checks(n: object) -> None:
    """`n` > 1 is served: the batch engine reads the prompt once and samples `n` sequences
    (more than the model's `parallel` slots is refused when the request is submitted)."""


def _logprobs(request: ChatCompletionRequest | CompletionRequest) -> int | None:
    """How many alternatives to report per token, or None for no logprobs."""
    if isinstance(request, ChatCompletionRequest):
        if request.logprobs is not True:
            return None
        return request.top_logprobs if isinstance(request.top_logprobs, int) else 0
    return request.logprobs if isinstance(request.logprobs, int) else None


def _fill_in_middle(model: LoadedModel, name: str, prefix: str, suffix: str) -> list[int]:
    fim = model.fim
    if fim is None:
        raise InvalidRequestError(
            f"model `{name}` has no fill-in-the-middle tokens in its vocabulary, so it "
            "cannot use `suffix`; use a code model such as Qwen2.5-Coder",
            param="suffix",
        )
    return [
        fim.prefix,
        *model.tokenize(prefix, add_bos=False),
        fim.suffix,
        *model.tokenize(suffix, add_bos=False),
        fim.middle,
    ]


def _sampling(
    model: LoadedModel,
    request: ChatCompletionRequest | CompletionRequest,
    tokens: list[int],
    stops: tuple[str, ...],
    grammar: Any = None,
) -> Sampling:
    room = model.n_ctx - len(tokens)
    limit = request.output_token_limit
    if room <= 0 or (limit is not None and limit > room):
        asked = f" + {limit} requested completion tokens" if limit is not None else ""
        raise InvalidRequestError(
            f"This model's maximum context length is {model.n_ctx} tokens. However, your "
            f"request has {len(tokens)} prompt tokens{asked}. Shorten the messages or lower "
            "`max_tokens`.",
            param="messages" if isinstance(request, ChatCompletionRequest) else "prompt",
            code=CONTEXT_CODE,
        )
    bias: dict[int, float] = {}
    if isinstance(request.logit_bias, dict):
        for key, value in request.logit_bias.items():
            if not key.lstrip("-").isdigit() or not 0 <= int(key) < model.llm.n_vocab():
                raise InvalidRequestError(
                    f"`logit_bias` key `{key}` is not a token id of this model", param="logit_bias"
                )
            bias[int(key)] = value
    return Sampling(
        max_tokens=limit if limit is not None else room,
        temperature=_number(request.temperature, 1.0),
        top_p=_number(request.top_p, 1.0),
        presence_penalty=_number(request.presence_penalty, 0.0),
        frequency_penalty=_number(request.frequency_penalty, 0.0),
        seed=request.seed if isinstance(request.seed, int) else None,
        stop=stops,
        logit_bias=bias,
        grammar=grammar,
        logprobs=_logprobs(request),
    )


def _number(value: object, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def _stops(stop: object) -> tuple[str, ...]:
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list):
        return tuple(s for s in stop if isinstance(s, str) and s)
    return ()


def _functions(request: ChatCompletionRequest) -> list[FunctionDefinition]:
    return [
        t.function for t in function_tools(request) if isinstance(t.function, FunctionDefinition)
    ]


def _forced_tools(request: ChatCompletionRequest) -> tuple[str, ...]:
    functions = _functions(request)
    choice = request.tool_choice
    if isinstance(choice, NamedToolChoice):
        if not isinstance(choice.function, FunctionName):
            raise InvalidRequestError(
                f"local models do not support `tool_choice` of type `{choice.type}`",
                param="tool_choice",
            )
        if choice.function.name not in {f.name for f in functions}:
            raise InvalidRequestError(
                f"`tool_choice` names `{choice.function.name}`, which is not in `tools`",
                param="tool_choice",
            )
        return (choice.function.name,)
    if choice == "required":
        if not functions:
            raise InvalidRequestError("`tool_choice: required` needs `tools`", param="tool_choice")
        return tuple(f.name for f in functions)
    return ()


def _grammar(model: LoadedModel, text: str | None) -> Any:
    if text is None:
        return None
    from llama_cpp.llama_grammar import LlamaGrammar

    _check_grammar(model, text)
    return LlamaGrammar.from_string(text, verbose=False)


def _unsupported_schema(why: str, param: str = "response_format") -> InvalidRequestError:
    return InvalidRequestError(
        f"this JSON schema cannot be enforced by grammar-constrained decoding: {why}",
        param=param,
        code="unsupported_schema",
    )


def _check_grammar(model: LoadedModel, text: str) -> None:
    """A grammar llama.cpp cannot parse gives a null sampler, which the engine would chain
    and then dereference: refuse it here, with a 400."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(
        model.llm._model.vocab, text.encode("utf-8"), b"root"
    )
    if not sampler:
        raise _unsupported_schema("llama.cpp could not parse the grammar built from it")
    llama_cpp.llama_sampler_free(sampler)
