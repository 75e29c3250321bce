"""Plain-text tables for the terminal: a header, a rule, and rows whose first column is left-aligned
and the others right-aligned (numbers)."""

from __future__ import annotations

from collections.abc import Sequence


def money_cell(value: object) -> str:
    """A cell of a report: ``n/a`` for an unknown value, four decimals for an amount."""
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    lines = ["  ".join(header.ljust(widths[i]) for i, header in enumerate(headers))]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend(
        "  ".join(value.rjust(widths[i]) if i else value.ljust(widths[i]) for i, value in enumerate(row))
        for row in rows
    )
    return "\n".join(lines)


__all__ = ["money_cell", "text_table"]
