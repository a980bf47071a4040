"""The workflow engine's errors, as members of the gateway's one error tree.

    WorkflowSpecError(InvalidRequestError)     400 workflow files with problems (all listed)
    WorkflowInputError(InvalidRequestError)    400 run inputs missing, extra or of the wrong type
    UnknownWorkflowError(NotFoundError)        404 no workflow of that name
    RunNotFoundError(NotFoundError)            404 no run of that id (or one of another tenant)
    RunStateError(InvalidRequestError)         400 approve/reject/cancel in the wrong state
    EngineStateError(GatewayError)             500 the engine used before start() or after aclose()

A run of another tenant is reported as not found, so ids do not leak across tenants.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import GatewayError, InvalidRequestError, NotFoundError


class WorkflowSpecError(InvalidRequestError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid workflows: " + "; ".join(self.problems), code="invalid_workflow")


class WorkflowInputError(InvalidRequestError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid inputs: " + "; ".join(self.problems), param="inputs")


class UnknownWorkflowError(NotFoundError):
    pass


class RunNotFoundError(NotFoundError):
    pass


class RunStateError(InvalidRequestError):
    pass


class EngineStateError(GatewayError):
    pass
