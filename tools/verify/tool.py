"""The `verify` tool: the arguments a model (or `POST /v1/tools/verify`, or `gateway verify`)
sends, and the tool that runs them on a `Verifier`'s worker processes.

One argument type for every `check` kind: each kind reads its own fields and refuses the
others (`tools.verify.checks`), so the model sees one schema and the HTTP endpoint takes the
same JSON. Fields left out are left out of the spec, never filled with defaults here.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Protocol

import msgspec
from msgspec import UNSET, Meta, UnsetType

from gateway.errors import GatewayError
from tools.base import ToolContext, ToolError

Expression = Annotated[str, Meta(min_length=1, max_length=4000)]
# A union (outer list) of conjunctions (inner lists) of inequalities such as `x**2 <= 1`.
Region = Annotated[list[Annotated[list[Expression], Meta(max_length=64)]], Meta(max_length=64)]
Bound = int | float | Annotated[str, Meta(max_length=200)]
Box = dict[str, Annotated[list[Bound], Meta(min_length=2, max_length=2)]]


class Domain(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    box: Annotated[Box, Meta(description="Bounds [low, high] of each variable.")] | UnsetType = (
        UNSET
    )
    constraints: Region | UnsetType = UNSET


class VerifyArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    check: Annotated[
        Literal["barrier", "equivalent", "solves", "derivative", "integral", "inequality"],
        Meta(description="What to verify."),
    ]
    variables: Annotated[
        list[Annotated[str, Meta(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")]],
        Meta(min_length=1, max_length=8, description='The variables, e.g. ["x", "y"].'),
    ]
    # barrier
    dynamics: (
        Annotated[list[Expression], Meta(description="barrier: dx/dt of each variable, in order.")]
        | UnsetType
    ) = UNSET
    initial: (
        Annotated[Region, Meta(description='barrier: the initial set, e.g. [["x**2 <= 1"]].')]
        | UnsetType
    ) = UNSET
    unsafe: (
        Annotated[Region, Meta(description="barrier: the unsafe set (union of conjunctions).")]
        | UnsetType
    ) = UNSET
    domain: (
        Annotated[Domain, Meta(description="barrier: the domain D (none: all of R^n).")] | UnsetType
    ) = UNSET
    certificate: (
        Annotated[
            Expression,
            Meta(description="barrier: B, with B <= 0 on initial, B > 0 on unsafe."),
        ]
        | UnsetType
    ) = UNSET
    condition: (
        Annotated[
            Literal["lie_domain", "lie_zero_level"],
            Meta(
                description="barrier: lie_domain (dB/dt <= 0 on D, the default) or "
                "lie_zero_level (dB/dt < 0 where B = 0)."
            ),
        ]
        | UnsetType
    ) = UNSET
    sign: (
        Annotated[
            Literal["normal", "flipped"],
            Meta(description="barrier: flipped means B >= 0 on initial, B < 0 on unsafe."),
        ]
        | UnsetType
    ) = UNSET
    # equivalent
    left: Expression | UnsetType = UNSET
    right: Expression | UnsetType = UNSET
    # solves
    equations: (
        Annotated[
            list[Expression],
            Meta(max_length=64, description="solves: relations such as `x + y == 3`."),
        ]
        | UnsetType
    ) = UNSET
    values: (
        Annotated[dict[str, Bound], Meta(description="solves: the claimed exact values.")]
        | UnsetType
    ) = UNSET
    # derivative, integral
    expression: Expression | UnsetType = UNSET
    with_respect_to: str | UnsetType = UNSET
    result: (
        Annotated[Expression, Meta(description="derivative/integral: the claimed result.")]
        | UnsetType
    ) = UNSET
    # inequality
    inequality: (
        Annotated[Expression, Meta(description="inequality: e.g. `x**2 + y**2 >= 2*x*y`.")]
        | UnsetType
    ) = UNSET
    box: Box | UnsetType = UNSET
    constraints: Region | UnsetType = UNSET
    timeout_seconds: (
        Annotated[float, Meta(gt=0, le=600, description="Time for this check (capped).")]
        | UnsetType
    ) = UNSET

    def spec(self) -> dict[str, Any]:
        """The check's spec: the fields given, without the call's own `timeout_seconds`."""
        spec: dict[str, Any] = msgspec.to_builtins(self)
        spec.pop("timeout_seconds", None)
        return spec

    def timeout(self) -> float | None:
        """The time this call asks for (None: the gateway's default)."""
        return None if self.timeout_seconds is UNSET else self.timeout_seconds


class Verifies(Protocol):
    """What runs a spec: `gateway.verify_service.VerifyService` in the gateway."""

    async def verify(
        self,
        spec: dict[str, Any],
        timeout: float | None = None,  # noqa: ASYNC109 - the check's own limit
    ) -> dict[str, Any]: ...


class VerifyTool:
    name = "verify"
    description = (
        "Check a mathematical claim soundly (SymPy and the z3 solver; never by sampling "
        "alone). check=barrier: is `certificate` (a polynomial B, required) a barrier "
        "certificate for `dynamics` (dx/dt of each variable): B <= 0 on `initial`, B > 0 on "
        "`unsafe`, dB/dt <= 0 on the `domain`? Also equivalent (left == right), solves "
        "(values satisfy equations), derivative and integral (a claimed result), inequality "
        "(holds over a box). Answers verdict valid, invalid (with a counterexample point and "
        "the condition it violates) or unknown."
    )
    Args: ClassVar[type[msgspec.Struct]] = VerifyArgs

    def __init__(self, verifier: Verifies) -> None:
        self._verifier = verifier

    async def run(self, args: VerifyArgs, ctx: ToolContext) -> dict[str, Any]:
        try:
            return await self._verifier.verify(args.spec(), args.timeout())
        except GatewayError as exc:  # busy: the model may try again later
            raise ToolError(exc.message) from None
