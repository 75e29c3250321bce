"""The simulator in its own process (no GIL shared with what is measured), plus two ``/_bench`` routes.

``python -m bench.simserver --port P --config '{"rpm": 3000, ...}'`` serves batchrunner's simulator
(any ``SimConfig`` field but ``clock``) and two extra routes: ``GET /_bench/runs``, every Assistants
run, and ``GET /_bench/responses``, every Responses API response, each with its exact timings (float
seconds; the API shows whole seconds) and its plan, from which the benchmark computes the fewest
requests a job needed and how long a finished run or response waited to be recorded.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from batchrunner.simulator import lifecycle
from batchrunner.simulator.app import Simulator, create_app
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.records import Run
from batchrunner.simulator.responses import lifecycle as responses_lifecycle
from batchrunner.simulator.responses.records import TERMINAL_STATUSES, ResponseRecord
from batchrunner.simulator.stats import JOB_KEY_METADATA

RUNS_ROUTE = "/_bench/runs"
RESPONSES_ROUTE = "/_bench/responses"


def run_record(run: Run, thread_created_at: float) -> dict[str, Any]:
    """A run's timings (clock seconds) and plan, as the benchmark reads them."""
    plan = run.plan
    return {
        "id": run.id,
        "thread_id": run.thread_id,
        "thread_created_at": thread_created_at,
        "status": run.status,
        "created_at": run.created_at,
        "finished_at": run.completed_at or run.failed_at or run.cancelled_at,
        "queue_s": plan.queue_seconds,
        "first_turn_s": plan.first_turn_seconds,
        "second_turn_s": plan.second_turn_seconds,
        "tool_calls": len(plan.calls),
        "job_key": run.metadata.get("batchrunner_job"),
        "model": run.model,
    }


def runs_snapshot(simulator: Simulator, since: float) -> list[dict[str, Any]]:
    """Every run created at or after ``since``, advanced to now."""
    store = simulator.store
    with store.lock:
        records = []
        for run in store.runs.values():
            if run.created_at < since:
                continue
            lifecycle.advance(store, run)
            records.append(run_record(run, store.threads[run.thread_id].created_at))
        return records


def response_finished_at(record: ResponseRecord) -> float | None:
    """When the response ended, exactly: the plan's end for completed, incomplete and failed ones.

    ``completed_at`` is set for completed responses only; a cancelled one ends when it was cancelled,
    which the store does not keep (None: the bench cancels nothing).
    """
    if record.status not in TERMINAL_STATUSES or record.status == "cancelled":
        return None
    return record.completed_at if record.completed_at is not None else record.ends_at


def response_record(record: ResponseRecord) -> dict[str, Any]:
    """A response's timings (clock seconds) and plan, as the benchmark reads them."""
    plan = record.plan
    return {
        "id": record.id,
        "previous_response_id": record.previous_response_id,
        # A response that continues nothing starts a job's chain (or a retry's new chain).
        "chain_start": record.previous_response_id is None,
        "status": record.status,
        "created_at": record.created_at,
        "finished_at": response_finished_at(record),
        "queue_s": plan.queue_seconds,
        "work_s": plan.work_seconds,
        "tool_calls": sum(1 for item in plan.output if item.get("type") == "function_call"),
        "job_key": record.settings.metadata.get(JOB_KEY_METADATA),
        "model": record.settings.model,
    }


def responses_snapshot(simulator: Simulator, since: float) -> list[dict[str, Any]]:
    """Every response created at or after ``since``, advanced to now, oldest first."""
    store = simulator.store
    with store.lock:
        records = []
        for record in store.responses.values():
            if record.created_at < since:
                continue
            responses_lifecycle.advance(store, record)
            records.append(response_record(record))
        return sorted(records, key=lambda item: item["created_at"])


def build_app(config: SimConfig) -> Any:
    app = create_app(config)
    simulator: Simulator = app.state.simulator

    async def runs(request: Request) -> Response:
        since = float(request.query_params.get("since", "0"))
        return JSONResponse(runs_snapshot(simulator, since))

    async def responses(request: Request) -> Response:
        since = float(request.query_params.get("since", "0"))
        return JSONResponse(responses_snapshot(simulator, since))

    # Ahead of the simulator's catch-all API route, which would answer 404 otherwise.
    app.router.routes.insert(0, Route(RUNS_ROUTE, runs, methods=["GET"]))
    app.router.routes.insert(0, Route(RESPONSES_ROUTE, responses, methods=["GET"]))
    return app


def simserver_config(text: str) -> SimConfig:
    """``SimConfig`` from the JSON object of its fields the benchmark passes."""
    fields = json.loads(text)
    # JSON has no tuples: (model, rpm, tpm) entries arrive as lists.
    fields["model_limits"] = tuple(tuple(entry) for entry in fields.get("model_limits", ()))
    return SimConfig(**fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", default="{}", help="SimConfig fields as a JSON object")
    args = parser.parse_args()
    config = simserver_config(args.config)
    server = uvicorn.Server(
        uvicorn.Config(build_app(config), host=args.host, port=args.port, log_level="warning", lifespan="off")
    )
    server.run()


if __name__ == "__main__":
    main()
