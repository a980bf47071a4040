"""The verdict JSON every check returns, and how exact values are written into it.

`{"verdict": "valid" | "invalid" | "unknown" | "error", "reason": str,
  "counterexample": {var: "3/5" | "0.25", ..., "condition": str} | null,
  "method": str, "seconds": float}` — `error` is a refused spec or expression (the reason says
why); nothing was run. Counterexample values are exact: a terminating decimal when it is one,
else `p/q`; either parses back to the same Rational.
"""

from __future__ import annotations

from typing import Any


class SpecError(ValueError):
    """A spec that cannot be checked as given (missing field, wrong type, refused expression)."""


def render(value: Any) -> str:
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


def counterexample(point: dict[str, Any], condition: str) -> dict[str, Any]:
    out: dict[str, Any] = {name: render(value) for name, value in point.items()}
    out["condition"] = condition
    return out
