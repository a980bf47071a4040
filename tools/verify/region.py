"""Find a point in a region (a conjunction of DNFs of `Constraint`s), or prove there is none.

Every check reduces to this: a condition holds iff the region where it is violated is empty.
Polynomial regions go to z3 (nonlinear real arithmetic, exact on rational input): `unsat` is a
proof of emptiness; on `sat` the model is turned into a rational point that is re-checked
exactly with SymPy before it is returned (algebraic model values are approximated, and if the
rounded point leaves the region the variables are pinned one by one to nearby rationals and z3
is asked again, so the final point is z3-confirmed and exactly re-checked). Non-polynomial
regions: z3 over a sound polynomial abstraction (`tools.verify.abstraction`) may prove them
empty; otherwise sampling plus local search may find a point, re-checked with high-precision
evaluation and a margin; otherwise the answer is unknown, never empty.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import sympy
import z3

from tools.verify.abstraction import proves_empty
from tools.verify.parse import Constraint

DNF = list[list[Constraint]]
# Digits of the high-precision re-check of non-polynomial values, and the margin it requires.
EVAL_DIGITS = 60
EVAL_MARGIN = sympy.Rational(1, 10**30)
DEFAULT_SAMPLE_RANGE = 10


class NotPolynomial(ValueError):
    """A term z3's real arithmetic cannot state exactly."""


@dataclass(slots=True)
class Search:
    status: Literal["found", "empty", "unknown"]
    method: str
    reason: str = ""
    point: dict[str, Any] = field(default_factory=dict)


def is_polynomial(parts: list[DNF], symbols: dict[str, Any]) -> bool:
    syms = list(symbols.values())
    return all(c.expr.is_polynomial(*syms) for dnf in parts for conj in dnf for c in conj)


def find_point(parts: list[DNF], symbols: dict[str, Any], deadline: float, box: Any) -> Search:
    """A point satisfying every DNF in `parts`, exactly re-checked; `box`: {name: (lo, hi)}."""
    if any(not dnf for dnf in parts):
        return Search("empty", "trivial", "the region is an empty union")
    if is_polynomial(parts, symbols):
        zvars = {s: z3.Real(name) for name, s in symbols.items()}
        try:
            formula = z3.And(
                [
                    z3.Or([z3.And([_z3_constraint(c, zvars) for c in conj]) for conj in dnf])
                    for dnf in parts
                ]
            )
        except NotPolynomial:
            pass  # irrational coefficients (sqrt(2)*x, pi*x): not exact in z3's input language
        else:
            return _z3_search(formula, zvars, parts, symbols, deadline)
    # Half the budget for a proof over sound bounds of the non-polynomial terms, the rest
    # (and whatever the proof leaves) for looking for a counterexample.
    if proves_empty(parts, symbols, time.monotonic() + (deadline - time.monotonic()) / 2):
        return Search("empty", "z3 over sound bounds of the non-polynomial terms")
    return _sample_search(parts, symbols, deadline, box)


def exact_check(parts: list[DNF], point: dict[Any, Any]) -> bool | None:
    """Whether `point` (symbol -> Rational) lies in the region: True, False, or None (undecided)."""
    result: bool | None = True
    for dnf in parts:
        part: bool | None = False
        for conj in dnf:
            values = [_holds(c, point) for c in conj]
            verdict = False if False in values else (None if None in values else True)
            if verdict:
                part = True
                break
            if verdict is None:
                part = None
        if part is False:
            return False
        if part is None:
            result = None
    return result


def _holds(c: Constraint, point: dict[Any, Any]) -> bool | None:
    value = c.expr.xreplace(point)
    if not value.is_Rational:
        approx = value.evalf(EVAL_DIGITS)
        if not approx.is_Number or not approx.is_real:
            return None
        if abs(approx) < EVAL_MARGIN:
            # Too close to zero to trust the sign: exact zero only if SymPy proves it.
            return (c.op in ("<=", ">=", "==")) if value.equals(0) is True else None
        value = approx
    if c.op == "<=":
        return bool(value <= 0)
    if c.op == "<":
        return bool(value < 0)
    if c.op == ">=":
        return bool(value >= 0)
    if c.op == ">":
        return bool(value > 0)
    return bool(value == 0)


# --- z3 ---------------------------------------------------------------------------------------


def _to_z3(expr: Any, zvars: dict[Any, Any]) -> Any:
    if expr.is_Symbol:
        return zvars[expr]
    if expr.is_Rational:
        return z3.RealVal(int(expr.p)) / int(expr.q) if expr.q != 1 else z3.RealVal(int(expr.p))
    if expr.is_Add:
        return z3.Sum([_to_z3(a, zvars) for a in expr.args])
    if expr.is_Mul:
        return z3.Product([_to_z3(a, zvars) for a in expr.args])
    if expr.is_Pow and expr.exp.is_Integer and expr.exp >= 0:
        base = _to_z3(expr.base, zvars)
        result = z3.RealVal(1)
        # Repeated products keep the term polynomial for nlsat (no power operator).
        for _ in range(int(expr.exp)):
            result = result * base
        return result
    raise NotPolynomial(f"not a polynomial term: {expr}")


def _z3_constraint(c: Constraint, zvars: dict[Any, Any]) -> Any:
    e = _to_z3(c.expr, zvars)
    return {"<=": e <= 0, "<": e < 0, ">=": e >= 0, ">": e > 0, "==": e == 0}[c.op]


def _z3_search(
    formula: Any, zvars: dict[Any, Any], parts: list[DNF], symbols: dict[str, Any], deadline: float
) -> Search:
    solver = z3.Solver()
    solver.add(formula)
    status = _check(solver, deadline)
    if status == z3.unsat:
        return Search("empty", "z3")
    if status != z3.sat:
        return Search("unknown", "z3", f"z3 gave no answer in time ({solver.reason_unknown()})")
    model = solver.model()
    point = {s: _model_value(model, zvars[s], 30) for s in symbols.values()}
    if exact_check(parts, point):
        return Search("found", "z3", point=_named(point))
    exact = _algebraic_point(model, zvars)
    # The rounded algebraic point left the region (an equality or a sliver): pin variables one
    # at a time to nearby rationals, letting z3 re-solve the rest each time.
    pinned: list[Any] = []
    for s in symbols.values():
        for candidate in _candidates(_model_value(model, zvars[s], 30)):
            solver.push()
            solver.add(zvars[s] == z3.RealVal(int(candidate.p)) / int(candidate.q))
            if _check(solver, deadline) == z3.sat:
                model = solver.model()
                pinned.append(candidate)
                break
            solver.pop()
        else:
            return _irrational(parts, exact, point)
    point = dict(zip(symbols.values(), pinned, strict=True))
    if exact_check(parts, point):
        return Search("found", "z3+pinned rationals", point=_named(point))
    return Search("unknown", "z3", "the z3 point failed the exact re-check")


def _irrational(parts: list[DNF], exact: dict[Any, Any] | None, near: dict[Any, Any]) -> Search:
    """No rational point violates the condition near z3's: the violation may lie only on
    irrational points (a measure-zero set). z3's own point is then the counterexample,
    as exact algebraic numbers, once SymPy re-checks it exactly."""
    if exact is not None and exact_check(parts, exact) is True:
        return Search(
            "found",
            "z3 (algebraic point)",
            "the violation lies on irrational points only: the counterexample gives the "
            "40-digit decimals of an exact point (exact_counterexample)",
            point=_named(exact),
        )
    return Search(
        "unknown",
        "z3",
        "z3 found a violation at an irrational point and no nearby rational point "
        f"violates it too (near {_approx(near)})",
    )


def _algebraic_point(model: Any, zvars: dict[Any, Any]) -> dict[Any, Any] | None:
    """The model's values as exact SymPy numbers (rationals or real roots of their defining
    polynomials), or None when one cannot be stated exactly."""
    t = sympy.Symbol("t")
    point: dict[Any, Any] = {}
    for s, var in zvars.items():
        value = model.eval(var, model_completion=True)
        if not z3.is_algebraic_value(value):
            point[s] = sympy.Rational(value.numerator_as_long(), value.denominator_as_long())
            continue
        coefficients = [int(str(c)) for c in reversed(value.poly())]
        try:
            root = sympy.rootof(sympy.Poly(coefficients, t), value.index() - 1, radicals=True)
        except (ValueError, IndexError, sympy.PolynomialError):
            return None
        # z3 numbers real roots from 1 upwards as SymPy does from 0: confirm it is the same.
        if abs(sympy.N(root, 30) - _model_value(model, var, 30)) > sympy.Rational(1, 10**20):
            return None
        point[s] = root
    return point


def _check(solver: Any, deadline: float) -> Any:
    remaining_ms = int((deadline - time.monotonic()) * 1000)
    if remaining_ms <= 0:
        return z3.unknown
    solver.set("timeout", remaining_ms)
    return solver.check()


def _model_value(model: Any, var: Any, digits: int) -> Any:
    value = model.eval(var, model_completion=True)
    if z3.is_algebraic_value(value):
        value = value.approx(digits)
    return sympy.Rational(value.numerator_as_long(), value.denominator_as_long())


def _candidates(value: Any) -> list[Any]:
    """Rationals near `value`, simplest first, ending with `value` itself."""
    out: list[Any] = []
    for limit in (1, 2, 4, 10, 100, 10**4, 10**8, 10**16):
        near = Fraction(int(value.p), int(value.q)).limit_denominator(limit)
        candidate = sympy.Rational(near.numerator, near.denominator)
        if candidate not in out:
            out.append(candidate)
    if value not in out:
        out.append(value)
    return out


def _approx(point: dict[Any, Any]) -> dict[str, float]:
    return {str(s): float(v) for s, v in point.items()}


def _named(point: dict[Any, Any]) -> dict[str, Any]:
    return {str(s): v for s, v in point.items()}


# --- sampling (counterexamples only) ----------------------------------------------------------


def _sample_search(parts: list[DNF], symbols: dict[str, Any], deadline: float, box: Any) -> Search:
    syms = list(symbols.values())
    names = list(symbols)
    conjs = [
        [(sympy.lambdify(syms, c.expr, "math"), c.op) for c in conj] for conj in _product(parts)
    ]
    lows = [float(box[n][0]) if n in box else -DEFAULT_SAMPLE_RANGE for n in names]
    highs = [float(box[n][1]) if n in box else DEFAULT_SAMPLE_RANGE for n in names]
    rng = random.Random(0)  # deterministic: the same input gives the same answer

    def slack(p: list[float]) -> float:
        best = -math.inf
        for conj in conjs:
            worst = math.inf
            for fn, op in conj:
                try:
                    v = float(fn(*p))
                except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                    v = math.nan
                s = -v if op in ("<=", "<") else v if op in (">=", ">") else -abs(v)
                worst = min(worst, -math.inf if math.isnan(s) else s)
            best = max(best, worst)
        return best

    tries = 0
    while time.monotonic() < deadline and tries < 200:
        tries += 1
        p = [rng.uniform(lo, hi) for lo, hi in zip(lows, highs, strict=True)]
        s = slack(p)
        step = [(hi - lo) / 4 for lo, hi in zip(lows, highs, strict=True)]
        for _ in range(300):  # local search: climb the slack
            if s > 1e-9 or time.monotonic() >= deadline:
                break
            q = [
                min(hi, max(lo, x + rng.gauss(0, st)))
                for x, lo, hi, st in zip(p, lows, highs, step, strict=True)
            ]
            sq = slack(q)
            if sq > s:
                p, s = q, sq
            else:
                step = [st * 0.97 for st in step]
        if s > 1e-9:
            # The simplest nearby rationals first: a readable counterexample, re-checked exactly.
            for limit in (10, 1000, 10**6, 10**12):
                point = {
                    sym: sympy.Rational(Fraction(x).limit_denominator(limit))
                    for sym, x in zip(syms, p, strict=True)
                }
                if exact_check(parts, point):
                    return Search("found", "sampling+exact re-check", point=_named(point))
    return Search(
        "unknown",
        "sampling",
        "no exact decision procedure for these terms (non-polynomial or irrational "
        "coefficients), and sampling found no violation",
    )


def _product(parts: list[DNF]) -> list[list[Constraint]]:
    out: list[list[Constraint]] = [[]]
    for dnf in parts:
        out = [a + b for a in out for b in dnf]
        if len(out) > 256:
            out = out[:256]  # sampling only: a partial product can miss points, never lie
    return out
