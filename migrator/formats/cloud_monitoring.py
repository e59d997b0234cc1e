"""Google Cloud Monitoring dashboards and alert policies (the JSON of the Monitoring API,
`gcloud monitoring dashboards describe --format=json`, Terraform's `dashboard_json`).

Managed Service for Prometheus exposes a scraped metric `m` as the Monitoring metric type
`prometheus.googleapis.com/m/<kind>`. So a chart holds vLLM metrics in two ways:
- `timeSeriesQuery.prometheusQuery`: PromQL (Grafana-style `${__interval}` included) — a PROMQL
  site whatever it says;
- `timeSeriesFilter.filter` (and the ratio's numerator/denominator), or an MQL
  `timeSeriesQueryLanguage`: a TEXT site (field "filter" / "timeSeriesQueryLanguage") when it
  mentions a needle; the metric name sits inside the type string, so a rename edits it there.

Charts are panels: sites carry a `GrafanaPlace` (uid = the dashboard's resource `name`, else its
`displayName`; panel title = the widget title; `kind` "target"; `target_removal` removes the
data set while the chart keeps another one with a query). Alert policies'
`conditionPrometheusQueryLanguage.query` is PromQL with a `RulePlace` (kind "alert").
"""

from __future__ import annotations

from typing import Any

from migrator.formats.base import GrafanaPlace, RulePlace, SiteContext, SiteKind
from migrator.formats.grafana import DashboardWalker, Panel, panel_locator, removal_of
from migrator.formats.json_index import json_pointer
from migrator.formats.json_sites import one_line

__all__ = ["CloudMonitoringWalker", "LAYOUTS"]

# Layout key -> how to reach its widgets: (list key, nested list key or None).
LAYOUTS = {
    "mosaicLayout": ("tiles", "widget"),
    "gridLayout": ("widgets", None),
    "rowLayout": ("rows", "widgets"),
    "columnLayout": ("columns", "widgets"),
}
# Where a time series query's strings are, inside `timeSeriesQuery`.
_QUERY_TEXTS = (
    (("timeSeriesFilter", "filter"), "filter"),
    (("timeSeriesFilterRatio", "numerator", "filter"), "filter"),
    (("timeSeriesFilterRatio", "denominator", "filter"), "filter"),
    (("timeSeriesQueryLanguage",), "timeSeriesQueryLanguage"),
)
# Alert policy conditions that filter by metric type or use MQL (text), next to PromQL ones.
_CONDITION_TEXTS = (
    (("conditionThreshold", "filter"), "filter"),
    (("conditionThreshold", "denominatorFilter"), "filter"),
    (("conditionAbsent", "filter"), "filter"),
    (("conditionMonitoringQueryLanguage", "query"), "query"),
)


class CloudMonitoringWalker(DashboardWalker):
    @staticmethod
    def is_cloud_dashboard(o: dict[str, Any]) -> bool:
        return any(type(o.get(key)) is dict for key in LAYOUTS)

    def is_alert_policy(self, o: dict[str, Any]) -> bool:
        conditions = self.arr(o.get("conditions"))
        return conditions is not None and any(
            type(c) is dict and any(n.startswith("condition") for n in c) for c in conditions
        )

    def widgets(self, d: dict[str, Any], path: list[Any]) -> list[tuple[dict[str, Any], list[Any]]]:
        found: list[tuple[dict[str, Any], list[Any]]] = []
        for layout, (list_key, nested) in LAYOUTS.items():
            items = self.arr(self.at(d, layout, list_key))
            for i, item in enumerate(items if items is not None else ()):
                base = path + [layout, list_key, i]
                if nested is None:
                    if type(item) is dict:
                        found.append((item, base))
                elif nested == "widget":
                    widget = self.obj(self.at(item, "widget"))
                    if widget is not None:
                        found.append((widget, base + ["widget"]))
                else:
                    inner = self.arr(self.at(item, nested))
                    for j, widget in enumerate(inner if inner is not None else ()):
                        if type(widget) is dict:
                            found.append((widget, base + [nested, j]))
        return found

    def walk_cloud_dashboard(self, d: dict[str, Any], path: list[Any]) -> None:
        previous = self.uid
        title = self.s(d.get("displayName"))
        self.uid = self.s(d.get("name")) or title
        self.dashboards.append((self.uid, title))
        for widget, wpath in self.widgets(d, path):
            panel = Panel(widget, wpath, None, self.s(widget.get("title")), None)
            for chart_key, chart in self.members(widget, wpath):
                if type(chart) is not dict:
                    continue
                data_sets = self.arr(chart.get("dataSets"))
                if data_sets is not None:  # xyChart, timeSeriesTable, pieChart
                    self.walk_data_sets(data_sets, wpath + [chart_key, "dataSets"], panel)
                elif type(chart.get("timeSeriesQuery")) is dict:  # scorecard, gauge
                    self.walk_time_series_query(chart["timeSeriesQuery"], wpath + [chart_key], panel, None, ())
            if panel.has_promql:
                self.prose(widget.get("title"), ("title",), "title", panel, what="widget")
        self.uid = previous

    def walk_data_sets(self, data_sets: list[Any], path: list[Any], panel: Panel) -> None:
        queries = [self.obj(self.at(ds, "timeSeriesQuery")) for ds in data_sets]
        with_query = [i for i, q in enumerate(queries) if q is not None and self.has_query(q)]
        for i, query in enumerate(queries):
            if query is None:
                continue
            others = [j for j in with_query if j != i]
            siblings = tuple(
                v for j in others if (v := self.s(queries[j].get("prometheusQuery"))) is not None  # type: ignore[union-attr]
            )
            self.walk_time_series_query(
                query, path + [i], panel, removal_of(self.index, path, i, bool(others)), siblings,
                self.s(self.at(data_sets[i], "legendTemplate")),
            )
        if panel.has_promql:
            for i, data_set in enumerate(data_sets):
                for key in ("legendTemplate", "sliceNameTemplate"):
                    where = (*path[len(panel.path) :], i, key)
                    self.prose(self.at(data_set, key), where, "legendFormat", panel, what="widget")

    def has_query(self, query: dict[str, Any]) -> bool:
        if self.s(query.get("prometheusQuery")):
            return True
        return any(self.s(self.at(query, *keys)) for keys, _ in _QUERY_TEXTS)

    def walk_time_series_query(
        self, query: dict[str, Any], holder: list[Any], panel: Panel, removal: Any, siblings: tuple[str, ...],
        legend: str | None = None,
    ) -> None:
        """One `timeSeriesQuery`; `holder` is the path of the object removal would delete;
        `legend` its data set's `legendTemplate` (None: none, Cloud Monitoring's own legend)."""
        qpath = holder + ["timeSeriesQuery"]

        def place() -> GrafanaPlace:
            return self.place(
                panel, path=json_pointer(holder), kind="target", target_removal=removal, sibling_exprs=siblings,
                legend=legend,
            )

        promql = query.get("prometheusQuery")
        if type(promql) is str and promql:
            ppath = qpath + ["prometheusQuery"]
            pointer = json_pointer(ppath)
            context = SiteContext(grafana=place(), field="prometheusQuery", json_path=pointer)
            self.add(ppath, SiteKind.PROMQL, panel_locator(pointer, panel, what="widget"), context)
            panel.has_promql = True
        for keys, field in _QUERY_TEXTS:
            value = self.at(query, *keys)
            tpath = qpath + list(keys)
            if type(value) is not str or not self.mentions(value, tpath):
                continue
            pointer = json_pointer(tpath)
            context = SiteContext(grafana=place(), field=field, json_path=pointer)
            self.add(tpath, SiteKind.TEXT, panel_locator(pointer, panel, what="widget"), context)
            panel.has_promql = True

    def walk_alert_policy(self, policy: dict[str, Any], path: list[Any]) -> None:
        policy_name = self.s(policy.get("displayName"))
        conditions = self.arr(policy.get("conditions"))
        for ci, condition in enumerate(conditions if conditions is not None else ()):
            if type(condition) is not dict:
                continue
            cpath = path + ["conditions", ci]
            cname = self.s(condition.get("displayName"))
            parts = [f'alert policy "{one_line(policy_name)}"'] if policy_name else []
            if cname:
                parts.append(f'condition "{one_line(cname)}"')
            suffix = f" ({', '.join(parts)})" if parts else ""
            promql = self.obj(condition.get("conditionPrometheusQueryLanguage"))
            rule = RulePlace(
                kind="alert",
                name=self.s(self.at(promql, "alertRule")) or cname or policy_name,
                group=self.s(self.at(promql, "ruleGroup")) or policy_name,
                index=(0, ci),
            )
            places: list[tuple[Any, tuple[str, ...], str, SiteKind]] = [
                (self.at(promql, "query"), ("conditionPrometheusQueryLanguage", "query"), "query", SiteKind.PROMQL)
            ]
            places += [(self.at(condition, *keys), keys, field, SiteKind.TEXT) for keys, field in _CONDITION_TEXTS]
            self.rules.append(rule)
            for value, keys, field, kind in places:
                if type(value) is not str or not value:
                    continue
                vpath = cpath + list(keys)
                if kind is SiteKind.TEXT and not self.mentions(value, vpath):
                    continue
                pointer = json_pointer(vpath)
                context = SiteContext(rule=rule, field=field, json_path=pointer)
                self.add(vpath, kind, pointer + suffix, context)
