"""Token usage reports from the SQL views, with an estimated cost from a per-model price table."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import sqlalchemy as sa

from batchrunner.lanes import Lane, running_lane
from batchrunner.pricing import DEFAULT_MODEL_PRICES, ModelPrice, usage_cost
from batchrunner.text_table import money_cell, text_table

Grouping = Literal["batch", "assistant", "model", "day", "lane"]
ReportFormat = Literal["table", "csv", "json"]

_VIEW_KEY = {
    "batch": ("usage_by_batch", "batch_name"),
    "assistant": ("usage_by_assistant", "assistant_id"),
    "model": ("usage_by_model", "model"),
    "day": ("usage_by_day", "day"),
    "lane": ("usage_by_lane", "lane"),
}
# What one (key, model) pair cost is computed from: API objects joined to their job and batch (the views do
# not expose cached_tokens, which are priced apart).
_KEY_EXPRESSION = {
    "batch": "b.name",
    "assistant": "COALESCE(o.assistant_id, j.assistant_id)",
    "model": "o.model",
    "lane": "COALESCE(o.lane, 'standard')",
}
# usage_by_day's day, as its migration (0002) defines it, cast to the text the report's rows are keyed by.
_DAY_KEY_EXPRESSION = {
    "postgresql": "CAST(CAST((COALESCE(o.created_at, o.recorded_at) AT TIME ZONE 'UTC') AS DATE) AS VARCHAR(32))",
    "sqlite": "date(COALESCE(o.created_at, o.recorded_at))",
}


@dataclass(frozen=True)
class UsageRow:
    key: str
    attempts: int
    api_objects: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    estimated_cost_usd: float | None
    # What the same tokens would have cost in the standard lane (each object priced in its own lane above).
    standard_cost_usd: float | None = None

    @property
    def saving_usd(self) -> float | None:
        """What running in cheaper lanes saved against the standard price."""
        if self.estimated_cost_usd is None or self.standard_cost_usd is None:
            return None
        return self.standard_cost_usd - self.estimated_cost_usd


def usage_report(
    engine: sa.Engine,
    by: Grouping,
    *,
    batch_id: int | None = None,
    prices: Mapping[str, ModelPrice] = DEFAULT_MODEL_PRICES,
) -> list[UsageRow]:
    """Token usage grouped ``by`` one dimension, from the usage views; cost is None where a model has no price."""
    view, key_column = _VIEW_KEY[by]
    where = "WHERE batch_id = :batch_id" if batch_id is not None else ""
    params = {"batch_id": batch_id}
    with engine.connect() as conn:
        totals = conn.execute(
            sa.text(
                f"SELECT {key_column} AS key, SUM(attempts) AS attempts, SUM(api_objects) AS api_objects,"
                f" SUM(prompt_tokens) AS prompt,"
                f" SUM(completion_tokens) AS completion, SUM(total_tokens) AS total"
                f" FROM {view} {where} GROUP BY {key_column} ORDER BY {key_column}"
            ),
            params,
        ).all()
        costs = _costs(conn, by, batch_id, prices)
    return [
        UsageRow(
            key=str(row.key),
            attempts=int(row.attempts or 0),
            api_objects=int(row.api_objects or 0),
            prompt_tokens=int(row.prompt or 0),
            completion_tokens=int(row.completion or 0),
            total_tokens=int(row.total or 0),
            estimated_cost_usd=costs.get(str(row.key), (None, None))[0],
            standard_cost_usd=costs.get(str(row.key), (None, None))[1],
        )
        for row in totals
    ]


def _costs(
    conn: sa.Connection, by: Grouping, batch_id: int | None, prices: Mapping[str, ModelPrice]
) -> dict[str, tuple[float | None, float | None]]:
    """key -> (cost, the same usage at standard prices): each API object priced in the lane it ran in."""
    key = _DAY_KEY_EXPRESSION[conn.dialect.name] if by == "day" else _KEY_EXPRESSION[by]
    query = (
        f"SELECT {key} AS key, o.model AS model, COALESCE(SUM(o.prompt_tokens), 0) AS prompt,"
        " COALESCE(SUM(o.completion_tokens), 0) AS completion,"
        " COALESCE(SUM(o.cached_tokens), 0) AS cached, o.lane AS lane"
        " FROM api_objects o JOIN jobs j ON j.id = o.job_id JOIN batches b ON b.id = j.batch_id"
        f" {'WHERE j.batch_id = :batch_id' if batch_id is not None else ''}"
        f" GROUP BY {key}, o.model, o.lane"
    )
    costs: dict[str, tuple[float | None, float | None]] = defaultdict(lambda: (0.0, 0.0))
    for row in conn.execute(sa.text(query), {"batch_id": batch_id}).all():
        prompt = int(row.prompt or 0)
        tokens = {
            "input_tokens": prompt,
            # usage_cost refuses more cached than input tokens; a server's odd usage must not break the report.
            "cached_input_tokens": min(int(row.cached or 0), prompt),
            "output_tokens": int(row.completion or 0),
        }
        part = usage_cost(prices, row.model, lane=running_lane(row.lane), **tokens)
        standard = usage_cost(prices, row.model, lane=Lane.STANDARD, **tokens)
        cost, standard_cost = costs[str(row.key)]
        costs[str(row.key)] = (_plus(cost, part), _plus(standard_cost, standard))
    return dict(costs)


def _plus(total: float | None, part: float | None) -> float | None:
    return None if total is None or part is None else total + part


def render(rows: list[UsageRow], fmt: ReportFormat, by: Grouping) -> str:
    records = [asdict(row) | {"key": row.key} for row in rows]
    for record in records:
        record[by] = record.pop("key")
    columns = [
        by,
        "attempts",
        "api_objects",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "estimated_cost_usd",
    ]
    if by == "lane":
        columns.append("saving_usd")
        for record, row in zip(records, rows, strict=True):
            record["saving_usd"] = row.saving_usd
    if fmt == "json":
        return json.dumps([{column: record[column] for column in columns} for record in records], indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({column: record[column] for column in columns} for record in records)
        return buffer.getvalue().rstrip("\n")
    return _table(columns, records)


def _table(columns: list[str], records: list[dict[str, object]]) -> str:
    rows = [[money_cell(record[column]) for column in columns] for record in records]
    money = [column for column in columns if column.endswith("_usd")]
    counts = [column for column in columns[1:] if column not in money]
    totals = ["TOTAL"] + [str(sum(int(str(record[column])) for record in records)) for column in counts]
    for column in money:
        values = [record[column] for record in records]
        totals.append("n/a" if any(v is None for v in values) else f"{sum(float(str(v)) for v in values):.4f}")
    rows.append(totals)
    return text_table(columns, rows)
