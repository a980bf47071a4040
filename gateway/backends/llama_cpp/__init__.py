"""Local GGUF models through llama-cpp-python (imported lazily: it is a heavy import)."""

from gateway.backends.llama_cpp.backend import LlamaCppBackend

__all__ = ["LlamaCppBackend"]
