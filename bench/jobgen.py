"""Benchmark job files: plain answers and a share of jobs that make exactly one tool round.

Uses ``batchrunner.testing.jobgen.generate_jobs`` when it is present (tool jobs spread over
``asst_math``, ``asst_clock`` and ``asst_analyst``, each run making one tool round), with no jobs on a
shared existing thread: those are serialised by design and a user's SDK loop would have to serialise
them too, which is not what this benchmark compares. Otherwise this module's own generator:
``asst_support`` jobs (the run answers directly) and ``asst_math`` jobs whose message holds an
arithmetic expression, so the simulated model calls ``calculate`` once, in one round.
"""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from batchrunner.jobfile.assistants import load_assistants
from batchrunner.jobs import BackendName, read_job_file

Job = dict[str, Any]
Generator = Callable[..., list[Job]]

PLAIN_ASSISTANT = "asst_support"
TOOL_ASSISTANT = "asst_math"
_TOPICS = (
    "My invoice was charged twice; please refund the duplicate.",
    "The mobile app logs me out every time I switch networks.",
    "How do I export my order history to a spreadsheet?",
    "The parcel was marked delivered but never arrived.",
    "I would like to change the email address on my account.",
)


def _plain_job(index: int, rng: random.Random) -> Job:
    topic = _TOPICS[index % len(_TOPICS)]
    return {
        "custom_id": f"job-{index:06d}",
        "assistant_id": PLAIN_ASSISTANT,
        "thread": {"messages": [{"role": "user", "content": f"Summarise ticket {index} in one line: {topic}"}]},
        "params": {"temperature": 0.2, "max_completion_tokens": 256, "metadata": {"bench": "plain"}},
    }


def _tool_job(index: int, rng: random.Random) -> Job:
    a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(2, 9)
    return {
        "custom_id": f"job-{index:06d}",
        "assistant_id": TOOL_ASSISTANT,
        "thread": {"messages": [{"role": "user", "content": f"What is ({a} + {b}) * {c}? Use the calculator."}]},
        "params": {"temperature": 0.0, "max_completion_tokens": 256, "metadata": {"bench": "tool"}},
    }


def generate_jobs(count: int, tool_share: float, seed: int = 1) -> list[Job]:
    """``count`` jobs, ``round(count * tool_share)`` of them (spread at random) with one tool round."""
    if count < 0 or not 0.0 <= tool_share <= 1.0:
        raise ValueError("need count >= 0 and 0 <= tool_share <= 1")
    rng = random.Random(seed)
    tool_indexes = set(rng.sample(range(count), round(count * tool_share)))
    return [(_tool_job if index in tool_indexes else _plain_job)(index, rng) for index in range(count)]


def _shared_generator() -> Generator | None:
    try:
        module = importlib.import_module("batchrunner.testing.jobgen")
    except ImportError:
        return None
    candidate = getattr(module, "generate_jobs", None)
    return cast(Generator, candidate) if callable(candidate) else None


def make_jobs(count: int, tool_share: float, seed: int = 1) -> tuple[list[Job], str]:
    """The benchmark's jobs and the name of the generator that made them.

    A shared generator whose interface changed (it raises ``TypeError`` or returns something else)
    falls back to this module's, so it cannot break the benchmark.
    """
    shared = _shared_generator()
    if shared is not None:
        try:
            jobs = shared(count, tool_share=tool_share, seed=seed, shared_thread_jobs=0)
            if isinstance(jobs, Sequence) and len(jobs) == count and all(isinstance(job, dict) for job in jobs):
                return list(jobs), "batchrunner.testing.jobgen"
        except (TypeError, ValueError):
            pass
    return generate_jobs(count, tool_share, seed), "bench.jobgen"


def write_jobs(jobs: Sequence[Job], path: Path) -> Path:
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs), encoding="utf-8")
    return path


def write_response_requests(jobs_path: Path, assistants_path: Path, path: Path) -> Path:
    """The job file's jobs as the Responses baseline reads them: ``{"custom_id", "request"}`` per line.

    ``request`` is the full ``POST /v1/responses`` body batchrunner resolves for the job (the assistant's
    model, instructions and tools from ``assistants_path``, the job's params and input), without the
    ``background`` and ``store`` the loop adds.
    """
    specs = read_job_file(
        jobs_path, default_backend=BackendName.RESPONSES, assistants=load_assistants(assistants_path)
    ).jobs
    lines = [json.dumps({"custom_id": spec.custom_id, "request": spec.request}) + "\n" for spec in specs]
    path.write_text("".join(lines), encoding="utf-8")
    return path
