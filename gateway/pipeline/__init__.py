"""The chat pipeline: request stages, routing, the executor, response stages."""

from gateway.pipeline.executor import Executor, OpenedStream
from gateway.pipeline.pipeline import ParsedRequest, Pipeline
from gateway.pipeline.response_chain import ChunkStream, ResponseChain

__all__ = [
    "ChunkStream",
    "Executor",
    "OpenedStream",
    "ParsedRequest",
    "Pipeline",
    "ResponseChain",
]
