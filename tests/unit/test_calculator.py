"""The calculator: exact answers, a closed expression language, and bounded work."""

from __future__ import annotations

import time

import pytest

from tools.base import ToolContext, ToolError
from tools.builtin.calculator import Calculator, CalculatorArgs, calculate


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("expression", "exact", "decimal"),
    [
        ("1/3", "1/3", "0.333333333333333"),
        ("0.1 + 0.2", "3/10", "0.300000000000000"),
        ("2**100", "1267650600228229401496703205376", "1.26765060022823e+30"),
        ("2^10", "1024", "1024"),
        ("sqrt(8)", "2*sqrt(2)", "2.82842712474619"),
        ("sin(pi/6)", "1/2", "0.500000000000000"),
        ("factorial(20)", "2432902008176640000", "2.43290200817664e+18"),
        ("gcd(12, 18) + lcm(4, 6)", "18", "18"),
        ("7 // 2 + 7 % 3", "4", "4"),
        ("log(8, 2)", "3", "3"),
        ("-(-3) + +2", "5", "5"),
        ("atan2(1, 1)", "pi/4", "0.785398163397448"),
        ("sqrt(-4)", "2*I", "2.0*I"),
        ("2**-3", "1/8", "0.125000000000000"),
    ],
)
def test_exact_results(expression: str, exact: str, decimal: str) -> None:
    result = calculate(expression)
    assert (result.exact, result.decimal) == (exact, decimal)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('true')", "attribute access cannot be called"),
        ("(1).real", "attribute access is not allowed"),
        ("pi.evalf()", "attribute access"),
        ("lambda: 1", "a lambda is not allowed"),
        ("[1, 2][0]", "subscripting is not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "is not a number"),
        ("sqrt(x=4)", "positional arguments only"),
        ("1 if 1 else 2", "a conditional is not allowed"),
        ("1 < 2", "a comparison is not allowed"),
        ("3 & 1", "operator & is not allowed"),
        ("sqrt(1, 2)", "takes 1 arguments, got 2"),
        ("1/0", "infinite"),
        ("1 +", "not a valid expression"),
        ("(" * 300 + "1" + ")" * 300, "not a valid expression"),
    ],
)
def test_refused_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(ToolError, match="cannot evaluate") as caught:
        calculate(expression)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    [
        "9**9**9",
        "factorial(10**9)",
        "10**5000",
        "2**(10**100)",
        "1e99999",
        "exp(10**6)",
        "(10**400 + 7)**(1/2)",
        "factorial(1000) * factorial(1000) * factorial(1000)",
        "binomial(10**9, 5)",
    ],
)
def test_huge_work_is_refused_fast(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ToolError, match=r"too large|digits|refused"):
        calculate(expression)
    assert time.perf_counter() - started < 0.5


@pytest.mark.anyio
async def test_runs_as_a_tool() -> None:
    result = await Calculator().run(CalculatorArgs(expression="2*3"), ToolContext())
    assert result.exact == "6"


def test_argument_limit_matches_the_evaluator() -> None:
    from tools.builtin import arithmetic, calculator

    assert calculator.MAX_EXPRESSION_CHARS == arithmetic.MAX_EXPRESSION_CHARS
