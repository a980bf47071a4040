"""The verdict JSON every check returns, and how exact values are written into it.

`{"verdict": "valid" | "invalid" | "unknown" | "error", "reason": str,
  "counterexample": {var: "3/5" | "0.25", ..., "condition": str} | null,
  "method": str, "seconds": float}` — `error` is a refused spec or expression (the reason says
why); nothing was run. Counterexample values are exact: a terminating decimal when it is one,
else `p/q`; either parses back to the same Rational. A violation found only at irrational
points (a measure-zero set such as x = sqrt(2)) gives 40-digit decimals of the point and,
beside them, `"exact_counterexample": {var: "-sqrt(2)", ...}`: the algebraic point itself,
re-checked exactly.
"""

from __future__ import annotations

from typing import Any


class SpecError(ValueError):
    """A spec that cannot be checked as given (missing field, wrong type, refused expression)."""


def render(value: Any) -> str:
    if not value.is_Rational:  # an algebraic number: its decimals (the reason gives it exactly)
        return str(value.evalf(40))
    p, q = int(value.p), int(value.q)
    if q == 1:
        return str(p)
    twos = fives = 0
    while q % 2 ** (twos + 1) == 0:
        twos += 1
    while q % 5 ** (fives + 1) == 0:
        fives += 1
    if 2**twos * 5**fives == q and max(twos, fives) <= 40:
        places = max(twos, fives)
        scaled = abs(p) * 10**places // q
        digits = str(scaled).rjust(places + 1, "0")
        text = f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")
        return ("-" if p < 0 else "") + text
    return f"{p}/{q}"


def verdict(
    kind: str,
    reason: str,
    method: str,
    seconds: float,
    counterexample: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "verdict": kind,
        "reason": reason,
        "counterexample": counterexample,
        "method": method,
        "seconds": round(seconds, 4),
    }


def with_exact(result: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """`result`, with `exact_counterexample` when the point has irrational (algebraic)
    coordinates: each as exact SymPy text (`-sqrt(2)`, `CRootOf(t**3 - t - 1, 0)`), since
    the counterexample's decimals only approximate it."""
    if not all(value.is_Rational for value in point.values()):
        import sympy

        result["exact_counterexample"] = {name: sympy.sstr(v) for name, v in point.items()}
    return result


def counterexample(point: dict[str, Any], condition: str) -> dict[str, Any]:
    out: dict[str, Any] = {name: render(value) for name, value in point.items()}
    out["condition"] = condition
    return out
