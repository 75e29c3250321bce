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

from batchrunner.pricing import DEFAULT_MODEL_PRICES

Grouping = Literal["batch", "assistant", "model", "day"]
ReportFormat = Literal["table", "csv", "json"]

_VIEW_KEY = {
    "batch": ("usage_by_batch", "batch_name"),
    "assistant": ("usage_by_assistant", "assistant_id"),
    "model": ("usage_by_model", "model"),
    "day": ("usage_by_day", "day"),
}
# What one (key, model) pair cost is computed from: API objects joined to their job and batch.
_KEY_EXPRESSION = {
    "batch": "b.name",
    "assistant": "COALESCE(o.assistant_id, j.assistant_id)",
    "model": "o.model",
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


def _cost(prices: Mapping[str, tuple[float, float]], model: str | None, prompt: int, completion: int) -> float | None:
    price = prices.get(model or "")
    if price is None:
        return None
    return (prompt * price[0] + completion * price[1]) / 1_000_000


def usage_report(
    engine: sa.Engine,
    by: Grouping,
    *,
    batch_id: int | None = None,
    prices: Mapping[str, tuple[float, float]] = DEFAULT_MODEL_PRICES,
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
            estimated_cost_usd=costs.get(str(row.key)),
        )
        for row in totals
    ]


def _costs(
    conn: sa.Connection, by: Grouping, batch_id: int | None, prices: Mapping[str, tuple[float, float]]
) -> dict[str, float | None]:
    if by == "day":
        source = (
            "SELECT CAST(day AS VARCHAR(32)) AS key, model, prompt_tokens AS prompt,"
            " completion_tokens AS completion FROM usage_by_day"
        )
        query = f"{source} {'WHERE batch_id = :batch_id' if batch_id is not None else ''}"
    else:
        query = (
            f"SELECT {_KEY_EXPRESSION[by]} AS key, o.model AS model, COALESCE(SUM(o.prompt_tokens), 0) AS prompt,"
            " COALESCE(SUM(o.completion_tokens), 0) AS completion"
            " FROM api_objects o JOIN jobs j ON j.id = o.job_id JOIN batches b ON b.id = j.batch_id"
            f" {'WHERE j.batch_id = :batch_id' if batch_id is not None else ''}"
            f" GROUP BY {_KEY_EXPRESSION[by]}, o.model"
        )
    costs: dict[str, float | None] = defaultdict(float)
    for row in conn.execute(sa.text(query), {"batch_id": batch_id}).all():
        key = str(row.key)
        part = _cost(prices, row.model, int(row.prompt or 0), int(row.completion or 0))
        previous = costs[key]
        costs[key] = None if part is None or previous is None else previous + part
    return dict(costs)


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
    def cell(value: object) -> str:
        if value is None:
            return "n/a"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    rows = [[cell(record[column]) for column in columns] for record in records]
    totals = ["TOTAL"] + [str(sum(int(str(record[column])) for record in records)) for column in columns[1:-1]]
    costs = [record["estimated_cost_usd"] for record in records]
    totals.append("n/a" if any(c is None for c in costs) else f"{sum(float(str(c)) for c in costs):.4f}")
    rows.append(totals)
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(widths[i]) for i, column in enumerate(columns))]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend(
        "  ".join(value.rjust(widths[i]) if i else value.ljust(widths[i]) for i, value in enumerate(row))
        for row in rows
    )
    return "\n".join(lines)
