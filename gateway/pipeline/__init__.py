"""The chat pipeline: stages, routing, the executor, the streaming contract."""

from gateway.pipeline.executor import Executor, OpenedStream
from gateway.pipeline.pipeline import ParsedRequest, Pipeline

__all__ = ["Executor", "OpenedStream", "ParsedRequest", "Pipeline"]
