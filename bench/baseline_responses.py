"""The Responses API baseline a user would write with the official ``openai`` SDK, in its own process.

``python -m bench.baseline_responses --jobs FILE --threads N --base-url URL --out RESULT.json``: FILE
holds one ``{"custom_id", "request"}`` per line, ``request`` being the full ``POST /v1/responses``
body (the bench resolves it with ``batchrunner.jobs.read_job_file``, as a user would write it). Every
job is the loop of OpenAI's background-mode guide: ``responses.create(background=True, store=True)``,
then ``responses.retrieve`` every ``POLL_INTERVAL_S`` (the guide's ``sleep(2)``) while the response is
queued or in progress. A completed response with ``function_call`` items is answered with
batchrunner's built-in handlers: the next response is created with ``previous_response_id`` and one
``function_call_output`` per call, instructions and tools resent (a continuation inherits neither).
All of it on a ``ThreadPoolExecutor`` of N threads; the SDK's own retries (429 included) stay on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
from openai.types.responses import Response

from bench import baseline
from bench.baseline import tool_output

# The background-mode guide polls with `sleep(2)`; it is also batchrunner's default
# BATCHRUNNER_POLL_INTERVAL_SECONDS, so both sides poll a young response equally often.
POLL_INTERVAL_S = 2.0
ACTIVE_STATUSES = ("queued", "in_progress")
# A guard against a model that never stops calling tools; the simulator makes one round at most.
MAX_TOOL_ROUNDS = 10
# What a continuation does not resend: its input is the tool outputs, and it chains to the previous
# response (or stays on the job's conversation, which already holds the calls).
NOT_RESENT = frozenset({"input", "previous_response_id", "background", "store", "stream"})


def wait_until_done(
    client: openai.OpenAI,
    response: Response,
    seen: list[dict[str, Any]],
    interval_s: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Response:
    """Poll the response until it leaves queued/in_progress; note when the loop held it ended."""
    while response.status in ACTIVE_STATUSES:
        sleep(interval_s)
        response = client.responses.retrieve(response.id)
    seen.append({"id": response.id, "status": response.status, "done_at": clock()})
    return response


def function_call_outputs(response: Response) -> list[dict[str, str]]:
    """One ``function_call_output`` item per ``function_call`` of the response, from the built-in handlers."""
    return [
        {"type": "function_call_output", "call_id": item.call_id, "output": tool_output(item.name, item.arguments)}
        for item in response.output
        if item.type == "function_call"
    ]


def continuation(request: dict[str, Any], previous_id: str, outputs: list[dict[str, str]]) -> dict[str, Any]:
    """The body of the next response of a tool round: the job's settings again, the outputs as input."""
    body = {key: value for key, value in request.items() if key not in NOT_RESENT}
    body["input"] = outputs
    if "conversation" not in body:
        body["previous_response_id"] = previous_id
    return body


def run_job(
    client: openai.OpenAI,
    job: dict[str, Any],
    interval_s: float = POLL_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """One job, start to output; returns its timings (epoch seconds) and outcome."""
    started = clock()
    seen: list[dict[str, Any]] = []
    record: dict[str, Any] = {"custom_id": job["custom_id"], "started": started, "responses": seen, "tool_runs": 0}
    request: dict[str, Any] = job["request"]
    try:
        response = client.responses.create(**request, background=True, store=True)
        response = wait_until_done(client, response, seen, interval_s, sleep, clock)
        for _ in range(MAX_TOOL_ROUNDS):
            outputs = function_call_outputs(response)
            if response.status != "completed" or not outputs:
                break
            record["tool_runs"] += len(outputs)
            body = continuation(request, response.id, outputs)
            response = client.responses.create(**body, background=True, store=True)
            response = wait_until_done(client, response, seen, interval_s, sleep, clock)
        record.update(
            response_id=response.id,
            status=response.status,
            output_messages=sum(1 for item in response.output if item.type == "message"),
            output_text=response.output_text,
            finished=clock(),
        )
    except openai.OpenAIError as error:
        record.update(status="error", error=f"{type(error).__name__}: {error}", finished=clock())
    return record


if __name__ == "__main__":
    baseline.main(run_job, {"poll_interval_s": POLL_INTERVAL_S}, __doc__)
