"""The policy file's durable workflows (`workflows:`): where their YAML files are, the
database DBOS checkpoints them in, and the limits every run gets. Routes offer the
`run_workflow` tool with `models[].tools`."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from gateway.settings.base_types import Config, EnvVarName

HostName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")]


class Workflows(Config, frozen=True):
    """Where workflow files and run checkpoints live, and the limits every run gets."""

    # Every `*.yaml` here is a workflow, validated at start-up and by `gateway check`.
    dir: Annotated[str, Meta(min_length=1)] = "./workflows"
    # The variable holding the database URL (`postgresql://...` when several replicas share
    # the runs); unset or empty: a SQLite file under `data_dir`.
    database_url_env: EnvVarName = "GATEWAY_WORKFLOW_DB"
    # Where the SQLite file (`workflows.sqlite`) lives when `database_url_env` is unset or
    # empty (created if missing).
    data_dir: Annotated[str, Meta(min_length=1)] = "./data"
    # Steps of one run that execute at once (map items included).
    max_parallel_steps: Annotated[int, Meta(ge=1, le=256)] = 4
    # Hosts (`name` or `name:port`) HTTP steps may call; empty: none.
    http_allow_hosts: list[HostName] = field(default_factory=list)
    # How long the `run_workflow` tool waits for a run to end (or pause for an approval)
    # before it answers with the run id and `running`.
    tool_wait_seconds: Annotated[float, Meta(gt=0, le=3600)] = 60.0
    # Each replica writes a heartbeat row to the workflow database this often (seconds), and
    # on the same tick looks for replicas that stopped: several gateways on one Postgres.
    heartbeat_seconds: Annotated[float, Meta(gt=0, le=300)] = 5.0
    # A replica silent this long is gone: a live one re-runs its pending runs from their last
    # checkpoint (each on exactly one replica). More than 2x `heartbeat_seconds`, so one late
    # heartbeat is not a death; a stable `DBOS__VMID` resumes its own runs at restart at once.
    takeover_after_seconds: Annotated[float, Meta(gt=0, le=86400)] = 30.0
