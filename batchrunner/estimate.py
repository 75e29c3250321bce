"""``batchrunner estimate``: a job file's tokens and cost in each cost lane, before anything runs.

The file is read once, with the reader ``enqueue`` uses, keeping only a tally per model (past the
reader's duplicate-id check, memory does not grow with the file). Per job:

- input tokens: ``tokens.estimate_prompt_tokens`` (the text of instructions and input, about four
  characters a token; tool definitions not counted), none of them assumed cached;
- output tokens: the job's output cap (``max_output_tokens``, ``max_completion_tokens``), else
  ``default_output_tokens``;
- one round only: a job with function tools pays again for every further round (the conversation is
  sent again), which nothing before the run can know;
- each fixed lane's cost: the standard price times the lane's share (``pricing.usage_cost``), n/a for
  a model or job that cannot run there whatever its deadline;
- ``auto``: the cost in the lane ``enqueue`` would give the job (``lanes.LanePolicy``): the one its
  line names, else the cheapest lane that meets its deadline (the earlier of its line's
  ``deadline`` and the command's, counted from now) and needs.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from batchrunner.deadlines import Deadline, earliest, parse_deadline
from batchrunner.jobfile.assistants import AssistantDefinition
from batchrunner.jobs import BackendName, JobSpec, LineErrorLog, scan_job_file
from batchrunner.lanes import CONCRETE_LANES, Lane, LanePolicy, lane_allows
from batchrunner.pricing import ModelPrice, usage_cost
from batchrunner.text_table import money_cell, text_table
from batchrunner.tokens import CHARS_PER_TOKEN, DEFAULT_COMPLETION_ESTIMATE, estimate_prompt_tokens, output_token_cap

EstimateFormat = Literal["table", "csv", "json"]

DEFAULT_OUTPUT_TOKENS = DEFAULT_COMPLETION_ESTIMATE
UNKNOWN_MODEL = "(unknown)"
TOTAL = "TOTAL"
COST_COLUMNS: tuple[str, ...] = (*(lane.value for lane in CONCRETE_LANES), Lane.AUTO.value)

# Why a job cannot run in a lane, whatever its deadline.
FUNCTION_TOOLS = "function_tools"
NOT_A_FLEX_MODEL = "not_a_flex_model"
ASSISTANTS_BACKEND = "assistants_backend"
_REASON_TEXT = {
    FUNCTION_TOOLS: "offer function tools or hold a conversation, which one Batch API request cannot take",
    NOT_A_FLEX_MODEL: "run a model flex does not serve (BATCHRUNNER_FLEX_MODELS)",
    ASSISTANTS_BACKEND: "run on the assistants backend, which has only the standard lane",
}
# Time enough for any lane's window: a fixed lane's column asks only whether a job can run there at all.
_ANY_DEADLINE = timedelta.max


@dataclass(frozen=True)
class EstimateOptions:
    prices: Mapping[str, ModelPrice]
    flex_models: Collection[str]
    deadline: Deadline | None = None
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS


@dataclass
class _Tokens:
    jobs: int = 0
    input: int = 0
    output: int = 0

    def add(self, input_tokens: int, output_tokens: int) -> None:
        self.jobs += 1
        self.input += input_tokens
        self.output += output_tokens


@dataclass
class _ModelTally:
    tokens: _Tokens = field(default_factory=_Tokens)
    by_auto_lane: dict[Lane, _Tokens] = field(default_factory=lambda: defaultdict(_Tokens))
    # lane -> reason -> jobs that cannot run in that lane for that reason
    unusable: dict[Lane, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


@dataclass(frozen=True)
class EstimateRow:
    """One model's jobs (or the TOTAL): tokens, USD per column of ``COST_COLUMNS`` (None: n/a), and why."""

    model: str
    jobs: int
    input_tokens: int
    output_tokens: int
    costs: dict[str, float | None]
    priced: bool
    auto_lanes: dict[str, int]
    unusable: dict[str, dict[str, int]]


@dataclass(frozen=True)
class Estimate:
    rows: list[EstimateRow]
    total: EstimateRow
    default_output_tokens: int


def estimate_job_file(
    path: str | Path,
    options: EstimateOptions,
    *,
    now: datetime,
    known_tools: Collection[str] | None = None,
    default_backend: BackendName = BackendName.RESPONSES,
    assistants: Mapping[str, AssistantDefinition] | None = None,
) -> Estimate:
    """The estimate of every job of ``path``; raises ``JobFileError`` naming every problem, as ``enqueue`` does."""
    errors = LineErrorLog(str(path))
    command_due = options.deadline.resolve(now) if options.deadline is not None else None
    tallies: dict[str, _ModelTally] = defaultdict(_ModelTally)
    lanes = LanePolicy(flex_models=frozenset(options.flex_models))
    for spec in scan_job_file(
        path, errors, known_tools=known_tools, default_backend=default_backend, assistants=assistants
    ):
        _tally(tallies, spec, options, lanes, command_due, now)
    if errors.count:
        raise errors.file_error()
    rows = [_row(model, tally, options.prices) for model, tally in sorted(tallies.items())]
    return Estimate(rows=rows, total=_total(rows), default_output_tokens=options.default_output_tokens)


def _model_of(spec: JobSpec) -> str | None:
    model = spec.request.get("model") if spec.request is not None else spec.params.get("model")
    return model if isinstance(model, str) else None


def _time_left(spec: JobSpec, command_due: datetime | None, now: datetime) -> timedelta | None:
    own_due = parse_deadline(spec.deadline).resolve(now) if spec.deadline else None
    due = earliest(command_due, own_due)
    return None if due is None else due - now


@dataclass(frozen=True)
class _JobNeeds:
    """What decides the lanes a job may run in, deadline aside."""

    model: str | None
    uses_tools: bool
    on_assistants_backend: bool

    def unusable_reason(self, lane: Lane, flex_models: Collection[str]) -> str | None:
        if self.on_assistants_backend:
            return None if lane is Lane.STANDARD else ASSISTANTS_BACKEND
        if lane_allows(
            lane, time_left=_ANY_DEADLINE, uses_tools=self.uses_tools, model=self.model, flex_models=flex_models
        ):
            return None
        # With time enough, lanes.py refuses only the Batch API to tool jobs and flex to other models.
        return FUNCTION_TOOLS if lane is Lane.BATCH else NOT_A_FLEX_MODEL

    def enqueued_lane(self, spec: JobSpec, time_left: timedelta | None, lanes: LanePolicy) -> Lane:
        """The lane ``enqueue`` would give the job: its own (or ``auto``'s choice among the lanes run today)."""
        return lanes.resolve(
            spec.lane,
            responses=not self.on_assistants_backend,
            time_left=time_left,
            uses_tools=self.uses_tools,
            model=self.model,
        )


def _tally(
    tallies: dict[str, _ModelTally],
    spec: JobSpec,
    options: EstimateOptions,
    lanes: LanePolicy,
    command_due: datetime | None,
    now: datetime,
) -> None:
    needs = _JobNeeds(_model_of(spec), spec.needs_more_than_one_request, spec.backend is BackendName.ASSISTANTS)
    tally = tallies[needs.model or UNKNOWN_MODEL]
    input_tokens = estimate_prompt_tokens(spec)
    output_tokens = output_token_cap(spec) or options.default_output_tokens
    tally.tokens.add(input_tokens, output_tokens)
    lane = needs.enqueued_lane(spec, _time_left(spec, command_due, now), lanes)
    tally.by_auto_lane[lane].add(input_tokens, output_tokens)
    for fixed in CONCRETE_LANES:
        reason = needs.unusable_reason(fixed, options.flex_models)
        if reason is not None:
            tally.unusable[fixed][reason] += 1


def _cost(prices: Mapping[str, ModelPrice], model: str, tokens: _Tokens, lane: Lane) -> float | None:
    return usage_cost(prices, model, input_tokens=tokens.input, output_tokens=tokens.output, lane=lane)


def _row(model: str, tally: _ModelTally, prices: Mapping[str, ModelPrice]) -> EstimateRow:
    priced = model in prices
    costs: dict[str, float | None] = {}
    for lane in CONCRETE_LANES:
        costs[lane.value] = None if tally.unusable[lane] else _cost(prices, model, tally.tokens, lane)
    auto_parts = [_cost(prices, model, tokens, lane) for lane, tokens in tally.by_auto_lane.items()]
    costs[Lane.AUTO.value] = sum(part for part in auto_parts if part is not None) if priced else None
    return EstimateRow(
        model=model,
        jobs=tally.tokens.jobs,
        input_tokens=tally.tokens.input,
        output_tokens=tally.tokens.output,
        costs=costs,
        priced=priced,
        auto_lanes={lane.value: tokens.jobs for lane, tokens in sorted(tally.by_auto_lane.items())},
        unusable={lane.value: dict(reasons) for lane, reasons in tally.unusable.items() if reasons},
    )


def _total(rows: list[EstimateRow]) -> EstimateRow:
    costs: dict[str, float | None] = {}
    for column in COST_COLUMNS:
        parts = [row.costs[column] for row in rows]
        costs[column] = None if any(part is None for part in parts) else sum(part or 0.0 for part in parts)
    auto_lanes: Counter[str] = Counter()
    unusable: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        auto_lanes.update(row.auto_lanes)
        for lane, reasons in row.unusable.items():
            unusable[lane].update(reasons)
    return EstimateRow(
        model=TOTAL,
        jobs=sum(row.jobs for row in rows),
        input_tokens=sum(row.input_tokens for row in rows),
        output_tokens=sum(row.output_tokens for row in rows),
        costs=costs,
        priced=all(row.priced for row in rows),
        auto_lanes=dict(sorted(auto_lanes.items())),
        unusable={lane: dict(reasons) for lane, reasons in unusable.items()},
    )


def notes(estimate: Estimate) -> list[str]:
    """What the numbers assume, and why a cell is n/a."""
    lines = [
        f"Input: instructions and input text at {CHARS_PER_TOKEN} characters a token, none of it cached. "
        f"Output: each job's max output cap, else {estimate.default_output_tokens} tokens (--output-tokens).",
        "Jobs with function tools are estimated for one round only: each further round sends the conversation "
        "again and costs more.",
        "A lane's column prices every job in that lane whatever its deadline; auto puts each job in the "
        "cheapest lane its deadline (its line's or --deadline, from now) and needs allow.",
    ]
    unpriced = [row.model for row in estimate.rows if not row.priced]
    if unpriced:
        lines.append(f"n/a for {', '.join(unpriced)}: no price for the model (BATCHRUNNER_MODEL_PRICES).")
    lines.extend(_unusable_notes(estimate.rows))
    auto = "; ".join(
        f"{row.model}: " + ", ".join(f"{jobs} {lane}" for lane, jobs in row.auto_lanes.items()) for row in estimate.rows
    )
    lines.append(f"auto lanes: {auto}.")
    return lines


def _unusable_notes(rows: list[EstimateRow]) -> list[str]:
    """One line per reason: the lanes it closes and, per model, how many of its jobs it concerns."""
    lanes_closed: dict[str, list[str]] = defaultdict(list)
    jobs_concerned: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows:
        for lane, reasons in row.unusable.items():
            for reason, jobs in reasons.items():
                if lane not in lanes_closed[reason]:
                    lanes_closed[reason].append(lane)
                jobs_concerned[reason][row.model] = f"{row.model} {jobs} of {row.jobs}"
    return [
        f"n/a in {', '.join(lanes_closed[reason])}: jobs that {_REASON_TEXT[reason]}: "
        f"{', '.join(jobs_concerned[reason].values())}."
        for reason in _REASON_TEXT
        if reason in lanes_closed
    ]


def _record(row: EstimateRow) -> dict[str, Any]:
    return {
        "model": row.model,
        "jobs": row.jobs,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        **row.costs,
    }


def _json_record(row: EstimateRow) -> dict[str, Any]:
    return _record(row) | {"auto_lanes": row.auto_lanes, "unusable": row.unusable}


def render(estimate: Estimate, fmt: EstimateFormat) -> str:
    if fmt == "json":
        document = {
            "rows": [_json_record(row) for row in estimate.rows],
            "total": _json_record(estimate.total),
            "cost_unit": "USD",
            "default_output_tokens": estimate.default_output_tokens,
            "notes": notes(estimate),
        }
        return json.dumps(document, indent=2)
    records = [_record(row) for row in [*estimate.rows, estimate.total]]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({key: "n/a" if value is None else value for key, value in record.items()})
        return buffer.getvalue().rstrip("\n")
    return "\n".join([_table(records), "", *notes(estimate)])


def _table(records: list[dict[str, Any]]) -> str:
    columns = list(records[0])
    rows = [[money_cell(record[column]) for column in columns] for record in records]
    return text_table([*columns[:4], *(f"{column} $" for column in columns[4:])], rows)


__all__ = [
    "COST_COLUMNS",
    "DEFAULT_OUTPUT_TOKENS",
    "Estimate",
    "EstimateFormat",
    "EstimateOptions",
    "EstimateRow",
    "estimate_job_file",
    "notes",
    "render",
]
