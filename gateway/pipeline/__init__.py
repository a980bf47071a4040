"""The chat pipeline: request stages, routing, the executor, response stages."""

from gateway.pipeline.executor import Executor, OpenedStream
from gateway.pipeline.pipeline import ParsedRequest, Pipeline
from gateway.pipeline.response_chain import ResponseChain, stream_chunks

__all__ = [
    "Executor",
    "OpenedStream",
    "ParsedRequest",
    "Pipeline",
    "ResponseChain",
    "stream_chunks",
]
