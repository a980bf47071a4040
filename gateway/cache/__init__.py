"""Response caching: exact answers, coalescing and the opt-in semantic index."""
