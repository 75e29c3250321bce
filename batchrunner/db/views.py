"""The token-usage views, for queries and for users' SQL.

The views are created by the migrations (their SQL lives there, frozen with the revision that made
them); this module only names them and their columns. Usage is summed over ``api_objects``: every
attempt and every response of a tool-round chain counts, since each was paid for. Sums are never
NULL (0 when nothing was recorded), and every view has ``batch_id`` as its first grouping column, so a
report for one batch filters on it and a report over all batches sums the view's rows again::

    SELECT model, SUM(attempts), SUM(total_tokens) FROM usage_by_model GROUP BY model

``usage_by_batch``
    batch_id, batch_name, jobs (jobs in the batch, whether run yet or not), attempts (attempts
    made), api_objects (runs or responses made), prompt_tokens, completion_tokens, total_tokens.
    Every batch has a row, with zeros before its first attempt.
``usage_by_assistant``
    batch_id, assistant_id (the object's, else the job's), attempts, api_objects, tokens.
``usage_by_model``
    batch_id, model (NULL when the API reported none), attempts, api_objects, tokens.
``usage_by_day``
    batch_id, day (UTC date the object was created, else recorded: a ``DATE`` on Postgres, the text
    ``YYYY-MM-DD`` on SQLite), model, attempts, api_objects, tokens.
``usage_by_lane``
    batch_id, lane (the cost lane the object ran in, ``lanes.Lane``; objects from before lanes ran
    ``standard``), model, attempts, api_objects, prompt_tokens, cached_tokens (of the prompt tokens,
    those the API served from its cache), completion_tokens, total_tokens.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, column, table
from sqlalchemy.sql.expression import ColumnClause, TableClause

USAGE_BY_BATCH = "usage_by_batch"
USAGE_BY_ASSISTANT = "usage_by_assistant"
USAGE_BY_MODEL = "usage_by_model"
USAGE_BY_DAY = "usage_by_day"
USAGE_BY_LANE = "usage_by_lane"
USAGE_VIEWS = (USAGE_BY_BATCH, USAGE_BY_ASSISTANT, USAGE_BY_MODEL, USAGE_BY_DAY, USAGE_BY_LANE)


def _sums() -> list[ColumnClause[int]]:
    return [
        column("attempts", BigInteger()),
        column("api_objects", BigInteger()),
        column("prompt_tokens", BigInteger()),
        column("completion_tokens", BigInteger()),
        column("total_tokens", BigInteger()),
    ]


# Lightweight selectables (not part of the ORM metadata, so schema comparison ignores them).
usage_by_batch: TableClause = table(
    USAGE_BY_BATCH,
    column("batch_id", Integer()),
    column("batch_name", String()),
    column("jobs", BigInteger()),
    *_sums(),
)
usage_by_assistant: TableClause = table(
    USAGE_BY_ASSISTANT, column("batch_id", Integer()), column("assistant_id", String()), *_sums()
)
usage_by_model: TableClause = table(USAGE_BY_MODEL, column("batch_id", Integer()), column("model", String()), *_sums())
# ``day`` is left untyped: a date on Postgres, text on SQLite.
usage_by_day: TableClause = table(
    USAGE_BY_DAY, column("batch_id", Integer()), column("day"), column("model", String()), *_sums()
)
usage_by_lane: TableClause = table(
    USAGE_BY_LANE,
    column("batch_id", Integer()),
    column("lane", String()),
    column("model", String()),
    column("attempts", BigInteger()),
    column("api_objects", BigInteger()),
    column("prompt_tokens", BigInteger()),
    column("cached_tokens", BigInteger()),
    column("completion_tokens", BigInteger()),
    column("total_tokens", BigInteger()),
)

__all__ = [
    "USAGE_BY_ASSISTANT",
    "USAGE_BY_BATCH",
    "USAGE_BY_DAY",
    "USAGE_BY_LANE",
    "USAGE_BY_MODEL",
    "USAGE_VIEWS",
    "usage_by_assistant",
    "usage_by_batch",
    "usage_by_day",
    "usage_by_lane",
    "usage_by_model",
]
