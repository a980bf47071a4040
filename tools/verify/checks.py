"""Every `check` kind, dispatched by `run_check(spec, budget)`; the spec shapes:

    {"check": "barrier", ...}                          see `tools.verify.barrier`
    {"check": "equivalent", "variables": ["x"], "left": "(x+1)**2", "right": "x**2+2*x+1"}
    {"check": "solves", "variables": ["x", "y"], "equations": ["x + y == 3", "x - y == 1"],
     "values": {"x": "2", "y": 1}}                     # any relation; values exact numbers
    {"check": "derivative", "variables": ["x"], "expression": "x*sin(x)",
     "with_respect_to": "x", "result": "sin(x) + x*cos(x)"}
    {"check": "integral", "variables": ["x"], "expression": "2*x", "with_respect_to": "x",
     "result": "x**2 + 5"}                             # antiderivative, up to a constant
    {"check": "inequality", "variables": ["x", "y"], "inequality": "x**2 + y**2 >= 2*x*y",
     "box": {"x": [-1, 1], "y": [-1, 1]}, "constraints": [["x + y <= 1"]]}  # both optional

`valid` only on an exact argument: SymPy simplifying a difference to 0, exact substitution, or
z3 proving the violating region empty (polynomial inequalities). `invalid` carries a point that
was re-checked exactly (or at high precision with a margin for non-polynomial expressions).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import sympy

from tools.verify.barrier import check_barrier
from tools.verify.parse import (
    Constraint,
    ExpressionError,
    make_symbols,
    negate,
    parse_conjunction,
    parse_dnf,
    parse_expression,
    parse_number,
)
from tools.verify.region import EVAL_DIGITS, EVAL_MARGIN, find_point
from tools.verify.result import SpecError, counterexample, verdict, with_exact


def run_check(spec: object, budget: float) -> dict[str, Any]:
    """The verdict for `spec` within about `budget` seconds; refused specs give `error`."""
    start = time.monotonic()
    try:
        if not isinstance(spec, dict):
            raise SpecError("the spec must be a JSON object")
        kind = spec.get("check")
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise SpecError(f"check must be one of {', '.join(HANDLERS)}")
        return handler(spec, budget)
    except (SpecError, ExpressionError) as exc:
        return verdict("error", str(exc), "validation", time.monotonic() - start)


def _fields(
    spec: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    unknown = set(spec) - {"check", "variables", *required, *optional}
    if unknown:
        raise SpecError(f"unknown fields: {', '.join(sorted(unknown))}")
    for name in ("variables", *required):
        if name not in spec:
            raise SpecError(f"missing field {name!r}")


def check_equivalent(spec: dict[str, Any], budget: float) -> dict[str, Any]:
    _fields(spec, ("left", "right"))
    symbols = make_symbols(spec["variables"])
    left = parse_expression(spec["left"], symbols)
    right = parse_expression(spec["right"], symbols)
    return _same(left, right, symbols, budget, "left != right")


def check_derivative(spec: dict[str, Any], budget: float) -> dict[str, Any]:
    _fields(spec, ("expression", "with_respect_to", "result"))
    symbols = make_symbols(spec["variables"])
    var = _variable(spec["with_respect_to"], symbols)
    expr = parse_expression(spec["expression"], symbols)
    claimed = parse_expression(spec["result"], symbols)
    return _same(sympy.diff(expr, var), claimed, symbols, budget, "derivative != result")


def check_integral(spec: dict[str, Any], budget: float) -> dict[str, Any]:
    _fields(spec, ("expression", "with_respect_to", "result"))
    symbols = make_symbols(spec["variables"])
    var = _variable(spec["with_respect_to"], symbols)
    expr = parse_expression(spec["expression"], symbols)
    claimed = parse_expression(spec["result"], symbols)
    # F is an antiderivative of f iff F' = f: the constant of integration drops out.
    return _same(sympy.diff(claimed, var), expr, symbols, budget, "d(result)/d var != expression")


def check_solves(spec: dict[str, Any], budget: float) -> dict[str, Any]:
    start = time.monotonic()
    _fields(spec, ("equations", "values"))
    symbols = make_symbols(spec["variables"])
    equations, values = spec["equations"], spec["values"]
    if not isinstance(equations, list) or not equations or len(equations) > 32:
        raise SpecError("equations must be a non-empty list (at most 32)")
    if not isinstance(values, dict) or set(values) != set(symbols):
        raise SpecError("values must give exactly one number per variable")
    point = {symbols[n]: parse_number(v, f"values[{n!r}]") for n, v in values.items()}
    named = {n: point[symbols[n]] for n in symbols}
    for text in equations:
        for c in parse_conjunction(text, symbols):
            holds = _exact_relation(c, point)
            if holds is False:
                cx = counterexample(named, str(text))
                return verdict("invalid", f"{text} fails", "exact substitution", _since(start), cx)
            if holds is None:
                return verdict(
                    "unknown", f"cannot decide {text} exactly", "exact substitution", _since(start)
                )
    return verdict("valid", "every equation holds exactly", "exact substitution", _since(start))


def check_inequality(spec: dict[str, Any], budget: float) -> dict[str, Any]:
    start = time.monotonic()
    _fields(spec, ("inequality",), ("box", "constraints"))
    symbols = make_symbols(spec["variables"])
    claim = parse_conjunction(spec["inequality"], symbols)
    parts: list[list[list[Constraint]]] = []
    box: dict[str, tuple[Any, Any]] = {}
    raw_box = spec.get("box") or {}
    if not isinstance(raw_box, dict):
        raise SpecError("box must map variables to [low, high]")
    for name, bounds in raw_box.items():
        if name not in symbols or not isinstance(bounds, list) or len(bounds) != 2:
            raise SpecError(f"box[{name!r}] must be [low, high] of a declared variable")
        lo, hi = (parse_number(b, f"box[{name!r}]") for b in bounds)
        box[name] = (lo, hi)
        s = symbols[name]
        parts.append([[Constraint(lo - s, "<="), Constraint(s - hi, "<=")]])
    if spec.get("constraints"):
        parts.append(parse_dnf(spec["constraints"], symbols, "constraints"))
    # The claim fails somewhere iff some conjunct's negation is satisfiable.
    negation = [conj for c in claim for conj in negate(c)]
    search = find_point([*parts, negation], symbols, time.monotonic() + budget, box)
    if search.status == "empty":
        return verdict(
            "valid", "the inequality holds on the whole region", search.method, _since(start)
        )
    if search.status == "found":
        cx = counterexample(search.point, str(spec["inequality"]))
        found = verdict(
            "invalid", "the inequality fails at a point", search.method, _since(start), cx
        )
        return with_exact(found, search.point)
    return verdict("unknown", search.reason, search.method, _since(start))


def _same(a: Any, b: Any, symbols: dict[str, Any], budget: float, failure: str) -> dict[str, Any]:
    start = time.monotonic()
    difference = a - b
    if sympy.expand(difference) == 0 or sympy.simplify(difference) == 0:
        return verdict("valid", "the difference simplifies to 0", "symbolic", _since(start))
    point = _nonzero_point(difference, symbols, start + budget)
    if point is not None:
        cx = counterexample({str(s): v for s, v in point.items()}, failure)
        return verdict("invalid", f"{failure} at a point", "exact evaluation", _since(start), cx)
    return verdict(
        "unknown",
        "could not simplify the difference to 0 nor find a point where it is not",
        "symbolic",
        _since(start),
    )


def _nonzero_point(expr: Any, symbols: dict[str, Any], deadline: float) -> dict[Any, Any] | None:
    """A rational point where `expr` is real and provably nonzero, or None."""
    rng = random.Random(0)
    syms = list(symbols.values())
    for i in range(400):
        if time.monotonic() > deadline:
            return None
        scale = [1, 3, 10][i % 3]
        point = {s: sympy.Rational(rng.randint(-10 * scale, 10 * scale), 10) for s in syms}
        if i < 20:  # small positive rationals first: inside the domain of log and sqrt
            point = {s: sympy.Rational(rng.randint(1, 40), 7) for s in syms}
        try:
            value = expr.xreplace(point)
        except (ZeroDivisionError, ValueError):
            continue
        if value.is_Rational:
            if value != 0:
                return point
            continue
        if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            continue
        approx = value.evalf(EVAL_DIGITS)
        if approx.is_Number and approx.is_real and abs(approx) > EVAL_MARGIN:
            return point
    return None


def _exact_relation(c: Constraint, point: dict[Any, Any]) -> bool | None:
    value = sympy.simplify(c.expr.xreplace(point))
    if not value.is_number:
        return None
    if c.op == "==":
        zero = value.equals(0)
        return None if zero is None else bool(zero)
    sign = {"<=": value <= 0, "<": value < 0, ">=": value >= 0, ">": value > 0}[c.op]
    return bool(sign) if sign in (sympy.true, sympy.false) else None


def _variable(name: object, symbols: dict[str, Any]) -> Any:
    if not isinstance(name, str) or name not in symbols:
        raise SpecError("with_respect_to must be one of the declared variables")
    return symbols[name]


def _since(start: float) -> float:
    return time.monotonic() - start


HANDLERS: dict[str, Callable[[dict[str, Any], float], dict[str, Any]]] = {
    "barrier": check_barrier,
    "equivalent": check_equivalent,
    "solves": check_solves,
    "derivative": check_derivative,
    "integral": check_integral,
    "inequality": check_inequality,
}
