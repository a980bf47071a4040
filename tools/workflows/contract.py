"""The durable contract of a run, and the DBOS application version named for it.

DBOS resumes a PENDING run only on an executor of the run's own application version: at launch
(`get_pending_workflows(executor_id, app_version)` in dbos/_sys_db.py), on recovery
(`recover_pending_workflows`, dbos/_recovery.py), and when its internal queue hands a run out
(the dequeue's `application_version == app_version` predicate). Open-source DBOS has no
version-independent recovery: auto-upgrade is an enterprise feature, and `fork_workflow` gives
the run a new id. So the version is the one place that says which code may replay a run, and
it names what a replay depends on, not the bytes of the code: a version that changed with
every edit stranded every run paused at an approval across every upgrade.

A run checkpointed under contract N replays correctly through any code that keeps:
  - the workflow function's name (`engine.WORKFLOW_NAME`) and its input, `(spec, inputs,
    tenant)` with `spec` a pickled `WorkflowSpec` whose `StepSpec`s it holds (field names and
    module paths: pickle restores by name, a field added later has no value in old runs);
  - the order and names of the calls that take step ids (`interpreter`'s docstring: the start
    step `run.started`, `asyncio_wait`, one reservation per allowed attempt, `recv` for an
    approval, stream and event writes) and the attempt step name `<key>#<attempt>`;
  - the shapes of checkpointed values: an attempt's record (`attempts._attempt`), an approval
    message, the state snapshot (`run_state`) and events;
  - the names of the events stream, the state event and the approval topics.
Change any of these and bump `CHECKPOINT_VERSION` (tests/integration/test_workflow_contract.py
pins them and fails until the bump). Runs of the old contract are then left to gateways of
that contract (a rolling upgrade drains them, `ReplicaMonitor` takes over only runs of its
own version) and `get_run` says which contract such a run waits for. DBOS itself refuses a
replay whose step name at an id differs from the recorded one (`DBOSUnexpectedStepError`,
dbos/_sys_db.py `_check_operation_execution_txn`): a forgotten bump fails a run loudly rather
than feeding it another step's checkpoint, but only where the names differ.

The workflow file is not part of the contract: the spec is the run's checkpointed input, so a
run resumes with the definition it started with, whatever the file says now.
"""

from __future__ import annotations

CHECKPOINT_VERSION = 1
_PREFIX = "switchyard-wf-contract-"


def application_version(checkpoint_version: int = CHECKPOINT_VERSION) -> str:
    return f"{_PREFIX}{checkpoint_version}"


def describe_version(app_version: str | None) -> str:
    """A run's version as people read it: `contract 1`, or the raw DBOS version of runs started
    before versions named contracts (a hash of the package's code, `wf-` and 16 hex digits)."""
    if app_version and app_version.startswith(_PREFIX):
        return f"contract {app_version[len(_PREFIX) :]}"
    return f"version {app_version!r}"
