"""Which Grafana datasources are Prometheus: a query for Loki or Elasticsearch is never PromQL.

Only the clearly-not-Prometheus case says False: an unknown, default or unresolved `$variable`
datasource is taken to be Prometheus, the common case for dashboards that query vLLM.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["PROMETHEUS_TYPES", "is_mixed", "is_prometheus_datasource"]

PROMETHEUS_TYPES = frozenset(
    {
        "prometheus",
        "grafana-amazonprometheus-datasource",
        "grafana-azureprometheus-datasource",
        "grafana-prometheus-datasource",
        "victoriametrics-datasource",
        "victoriametrics-metrics-datasource",
    }
)
# Substrings of a datasource uid/name that make it clearly not Prometheus.
_NON_PROMETHEUS_MARKERS = (
    "loki",
    "elasticsearch",
    "opensearch",
    "influx",
    "tempo",
    "mysql",
    "postgres",
    "mssql",
    "graphite",
    "cloudwatch",
    "clickhouse",
    "jaeger",
    "zipkin",
    "pyroscope",
)
# `{"type": "datasource", "uid": "-- Mixed --"}`: the target's own datasource decides.
_MIXED = frozenset({"-- Mixed --", "-- mixed --"})
_VARIABLE_RE = re.compile(r"\$\{(\w+)(?::[\w-]+)?\}|\$(\w+)|\[\[(\w+)(?::[\w-]+)?\]\]")


def _is_variable(value: str) -> re.Match[str] | None:
    return _VARIABLE_RE.fullmatch(value.strip())


def is_prometheus_datasource(ds: Any, variables: dict[str, str] | None = None) -> bool:
    """False only when a datasource is clearly not Prometheus; unknown/default/`$var` → True.

    `variables` maps datasource-variable names (templating `type: datasource` and `__inputs`)
    to plugin ids, so `${DS_LOKI}` resolves to Loki when the dashboard says so.
    """
    variables = variables or {}
    if ds is None:
        return True
    if isinstance(ds, dict):
        kind = ds.get("type")
        if isinstance(kind, str) and kind and not _is_variable(kind) and kind != "datasource":
            return kind in PROMETHEUS_TYPES
        ref = ds.get("uid")
        if not isinstance(ref, str):
            ref = ds.get("name")
        return _name_is_prometheus(ref, variables) if isinstance(ref, str) else True
    if isinstance(ds, str):
        return _name_is_prometheus(ds, variables)
    return True


def _name_is_prometheus(name: str, variables: dict[str, str]) -> bool:
    m = _is_variable(name)
    if m is not None:
        plugin = variables.get(m.group(1) or m.group(2) or m.group(3) or "")
        if plugin is None:
            return True  # an unresolved variable: assume the common case
        name = plugin
        if plugin in PROMETHEUS_TYPES:
            return True
    lower = name.lower()
    return not any(marker in lower for marker in _NON_PROMETHEUS_MARKERS)


def is_mixed(ds: Any) -> bool:
    if isinstance(ds, dict):
        ds = ds.get("uid")
    return isinstance(ds, str) and ds in _MIXED

