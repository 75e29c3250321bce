"""Static checks of deploy/grafana/batchrunner.json: it loads, queries only real metrics, covers the topics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.deploy.dashboard_queries import (
    DASHBOARD_PATH,
    TARGET_LABELS,
    ExpressionSummary,
    batchrunner_metrics,
    dramatiq_metrics,
    iter_panels,
    iter_targets,
    known_series,
    load_dashboard,
    substitute_grafana_variables,
    summarize,
)

Panel = dict[str, Any]
Predicate = Callable[[Panel, ExpressionSummary], bool]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def _summaries(dashboard: dict[str, Any]) -> list[tuple[Panel, ExpressionSummary]]:
    return [(panel, summarize(target["expr"])) for panel, target in iter_targets(dashboard)]


def test_dashboard_is_a_grafana_model_with_a_prometheus_datasource_variable(dashboard: dict[str, Any]) -> None:
    """The file is JSON with a title, a uid and a `datasource` variable of type prometheus."""
    assert dashboard["title"] and dashboard["uid"]
    assert isinstance(dashboard["schemaVersion"], int)
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_has_targets_and_uses_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    """Each panel has a title, at least one query with an expression, and no hard-coded datasource."""
    panels = list(iter_panels(dashboard))
    assert len(panels) >= 10
    for panel in panels:
        title = panel.get("title")
        assert title, f"panel {panel.get('id')} has no title"
        assert panel.get("targets"), f"panel {title!r} has no targets"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"panel {title!r} repeats a refId"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {title!r} target {target['refId']} has no expr"
            assert target["datasource"]["uid"] == "${datasource}", title


def test_panel_ids_are_unique_and_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    """Grafana needs unique panel ids; overlapping grid positions hide panels behind others."""
    panels = list(iter_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_expression_uses_only_defined_metrics_and_their_labels(dashboard: dict[str, Any]) -> None:
    """Metric names come from batchrunner.metrics or Dramatiq's middleware; labels exist on those metrics."""
    series = known_series()
    for panel, target in iter_targets(dashboard):
        expr = substitute_grafana_variables(target["expr"])
        summary = summarize(expr)
        where = f"{panel['title']!r} {target['refId']}: {target['expr']}"
        assert summary.metrics, f"no metric found in {where}"
        unknown = summary.metrics - series.keys()
        assert not unknown, f"unknown metric(s) {sorted(unknown)} in {where}"
        allowed = set(TARGET_LABELS)
        for name in summary.metrics:
            allowed |= series[name].labels
            if name.endswith("_bucket"):
                allowed.add("le")
        assert summary.labels_used <= allowed, f"unknown label(s) {sorted(summary.labels_used - allowed)} in {where}"


def test_quantiles_aggregate_buckets_by_le(dashboard: dict[str, Any]) -> None:
    """histogram_quantile reads `_bucket` series summed with `le` kept, or it returns nothing."""
    quantile_summaries = [s for _, s in _summaries(dashboard) if "histogram_quantile" in s.functions]
    assert quantile_summaries
    for summary in quantile_summaries:
        assert all(name.endswith("_bucket") for name in summary.metrics), summary
        assert "le" in summary.grouping, summary


def test_counters_are_only_read_through_rate_or_increase(dashboard: dict[str, Any]) -> None:
    """A raw counter value means nothing after a restart; panels show rates or increases."""
    series = known_series()
    for panel, summary in _summaries(dashboard):
        counters = {name for name in summary.metrics if series[name].type in {"counter", "histogram"}}
        if counters:
            assert summary.functions & {"rate", "irate", "increase"}, (panel["title"], counters)


def _uses(metric: str, *, by: str | None = None, function: str | None = None) -> Predicate:
    def check(panel: Panel, summary: ExpressionSummary) -> bool:
        return (
            metric in summary.metrics
            and (by is None or by in summary.grouping)
            and (function is None or function in summary.functions)
        )

    return check


def _per_minute_total(panel: Panel, summary: ExpressionSummary) -> bool:
    per_minute = panel["fieldConfig"]["defaults"].get("unit") == "opm"
    return "batchrunner_runs_finished_total" in summary.metrics and "status" not in summary.grouping and per_minute


def _api_429s(panel: Panel, summary: ExpressionSummary) -> bool:
    return "batchrunner_api_requests_total" in summary.metrics and any(
        m.label == "status_code" and m.op == "=" and m.value == "429" for m in summary.matchers
    )


REQUIRED_TOPICS: dict[str, Predicate] = {
    "run outcomes by status": _uses("batchrunner_runs_finished_total", by="status"),
    "throughput (runs finished per minute)": _per_minute_total,
    "429s by kind": _uses("batchrunner_rate_limited_total", by="kind"),
    "API requests answered 429": _api_429s,
    "token spend by model": _uses("batchrunner_tokens_total", by="model"),
    "tool calls by outcome": _uses("batchrunner_tool_calls_total", by="outcome"),
    "tool call latency": _uses("batchrunner_tool_call_duration_seconds_bucket", function="histogram_quantile"),
    "jobs in flight": _uses("batchrunner_jobs_in_flight"),
    "jobs by state": _uses("batchrunner_jobs", by="state"),
    "messages in progress": _uses("dramatiq_messages_inprogress"),
    "delayed messages": _uses("dramatiq_delayed_messages_inprogress"),
    "run latency percentiles": _uses("batchrunner_run_duration_seconds_bucket", function="histogram_quantile"),
    "API request latency": _uses("batchrunner_api_request_duration_seconds_bucket", function="histogram_quantile"),
    "rate-limit budget remaining": _uses("batchrunner_rate_limit_budget_remaining", by="resource"),
    "sweeper re-drives": _uses("batchrunner_sweeper_redrives_total"),
}


@pytest.mark.parametrize("topic", sorted(REQUIRED_TOPICS))
def test_dashboard_covers_topic(dashboard: dict[str, Any], topic: str) -> None:
    """Some panel answers the operator's question named by `topic`."""
    check = REQUIRED_TOPICS[topic]
    assert any(check(panel, summary) for panel, summary in _summaries(dashboard)), topic


def test_every_batchrunner_metric_has_a_panel(dashboard: dict[str, Any]) -> None:
    """A metric defined in batchrunner.metrics but charted nowhere is a metric nobody watches."""
    used = set().union(*(summary.metrics for _, summary in _summaries(dashboard)))
    unused = [metric.family for metric in batchrunner_metrics() if not metric.series_names() & used]
    assert not unused


def test_known_metrics_are_introspected_not_listed() -> None:
    """The metric inventory comes from the code: both sources are non-empty and include known families."""
    ours = {metric.family: metric for metric in batchrunner_metrics()}
    theirs = {metric.family: metric for metric in dramatiq_metrics()}
    assert ours["batchrunner_runs_finished"].type == "counter"
    assert ours["batchrunner_runs_finished"].labels == {"status", "model", "backend"}
    assert ours["batchrunner_run_duration_seconds"].type == "histogram"
    assert theirs["dramatiq_messages_inprogress"].type == "gauge"
    assert theirs["dramatiq_messages"].labels == {"queue_name", "actor_name"}
    assert DASHBOARD_PATH.is_file()


@pytest.mark.parametrize(
    ("expr", "metrics", "grouping", "functions"),
    [
        ('sum by (kind) (rate(a_total{x="1}"}[5m]))', {"a_total"}, {"kind"}, {"sum", "rate"}),
        (
            "histogram_quantile(0.95, sum(rate(b_bucket[1m])) by (le))",
            {"b_bucket"},
            {"le"},
            {"histogram_quantile", "sum", "rate"},
        ),
        ("max(c) / on (job) group_left d * 60 offset 5m", {"c", "d"}, {"job"}, {"max"}),
    ],
)
def test_expression_reader(expr: str, metrics: set[str], grouping: set[str], functions: set[str]) -> None:
    """The small PromQL reader separates metrics from functions, labels, numbers and durations."""
    summary = summarize(expr)
    assert summary.metrics == metrics
    assert summary.grouping == grouping
    assert summary.functions == functions


def test_unknown_grafana_variable_is_reported() -> None:
    """A query using a variable the tests cannot substitute fails loudly instead of reaching Prometheus."""
    assert substitute_grafana_variables("rate(x[$__rate_interval])") == "rate(x[1m])"
    with pytest.raises(KeyError, match="model"):
        substitute_grafana_variables('x{model="$model"}')
