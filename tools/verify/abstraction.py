"""Proving a non-polynomial region empty with z3, by a sound polynomial abstraction.

Each application `f(u)` of sin, cos, exp or tanh (and the constants pi and rational powers of
rationals such as sqrt(2)) becomes a fresh real `t`, constrained only by facts true of f for
EVERY real argument (or guarded by a rational bound that is itself true):

    exp:  t > 0,  t >= 1 + u
    sin:  -1 <= t <= 1,  t^2 <= u^2,  u^2 <= 3.14159^2 -> u*t >= 0;  sin^2 + cos^2 = 1
    cos:  -1 <= t <= 1,  t >= 1 - u^2/2
    tanh: -1 < t < 1,  u*t >= 0,  t^2 <= u^2
    pi:   3.14159 < t < 3.1416;   b^(p/q), b > 0 rational:  t > 0,  t^q = b^p

Every point of the real region maps to a point of the abstract one (t = f(u) satisfies the
facts), so z3 `unsat` on the abstraction proves the region empty. `sat` proves nothing (the
model may use values no real f takes) and is ignored: counterexamples come from sampling.
log, sqrt of non-constants and divisions by non-constants are not abstracted (their real
domain is partial), so regions with them stay undecided.
"""

from __future__ import annotations

import time
from typing import Any

import sympy
import z3

from tools.verify.parse import Constraint

PI_LOW = z3.Q(314159, 100000)
PI_HIGH = z3.Q(31416, 10000)
MAX_ROOT = 8


class NotAbstractable(ValueError):
    """A term with no sound abstraction here."""


class Abstraction:
    def __init__(self, zvars: dict[Any, Any]) -> None:
        self.zvars = zvars
        self.terms: dict[Any, Any] = {}
        self.facts: list[Any] = []

    def constraint(self, c: Constraint) -> Any:
        e = self.term(c.expr)
        return {"<=": e <= 0, "<": e < 0, ">=": e >= 0, ">": e > 0, "==": e == 0}[c.op]

    def term(self, expr: Any) -> Any:
        if expr.is_Symbol:
            return self.zvars[expr]
        if expr.is_Rational:
            return z3.Q(int(expr.p), int(expr.q))
        if expr.is_Add:
            return z3.Sum([self.term(a) for a in expr.args])
        if expr.is_Mul:
            return z3.Product([self.term(a) for a in expr.args])
        if expr.is_Pow and expr.exp.is_Integer and expr.exp >= 0:
            base, result = self.term(expr.base), z3.RealVal(1)
            for _ in range(int(expr.exp)):
                result = result * base
            return result
        if expr in self.terms:
            return self.terms[expr]
        return self._fresh(expr)

    def _fresh(self, expr: Any) -> Any:
        t = z3.Real(f"_t{len(self.terms)}")
        if expr == sympy.pi:
            facts = [t > PI_LOW, t < PI_HIGH]
        elif expr.is_Pow and expr.base.is_Rational and expr.base > 0 and expr.exp.is_Rational:
            p, q = int(expr.exp.p), int(expr.exp.q)
            if q > MAX_ROOT or abs(p) > MAX_ROOT:
                raise NotAbstractable(str(expr))
            power = expr.base ** abs(p)
            tq = _power(t, q)
            b = z3.Q(int(power.p), int(power.q))
            facts = [t > 0, tq == b if p > 0 else tq * b == 1]
        elif isinstance(expr, sympy.exp):
            u = self.term(expr.args[0])
            facts = [t > 0, t >= 1 + u]
        elif isinstance(expr, sympy.sin):
            u = self.term(expr.args[0])
            facts = [t >= -1, t <= 1, t * t <= u * u, z3.Implies(u * u <= PI_LOW**2, u * t >= 0)]
        elif isinstance(expr, sympy.cos):
            u = self.term(expr.args[0])
            facts = [t >= -1, t <= 1, t >= 1 - u * u / 2]
        elif isinstance(expr, sympy.tanh):
            u = self.term(expr.args[0])
            facts = [t > -1, t < 1, u * t >= 0, t * t <= u * u]
        else:
            raise NotAbstractable(str(expr))
        self.terms[expr] = t
        self.facts += facts
        return t

    def identities(self) -> list[Any]:
        """sin(u)^2 + cos(u)^2 = 1 for each argument that appears under both."""
        out = []
        for expr, t in self.terms.items():
            if isinstance(expr, sympy.sin):
                partner = self.terms.get(sympy.cos(expr.args[0]))
                if partner is not None:
                    out.append(t * t + partner * partner == 1)
        return out


def _power(t: Any, n: int) -> Any:
    result = t
    for _ in range(n - 1):
        result = result * t
    return result


def proves_empty(
    parts: list[list[list[Constraint]]], symbols: dict[str, Any], deadline: float
) -> bool:
    """True only if z3 shows the abstraction of the region (hence the region) is empty."""
    remaining_ms = int((deadline - time.monotonic()) * 1000)
    if remaining_ms <= 0:
        return False
    abstraction = Abstraction({s: z3.Real(name) for name, s in symbols.items()})
    try:
        formula = z3.And(
            [
                z3.Or([z3.And([abstraction.constraint(c) for c in conj]) for conj in dnf])
                for dnf in parts
            ]
        )
    except NotAbstractable:
        return False
    solver = z3.Solver()
    solver.set("timeout", remaining_ms)
    solver.add(formula, *abstraction.facts, *abstraction.identities())
    return bool(solver.check() == z3.unsat)
