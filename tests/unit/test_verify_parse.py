"""The verify parser: exact numbers, declared variables only, and nothing executed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy

from tools.verify.checks import run_check
from tools.verify.parse import (
    ExpressionError,
    make_symbols,
    parse_conjunction,
    parse_dnf,
    parse_expression,
)

SYMBOLS = make_symbols(["x", "y"])
x, y = SYMBOLS["x"], SYMBOLS["y"]


def test_decimals_are_exact_rationals() -> None:
    assert parse_expression("0.1*x + 0.25", SYMBOLS) == x / 10 + sympy.Rational(1, 4)
    assert parse_expression("1e-3", SYMBOLS) == sympy.Rational(1, 1000)


def test_operators_and_functions() -> None:
    expr = parse_expression(
        "-(x - 2)**2 / 3 + sin(x) * exp(y) - sqrt(2) + tanh(y) + log(x) + cos(pi)", SYMBOLS
    )
    expected = -((x - 2) ** 2) / 3 + sympy.sin(x) * sympy.exp(y) - sympy.sqrt(2)
    expected += sympy.tanh(y) + sympy.log(x) - 1
    assert sympy.simplify(expr - expected) == 0
    assert parse_expression("x**-2", SYMBOLS) == x**-2


def test_inequalities_and_chains() -> None:
    [c] = parse_conjunction("x**2 + y**2 <= 0.25", SYMBOLS)
    assert c.op == "<=" and c.expr == x**2 + y**2 - sympy.Rational(1, 4)
    chain = parse_conjunction("0 <= x < 1", SYMBOLS)
    assert [(c.op, c.expr) for c in chain] == [("<=", -x), ("<", x - 1)]
    for op in (">=", ">", "=="):
        assert parse_conjunction(f"x {op} 1", SYMBOLS)[0].op == op
    assert parse_dnf([["x >= 1"], ["y <= 0", "x == 0"]], SYMBOLS, "s")[1][1].op == "=="


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown function"),
        ("x.__class__", "attribute"),
        ("(lambda: 1)()", "lambda"),
        ("x[0]", "subscript"),
        ("z + 1", "unknown name 'z'"),
        ("x**1000", "exponent"),
        ("x**y", "exponent"),
        ("x**0.5", "exponent"),
        ("((x + 1)**30)**30", "degree"),
        ("(x*y)**25", "degree"),
        ("9**9**9", "exponent"),
        ("'abc'", "not a number"),
        ("x if y else 1", "conditional"),
        ("x // 2", "//"),
        ("x ^ 2", "^"),
        ("x != 1", "comparison"),
        ("1/0", "division by zero"),
        ("x" + "+x" * 1500, "longer"),
        ("print(1)", "unknown function"),
        ("sin(x, y)", "one positional"),
        ("(x := 3)", "assignment"),
        ("1" * 500, "too large"),
    ],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        if "!=" in text:
            parse_conjunction(text, SYMBOLS)
        else:
            parse_expression(text, SYMBOLS)


def test_refused_variable_names() -> None:
    for bad in (
        [],
        ["__class__"],
        ["sin"],
        ["x", "x"],
        ["a b"],
        [1],
        ["v" + str(i) for i in range(9)],
    ):
        with pytest.raises(ExpressionError):
            make_symbols(bad)


def test_malicious_expressions_are_never_executed(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    payloads = [
        f"__import__('os').system('touch {sentinel}')",
        f"open('{sentinel}', 'w')",
        f"(lambda: __import__('pathlib').Path('{sentinel}').touch())()",
        f"x.__class__.__base__.__subclasses__() and open('{sentinel}', 'w')",
        f"exec(\"open('{sentinel}', 'w')\")",
        f"eval(\"open('{sentinel}', 'w')\")",
        f"[open('{sentinel}', 'w') for _ in 'a']",
        f"sin(__import__('os').system('touch {sentinel}'))",
    ]
    for payload in payloads:
        with pytest.raises(ExpressionError):
            parse_expression(payload, SYMBOLS)
        spec = {
            "check": "barrier",
            "variables": ["x"],
            "dynamics": [payload],
            "initial": [],
            "unsafe": [],
            "certificate": "x",
        }
        result = run_check(spec, 1.0)
        assert result["verdict"] == "error", result
        eq = run_check(
            {"check": "equivalent", "variables": ["x"], "left": payload, "right": "x"}, 1.0
        )
        assert eq["verdict"] == "error"
        ineq = run_check(
            {"check": "inequality", "variables": ["x"], "inequality": f"{payload} <= 1"}, 1.0
        )
        assert ineq["verdict"] == "error"
    assert not sentinel.exists()
