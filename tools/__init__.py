"""Gateway-owned function-calling tools (RAG, verification, workflows) live here."""

__all__: list[str] = []
