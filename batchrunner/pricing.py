"""Model prices: USD per million tokens by model, and what a usage costs in each cost lane."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from batchrunner.lanes import PRICE_SHARE, Lane

TOKENS_PER_PRICE_UNIT = 1_000_000
PRICE_FORMATS = (
    '[input, output], [input, cached_input, output] or {"input": ..., "cached_input": ..., "output": ...} '
    "(USD per million tokens)"
)


@dataclass(frozen=True)
class ModelPrice:
    """Standard-lane USD per million input, cached input and output tokens."""

    input: float
    cached_input: float
    output: float

    def in_lane(self, lane: Lane) -> ModelPrice:
        share = PRICE_SHARE[lane]
        return ModelPrice(self.input * share, self.cached_input * share, self.output * share)


# OpenAI's published standard prices (openai.com/api/pricing); override with BATCHRUNNER_MODEL_PRICES.
DEFAULT_MODEL_PRICES: dict[str, ModelPrice] = {
    "gpt-4o": ModelPrice(2.50, 1.25, 10.00),
    "gpt-4o-mini": ModelPrice(0.15, 0.075, 0.60),
    "gpt-4.1": ModelPrice(2.00, 0.50, 8.00),
    "gpt-4.1-mini": ModelPrice(0.40, 0.10, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.025, 0.40),
    "o3-mini": ModelPrice(1.10, 0.55, 4.40),
    "o3": ModelPrice(2.00, 0.50, 8.00),
    "o4-mini": ModelPrice(1.10, 0.275, 4.40),
    "gpt-5": ModelPrice(1.25, 0.125, 10.00),
    "gpt-5-mini": ModelPrice(0.25, 0.025, 2.00),
    "gpt-5-nano": ModelPrice(0.05, 0.005, 0.40),
    "gpt-5.1": ModelPrice(1.25, 0.125, 10.00),
}


def _amount(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return float(value)


def parse_model_price(value: object) -> ModelPrice:
    """A price written as ``PRICE_FORMATS`` says; the two-number form prices cached input as input.

    Raises ``ValueError`` saying what is wrong.
    """
    if isinstance(value, ModelPrice):
        return value
    if isinstance(value, list | tuple) and len(value) in (2, 3):
        names = ("input", "output") if len(value) == 2 else ("input", "cached_input", "output")
        amounts = dict(zip(names, value, strict=True))
    elif isinstance(value, Mapping):
        unknown = sorted(str(key) for key in value if key not in {"input", "cached_input", "output"})
        missing = [key for key in ("input", "output") if key not in value]
        if unknown or missing:
            problem = f"unknown keys {unknown}" if unknown else f"missing keys {missing}"
            raise ValueError(f"{problem}: write {PRICE_FORMATS}")
        amounts = dict(value)
    else:
        raise ValueError(f"write {PRICE_FORMATS}, not {value!r}")
    input_price = _amount(amounts["input"], "input")
    cached_price = _amount(amounts.get("cached_input", input_price), "cached_input")
    if cached_price > input_price:
        # Almost always a mix-up of the three-number order, which puts cached_input second.
        raise ValueError(f"cached_input ({cached_price}) is above input ({input_price}): write {PRICE_FORMATS}")
    return ModelPrice(input_price, cached_price, _amount(amounts["output"], "output"))


def usage_cost(
    prices: Mapping[str, ModelPrice],
    model: str | None,
    *,
    input_tokens: int,
    cached_input_tokens: int = 0,
    output_tokens: int,
    lane: Lane = Lane.STANDARD,
) -> float | None:
    """USD for a usage in ``lane``; None when ``model`` has no price.

    ``input_tokens`` counts every input token, the ``cached_input_tokens`` read from the cache among them
    (as the API's usage reports them).
    """
    if lane is Lane.AUTO:
        raise ValueError("price a concrete lane: auto resolves to one per job")
    if min(input_tokens, cached_input_tokens, output_tokens) < 0 or cached_input_tokens > input_tokens:
        raise ValueError(
            f"token counts must be >= 0 with cached input within input (got input {input_tokens}, "
            f"cached {cached_input_tokens}, output {output_tokens})"
        )
    standard = prices.get(model or "")
    if standard is None:
        return None
    price = standard.in_lane(lane)
    uncached = input_tokens - cached_input_tokens
    total = uncached * price.input + cached_input_tokens * price.cached_input + output_tokens * price.output
    return total / TOKENS_PER_PRICE_UNIT


__all__ = ["DEFAULT_MODEL_PRICES", "PRICE_FORMATS", "ModelPrice", "parse_model_price", "usage_cost"]
