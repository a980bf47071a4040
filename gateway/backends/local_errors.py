"""The one boundary where in-process backends' foreign failures become `GatewayError`s.

llama.cpp, its sampler and grammar code, onnxruntime and the model-file checks raise their
own exceptions (`ModelFileError`, `ValueError`, `RuntimeError`, ...). Untranslated they would
surface as opaque 500s and skip fallback (the executor acts on the error tree only); here a
model that cannot be loaded is a 503 and any other failure a 502, both naming the backend,
both letting the next target answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from gateway.errors import BadGatewayError, GatewayError, ServiceUnavailableError
from gateway.model_files import ModelFileError

log = logging.getLogger("gateway.local")
_MAX_DETAIL = 300


@contextmanager
def local_errors(backend: str, model: str) -> Iterator[None]:
    try:
        yield
    except GatewayError:
        raise
    except ModelFileError as exc:
        raise ServiceUnavailableError(
            f"model `{model}` of backend `{backend}` cannot be served: {exc}",
            code="model_unavailable",
        ) from exc
    except Exception as exc:
        log.exception("local model failed", extra={"backend": backend, "model": model})
        detail = str(exc)[:_MAX_DETAIL]
        raise BadGatewayError(
            f"local model `{model}` of backend `{backend}` failed: "
            f"{type(exc).__name__}{': ' + detail if detail else ''}",
            code="local_model_failed",
        ) from exc
