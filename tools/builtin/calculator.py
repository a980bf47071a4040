"""The `calculator` tool: exact arithmetic for the model (see `tools.builtin.arithmetic`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, ClassVar

import msgspec

from tools.base import ToolContext, ToolError

# Kept in step with `tools.builtin.arithmetic.MAX_EXPRESSION_CHARS` (a test checks).
MAX_EXPRESSION_CHARS = 1000


class CalculatorArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    expression: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_EXPRESSION_CHARS,
            description="An arithmetic expression, e.g. `2**10 / 3` or `sqrt(2) * sin(pi/4)`.",
        ),
    ]


class CalculatorResult(msgspec.Struct, frozen=True):
    expression: str
    # The exact value (`1/3`, `sqrt(2)`, `2*pi`), and its decimal approximation.
    exact: str
    decimal: str


class Calculator:
    name = "calculator"
    description = (
        "Evaluate an arithmetic expression exactly. Supports + - * / // % ** (or ^), "
        "parentheses, the constants pi, e and tau, and the functions sqrt, cbrt, root, exp, "
        "log (natural; log(x, base)), ln, log10, log2, sin, cos, tan, asin, acos, atan, atan2, "
        "sinh, cosh, tanh, abs, sign, floor, ceiling, factorial, binomial, gcd, lcm, min, max. "
        "Returns the exact value and a decimal approximation."
    )
    Args: ClassVar[type[msgspec.Struct]] = CalculatorArgs

    async def run(self, args: CalculatorArgs, ctx: ToolContext) -> CalculatorResult:
        # SymPy is CPU work: a worker thread keeps the event loop free. The evaluator's own
        # limits bound it, since a timed-out thread cannot be stopped.
        return await asyncio.to_thread(calculate, args.expression)


def calculate(expression: str) -> CalculatorResult:
    # Imported on first use: SymPy takes about a second to import, and only this tool needs it.
    from tools.builtin.arithmetic import ExpressionError, evaluate, render

    shown = expression if len(expression) <= 80 else expression[:77] + "..."
    try:
        exact, approximate = render(evaluate(expression))
    except ExpressionError as exc:
        raise ToolError(f"cannot evaluate {shown!r}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        # SymPy's own limits (e.g. PrecisionExhausted) carry no message: name them.
        raise ToolError(f"cannot evaluate {shown!r}: {exc or type(exc).__name__}") from None
    return CalculatorResult(expression=expression, exact=exact, decimal=approximate)
