"""The `barrier` check: is B a barrier certificate for dx/dt = f(x), initial set, unsafe set?

Spec (issue 14's contract):

    {"check": "barrier", "variables": ["x", "y"], "dynamics": ["-x + y", "-y"],
     "initial": [["x**2 + y**2 <= 0.25"]],
     "unsafe": [["(x - 2)**2 + y**2 <= 0.25"], ["x >= 2.5"]],
     "domain": {"box": {"x": [-3, 3], "y": [-3, 3]}, "constraints": [["x + y <= 4"]]},
     "certificate": "x**2 + y**2 - 1",
     "condition": "lie_domain" | "lie_zero_level",   # default lie_domain
     "sign": "normal" | "flipped"}                    # default normal

`initial`, `unsafe`, `domain.constraints`: unions (outer list) of conjunctions (inner lists).
An empty `initial`/`unsafe` union is the empty set; a missing or empty `domain.constraints`
adds no constraint; no `domain` is all of R^n. With D the domain and L = grad B . f:

    condition   normal                      flipped
    initial     B <= 0 on initial ∩ D       B >= 0
    unsafe      B > 0 on unsafe ∩ D         B < 0
    lie         lie_domain: L <= 0 on D     L >= 0
                lie_zero_level: L < 0 on {B = 0} ∩ D   (flipped: L > 0)

Each condition is decided by searching for a point where it is violated (`tools.verify.region`):
none (z3 unsat) means it holds; `valid` needs all three to hold. The first exactly re-checked
violation makes the verdict `invalid`; anything undecided makes it `unknown`.
"""

from __future__ import annotations

import time
from typing import Any

import sympy

from tools.verify.parse import (
    Constraint,
    ExpressionError,
    make_symbols,
    parse_dnf,
    parse_expression,
    parse_number,
)
from tools.verify.region import DNF, find_point
from tools.verify.result import SpecError, counterexample, verdict, with_exact

FIELDS = {"check", "variables", "dynamics", "initial", "unsafe", "domain", "certificate"}
FIELDS |= {"condition", "sign"}


class Problem:
    """A parsed, validated barrier spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        unknown = set(spec) - FIELDS
        if unknown:
            raise SpecError(f"unknown fields: {', '.join(sorted(unknown))}")
        for required in ("variables", "dynamics", "initial", "unsafe"):
            if required not in spec:
                raise SpecError(f"missing field {required!r}")
        if "certificate" not in spec:
            raise SpecError(
                "missing field 'certificate': the candidate B to check, an expression in "
                "the variables"
            )
        try:
            self.symbols = make_symbols(spec["variables"])
            dynamics = spec["dynamics"]
            if not isinstance(dynamics, list) or len(dynamics) != len(self.symbols):
                raise SpecError("dynamics must list one expression per variable")
            self.f = [parse_expression(d, self.symbols) for d in dynamics]
            self.b = parse_expression(spec["certificate"], self.symbols)
            self.initial = parse_dnf(spec["initial"], self.symbols, "initial")
            self.unsafe = parse_dnf(spec["unsafe"], self.symbols, "unsafe")
            self.box, self.domain = self._domain(spec.get("domain"))
        except ExpressionError as exc:
            raise SpecError(str(exc)) from None
        self.condition = spec.get("condition", "lie_domain")
        if self.condition not in ("lie_domain", "lie_zero_level"):
            raise SpecError("condition must be 'lie_domain' or 'lie_zero_level'")
        self.sign = spec.get("sign", "normal")
        if self.sign not in ("normal", "flipped"):
            raise SpecError("sign must be 'normal' or 'flipped'")
        self.lie = sympy.expand(
            sum(
                (
                    sympy.diff(self.b, s) * fi
                    for s, fi in zip(self.symbols.values(), self.f, strict=True)
                ),
                sympy.Integer(0),
            )
        )

    def _domain(self, domain: object) -> tuple[dict[str, tuple[Any, Any]], list[DNF]]:
        if domain is None:
            return {}, []
        if not isinstance(domain, dict) or set(domain) - {"box", "constraints"}:
            raise SpecError("domain must be {'box': {...}, 'constraints': [[...]]}")
        box: dict[str, tuple[Any, Any]] = {}
        raw_box = domain.get("box") or {}
        if not isinstance(raw_box, dict):
            raise SpecError("domain.box must map variables to [low, high]")
        parts: list[DNF] = []
        for name, bounds in raw_box.items():
            if name not in self.symbols:
                raise SpecError(f"domain.box names an undeclared variable {name!r}")
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise SpecError(f"domain.box[{name!r}] must be [low, high]")
            lo = parse_number(bounds[0], f"domain.box[{name!r}] low")
            hi = parse_number(bounds[1], f"domain.box[{name!r}] high")
            if lo > hi:
                raise SpecError(f"domain.box[{name!r}]: low > high")
            box[name] = (lo, hi)
            s = self.symbols[name]
            parts.append([[Constraint(lo - s, "<="), Constraint(s - hi, "<=")]])
        constraints = domain.get("constraints")
        if constraints:
            parts.append(parse_dnf(constraints, self.symbols, "domain.constraints"))
        return box, parts


def violations(problem: Problem) -> list[tuple[str, list[DNF], str]]:
    """(condition, the region where it is violated, what the violation means) per condition."""
    b, lie, flipped = problem.b, problem.lie, problem.sign == "flipped"
    d = problem.domain
    bad_initial = Constraint(b, "<" if flipped else ">")
    bad_unsafe = Constraint(b, ">=" if flipped else "<=")
    if problem.condition == "lie_domain":
        lie_region = [*d, [[Constraint(lie, "<" if flipped else ">")]]]
        lie_text = f"dB/dt {'< 0' if flipped else '> 0'} in the domain"
    else:
        lie_region = [*d, [[Constraint(b, "=="), Constraint(lie, "<=" if flipped else ">=")]]]
        lie_text = f"dB/dt {'<= 0' if flipped else '>= 0'} on B = 0 in the domain"
    return [
        ("initial", [problem.initial, *d, [[bad_initial]]], f"B {bad_initial.op} 0 in initial"),
        ("unsafe", [problem.unsafe, *d, [[bad_unsafe]]], f"B {bad_unsafe.op} 0 in unsafe"),
        ("lie", lie_region, lie_text),
    ]


def check_barrier(spec: dict[str, Any], budget: float) -> dict[str, Any]:
    """The verdict dict for a barrier spec; `SpecError` if the spec is refused."""
    start = time.monotonic()
    problem = Problem(spec)
    conditions = violations(problem)
    unknowns: list[str] = []
    methods: list[str] = []
    for i, (name, region, meaning) in enumerate(conditions):
        # Split what is left of the budget evenly over the conditions still to decide.
        remaining = budget - (time.monotonic() - start)
        deadline = time.monotonic() + max(remaining, 0) / (len(conditions) - i)
        search = find_point(region, problem.symbols, deadline, problem.box)
        methods.append(f"{name}:{search.method}")
        if search.status == "found":
            detail = f"; {search.reason}" if search.reason else ""
            found = verdict(
                "invalid",
                f"{name} condition violated: {meaning}{detail}",
                ", ".join(methods),
                time.monotonic() - start,
                counterexample(search.point, name),
            )
            return with_exact(found, search.point)
        if search.status == "unknown":
            unknowns.append(f"{name}: {search.reason}")
    elapsed = time.monotonic() - start
    if unknowns:
        return verdict("unknown", "; ".join(unknowns), ", ".join(methods), elapsed)
    return verdict(
        "valid", "all three conditions hold (exact decision)", ", ".join(methods), elapsed
    )
