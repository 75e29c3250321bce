"""Unit tests of the benchmark's arithmetic and helpers (run: pytest bench/test_bench.py)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
from starlette.testclient import TestClient

from batchrunner.jobfile.assistants import load_assistants
from batchrunner.jobs import parse_job_line
from batchrunner.polling import PollPolicy
from batchrunner.simulator.catalogue import BUILTIN_ASSISTANTS
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.toolcalls import plan_tool_calls
from batchrunner.simulator.transport import SyncASGITransport
from batchrunner.tools.builtin import calculate
from bench.baseline_phase import response_delays
from bench.baseline_responses import continuation, run_job
from bench.figures import (
    first_request_at,
    last_start_at,
    mean_response_floor,
    mean_response_minimum,
    minimum_requests,
    percentile,
    render_table,
    requests_by_route,
    response_minimum_requests,
    short_route,
)
from bench.jobgen import TOOL_ASSISTANT, generate_jobs, make_jobs, write_jobs, write_response_requests
from bench.long_scenario import policy_poll_rate
from bench.per_model import model_rows, model_table, spread_over_models
from bench.phase import PhaseFigures
from bench.proctree import descendants, sample_tree
from bench.report import responses_wording, throughput_table
from bench.sampler import RETRIEVE_RESPONSE, Sample, active_objects, counter_at, rate_per_minute, request_totals
from bench.simserver import RESPONSES_ROUTE, build_app, response_finished_at, simserver_config
from bench.throughput import ASSISTANTS_FILE, poll_interval_s


def _run(first: float, second: float = 0.0, tools: int = 0) -> dict[str, Any]:
    return {"queue_s": first / 10, "first_turn_s": first * 9 / 10, "second_turn_s": second, "tool_calls": tools}


def _sample(at: float, requests: int) -> Sample:
    return Sample(at, requests, 0, 0, 0, {}, None, 0)


def test_minimum_requests_counts_a_retrieval_per_started_hint() -> None:
    """A 2.5 s run polled every second needs 3 retrievals besides create and collect."""
    assert minimum_requests(_run(2.5), 1.0, collect_requests=2) == 2 + 3 + 2


def test_minimum_requests_adds_submit_and_second_turn_for_a_tool_round() -> None:
    """A tool round costs the submit plus the retrievals of the second turn."""
    plain = minimum_requests(_run(2.0), 1.0, collect_requests=1)
    assert minimum_requests(_run(2.0, second=1.5, tools=1), 1.0, collect_requests=1) == plain + 1 + 2


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..10 is 5 and p95 is 10; no values give NaN."""
    values = [float(v) for v in range(10, 0, -1)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (5.0, 10.0)
    assert math.isnan(percentile([], 0.5))


def test_rate_per_minute_interpolates_between_samples() -> None:
    """A counter growing 10 per second reads 600 a minute over any sub-window."""
    samples = [_sample(100.0 + t, 10 * t) for t in range(0, 11)]
    assert counter_at(samples, 102.5, lambda s: s.requests) == pytest.approx(25.0)
    assert rate_per_minute(samples, 101.3, 107.9, lambda s: s.requests) == pytest.approx(600.0)


def test_request_totals_separates_429s_and_retrievals() -> None:
    """Totals count every status; 429s and GET run are read out separately."""
    stats = {
        "requests": {"GET /v1/threads/{thread_id}/runs/{run_id}": {"200": 5, "429": 2}, "POST /v1/threads": {"200": 3}}
    }
    assert request_totals(stats) == (10, 2, 7)


def test_generate_jobs_makes_the_asked_share_of_valid_tool_jobs() -> None:
    """Every line is a valid job; exactly round(n * share) target the tool assistant and plan one call."""
    jobs = generate_jobs(50, 0.2, seed=3)
    tools = next(a["tools"] for a in BUILTIN_ASSISTANTS if a["id"] == TOOL_ASSISTANT)
    tool_jobs = [job for job in jobs if job["assistant_id"] == TOOL_ASSISTANT]
    assert len(tool_jobs) == 10 and len({job["custom_id"] for job in jobs}) == 50
    for number, job in enumerate(jobs, start=1):
        parse_job_line(json.dumps(job), number)
    for job in tool_jobs:
        text = job["thread"]["messages"][0]["content"]
        assert [call.name for call in plan_tool_calls(tools, "auto", True, text)] == ["calculate"]


def test_make_jobs_gives_valid_jobs_on_new_threads_with_the_tool_share() -> None:
    """Whichever generator is used, every job is valid, starts a new thread, and a fifth use tools."""
    jobs, _ = make_jobs(40, 0.2, seed=5)
    tool_assistants = {a["id"] for a in BUILTIN_ASSISTANTS if a["tools"]}
    assert len(jobs) == 40 and all("thread" in job and "thread_id" not in job for job in jobs)
    assert sum(job["assistant_id"] in tool_assistants for job in jobs) == 8
    for number, job in enumerate(jobs, start=1):
        parse_job_line(json.dumps(job), number)


def test_policy_poll_rate_counts_only_active_runs() -> None:
    """Runs not yet created or already finished ask for no polls; a 5 s old run asks for one a second."""
    runs: list[dict[str, Any]] = [
        {"created_at": 95.0, "finished_at": None},
        {"created_at": 101.0, "finished_at": None},
        {"created_at": 50.0, "finished_at": 90.0},
    ]
    assert policy_poll_rate(runs, 100.0, 1.0, PollPolicy()) == pytest.approx(60.0)


def test_sample_tree_sees_this_process() -> None:
    """The tree of this process holds it, with CPU time and memory."""
    sample = sample_tree(os.getpid())
    assert os.getpid() in descendants(os.getpid())
    assert sample.cpu_seconds > 0 and sample.rss_bytes > 0 and sample.hwm_bytes >= sample.rss_bytes


def test_render_table_pads_columns_and_short_route_trims_the_path() -> None:
    """Columns line up under the header; routes lose their /v1/threads prefix."""
    table = render_table(["a", "bb"], [["xyz", "1"]]).splitlines()
    assert table[0].index("bb") == table[2].index("1")
    assert short_route("GET /v1/threads/{thread_id}/runs/{run_id}") == "GET threads/{t}/runs/{r}"
    assert short_route("POST /v1/threads") == "POST threads"
    assert short_route("GET /v1/responses/{response_id}") == "GET responses/{id}"


# --- The Responses backend: the SDK baseline's tool-round loop, /_bench/responses and its figures ---


def _response(created: float, seconds: float, *, start: bool = True, calls: int = 0) -> dict[str, Any]:
    return {
        "id": f"resp_{created:g}",
        "chain_start": start,
        "created_at": created,
        "finished_at": created + seconds,
        "queue_s": seconds / 10,
        "work_s": seconds * 9 / 10,
        "tool_calls": calls,
    }


@pytest.fixture
def responses_sim() -> Iterator[tuple[openai.OpenAI, Any, list[float]]]:
    """The bench's simulator app (``/_bench`` routes included) on a fake clock, and an SDK client on it.

    Responses take exactly 3 s; the openai SDK talks to the app in-process (its httpx2 client, bridged
    to the simulator's sync ASGI transport), with no retries.
    """
    now = [1000.0]
    app = build_app(SimConfig(seed=1, run_duration_min_s=3.0, run_duration_max_s=3.0, clock=lambda: now[0]))
    inner = SyncASGITransport(app)

    def bridge(request: httpx2.Request) -> httpx2.Response:
        headers = list(request.headers.multi_items())
        answer = inner.handle_request(
            httpx.Request(request.method, str(request.url), headers=headers, content=request.read())
        )
        return httpx2.Response(answer.status_code, headers=list(answer.headers.multi_items()), content=answer.read())

    http_client = httpx2.Client(transport=httpx2.MockTransport(bridge))
    client = openai.OpenAI(api_key="sk-test", base_url="http://sim/v1", http_client=http_client, max_retries=0)
    yield client, app, now
    client.close()


def _resolved_requests(tmp_path: Path, count: int = 20) -> list[dict[str, Any]]:
    jobs, _ = make_jobs(count, 0.2, seed=1)
    jobs_path = write_jobs(jobs, tmp_path / "jobs.jsonl")
    written = write_response_requests(jobs_path, ASSISTANTS_FILE, tmp_path / "requests.jsonl")
    return [json.loads(line) for line in written.read_text().splitlines()]


def test_write_response_requests_resolves_the_assistants_file(tmp_path: Path) -> None:
    """Each line is the full POST /v1/responses body: the assistant's model, instructions and tools, no background."""
    lines = _resolved_requests(tmp_path)
    assistants = load_assistants(ASSISTANTS_FILE)
    assert len(lines) == 20 and sum(bool(line["request"]["tools"]) for line in lines) == 4
    for line in lines:
        request = line["request"]
        assert "background" not in request and "store" not in request
        assert request["input"][0]["role"] == "user"
    tool_line = next(line for line in lines if line["request"]["tools"])
    named = json.loads((tmp_path / "jobs.jsonl").read_text().splitlines()[int(tool_line["custom_id"][-5:])])
    assert tool_line["request"]["instructions"] == assistants[named["assistant_id"]].instructions
    assert all(tool["type"] == "function" and "name" in tool for tool in tool_line["request"]["tools"])


def test_continuation_resends_settings_and_chains_or_stays_on_the_conversation() -> None:
    """A tool round's body: instructions, tools and metadata again, the outputs as its only input."""
    request = {
        "model": "m",
        "instructions": "i",
        "tools": [{"type": "function", "name": "f"}],
        "input": [{"role": "user", "content": "q"}],
        "metadata": {"k": "v"},
    }
    outputs = [{"type": "function_call_output", "call_id": "call_1", "output": "42"}]
    body = continuation(request, "resp_1", outputs)
    assert body == {
        "model": "m",
        "instructions": "i",
        "tools": request["tools"],
        "metadata": {"k": "v"},
        "input": outputs,
        "previous_response_id": "resp_1",
    }
    on_conversation = continuation({**request, "conversation": "conv_1"}, "resp_1", outputs)
    assert on_conversation["conversation"] == "conv_1" and "previous_response_id" not in on_conversation


def test_responses_baseline_answers_the_tool_round_and_polls_at_its_interval(
    responses_sim: tuple[openai.OpenAI, Any, list[float]], tmp_path: Path
) -> None:
    """A tool job through the SDK loop: two chained responses, the handler's output sent back with the
    job's instructions and tools, each response polled at +2 s and +4 s (it ends at +3 s): exactly the
    minimum /_bench/responses implies, and a 1 s finish -> in-hand delay for each."""
    client, app, now = responses_sim
    job = next(line for line in _resolved_requests(tmp_path) if line["request"]["tools"])

    def sleep(seconds: float) -> None:
        now[0] += seconds

    record = run_job(client, job, 2.0, sleep, lambda: now[0])
    assert record["status"] == "completed" and record["tool_runs"] == 1 and record["output_messages"] == 1
    first, second = (seen["id"] for seen in record["responses"])
    stored = app.state.simulator.store.responses
    assert stored[second].previous_response_id == first
    assert stored[second].settings.instructions == job["request"]["instructions"]
    assert [tool["name"] for tool in stored[second].settings.tools] == [t["name"] for t in job["request"]["tools"]]
    sent = stored[second].input_items[0].body
    assert sent["type"] == "function_call_output" and sent["call_id"] == stored[first].output[0]["call_id"]
    assert json.loads(sent["output"]) == calculate(json.loads(stored[first].output[0]["arguments"]))
    assert str(json.loads(sent["output"])["result"]) in record["output_text"]

    with TestClient(app) as http:
        bench_records = http.get(RESPONSES_ROUTE, params={"since": 0}).json()
        stats = http.get("/_sim/stats").json()
    assert [(r["id"], r["chain_start"], r["tool_calls"]) for r in bench_records] == [
        (first, True, 1),
        (second, False, 0),
    ]
    assert [r["finished_at"] - r["created_at"] for r in bench_records] == pytest.approx([3.0, 3.0])
    assert stats["requests"] == {"POST /v1/responses": {"200": 2}, "GET /v1/responses/{response_id}": {"200": 4}}
    assert mean_response_minimum(bench_records, 2.0) == sum(requests_by_route(stats).values()) == 6
    assert mean_response_floor(bench_records) == 4
    assert response_delays([record], bench_records) == pytest.approx([1.0, 1.0])


def test_responses_baseline_stops_after_a_plain_answer(
    responses_sim: tuple[openai.OpenAI, Any, list[float]], tmp_path: Path
) -> None:
    """A job without tools is one response, retrieved until it ends, no continuation."""
    client, app, now = responses_sim
    job = next(line for line in _resolved_requests(tmp_path) if not line["request"]["tools"])

    def sleep(seconds: float) -> None:
        now[0] += seconds

    record = run_job(client, job, 1.0, sleep, lambda: now[0])
    assert record["status"] == "completed" and record["tool_runs"] == 0 and len(record["responses"]) == 1
    assert record["finished"] == 1003.0 and len(app.state.simulator.store.responses) == 1


def test_response_finished_at_uses_the_plan_end_when_there_is_no_completed_at(
    responses_sim: tuple[openai.OpenAI, Any, list[float]],
) -> None:
    """completed_at for a completed response, the plan's end otherwise; None while still working."""
    client, app, now = responses_sim
    created = client.responses.create(model="gpt-4o-mini", input="hello", background=True, store=True)
    record = app.state.simulator.store.responses[created.id]
    assert response_finished_at(record) is None
    now[0] += 10
    with TestClient(app) as http:
        (listed,) = http.get(RESPONSES_ROUTE, params={"since": 0}).json()
    assert listed["status"] == "completed" and listed["finished_at"] == pytest.approx(1003.0)
    record.status, record.completed_at = "failed", None
    assert response_finished_at(record) == pytest.approx(1003.0)


def test_response_minimum_polls_each_response_at_the_interval() -> None:
    """Create + ceil(d / interval) retrievals per response (at least one); summed over a chain, per chain."""
    assert response_minimum_requests(_response(0.0, 5.0), 2.0) == 1 + 3
    assert response_minimum_requests(_response(0.0, 4.0), 2.0) == 1 + 2
    assert response_minimum_requests(_response(0.0, 0.0), 2.0) == 1 + 1
    chains = [_response(0.0, 5.0, calls=1), _response(6.0, 3.0, start=False), _response(1.0, 2.0)]
    assert mean_response_minimum(chains, 2.0) == pytest.approx((4 + 3 + 2) / 2)
    assert mean_response_floor(chains) == pytest.approx(3.0)
    assert math.isnan(mean_response_minimum([], 2.0))


def test_phase_window_starts_at_the_first_request_and_ends_at_the_last_chain_start() -> None:
    """Runs start at their thread; responses at their create, and a continuation is no job starting."""
    runs = [{"thread_created_at": 9.0, "created_at": 10.0}, {"thread_created_at": 11.0, "created_at": 12.0}]
    assert (first_request_at(runs, 0.0), last_start_at(runs, 0.0)) == (9.0, 12.0)
    chains = [_response(5.0, 3.0, calls=1), _response(7.0, 3.0), _response(9.0, 3.0, start=False)]
    assert (first_request_at(chains, 0.0), last_start_at(chains, 0.0)) == (5.0, 7.0)
    assert first_request_at([], 42.0) == 42.0


def test_sampler_counts_responses_and_their_retrievals() -> None:
    """GET response counts as a retrieval, active responses as active objects."""
    stats = {
        "requests": {RETRIEVE_RESPONSE: {"200": 4, "429": 1}, "POST /v1/responses": {"200": 2}},
        "active_runs": 0,
        "active_responses": 3,
    }
    assert request_totals(stats) == (7, 1, 5)
    assert active_objects(stats) == 3 and active_objects({"active_runs": 2}) == 2


def test_responses_table_names_responses_and_shows_the_floor() -> None:
    """The Responses table has no poll-hint row; it says responses and shows the floor per phase."""
    phase = PhaseFigures(
        name="batchrunner",
        jobs=10,
        finished_jobs=10,
        wall_s=60.0,
        jobs_per_min=10.0,
        served_per_min_queued=100.0,
        queued_window_s=5.0,
        requests=48,
        limited=0,
        failed_rate_limit=0,
        failed_other=0,
        requests_per_job=4.8,
        min_requests_per_job=5.0,
        per_route={"GET /v1/responses/{response_id}": 3.6, "POST /v1/responses": 1.2},
        delay_p50_s=1.0,
        delay_p95_s=2.0,
        cpu_s_per_job=0.01,
        peak_rss_bytes=1.0,
        hwm_rss_bytes=1.0,
        floor_requests_per_job=2.4,
    )
    table = throughput_table([phase], 3000, responses_wording(2.0))
    assert "poll hints" not in table and "runs open" not in table and "responses open at the API" in table
    assert "minimum polling every 2 s" in table and "GET responses/{id}" in table
    floor = next(line for line in table.splitlines() if line.startswith("  floor"))
    assert floor.split()[-1] == "2.40"
    assert "floor" not in throughput_table([phase], 3000) and "minimum implied by poll hints" in throughput_table(
        [phase], 3000
    )


def test_poll_interval_follows_a_set_of_the_setting() -> None:
    """2 s (the setting's default) unless --set BATCHRUNNER_POLL_INTERVAL_SECONDS says otherwise."""
    assert poll_interval_s([]) == 2.0
    assert poll_interval_s(["BATCHRUNNER_MAX_RUN_STREAMS=0", "BATCHRUNNER_POLL_INTERVAL_SECONDS=0.5"]) == 0.5


def _metered_sample(at: float, served: int, limited: int = 0, model: str = "gpt-4o") -> Sample:
    return Sample(at, 0, 0, 0, 0, {}, None, 0, {model: {"served": served, "limited": limited}})


def test_spread_over_models_follows_the_request_limits() -> None:
    """Jobs go to each model in proportion to its rpm, with their other params kept."""
    jobs = [{"custom_id": str(index), "params": {"temperature": 0.2}} for index in range(4000)]
    spread = spread_over_models(jobs, (("gpt-4o-mini", 900, 0), ("gpt-4o", 300, 0)), seed=3)
    models = [job["params"]["model"] for job in spread]
    assert 0.70 < models.count("gpt-4o-mini") / len(models) < 0.80
    assert all(job["params"]["temperature"] == 0.2 for job in spread)
    assert "model" not in jobs[0]["params"]


def test_model_rows_rate_each_model_until_its_last_job_started() -> None:
    """A model's served rate runs to its own last chain start; its 429s come from the last sample."""
    samples = [_metered_sample(0.0, 0), _metered_sample(60.0, 300, 2), _metered_sample(120.0, 330, 3)]
    runs = [
        {"model": "gpt-4o", "created_at": 1.0, "chain_start": True},
        {"model": "gpt-4o", "created_at": 60.0, "chain_start": True},
        {"model": "gpt-4o", "created_at": 100.0, "chain_start": False},
        {"model": "gpt-4o-mini", "created_at": 110.0, "chain_start": True},
    ]
    [row] = model_rows(samples, runs, (("gpt-4o", 320, 0),), first_request=0.0)
    assert (row.window_s, row.served_per_min, row.served, row.limited) == (60.0, 300.0, 330, 3)
    table = model_table([row], failed_rate_limit=0)
    assert "300 (93.8 %)" in table and "PASS (>= 90%)" in table and "3 of 333 (0.90 %)" in table


def test_simserver_reads_model_limits_from_json_lists() -> None:
    """The benchmark's JSON config names model limits as lists; the simulator meters those models apart."""
    config = json.dumps({"rpm": 100, "model_limits": [["gpt-4o", 7, 0]]})
    assert simserver_config(config).limits_of("gpt-4o") == (7, 0)


def test_the_lanes_benchmark_runs_a_small_mixed_file(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """bench/lanes.py on a small file: every job recorded in an allowed lane, savings as the price table says."""
    from bench import lanes

    monkeypatch.setattr("sys.argv", ["lanes.py", "--jobs", "30", "--seed", "3"])
    assert lanes.main() == 0
    out = capsys.readouterr().out
    assert "PROBLEM" not in out
    assert "batch" in out and "saving: reported" in out
