"""Cost lanes: the ways the Responses API can serve the same request, and which one a job's deadline allows.

The same request costs less the longer it may wait (``docs/api-notes-responses.md`` section 8):

| lane | how | price (share of standard) | may take |
|---|---|---|---|
| ``standard`` | background response, streamed | 1.0 | minutes |
| ``background-2h`` | ``background_options.completion_window: "2h"``, polled | 0.7 | 2 hours |
| ``background-8h`` | ``completion_window: "8h"``, polled | 0.6 | 8 hours |
| ``flex`` | ``service_tier: "flex"``; capacity 429s retried later | 0.5 | many minutes, unbounded |
| ``batch`` | one line of a Batch API input file (``/v1/batches``, 24h window) | 0.5 | 24 hours |

``auto`` (a job's default) picks the cheapest lane that meets the job's deadline and needs: a job with
tool calls never goes to the Batch API (one request per line, no tool rounds), flex only serves the
models that offer it, and a job with no deadline runs ``standard`` (nothing says it may wait).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum


class Lane(StrEnum):
    AUTO = "auto"
    STANDARD = "standard"
    BACKGROUND_2H = "background-2h"
    BACKGROUND_8H = "background-8h"
    FLEX = "flex"
    BATCH = "batch"


# Lanes a job can run in (``auto`` resolves to one of these).
CONCRETE_LANES: tuple[Lane, ...] = (Lane.STANDARD, Lane.BACKGROUND_2H, Lane.BACKGROUND_8H, Lane.FLEX, Lane.BATCH)

# Price of a lane as a share of the standard price (input, cached input and output alike).
PRICE_SHARE: dict[Lane, float] = {
    Lane.STANDARD: 1.0,
    Lane.BACKGROUND_2H: 0.7,
    Lane.BACKGROUND_8H: 0.6,
    Lane.FLEX: 0.5,
    Lane.BATCH: 0.5,
}

# The longest a lane may take by its terms; flex has no window (it is chosen only with this much time
# left, so a job that meets a capacity shortage can still fall back to standard).
LANE_WINDOW: dict[Lane, timedelta] = {
    Lane.STANDARD: timedelta(0),
    Lane.BACKGROUND_2H: timedelta(hours=2),
    Lane.BACKGROUND_8H: timedelta(hours=8),
    Lane.FLEX: timedelta(hours=1),
    Lane.BATCH: timedelta(hours=24),
}

# What a job needs after its lane's window to still finish: a standard run (tool rounds included).
DEADLINE_MARGIN = timedelta(minutes=30)

# Models OpenAI serves with flex processing (the flex guide's list); BATCHRUNNER_FLEX_MODELS replaces it.
DEFAULT_FLEX_MODELS: frozenset[str] = frozenset({"o3", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.1"})

# ``background_options.completion_window`` of the discount-window lanes.
COMPLETION_WINDOWS: dict[Lane, str] = {Lane.BACKGROUND_2H: "2h", Lane.BACKGROUND_8H: "8h"}

# The Batch API's completion window (the only one it offers).
BATCH_COMPLETION_WINDOW = "24h"


def lane_allows(
    lane: Lane,
    *,
    time_left: timedelta | None,
    uses_tools: bool,
    model: str | None,
    flex_models: Collection[str] = DEFAULT_FLEX_MODELS,
) -> bool:
    """Whether a job may run in ``lane``: its window (and a margin) fits the time left, and its needs fit."""
    if lane is Lane.AUTO:
        return True
    if lane is Lane.BATCH and uses_tools:  # or a conversation: anything needing more than one request
        return False
    if lane is Lane.FLEX and (model or "") not in flex_models:
        return False
    return window_fits(lane, time_left)


def window_fits(lane: Lane, time_left: timedelta | None) -> bool:
    """Whether ``lane``'s window and the margin after it fit strictly in ``time_left`` (None: no deadline,
    which only the standard lane meets)."""
    if lane in (Lane.STANDARD, Lane.AUTO):
        return True
    return time_left is not None and time_left > LANE_WINDOW[lane] + DEADLINE_MARGIN


def choose_lane(
    *,
    time_left: timedelta | None,
    uses_tools: bool,
    model: str | None,
    flex_models: Collection[str] = DEFAULT_FLEX_MODELS,
    offered: Collection[Lane] = CONCRETE_LANES,
) -> Lane:
    """The cheapest lane of ``offered`` that meets the deadline (``time_left``; None: no deadline) and
    the job's needs.

    Of lanes priced alike, the one with the shorter window wins (flex before batch): the result comes sooner.
    """
    if time_left is None:
        return Lane.STANDARD
    allowed = [
        lane
        for lane in CONCRETE_LANES
        if lane in offered
        and lane_allows(lane, time_left=time_left, uses_tools=uses_tools, model=model, flex_models=flex_models)
    ]
    return min(allowed, key=lambda lane: (PRICE_SHARE[lane], LANE_WINDOW[lane]), default=Lane.STANDARD)


def running_lane(value: str | None) -> Lane:
    """The lane a job runs in, from what its record says: a lane not yet resolved (None, ``auto``) runs standard."""
    return Lane(value) if value in CONCRETE_LANES else Lane.STANDARD


# The lanes jobs run in (every concrete one; ``LanePolicy.offered`` narrows them).
RUNNABLE_LANES: frozenset[Lane] = frozenset(CONCRETE_LANES)
# What a job file's ``lane`` and ``--lane`` accept.
LANE_CHOICES: tuple[str, ...] = (Lane.AUTO.value, *(lane.value for lane in CONCRETE_LANES))


@dataclass(frozen=True)
class LanePolicy:
    """How jobs being enqueued get their lane: ``default`` for lines that name none (a batch's
    ``--lane``), ``flex_models`` for ``auto``'s choice."""

    default: Lane = Lane.AUTO
    flex_models: frozenset[str] = DEFAULT_FLEX_MODELS
    offered: frozenset[Lane] = field(default=RUNNABLE_LANES)

    def resolve(
        self,
        requested: str | None,
        *,
        responses: bool,
        time_left: timedelta | None,
        uses_tools: bool,
        model: str | None,
    ) -> Lane:
        """The lane a job runs in: the one it (or its batch) names, else ``auto``'s choice; the Assistants
        backend has only the standard lane."""
        lane = Lane(requested) if requested is not None else self.default
        if not responses:
            return Lane.STANDARD
        if lane is Lane.BATCH and uses_tools:
            # The batch's lane for lines that name none; this job needs tool rounds, which a batch
            # cannot answer (a line that names the batch lane itself is refused when read).
            lane = Lane.AUTO
        if lane is not Lane.AUTO:
            return lane
        return choose_lane(
            time_left=time_left,
            uses_tools=uses_tools,
            model=model,
            flex_models=self.flex_models,
            offered=self.offered,
        )


__all__ = [
    "BATCH_COMPLETION_WINDOW",
    "COMPLETION_WINDOWS",
    "CONCRETE_LANES",
    "DEADLINE_MARGIN",
    "DEFAULT_FLEX_MODELS",
    "LANE_CHOICES",
    "LANE_WINDOW",
    "PRICE_SHARE",
    "RUNNABLE_LANES",
    "Lane",
    "LanePolicy",
    "choose_lane",
    "lane_allows",
    "running_lane",
    "window_fits",
]
