"""The content policy sets of one policy file, built into stages, and which apply to a
request: its route's set (`models[].policy`, the id asked for and the route that serves
it), then its key's (`keys[].policy`), each at most once.

Detectors are built once per distinct configuration and shared by every set and every
reload that keeps it (a presidio engine takes a while to build).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.context import RequestContext
from gateway.errors import ServiceUnavailableError
from gateway.settings.content_policies import PolicySet
from gateway.settings.loader import ConfigError
from gateway.settings.schema import Settings
from policies.audit import AuditLog
from policies.base import RequestStage, ResponseStage
from policies.detector_runner import DetectorRunner
from policies.findings import SpanDetector
from policies.input_stages import InjectionStage, SpanStage


@dataclass(frozen=True, slots=True)
class Stages:
    request: tuple[RequestStage, ...] = ()
    response: tuple[ResponseStage, ...] = ()


NONE = Stages()


class DetectorFactory:
    """Builds detectors, keeping one per configuration across reloads. A policy book's
    build starts with `begin`; `sweep`, once that book is live, lets go of the detectors
    it did not ask for (requests still running on the old file keep theirs alive until
    they end)."""

    def __init__(self, builders: Mapping[str, Callable[..., Any]]) -> None:
        self._builders = builders
        self._built: dict[tuple[str, Any], Any] = {}
        self._used: set[tuple[str, Any]] = set()

    def get(self, kind: str, config: Any = None) -> Any:
        key = (kind, config)
        self._used.add(key)
        detector = self._built.get(key)
        if detector is None:
            detector = self._built[key] = self._builders[kind](config)
        return detector

    def begin(self) -> None:
        self._used = set()

    def sweep(self) -> None:
        """Forget the detectors not asked for since `begin`."""
        self._built = {k: v for k, v in self._built.items() if k in self._used}

    def __len__(self) -> int:
        return len(self._built)


class PolicyBook:
    def __init__(
        self,
        settings: Settings,
        detectors: DetectorFactory,
        audit: AuditLog,
        executor: Any,
        response_stages: Callable[[PolicySet, DetectorFactory, AuditLog], Sequence[ResponseStage]],
    ) -> None:
        detectors.begin()
        self._sets: dict[str, Stages] = {}
        problems: list[str] = []
        for name, policy in settings.policies.items():
            try:
                self._sets[name] = _build(policy, detectors, audit, executor, response_stages)
            except ValueError as exc:  # a detector this process cannot build
                problems.append(f"$.policies.{name}: {exc}")
        if problems:
            raise ConfigError("the content policies", problems)
        self._by_route = {m.id: m.policy for m in settings.models if m.policy is not None}
        self._combined: dict[tuple[str, ...], Stages] = {}

    @property
    def empty(self) -> bool:
        return not self._sets

    def for_request(self, ctx: RequestContext) -> Stages:
        names: list[str] = []
        for name in (
            self._by_route.get(ctx.route_id),
            self._by_route.get(ctx.model),
            getattr(ctx.key, "policy", None),
        ):
            if name is not None and name not in names:
                names.append(name)
        if not names:
            return NONE
        key = tuple(names)
        stages = self._combined.get(key)
        if stages is None:
            parts = []
            for name in names:
                found = self._sets.get(name)
                if found is None:
                    # A key stored in Redis may name a set a newer policy file dropped.
                    raise ServiceUnavailableError(
                        f"The content policy `{name}` this request needs is not defined.",
                        code="policy_unavailable",
                    )
                parts.append(found)
            stages = Stages(
                tuple(s for p in parts for s in p.request),
                tuple(s for p in parts for s in p.response),
            )
            self._combined[key] = stages
        return stages


def _build(
    policy: PolicySet,
    detectors: DetectorFactory,
    audit: AuditLog,
    executor: Any,
    response_stages: Callable[[PolicySet, DetectorFactory, AuditLog], Sequence[ResponseStage]],
) -> Stages:
    runner = DetectorRunner(executor, audit, policy.on_error, policy.timeout_seconds)
    request: list[RequestStage] = []
    injection = policy.injection
    if injection is not None and injection.action != "off":
        request.append(
            InjectionStage(
                detectors.get("injection"),
                action=injection.action,
                threshold=injection.threshold,
                channels=injection.channels,
                runner=runner,
                audit=audit,
            )
        )
    secrets = policy.secrets
    if secrets is not None and secrets.input != "off":
        detector: SpanDetector = detectors.get("secrets")
        request.append(SpanStage(detector, secrets.input, runner=runner, audit=audit))
    pii = policy.pii
    if pii is not None and pii.input != "off":
        detector = detectors.get("pii", pii_config(policy))
        # Our own recognizers are cheap on a small prompt (a thread hop costs more than the
        # scan); presidio's analyzer (NER, its other recognizers) goes to the pool.
        offload = bool(getattr(detector, "delegates", True))
        request.append(SpanStage(detector, pii.input, runner=runner, audit=audit, offload=offload))
    return Stages(tuple(request), tuple(response_stages(policy, detectors, audit)))


def pii_config(policy: PolicySet) -> Any:
    """What a PII detector is built from (hashable: one detector per distinct value)."""
    pii = policy.pii
    assert pii is not None
    custom = tuple((c.name, c.regex, tuple(c.deny_list)) for c in pii.custom)
    return (tuple(pii.entities), custom, pii.threshold, pii.spacy_model)
