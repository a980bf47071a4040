"""A cheap complexity score for `route_by: complexity`: how hard a request looks, in [0, 1].

No model and no tokenizer: a handful of signals read from the request, each mapped to [0, 1]
and combined as a noisy-OR, `1 - prod(1 - weight * signal)`, so that any one strong signal can
carry a request over the threshold on its own and several weak ones add up, without the sum ever
leaving [0, 1]. The weights (what one signal at full strength is worth on its own):

- length, 0.70: full at ~1,500 tokens (chars / 4, log scale from ~40). Long prompts need a
  large context and careful attention, but long is not always hard, so alone it stays < 0.5
  until ~600 tokens.
- reasoning, 0.60: full at two task words in the last user turn ("prove", "design",
  "step by step", "trade-offs", "optimise", ...), an opening "why", or a long answer asked
  for ("a 2,000-word essay"). Short asks can be hard ("design a distributed rate limiter").
- code, 0.60: full at a fence, three code-looking lines, or three code words (a language
  name, "function", "API"). Small models write poor code.
- maths, 0.60: full at two formula marks (LaTeX, `x^2`, `3x + 1`) or two maths words.
  Small models get arithmetic and proofs wrong.
- tools, 0.60 (0.85-1.0 of it when tools are offered, more per tool; tool calls and results
  in the history count too): tools alone make a request complex. Tool calling and reading
  tool output need the stronger model.
- turns, 0.35: full at ~8 prior user/assistant messages. Long conversations need coherence.

With threshold 0.5: a fenced code block, offered tools, a formula-heavy or a reasoning-heavy
ask goes complex on its own; a short factual question, a greeting or a one-line rewrite stays
simple.
"""

from __future__ import annotations

import math
import re

from msgspec import UNSET

from gateway.protocol.chat import (
    AssistantMessage,
    ChatCompletionRequest,
    ChatMessage,
    ToolMessage,
    UserMessage,
)
from gateway.protocol.completions import CompletionRequest

__all__ = ["ComplexitySignals", "complexity_score", "complexity_signals"]

W_LENGTH = 0.70
W_REASONING = 0.60
W_CODE = 0.60
W_MATH = 0.60
W_TOOLS = 0.60
W_TURNS = 0.35

# Only this much text is scanned by the regexes: enough to see what the request is about.
_SCAN_CHARS = 800

_CODE_LINE = re.compile(
    r"^[ \t]*(?:def |class |import |from \w+ import|return\b|#include|public |private |fn |func "
    r"|let |const |var |SELECT |\}|(?:if|for|while) [^\n]*:[ \t]*$)|[;{][ \t]*$",
    re.MULTILINE,
)
# Each pattern runs only when its literal trigger is in the text (a substring test is far
# cheaper than a regex scan that finds nothing); words are matched as a set, not a regex.
_INLINE_CODE = (("`", re.compile(r"`[^`\n]+`")), ("(", re.compile(r"\w\([^)\n]*\)|\w\.\w+\(")))
_CODE_TOKENS = ("=>", "::", "->")
_MATH_MARKS = (
    ("\\", re.compile(r"\\(?:frac|int|sum|sqrt|lim|begin|partial|cdot|infty)")),
    ("$", re.compile(r"\$[^$\n]+\$")),
    ("^", re.compile(r"[a-z]\s*\^\s*\d")),
    ("=", re.compile(r"\b[xyz]\s*=")),
)
_MATH_OPERATION = re.compile(r"\d\s*[-+*/^]\s*\(?\s*[\dxyzn]")
_MATH_SYMBOLS = "∫∑√∂≤≥≠∞π"
_OUTPUT_SIZE = re.compile(r"\b(\d[\d,]*)[- ]?(?:words?|pages?)\b")
_SQL = re.compile(r"\bSELECT\b.+?\bFROM\b", re.DOTALL)
_WORD = re.compile(r"[a-z][a-z0-9+#]*")


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MATH_WORDS = _word_set(
    """
    integral integrate derivative differentiate eigenvalue eigenvalues eigenvector eigenvectors
    matrix matrices theorem prove proof lemma probability equation equations polynomial limit
    converge converges convergence series vector calculus
    """
)
# Naming a language or a code artefact is half-way to code even with no code in sight.
_CODE_WORDS = _word_set(
    """
    python javascript typescript java rust golang c++ c# kotlin swift ruby php sql bash script
    function class method api regex compiler library module dockerfile atomic atomics mutex
    concurrency thread-safe multithreaded lock-free segfault
    """
)
_REASONING_WORDS = _word_set(
    """
    prove derive design architecture architect tradeoff tradeoffs compare
    analyse analyze optimise optimize evaluate critique refactor debug implement algorithm
    detailed comprehensive reason reasoning plan strategy justify explain verify discuss weigh
    estimate argue argument assumption assumptions hypotheses hypothesis causes
    """
)
_REASONING_PHRASES = (
    "step by step",
    "step-by-step",
    "explain why",
    "in depth",
    "pros and cons",
    "each step",
    "unit test",
    "edge case",
    "trade-off",
    "show the ",
    "show your ",
    "show all ",
    "show each ",
)


class ComplexitySignals:
    """The per-signal strengths in [0, 1] behind a score (for logs and for tests)."""

    __slots__ = ("code", "length", "maths", "reasoning", "tools", "turns")

    def __init__(
        self,
        *,
        length: float,
        reasoning: float,
        code: float,
        maths: float,
        tools: float,
        turns: float,
    ) -> None:
        self.length = length
        self.reasoning = reasoning
        self.code = code
        self.maths = maths
        self.tools = tools
        self.turns = turns

    def score(self) -> float:
        keep = 1.0
        for weight, signal in (
            (W_LENGTH, self.length),
            (W_REASONING, self.reasoning),
            (W_CODE, self.code),
            (W_MATH, self.maths),
            (W_TOOLS, self.tools),
            (W_TURNS, self.turns),
        ):
            keep *= 1.0 - weight * signal
        return min(1.0, max(0.0, 1.0 - keep))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k):.2f}" for k in self.__slots__)
        return f"ComplexitySignals({fields})"


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(t for part in content if isinstance(t := getattr(part, "text", None), str))
    return ""


def _message_text(message: ChatMessage) -> str:
    return _content_text(message.content)


def _prompt_text(request: CompletionRequest) -> str:
    prompt = request.prompt
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(p for p in prompt if isinstance(p, str))
    return ""


def _length_signal(chars: int) -> float:
    tokens = chars / 4.0
    # log scale: ~40 tokens -> 0, ~1,500 tokens -> 1.
    return min(1.0, max(0.0, math.log(max(tokens, 1.0) / 40.0) / math.log(1500.0 / 40.0)))


def _code_signal(text: str, words: list[str], whole: str) -> float:
    if "```" in whole:
        return 1.0
    lines = len(_CODE_LINE.findall(text))
    inline = sum(len(rx.findall(text)) for trigger, rx in _INLINE_CODE if trigger in text)
    inline += sum(text.count(token) for token in _CODE_TOKENS)
    named = sum(w in _CODE_WORDS for w in words)
    if "SELECT" in text and _SQL.search(text):
        named += 2
    return min(1.0, lines / 3.0 + inline / 6.0 + named / 3.0)


def _math_signal(text: str, words: list[str]) -> float:
    marks = sum(len(rx.findall(text)) for trigger, rx in _MATH_MARKS if trigger in text)
    marks += sum(text.count(symbol) for symbol in _MATH_SYMBOLS)
    if any(op in text for op in "+*/^-"):
        marks += len(_MATH_OPERATION.findall(text))
    named = sum(w in _MATH_WORDS for w in words)
    return min(1.0, marks / 2.0 + named / 2.0)


def _reasoning_signal(lowered: str, words: list[str]) -> float:
    hits = sum(w in _REASONING_WORDS for w in words)
    hits += sum(phrase in lowered for phrase in _REASONING_PHRASES)
    # An open "why" question, and a long answer asked for ("a 2,000-word essay").
    if lowered.lstrip().startswith("why "):
        hits += 1
    if "word" in lowered or "page" in lowered:
        for size in _OUTPUT_SIZE.findall(lowered):
            hits += 2 if int(size.replace(",", "")) >= 300 else 0
    return min(1.0, hits / 2.0)


def complexity_signals(request: ChatCompletionRequest | CompletionRequest) -> ComplexitySignals:
    """The signals of a chat or legacy completion request."""
    tools = 0.0
    turns = 0.0
    if isinstance(request, ChatCompletionRequest):
        texts = [_message_text(m) for m in request.messages]
        offered = request.tools if request.tools not in (UNSET, None) else None
        functions = request.functions if request.functions not in (UNSET, None) else None
        tool_results = sum(isinstance(m, ToolMessage) for m in request.messages)
        tool_calls = sum(
            isinstance(m, AssistantMessage) and bool(m.tool_calls) for m in request.messages
        )
        if offered or functions:
            tools = 0.85 + min(0.15, 0.05 * (len(offered or ()) + len(functions or ())))
        tools = max(tools, min(1.0, 0.5 * (tool_results + tool_calls)))
        # Prior exchanges, not counting the system prompt and the current ask.
        dialogue = sum(isinstance(m, UserMessage | AssistantMessage) for m in request.messages)
        turns = min(1.0, max(0, dialogue - 1) / 8.0)
        # Task words count in the current ask only: "debug" three turns ago is history.
        users = [_message_text(m) for m in request.messages if isinstance(m, UserMessage)]
        ask = users[-1] if users else (texts[-1] if texts else "")
        whole = "\n".join(texts)
    else:
        ask = whole = _prompt_text(request)
    # Code and maths anywhere in the conversation count; the most recent text is scanned.
    scan = whole[-_SCAN_CHARS:]
    lowered = scan.lower()
    words = _WORD.findall(lowered)
    asked = ask[:_SCAN_CHARS].lower()
    asked_words = words if asked == lowered else _WORD.findall(asked)
    return ComplexitySignals(
        length=_length_signal(len(whole)),
        reasoning=_reasoning_signal(asked, asked_words),
        code=_code_signal(scan, words, whole),
        maths=_math_signal(scan, words),
        tools=tools,
        turns=turns,
    )


def complexity_score(request: ChatCompletionRequest | CompletionRequest) -> float:
    """How hard the request looks, in [0, 1]; `route_by: complexity` compares it with
    `threshold` (complex at or above it)."""
    return complexity_signals(request).score()
