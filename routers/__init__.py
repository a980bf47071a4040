"""Routing: which targets (primary, then fallbacks) serve a request. Routers return data."""

from routers.base import RouteDecision, Router, Target
from routers.catalog import CatalogEntry, ModelCatalog
from routers.static import StaticRouter

__all__ = ["CatalogEntry", "ModelCatalog", "RouteDecision", "Router", "StaticRouter", "Target"]
