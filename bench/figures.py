"""Pure arithmetic behind the benchmark's table: minimum requests, percentiles, rates, formatting."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# Creating the thread and the run; collecting outputs is listing steps and messages (batchrunner), or
# messages only (a user's SDK loop keeps no steps).
START_REQUESTS = 2
COLLECT_REQUESTS_BATCHRUNNER = 2
COLLECT_REQUESTS_SDK = 1
# A Responses API response: one create, then retrievals until one sees it ended. It carries its
# output, so collecting costs nothing, for batchrunner and the SDK loop alike.
RESPONSE_CREATE_REQUESTS = 1


def minimum_requests(run: dict[str, Any], poll_hint_s: float, collect_requests: int) -> int:
    """The fewest requests a run needed from a client that polls no sooner than the server's hint.

    The run reports a status change only when a retrieval sees it, so a turn of ``t`` seconds costs
    ``ceil(t / hint)`` retrievals; a tool round adds the submit and the retrievals of the second turn.
    """
    first = float(run["queue_s"]) + float(run["first_turn_s"])
    requests = START_REQUESTS + math.ceil(first / poll_hint_s) + collect_requests
    if run["tool_calls"]:
        requests += 1 + math.ceil(float(run["second_turn_s"]) / poll_hint_s)
    return requests


def mean_minimum_requests(runs: Sequence[dict[str, Any]], poll_hint_s: float, collect_requests: int) -> float:
    if not runs:
        return float("nan")
    return sum(minimum_requests(run, poll_hint_s, collect_requests) for run in runs) / len(runs)


def expected_minimum_requests(
    run_min_s: float, run_max_s: float, tool_share: float, poll_hint_s: float, collect_requests: int
) -> float:
    """The configured mean's minimum, for when no run was observed (an estimate, not a bound)."""
    mean = (run_min_s + run_max_s) / 2
    polls = math.ceil(mean / poll_hint_s)
    return START_REQUESTS + polls + collect_requests + tool_share * 1.5


def response_minimum_requests(response: dict[str, Any], poll_interval_s: float) -> int:
    """The fewest requests a response needs from a client that polls it every ``poll_interval_s``.

    The Responses API sends no poll hint, so the interval is the client's own (batchrunner's
    BATCHRUNNER_POLL_INTERVAL_SECONDS, the SDK loop's sleep): the create, then ``ceil(d / interval)``
    retrievals for a response that takes ``d`` seconds from its create to its end (at least one).
    """
    seconds = float(response["queue_s"]) + float(response["work_s"])
    return RESPONSE_CREATE_REQUESTS + max(math.ceil(seconds / poll_interval_s), 1)


def response_floor_requests(response: dict[str, Any]) -> int:
    """The fewest requests any polling client needs: the create and the one retrieval that sees the end."""
    return RESPONSE_CREATE_REQUESTS + 1


def per_chain(responses: Sequence[dict[str, Any]], cost: Callable[[dict[str, Any]], float]) -> float:
    """The summed ``cost`` of every response / the chains they form (a job's chain: its first response
    and the continuations of its tool rounds; a retried attempt starts a chain of its own)."""
    chains = sum(1 for response in responses if response["chain_start"])
    if not chains:
        return float("nan")
    return sum(cost(response) for response in responses) / chains


def mean_response_minimum(responses: Sequence[dict[str, Any]], poll_interval_s: float) -> float:
    return per_chain(responses, lambda response: response_minimum_requests(response, poll_interval_s))


def mean_response_floor(responses: Sequence[dict[str, Any]]) -> float:
    return per_chain(responses, response_floor_requests)


def expected_response_minimum(run_min_s: float, run_max_s: float, tool_share: float, poll_interval_s: float) -> float:
    """The configured mean's minimum on the Responses API (an estimate, for the timeout only)."""
    polls = math.ceil((run_min_s + run_max_s) / 2 / poll_interval_s)
    return (RESPONSE_CREATE_REQUESTS + polls) * (1 + tool_share)


def first_request_at(records: Sequence[dict[str, Any]], default: float) -> float:
    """A phase's first API request: the first thread created (Assistants) or response created (Responses)."""
    return min(
        (record["thread_created_at"] if "thread_created_at" in record else record["created_at"] for record in records),
        default=default,
    )


def last_start_at(records: Sequence[dict[str, Any]], default: float) -> float:
    """When the phase's last job started: its last run, or the last response that starts a chain
    (a tool round's continuation is not a job starting)."""
    return max(
        (record["created_at"] for record in records if record.get("chain_start", True)),
        default=default,
    )


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in [0, 1]); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def requests_by_route(stats: dict[str, Any]) -> dict[str, int]:
    return {route: sum(statuses.values()) for route, statuses in stats["requests"].items()}


def short_route(route: str) -> str:
    """A route, shortened to fit a table row.

    "GET /v1/threads/{thread_id}/runs/{run_id}" -> "GET threads/{t}/runs/{r}";
    "GET /v1/responses/{response_id}" -> "GET responses/{id}".
    """
    method, _, path = route.partition(" ")
    path = path.removeprefix("/v1/")
    path = path.replace("{thread_id}", "{t}").replace("{run_id}", "{r}").replace("{response_id}", "{id}")
    return f"{method} {path}"


def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}m{rest:04.1f}s" if minutes else f"{rest:.1f}s"


def mib(count_bytes: float) -> str:
    return f"{count_bytes / 2**20:.0f} MiB"


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("PASS" if passed else "MISS")


def render_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain-text table with columns padded to their widest cell."""
    all_rows = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) if i < len(row) else 0 for row in all_rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(all_rows):
        cells = [(row[i] if i < len(row) else "").ljust(widths[i]) for i in range(len(header))]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
