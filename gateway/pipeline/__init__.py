"""The chat pipeline: request stages, routing, the executor, response stages.

Import from the submodules (`gateway.pipeline.pipeline`, `.executor`, ...): the package
itself imports nothing, so that modules the pipeline uses may import its parts.
"""
