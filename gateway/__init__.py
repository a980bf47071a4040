"""The gateway core: app factory, settings, composition root, errors, CLI."""

__all__: list[str] = []
