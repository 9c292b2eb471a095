"""The Grafana dashboard and the Prometheus alerts in deploy/ against the code and the runbook, without a
network: every PromQL expression names only metrics the worker exports (q2c's from ``workflows.names``,
the Temporal SDK's as a scrape of a real worker showed them), every panel queries the provisioned
Prometheus datasource, and every alert is complete and has its section in docs/runbook.md. With
``promtool`` on the machine the rules (and the dashboard's expressions) are also checked by Prometheus
itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from q2c.config import Settings
from temporal_client import telemetry
from workflows import names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "q2c.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
DATASOURCE_UID = "prometheus"  # deploy/grafana/provisioning/datasources: the provisioned Prometheus
SEVERITIES = {"critical", "warning", "info"}

# -- the metrics that exist ----------------------------------------------------------------------------
# q2c's own: every metric name workflows.names defines. Which of them are counters (the exporter may add
# _total to those) is said here; the rest are gauges.
Q2C_METRICS = {
    value
    for value in vars(names).values()
    if isinstance(value, str) and re.fullmatch(r"q2c_[a-z0-9_]+", value)
}
Q2C_COUNTERS = {names.API_CALLS, names.ORDER_OUTCOMES, names.PARKED}

# The Temporal SDK's, as a worker on temporalio 1.35 exported them (PrometheusConfig defaults) when scraped
# after running workflows and activities that succeeded, failed, and failed a workflow task.
SDK_COUNTERS = {
    "temporal_activity_execution_failed",
    "temporal_activity_task_received",
    "temporal_long_request",
    "temporal_request",
    "temporal_request_failure",
    "temporal_sticky_cache_hit",
    "temporal_sticky_cache_total_forced_eviction",
    "temporal_worker_start",
    "temporal_workflow_completed",
    "temporal_workflow_failed",
    "temporal_workflow_task_execution_failed",
    "temporal_workflow_task_queue_poll_succeed",
}
SDK_GAUGES = {
    "temporal_num_pollers",
    "temporal_sticky_cache_size",
    "temporal_worker_task_slots_available",
    "temporal_worker_task_slots_used",
}
SDK_HISTOGRAMS = {  # in milliseconds (durations_as_seconds off)
    "temporal_activity_execution_latency",
    "temporal_activity_schedule_to_start_latency",
    "temporal_activity_succeed_endtoend_latency",
    "temporal_long_request_latency",
    "temporal_request_latency",
    "temporal_workflow_endtoend_latency",
    "temporal_workflow_task_execution_latency",
    "temporal_workflow_task_replay_latency",
    "temporal_workflow_task_schedule_to_start_latency",
}
PROMETHEUS_OWN = {"up"}  # what Prometheus records per scrape target


def worker_prometheus_config(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The PrometheusConfig the worker's runtime gets (``metrics_runtime``), without starting one."""
    made: list[Any] = []

    class RecordingRuntime:
        def __init__(self, *, telemetry: Any) -> None:
            made.append(telemetry.metrics)

    monkeypatch.setattr(telemetry, "Runtime", RecordingRuntime)
    monkeypatch.setattr(telemetry, "_runtimes", {})
    telemetry.metrics_runtime(Settings(_env_file=None, metrics_address="127.0.0.1:9464"))
    assert len(made) == 1, "metrics_runtime made no runtime for Q2C_METRICS_ADDRESS"
    return made[0]


def known_metrics(counters_total_suffix: bool) -> set[str]:
    """Every series name the worker's endpoint can serve: counters bare or with _total (as the exporter
    is configured), gauges bare, histograms as _bucket, _sum and _count."""
    suffix = "_total" if counters_total_suffix else ""
    counters = Q2C_COUNTERS | SDK_COUNTERS
    gauges = (Q2C_METRICS - Q2C_COUNTERS) | SDK_GAUGES
    histograms = {f"{name}{part}" for name in SDK_HISTOGRAMS for part in ("_bucket", "_sum", "_count")}
    return {f"{name}{suffix}" for name in counters} | gauges | histograms | PROMETHEUS_OWN


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    config = worker_prometheus_config(monkeypatch)
    # The dashboard's and the alerts' thresholds are in milliseconds and their names carry no unit suffix:
    # turning these on means changing deploy/ (and this test) with them.
    assert not config.durations_as_seconds, "the SDK's histograms are read in ms by deploy/: update it"
    assert not config.unit_suffix, "metric names in deploy/ carry no unit suffix: update it"
    return known_metrics(config.counters_total_suffix)


# -- PromQL: the metric names an expression reads ---------------------------------------------------------
PROMQL_FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "double_exponential_smoothing",
    "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
    "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
    "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort",
    "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
    "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
}  # fmt: skip
PROMQL_AGGREGATIONS = {
    "avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max", "min", "quantile",
    "stddev", "stdvar", "sum", "topk",
}  # fmt: skip
PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "atan2", "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?[\w$]+")
_IDENTIFIER = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects. Strings, label matchers ``{...}``, ranges and subqueries
    ``[...]``, label lists (``by (...)``, ``on (...)``, ...) and ``offset`` durations are dropped first;
    of the identifiers left, a word before ``(`` must be a function or aggregation (ValueError
    otherwise), keywords are skipped, and the rest are metric names."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    found = set()
    for match in _IDENTIFIER.finditer(text):
        word, call = match.group(1), match.group(2)
        if call:
            if word not in PROMQL_FUNCTIONS | PROMQL_AGGREGATIONS | PROMQL_KEYWORDS:
                raise ValueError(f"{word}(...) is no PromQL function in {expr!r}")
        elif word.lower() not in PROMQL_KEYWORDS:
            found.add(word)
    return found


def test_the_extractor_finds_metrics_and_nothing_else() -> None:
    assert metric_names(
        'sum by (system) (rate(q2c_api_calls{status="429", system=~"net.*"}[$__rate_interval]))'
        " / sum by (system) (rate(q2c_api_calls[5m])) > 0.05"
    ) == {"q2c_api_calls"}
    assert metric_names(
        "histogram_quantile(0.95, sum by (le, task_queue) "
        '(rate(temporal_activity_schedule_to_start_latency_bucket{namespace=~"$namespace"}[10m]))) > 1e4'
    ) == {"temporal_activity_schedule_to_start_latency_bucket"}
    assert metric_names('up{job="q2c-worker"} == 0 or absent(up{job="q2c-worker"})') == {"up"}
    assert metric_names("max(a_gauge) - max(a_gauge offset 30m) > bool 0 unless on (x) b_gauge") == {
        "a_gauge",
        "b_gauge",
    }
    assert metric_names(
        "max by (poller) (lag and (done == on (poller) group_left max by (poller) (done)))"
    ) == {"lag", "done"}
    assert metric_names("sum(rate(x_total[5m])) by (le) * 3600 + time() - vector(0)") == {"x_total"}
    assert metric_names("max_over_time(sum(g)[1h:5m])") == {"g"}


def test_the_extractor_finds_a_misspelled_metric(known: set[str]) -> None:
    expr = (
        'sum by (system) (rate(q2c_api_cals{status="429"}[10m])) / sum by (system) (rate(q2c_api_calls[10m]))'
    )

    assert metric_names(expr) - known == {"q2c_api_cals"}
    with pytest.raises(ValueError, match="histogram_quantil"):
        metric_names("histogram_quantil(0.95, rate(temporal_request_latency_bucket[5m]))")


def test_the_known_names_follow_the_exporter() -> None:
    assert names.API_CALLS in known_metrics(False) and f"{names.API_CALLS}_total" not in known_metrics(False)
    assert f"{names.API_CALLS}_total" in known_metrics(True) and names.API_CALLS not in known_metrics(True)
    assert names.POLL_LAG in known_metrics(True)  # a gauge: never suffixed
    assert "temporal_workflow_task_schedule_to_start_latency" not in known_metrics(False)  # only its series
    assert Q2C_COUNTERS <= Q2C_METRICS


# -- the dashboard -------------------------------------------------------------------------------------------
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels") or [])  # a row's (collapsed) panels


def query_panels() -> list[dict[str, Any]]:
    return [p for p in panels(dashboard()["panels"]) if p.get("type") != "row"]


def dashboard_expressions() -> list[str]:
    return [t["expr"] for p in query_panels() for t in p["targets"]]


def test_the_dashboard_is_q2cs() -> None:
    board = dashboard()
    assert board["uid"] == "q2c"
    assert board["title"] == "q2c — quote to cash"
    assert board["schemaVersion"] >= 36
    ids = [p["id"] for p in panels(board["panels"])]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    assert len(query_panels()) >= 10


def test_every_panel_queries_the_provisioned_prometheus() -> None:
    for panel in query_panels():
        title = panel.get("title")
        assert panel.get("datasource") == {"type": "prometheus", "uid": DATASOURCE_UID}, title
        assert panel.get("targets"), f"panel {title!r} has no query"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {title!r} has an empty query"
            assert target.get("datasource", {"uid": DATASOURCE_UID})["uid"] == DATASOURCE_UID, title
        assert {"h", "w", "x", "y"} <= set(panel.get("gridPos", {})), title


def test_every_dashboard_expression_reads_existing_metrics(known: set[str]) -> None:
    for expr in dashboard_expressions():
        read = metric_names(expr)
        assert read, f"no metric in {expr!r}"
        assert read <= known, f"unknown metric {sorted(read - known)} in {expr!r}"


def test_the_template_variables_read_existing_metrics(known: set[str]) -> None:
    for variable in dashboard()["templating"]["list"]:
        if variable.get("type") != "query":
            continue
        assert variable["datasource"]["uid"] == DATASOURCE_UID, variable["name"]
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        selector = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert selector, f"variable {variable['name']}: {query!r} is not label_values(selector, label)"
        assert metric_names(selector.group(1)) <= known, query


# -- the alerts -------------------------------------------------------------------------------------------
def alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load(ALERTS.read_text())
    assert set(rules) == {"groups"}, "a Prometheus rule file holds groups only"
    assert [g["name"] for g in rules["groups"]] == ["q2c"]
    found = []
    for group in rules["groups"]:
        assert set(group) <= {"name", "interval", "limit", "rules", "labels", "query_offset"}, group["name"]
        assert group["rules"], f"group {group['name']} has no rules"
        found += group["rules"]
    return found


def test_every_alert_is_complete() -> None:
    rules = alert_rules()
    seen = [rule.get("alert") for rule in rules]
    assert all(seen), "every rule of group q2c is an alert"
    assert len(seen) == len(set(seen)), "alert names repeat"
    for rule in rules:
        name = rule["alert"]
        assert str(rule.get("expr", "")).strip(), name
        assert re.fullmatch(r"(\d+[smhdw])+", str(rule.get("for", ""))), f"{name}: for: a duration"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary", "").strip(), f"{name} has no summary"
        assert annotations.get("description", "").strip(), f"{name} has no description"
        assert annotations.get("runbook_url", "").startswith("docs/runbook.md#"), name


def test_the_alerts_asked_for_are_there() -> None:
    assert {
        "Q2CParkedOrdersRising",
        "Q2CPollerLagging",
        "Q2CPollerStopped",
        "Q2CRateLimited",
        "Q2CNetSuiteOverShare",
        "Q2CApiTransportErrors",
        "Q2CWorkerDown",
        "Q2CActivityScheduleToStartHigh",
    } <= {rule["alert"] for rule in alert_rules()}


def test_every_alert_expression_reads_existing_metrics(known: set[str]) -> None:
    for rule in alert_rules():
        read = metric_names(rule["expr"])
        assert read, rule["alert"]
        assert read <= known, f"{rule['alert']}: unknown metric {sorted(read - known)}"


def test_the_worker_down_alert_watches_the_scrape_job_prometheus_uses() -> None:
    (rule,) = [r for r in alert_rules() if r["alert"] == "Q2CWorkerDown"]
    assert 'job="q2c-worker"' in rule["expr"]


# -- the runbook ------------------------------------------------------------------------------------------
def anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_headings(level: str) -> list[str]:
    return re.findall(rf"^{level} (.+?)\s*$", RUNBOOK.read_text(), flags=re.MULTILINE)


def test_every_alert_links_to_its_section_of_the_runbook() -> None:
    anchors = {anchor(h) for h in runbook_headings("#{1,6}")}
    for rule in alert_rules():
        target = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert target in anchors, f"{rule['alert']}: docs/runbook.md has no heading #{target}"
        assert target == anchor(rule["alert"]), f"{rule['alert']} links to another alert's section"


def test_the_runbook_describes_every_alert_and_panel_there_is() -> None:
    alerts = {rule["alert"] for rule in alert_rules()}
    described = {h for h in runbook_headings("#{2,6}") if re.fullmatch(r"Q2C\w+", h)}
    assert described == alerts, "an alert without its runbook section, or a section of no alert"
    text = RUNBOOK.read_text()
    for panel in query_panels():
        assert f"**{panel['title']}**" in text, f"the runbook does not describe panel {panel['title']!r}"


def test_the_runbook_has_its_sections() -> None:
    assert {
        "Dashboards and alerts",
        "Finding and retrying parked work",
        "Encrypted payloads and key rotation",
        "Deploying a workflow change safely",
        "Connecting to Temporal Cloud or an mTLS cluster",
        "Tracing",
        "Retention",
    } <= set(runbook_headings("##"))


# -- promtool, where it is installed --------------------------------------------------------------------------
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


def promtool_check_rules(path: Path) -> None:
    assert PROMTOOL is not None
    run = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


@needs_promtool
def test_promtool_accepts_the_alerts() -> None:
    promtool_check_rules(ALERTS)


@needs_promtool
def test_promtool_accepts_the_dashboards_expressions(tmp_path: Path) -> None:
    # Grafana's variables replaced by what they stand for, each expression as a recording rule.
    def concrete(expr: str) -> str:
        expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
        return re.sub(r"\$\w+", ".*", expr)

    rules = [
        {"record": f"q2c_dashboard:expr{i}", "expr": concrete(e)}
        for i, e in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    promtool_check_rules(path)
