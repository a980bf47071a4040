"""Routing: which targets (primary, then fallbacks) serve a request. Routers return data."""

from routers.base import RouteDecision, Router, RouteRequest, Target
from routers.catalog import CatalogEntry, DiscoveredModels, ModelCatalog, Resolved
from routers.static import StaticRouter

__all__ = [
    "CatalogEntry",
    "DiscoveredModels",
    "ModelCatalog",
    "Resolved",
    "RouteDecision",
    "RouteRequest",
    "Router",
    "StaticRouter",
    "Target",
]
