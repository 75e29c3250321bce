"""The simulator in its own process (no GIL shared with what is measured), plus ``GET /_bench/runs``.

``python -m bench.simserver --port P --config '{"rpm": 3000, ...}'`` serves batchrunner's simulator
(any ``SimConfig`` field but ``clock``) and one extra route: every run with its exact timings (float
seconds; the API shows whole seconds) and its plan, from which the benchmark computes the fewest
requests a run needed and how long a finished run waited to be recorded.
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

RUNS_ROUTE = "/_bench/runs"


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


def build_app(config: SimConfig) -> Any:
    app = create_app(config)
    simulator: Simulator = app.state.simulator

    async def runs(request: Request) -> Response:
        since = float(request.query_params.get("since", "0"))
        return JSONResponse(runs_snapshot(simulator, since))

    # Ahead of the simulator's catch-all API route, which would answer 404 otherwise.
    app.router.routes.insert(0, Route(RUNS_ROUTE, runs, methods=["GET"]))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", default="{}", help="SimConfig fields as a JSON object")
    args = parser.parse_args()
    config = SimConfig(**json.loads(args.config))
    server = uvicorn.Server(
        uvicorn.Config(build_app(config), host=args.host, port=args.port, log_level="warning", lifespan="off")
    )
    server.run()


if __name__ == "__main__":
    main()
