"""The Grafana dashboard's queries, and the metrics they may use, for the dashboard tests.

A deliberately small PromQL reader: it finds metric names, label matchers, grouping labels and
functions in an expression, which is all a dashboard check needs (no full parser is installed).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

import batchrunner.metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_PATH = REPO / "deploy" / "grafana" / "batchrunner.json"

# Labels Prometheus attaches to every scraped series (the scrape job and target).
TARGET_LABELS = frozenset({"instance", "job"})
PROMQL_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "inf",
        "nan",
        "atan2",
    }
)
# Concrete values for Grafana's built-in variables when a query is sent to Prometheus directly.
GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"\{([^{}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')')
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")
_VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass
class ExpressionSummary:
    """What one PromQL expression reads and how it aggregates."""

    metrics: set[str] = field(default_factory=set)
    matchers: list[Matcher] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)

    @property
    def labels_used(self) -> set[str]:
        return self.grouping | {matcher.label for matcher in self.matchers}


def summarize(expr: str) -> ExpressionSummary:
    """Metric names, matchers, grouping labels and functions/aggregations of ``expr``."""
    summary = ExpressionSummary()

    def take_selector(match: re.Match[str]) -> str:
        for label, op, quoted in _MATCHER.findall(match.group(1)):
            summary.matchers.append(Matcher(label, op, quoted[1:-1]))
        return " "

    def take_grouping(match: re.Match[str]) -> str:
        summary.grouping.update(label.strip() for label in match.group(1).split(",") if label.strip())
        return " "

    rest = _SELECTOR.sub(take_selector, expr)
    rest = _STRING.sub(" ", rest)
    rest = _RANGE.sub(" ", rest)
    rest = _GROUPING.sub(take_grouping, rest)
    for name, call in _IDENTIFIER.findall(rest):
        if call:
            summary.functions.add(name)
        elif name not in PROMQL_KEYWORDS:
            summary.metrics.add(name)
    return summary


def substitute_grafana_variables(expr: str, variables: dict[str, str] | None = None) -> str:
    """``expr`` with Grafana's variables replaced; raises KeyError naming any variable it does not know."""
    values = {**GRAFANA_VARIABLES, **(variables or {})}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


# -- the dashboard ----------------------------------------------------------------------------------


def load_dashboard(path: Path = DASHBOARD_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as file:
        data: dict[str, Any] = json.load(file)
    return data


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data, including those inside (collapsed) rows; rows themselves are skipped."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from (inner for inner in panel.get("panels", []) if inner.get("type") != "row")
        else:
            yield panel


def iter_targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every query of the dashboard."""
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


# -- the metrics a query may use ----------------------------------------------------------------------


@dataclass(frozen=True)
class KnownMetric:
    family: str
    type: str
    labels: frozenset[str]
    source: str

    def series_names(self) -> set[str]:
        """The names this family is exposed under (no ``_created``: multiprocess mode omits it)."""
        if self.type == "counter":
            return {f"{self.family}_total"}
        if self.type == "histogram":
            return {f"{self.family}_bucket", f"{self.family}_sum", f"{self.family}_count"}
        if self.type == "summary":
            return {self.family, f"{self.family}_sum", f"{self.family}_count"}
        return {self.family}


def batchrunner_metrics() -> list[KnownMetric]:
    """Every metric object defined in ``batchrunner.metrics``, introspected."""
    found = []
    for value in vars(batchrunner.metrics).values():
        if isinstance(value, MetricWrapperBase):
            (described,) = value.describe()
            labels = frozenset(str(label) for label in value._labelnames)
            found.append(KnownMetric(described.name, described.type, labels, "batchrunner.metrics"))
    return found


_DRAMATIQ_METRIC = re.compile(
    r'prom\.(Counter|Gauge|Histogram|Summary)\(\s*"(\w+)",\s*"[^"]*",\s*\[([^\]]*)\]', re.DOTALL
)


def dramatiq_metrics() -> list[KnownMetric]:
    """The metrics Dramatiq's Prometheus middleware defines, read from its source (importing it has side
    effects: it creates a directory and reads the environment)."""
    spec = importlib.util.find_spec("dramatiq.middleware.prometheus")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text(encoding="utf-8")
    found = []
    for kind, name, labels in _DRAMATIQ_METRIC.findall(source):
        family = name.removesuffix("_total") if kind == "Counter" else name
        label_names = frozenset(label.strip().strip("\"'") for label in labels.split(",") if label.strip())
        found.append(KnownMetric(family, kind.lower(), label_names, "dramatiq.middleware.prometheus"))
    return found


def known_series() -> dict[str, KnownMetric]:
    """Every series name a dashboard query may use, mapped to its metric family."""
    series: dict[str, KnownMetric] = {}
    for metric in [*batchrunner_metrics(), *dramatiq_metrics()]:
        for name in metric.series_names():
            series[name] = metric
    return series
