"""Durable DAG workflows from YAML, run on DBOS Transact (issue 16).

    result = load_workflows(Path("workflows"), tools=names, models=ids, http_allow_hosts=hosts)
    if result.problems: ...                      # every problem: "file: steps.s.key: message"
    engine = WorkflowEngine(result.specs, database_url(os.environ, "GATEWAY_WORKFLOW_DB",
                            Path("data")), runners, max_parallel_steps=4)
    await engine.start()                         # DBOS launch; interrupted runs resume
    run_id = await engine.start_run("review", {"topic": "x"}, tenant="t1")
    state = await engine.get_run(run_id, tenant="t1")     # tools.workflows.run_state's shape
    async for event in engine.events(run_id, after=0): ...  # replayable, ends with run_finished
    await engine.approve(run_id, "approve", "ok"); await engine.reject(run_id, "approve", "no")
    await engine.cancel(run_id)
    state = await engine.wait(run_id, timeout=30)  # ended, or paused at waiting_for_approval
    await engine.aclose()

Modules: `spec` (the file format, structural parse), `validation` (cross-checks, loading a
directory), `templates` (`{{...}}` paths, no code), `inputs` (run inputs against declared
types), `runners` (`StepRunners` protocol, httpx HTTP runner), `attempts` (one unit as DBOS
step attempts), `interpreter` (the deterministic DAG scheduler inside the DBOS workflow),
`run_state` (state and event shapes), `engine` (DBOS lifecycle and the public API),
`replicas` (heartbeats and the takeover of runs of replicas that stopped, on the
`heartbeats` table), `contract` (what a checkpointed run depends on, and the DBOS application
version named for it: an upgrade that keeps the contract resumes paused and interrupted runs),
`cancel_watch` (a cancel made by another process stops this one's run within a tick),
`background` (their bounded worker threads and tick loop), `errors`.

Durability is DBOS's: each attempt is a DBOS step (output checkpointed), approvals are
`DBOS.recv_async` waits released by `DBOS.send_async`, progress is a DBOS stream (events) and a
DBOS event (the state snapshot), cancel is `DBOS.cancel_workflow_async`. DBOS is a process-wide
singleton: one engine per process; `aclose()` calls `DBOS.destroy(destroy_registry=True)`.
Nothing here imports DBOS until `engine`/`interpreter`/`attempts` are imported.
"""

from tools.lazy import lazy_exports

_HOMES = {
    "LoadResult": "tools.workflows.validation",
    "load_workflows": "tools.workflows.validation",
    "validate_workflow": "tools.workflows.validation",
    "WorkflowSpec": "tools.workflows.spec",
    "StepSpec": "tools.workflows.spec",
    "parse_workflow": "tools.workflows.spec",
    "check_inputs": "tools.workflows.inputs",
    "render": "tools.workflows.templates",
    "TemplateError": "tools.workflows.templates",
    "StepContext": "tools.workflows.runners",
    "StepRunners": "tools.workflows.runners",
    "FunctionRunners": "tools.workflows.runners",
    "HttpxHttp": "tools.workflows.runners",
    "HttpStatusError": "tools.workflows.runners",
    "WorkflowEngine": "tools.workflows.engine",
    "database_url": "tools.workflows.engine",
    "WorkflowSpecError": "tools.workflows.errors",
    "WorkflowInputError": "tools.workflows.errors",
    "UnknownWorkflowError": "tools.workflows.errors",
    "RunNotFoundError": "tools.workflows.errors",
    "RunStateError": "tools.workflows.errors",
    "EngineStateError": "tools.workflows.errors",
}


__getattr__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "EngineStateError",
    "FunctionRunners",
    "HttpStatusError",
    "HttpxHttp",
    "LoadResult",
    "RunNotFoundError",
    "RunStateError",
    "StepContext",
    "StepRunners",
    "StepSpec",
    "TemplateError",
    "UnknownWorkflowError",
    "WorkflowEngine",
    "WorkflowInputError",
    "WorkflowSpec",
    "WorkflowSpecError",
    "check_inputs",
    "database_url",
    "load_workflows",
    "parse_workflow",
    "render",
    "validate_workflow",
]
