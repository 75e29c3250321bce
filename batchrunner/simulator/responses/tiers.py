"""Service tiers and background discount windows of a response: flex, and `background_options`.

`background_options` (the background guide and the SDK's `response_create_params`; not yet in the
OpenAPI document) asks for a completion window: `soonest` (the default), or the cheaper `2h` and
`8h`, which need `background: true`, the standard tier and no streaming. A `2h`/`8h` response runs
`background_window_slowdown` times longer and reports `service_tier: "default"`.

`service_tier: "flex"` serves only the models of `flex_models`; a share of flex requests
(`flex_unavailable_rate`) meets a capacity shortage: 429 `resource_unavailable`, which is not a
rate limit (it takes nothing from the rate-limit buckets and names no retry-after).
"""

from __future__ import annotations

import random
from typing import Any

from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.errors import APIError, invalid
from batchrunner.simulator.responses.items import reject_unknown
from batchrunner.simulator.validation import expect_object, get_enum, get_string

COMPLETION_WINDOWS = ("soonest", "2h", "8h")
DISCOUNT_WINDOWS = frozenset(("2h", "8h"))
STANDARD_TIERS = frozenset(("auto", "default"))
FLEX_UNAVAILABLE_MESSAGE = (
    "Resource unavailable: flex processing has no capacity for this request right now. "
    "Retry later, or send it without service_tier 'flex'."
)


def parse_background_options(body: dict[str, Any]) -> dict[str, Any] | None:
    """`background_options` normalised as the response echoes it, or None when not sent."""
    value = body.get("background_options")
    if value is None:
        return None
    options = expect_object(value, "background_options")
    reject_unknown(options, ("completion_window", "continuation_id"), "background_options")
    shown: dict[str, Any] = {
        "completion_window": get_enum(options, "completion_window", "background_options", COMPLETION_WINDOWS)
        or "soonest"
    }
    continuation_id = get_string(options, "continuation_id", "background_options")
    if continuation_id is not None:
        shown["continuation_id"] = continuation_id
    return shown


def check_background_options(
    options: dict[str, Any] | None, *, background: bool, stream: bool, tier: str | None
) -> None:
    """The 400s of background_options that contradict the rest of the request."""
    if options is None:
        return
    if not background:
        raise invalid("'background_options' requires 'background' to be true.", "background_options")
    if options["completion_window"] not in DISCOUNT_WINDOWS:
        return
    window = options["completion_window"]
    if stream:
        raise invalid(f"completion_window '{window}' cannot be combined with 'stream': true.", "stream")
    if tier is not None and tier not in STANDARD_TIERS:
        raise invalid(
            f"completion_window '{window}' needs the standard service tier; it cannot be combined with "
            f"service_tier '{tier}'.",
            "service_tier",
        )


def window_slowdown(config: SimConfig, options: dict[str, Any] | None) -> float:
    """How many times longer than usual the response takes (1 unless in a discount window)."""
    if options is not None and options["completion_window"] in DISCOUNT_WINDOWS:
        return config.background_window_slowdown
    return 1.0


def check_flex_model(config: SimConfig, model: str, tier: str) -> None:
    """400 when flex is asked for a model that does not offer it."""
    if tier == "flex" and model not in config.flex_models:
        offered = ", ".join(sorted(config.flex_models))
        raise invalid(
            f"Flex processing is not available for model '{model}'. Models that offer it: {offered}.",
            "service_tier",
        )


def asks_flex_capacity(config: SimConfig, body: Any) -> bool:
    """Whether a POST /responses body is a flex request for a model that offers flex."""
    if not isinstance(body, dict) or body.get("service_tier") != "flex":
        return False
    return body.get("model") in config.flex_models


def draw_flex_shortage(config: SimConfig, request_number: int) -> None:
    """The 429 of a capacity shortage, for a deterministic share of flex requests."""
    if not config.flex_unavailable_rate:
        return
    if random.Random(f"{config.seed}:flex:{request_number}").random() < config.flex_unavailable_rate:
        raise APIError(429, FLEX_UNAVAILABLE_MESSAGE, type="server_error", code="resource_unavailable")
