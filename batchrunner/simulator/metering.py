"""Which model's rate limits a request counts against.

OpenAI sets its limits per model (some models share theirs) and documents nothing finer. The simulator
gives a model limits of its own only when ``SimConfig.model_limits`` names it; every other request
shares the default bucket (``--rpm``, ``--tpm``), as models sharing one limit do. A request concerns
the model a create names (a response's ``model``; a run's ``model`` or else its assistant's), or the
model of the response or run it looks at, cancels or answers (retrieve, input items, tool outputs,
steps). Requests that concern no model (threads, messages, conversations, listing a thread's runs)
use the default bucket. Every answer's ``x-ratelimit-*`` headers describe the bucket that metered it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchrunner.simulator.state import Store

_CREATES_RUN = frozenset({"POST /v1/threads/{thread_id}/runs", "POST /v1/threads/runs"})


def metered_model(route: str, params: Mapping[str, str], body: Any, store: Store) -> str | None:
    """The model a request to ``route`` (``"METHOD /template"``) concerns, or None."""
    fields = body if isinstance(body, dict) else {}
    if route == "POST /v1/responses":
        model = fields.get("model")
        return model if isinstance(model, str) else None
    if "response_id" in params:
        response = store.responses.get(params["response_id"])
        return response.settings.model if response is not None else None
    if route in _CREATES_RUN:
        model = fields.get("model")
        if isinstance(model, str) and model:
            return model
        assistant = store.assistants.get(str(fields.get("assistant_id")))
        return assistant.model if assistant is not None else None
    if "run_id" in params:
        run = store.runs.get(params["run_id"])
        return run.model if run is not None else None
    return None


__all__ = ["metered_model"]
