"""Synthetic job files for load and crash tests, built on the simulator's built-in assistants.

``generate_jobs(500, tool_share=0.2)`` gives 500 job lines: a fifth for the tool-calling assistants
(``asst_math``, ``asst_clock``, ``asst_analyst``, whose simulated runs always make one tool round), a
few on the existing thread ``thread_demo_shared`` (serialised by batchrunner's thread lock), the rest
plain ``asst_support`` jobs on new threads. The same arguments always give the same lines.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

TOOL_ASSISTANTS = ("asst_math", "asst_clock", "asst_analyst")
SUPPORT_ASSISTANT = "asst_support"
SHARED_THREAD_ID = "thread_demo_shared"

JobLine = dict[str, Any]

_TIME_ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Africa/Cairo", "UTC")
_TICKETS = (
    "My invoice was charged twice this month.",
    "The mobile app logs me out when I switch networks.",
    "How do I export my order history to a spreadsheet?",
    "The parcel was marked delivered but never arrived.",
    "Password reset emails do not reach my inbox.",
    "The dashboard shows last week's numbers.",
)
_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Support tickets fell for the third month in a row.",
    "Revenue grew while costs stayed flat.",
)


def _new_thread(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _tool_job(custom_id: str, rng: random.Random) -> JobLine:
    assistant = rng.choice(TOOL_ASSISTANTS)
    a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(2, 9)
    if assistant == "asst_math":
        text = f"What is ({a} + {b}) * {c}?"
    elif assistant == "asst_clock":
        text = f"What time is it now in {rng.choice(_TIME_ZONES)}?"
    else:
        text = f'Compute {a} * {b} and give statistics for "{rng.choice(_SENTENCES)}"'
    return {
        "custom_id": custom_id,
        "assistant_id": assistant,
        "thread": _new_thread(text),
        "params": {"metadata": {"kind": "tool"}},
    }


def _support_job(custom_id: str, rng: random.Random) -> JobLine:
    text = f"Summarise this support ticket in one sentence: {rng.choice(_TICKETS)} (ref {rng.randint(1, 99999)})"
    return {
        "custom_id": custom_id,
        "assistant_id": SUPPORT_ASSISTANT,
        "thread": _new_thread(text),
        "params": {"temperature": 0.2, "max_completion_tokens": 256, "metadata": {"kind": "support"}},
    }


def _shared_thread_job(custom_id: str, index: int) -> JobLine:
    message = {"role": "user", "content": f"Give backlog status update number {index}."}
    return {
        "custom_id": custom_id,
        "assistant_id": SUPPORT_ASSISTANT,
        "thread_id": SHARED_THREAD_ID,
        "params": {"additional_messages": [message], "metadata": {"kind": "shared-thread"}},
    }


def generate_jobs(
    count: int, *, tool_share: float = 0.2, shared_thread_jobs: int = 3, seed: int = 0, prefix: str = "job"
) -> list[JobLine]:
    """``count`` job lines: ``round(count * tool_share)`` tool jobs, ``shared_thread_jobs`` on the shared thread.

    Kinds are interleaved in a seeded shuffle so that any slice of the file holds a mix of them;
    custom ids are ``<prefix>-<index>`` in file order.
    """
    tool_jobs = round(count * tool_share)
    if count < 0 or not 0.0 <= tool_share <= 1.0 or shared_thread_jobs < 0:
        raise ValueError("need count >= 0, 0 <= tool_share <= 1 and shared_thread_jobs >= 0")
    if tool_jobs + shared_thread_jobs > count:
        raise ValueError(f"{tool_jobs} tool jobs and {shared_thread_jobs} shared-thread jobs exceed {count} jobs")
    rng = random.Random(seed)
    kinds = ["tool"] * tool_jobs + ["shared"] * shared_thread_jobs
    kinds += ["support"] * (count - len(kinds))
    rng.shuffle(kinds)
    jobs: list[JobLine] = []
    shared_seen = 0
    for index, kind in enumerate(kinds):
        custom_id = f"{prefix}-{index:05d}"
        if kind == "tool":
            jobs.append(_tool_job(custom_id, rng))
        elif kind == "shared":
            shared_seen += 1
            jobs.append(_shared_thread_job(custom_id, shared_seen))
        else:
            jobs.append(_support_job(custom_id, rng))
    return jobs


def write_job_file(path: Path, jobs: Iterable[JobLine]) -> Path:
    """Write ``jobs`` as JSONL to ``path``; return the path."""
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs), encoding="utf-8")
    return path


def tool_job_ids(jobs: Iterable[JobLine]) -> set[str]:
    """The custom ids of the jobs whose assistant calls tools."""
    return {job["custom_id"] for job in jobs if job["assistant_id"] in TOOL_ASSISTANTS}


__all__ = [
    "SHARED_THREAD_ID",
    "SUPPORT_ASSISTANT",
    "TOOL_ASSISTANTS",
    "JobLine",
    "generate_jobs",
    "tool_job_ids",
    "write_job_file",
]
