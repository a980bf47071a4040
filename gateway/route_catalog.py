"""What the routers are built from: each route's catalog entry (its targets and declared
capabilities) and the choosers of classifying routes (`route_by`)."""

from __future__ import annotations

from gateway.settings.schema import ModelRoute, Settings
from gateway.settings.upstream_types import CapabilitiesSpec
from routers.base import DeclaredCapabilities
from routers.catalog import CatalogEntry, CatalogTarget
from routers.classifying import ComplexityChooser, IntentChooser, RouteChooser
from routers.intent import IntentClassifier, IntentSpec


def route_choosers(settings: Settings) -> dict[str, RouteChooser]:
    """The classifying routes' choosers, built once (an intent model is built here)."""
    choosers: dict[str, RouteChooser] = {}
    for route in settings.models:
        if route.route_by == "intent" and route.default is not None:
            classifier = IntentClassifier(
                IntentSpec(i.name, tuple(i.examples), tuple(i.keywords)) for i in route.intents
            )
            models = {i.name: i.model for i in route.intents}
            choosers[route.id] = IntentChooser(classifier, models, route.threshold, route.default)
        elif route.route_by == "complexity" and route.simple and route.complex:
            choosers[route.id] = ComplexityChooser(route.threshold, route.simple, route.complex)
    return choosers


def catalog_entry(route: ModelRoute) -> CatalogEntry:
    if route.route_by is not None:
        return CatalogEntry(
            id=route.id, backend="", upstream_model="", owned_by=route.owned_by,
            route_by=route.route_by,
        )  # fmt: skip
    targets = tuple(
        CatalogTarget(
            t.backend, t.upstream_model or route.id, t.weight, declared_capabilities(t.capabilities)
        )
        for t in route.route_targets()
    )
    return CatalogEntry(
        id=route.id,
        backend=targets[0].backend,
        upstream_model=targets[0].upstream_model,
        fallbacks=tuple(route.fallbacks),
        owned_by=route.owned_by,
        context_overflow=route.context_overflow,
        targets=targets if len(targets) > 1 else (),
        balance=route.balance,
    )


def declared_capabilities(spec: CapabilitiesSpec | None) -> DeclaredCapabilities | None:
    if spec is None:
        return None
    return DeclaredCapabilities(spec.tools, spec.json_schema, spec.images, spec.context_tokens)
