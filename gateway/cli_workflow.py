"""`gateway workflow run | status | approve | reject | cancel`: the `/v1/workflows` API of a
running gateway (`--url`, else `$GATEWAY_URL`, else http://127.0.0.1:8080; the key from
`$GATEWAY_API_KEY` when the gateway needs one).

    gateway workflow run review --input topic=breakers --wait
    gateway workflow status RUN_ID
    gateway workflow approve RUN_ID --step approve --comment "ship it"

`run` prints the run id on stdout (`RUN=$(gateway workflow run ...)` works); with `--wait` it
follows the run's events on stderr until it ends or pauses for an approval, then prints its
state. Exit codes: 0 done (or paused, or started), 1 the run failed, was rejected or
cancelled, or the gateway refused, 2 bad usage or an unreachable gateway.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import httpx

URL_ENV = "GATEWAY_URL"
KEY_ENV = "GATEWAY_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8080"
_ENDED_BADLY = ("failed", "rejected", "cancelled")


class _Refused(Exception):
    pass


def add_workflow_parser(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the gateway (or ${URL_ENV}; default {DEFAULT_URL})")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP call")
    workflow = subparsers.add_parser("workflow", help="run and steer durable workflows")
    commands = workflow.add_subparsers(dest="workflow_command", required=True)
    run = commands.add_parser("run", parents=[common], help="start a run")
    run.add_argument("name")
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input (VALUE parsed as JSON when it is, else text); repeatable",
    )
    run.add_argument("--inputs", metavar="JSON", help="all inputs as one JSON object")
    run.add_argument("--wait", action="store_true", help="follow the run until it ends or pauses")
    status = commands.add_parser("status", parents=[common], help="a run's state")
    status.add_argument("run_id")
    for verb in ("approve", "reject"):
        decide = commands.add_parser(verb, parents=[common], help=f"{verb} an approval step")
        decide.add_argument("run_id")
        decide.add_argument("--step", required=True, help="the approval step's name")
        decide.add_argument("--comment")
    cancel = commands.add_parser("cancel", parents=[common], help="stop a run")
    cancel.add_argument("run_id")


def run_workflow_cli(args: argparse.Namespace) -> int:
    base = (args.url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    key = os.environ.get(KEY_ENV)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=args.timeout) as client:
            return _dispatch(client, args)
    except _Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: cannot reach the gateway at {base}: {exc}", file=sys.stderr)
        return 2


def _dispatch(client: httpx.Client, args: argparse.Namespace) -> int:
    command = args.workflow_command
    if command == "run":
        inputs = _inputs(args.inputs, args.input)
        started = _call(client, "POST", f"/v1/workflows/{args.name}/runs", {"inputs": inputs})
        run_id = started["run_id"]
        print(run_id)
        if not args.wait:
            return 0
        state = _follow(client, run_id)
    elif command == "status":
        state = _call(client, "GET", f"/v1/workflows/runs/{args.run_id}")
    elif command in ("approve", "reject"):
        body = {"step": args.step, "comment": args.comment}
        state = _call(client, "POST", f"/v1/workflows/runs/{args.run_id}/{command}", body)
    else:
        state = _call(client, "POST", f"/v1/workflows/runs/{args.run_id}/cancel")
    print(json.dumps(state, indent=2), file=sys.stdout if command != "run" else sys.stderr)
    return 1 if state.get("status") in _ENDED_BADLY and command != "cancel" else 0


def _follow(client: httpx.Client, run_id: str) -> dict[str, Any]:
    """Print the run's events until it ends or waits for a person; its state then."""
    with client.stream("GET", f"/v1/workflows/runs/{run_id}/events", timeout=None) as stream:
        if stream.status_code != 200:
            stream.read()
            raise _Refused(_message(stream))
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            print(_describe(event), file=sys.stderr)
            if event["type"] in ("run_finished", "approval_requested"):
                break
    return _call(client, "GET", f"/v1/workflows/runs/{run_id}")


def _describe(event: dict[str, Any]) -> str:
    kind = event["type"]
    if kind == "step_finished":
        return f"  {event.get('step')}: {event.get('state')} (attempts {event.get('attempts')})"
    if kind == "approval_requested":
        return f"  {event.get('step')}: waiting for approval: {event.get('question')}"
    if kind == "run_finished":
        return f"run {event.get('status')}" + (f": {event['error']}" if event.get("error") else "")
    return f"  {kind} {event.get('step') or ''}".rstrip()


def _inputs(whole: str | None, pairs: list[str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if whole:
        value = json.loads(whole)
        if not isinstance(value, dict):
            raise ValueError("--inputs must be a JSON object")
        inputs.update(value)
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--input {pair!r}: write KEY=VALUE")
        try:
            inputs[key] = json.loads(text)
        except ValueError:
            inputs[key] = text
    return inputs


def _call(
    client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = client.request(method, path, json=body)
    if response.status_code >= 400:
        raise _Refused(_message(response))
    answer: dict[str, Any] = response.json()
    return answer


def _message(response: httpx.Response) -> str:
    try:
        return f"{response.status_code}: {response.json()['error']['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:200]}"
