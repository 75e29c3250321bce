"""The baseline a user would write with the official ``openai`` SDK, run in its own process.

``python -m bench.baseline --jobs FILE --threads N --base-url URL --out RESULT.json``: every job is
``threads.create`` + ``runs.create_and_poll`` (+ ``submit_tool_outputs_and_poll`` with batchrunner's
built-in tool handlers while the run requires action) + ``messages.list`` for its output, on a
``ThreadPoolExecutor`` of N threads. The SDK's own retries (429 included) stay on, as a user gets them.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
from openai.types.beta.threads.run import Run
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput

from batchrunner.tools.builtin import calculate, current_time, text_statistics

HANDLERS = {"calculate": calculate, "current_time": current_time, "text_statistics": text_statistics}


def tool_output(name: str, arguments: str) -> str:
    """What batchrunner's runner would send back: a string as is, anything else as JSON."""
    try:
        result = HANDLERS[name](json.loads(arguments))
    except Exception as error:  # a user's loop reports the failure to the model, as batchrunner does
        return json.dumps({"error": str(error)})
    return result if isinstance(result, str) else json.dumps(result)


def _answer_tools(client: openai.OpenAI, run: Run) -> tuple[Run, int]:
    """Answer every tool round of the run; returns the run and how many tool calls were answered."""
    answered = 0
    while run.status == "requires_action" and run.required_action is not None:
        calls = run.required_action.submit_tool_outputs.tool_calls
        outputs: list[ToolOutput] = [
            {"tool_call_id": call.id, "output": tool_output(call.function.name, call.function.arguments)}
            for call in calls
        ]
        answered += len(outputs)
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            thread_id=run.thread_id, run_id=run.id, tool_outputs=outputs
        )
    return run, answered


def run_job(client: openai.OpenAI, job: dict[str, Any]) -> dict[str, Any]:
    """One job, start to output; returns its timings (epoch seconds) and outcome."""
    started = time.time()
    record: dict[str, Any] = {"custom_id": job["custom_id"], "started": started}
    try:
        thread_spec = job.get("thread") or {}
        thread = client.beta.threads.create(
            messages=thread_spec.get("messages", []), metadata=thread_spec.get("metadata")
        )
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=job["assistant_id"], **job.get("params", {})
        )
        run, record["tool_runs"] = _answer_tools(client, run)
        record["run_done"] = time.time()
        messages = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id)
        record.update(
            run_id=run.id,
            status=run.status,
            output_messages=len(messages.data),
            finished=time.time(),
        )
    except openai.OpenAIError as error:
        record.update(status="error", error=f"{type(error).__name__}: {error}", finished=time.time())
    return record


JobRunner = Callable[[openai.OpenAI, dict[str, Any]], dict[str, Any]]


def run_all(jobs: list[dict[str, Any]], threads: int, base_url: str, run: JobRunner | None = None) -> dict[str, Any]:
    """Every job through ``run`` (this module's ``run_job`` by default) on a pool of ``threads``."""
    runner = run or run_job
    client = openai.OpenAI(base_url=base_url)  # the key comes from OPENAI_API_KEY, as for a user
    cpu_before, started = time.process_time(), time.time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        records = list(pool.map(lambda job: runner(client, job), jobs))
    return {
        "started": started,
        "finished": time.time(),
        "cpu_seconds": time.process_time() - cpu_before,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "jobs": records,
    }


def main(run: JobRunner | None = None, extra: dict[str, Any] | None = None, description: str | None = None) -> None:
    """The command line both baselines share; ``extra`` is added to the result file."""
    parser = argparse.ArgumentParser(description=description or __doc__)
    parser.add_argument("--jobs", type=Path, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks every Assistants call deprecated
    jobs = [json.loads(line) for line in args.jobs.read_text().splitlines() if line.strip()]
    result = run_all(jobs, args.threads, args.base_url, run)
    args.out.write_text(json.dumps({**result, **(extra or {})}))


if __name__ == "__main__":
    main()
