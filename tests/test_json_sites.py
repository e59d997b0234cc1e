"""The JSON handler's site API: needles from SiteNeeds, containers, prose, composition of embedded
documents, generated files, Cloud Monitoring dashboards and alert policies."""

from __future__ import annotations

import json

import pytest

from migrator.engine import apply_edits
from migrator.formats.base import RulePlace, Site, SiteKind, SiteNeeds
from migrator.formats.json_format import JsonHandler, dashboard_sites_from_string

HANDLER = JsonHandler()
NEEDS = SiteNeeds(needles=("vllm", "recomput", "Recomput"))
REMOVED = "vllm:prompt_tokens_recomputed_total"
OLD_CACHE = "vllm:gpu_cache_usage_perc"


def parse(text: str, needs: SiteNeeds = NEEDS, path: str = "d.json"):  # type: ignore[no-untyped-def]
    return HANDLER.parse(path, text, needs)


def by_locator(sites: list[Site]) -> dict[str, Site]:
    return {s.locator: s for s in sites}


def raw(text: str, site: Site, start: int, end: int) -> str:
    return text[site.to_file(start) : site.to_file(end)]


# --------------------------------------------------------------------------- prose


def _panel(title: str, legend: str, expr: str = f"rate({REMOVED}[5m])", **extra) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return {"id": 2, "title": title, "type": "timeseries", "description": "Tokens per second",
            "targets": [{"expr": expr, "legendFormat": legend, "refId": "A"}], **extra}


def test_prose_sites_are_made_only_for_prose_that_mentions_a_needle() -> None:
    text = json.dumps({"uid": "u", "panels": [_panel("Recomputed tokens", "{{pod}}")]}, indent=2)
    doc = parse(text)
    prose = [s for s in doc.sites if s.context.prose]
    assert [(s.context.prose, s.value) for s in prose] == [("title", "Recomputed tokens")]
    assert prose[0].kind is SiteKind.TEXT and prose[0].locator == '/panels/0/title (panel "Recomputed tokens", id 2)'
    # Without the word among the needles the title is nobody's business.
    assert not [s for s in parse(text, SiteNeeds(needles=("vllm",))).sites if s.context.prose]


def test_prose_behind_an_escape_is_found_and_edited_in_place() -> None:
    # `\u0052` is `R`: Python's json.dumps never writes it, a hand-rolled exporter might.
    text = '{"panels": [{"id": 1, "title": "\\u0052ecomputed <share>", "targets": [{"expr": "up", "refId": "A"}]}]}'
    [title] = [s for s in parse(text).sites if s.context.prose == "title"]
    assert title.value == "Recomputed <share>"
    assert raw(text, title, 0, 1) == "\\u0052"
    new = apply_edits(text, [title.edit(0, 10, "Prefill")])
    assert json.loads(new)["panels"][0]["title"] == "Prefill <share>"


def test_panels_without_a_prometheus_target_get_no_prose() -> None:
    loki = _panel("Recomputed logs", "recomputed", datasource={"type": "loki", "uid": "l"})
    text = json.dumps({"uid": "u", "panels": [loki, {"id": 3, "type": "text", "title": "Recomputed notes"}]})
    doc = parse(text)
    assert not [s for s in doc.sites if s.context.prose]
    # The Loki query mentions the name: reported through a read-only site, never edited.
    [query] = [s for s in doc.sites if s.context.not_prometheus]
    assert not query.editable and query.context.grafana.kind == "target"


def test_datasource_references_are_not_sites() -> None:
    panel = _panel("KV", "{{pod}}", datasource={"type": "prometheus", "uid": "vllm-prometheus"})
    panel["targets"][0]["datasource"] = "vllm-prometheus"
    text = json.dumps({"uid": "vllm-main", "title": "vLLM", "panels": [panel], "tags": ["vllm", "llm"]})
    sites = by_locator(parse(text).sites)
    assert sorted(sites) == ["/panels/0/targets/0/expr (panel \"KV\", id 2, refId A)", "/tags/0", "/uid"]
    # An identifier never reads as PromQL, even when it parses as a subtraction.
    assert sites["/uid"].kind is SiteKind.TEXT
    assert sites["/tags/0"].kind is SiteKind.NAME and sites["/tags/0"].context.container.values == ("vllm", "llm")


# --------------------------------------------------------------------------- containers


def test_perses_variable_matchers_are_array_elements() -> None:
    perses = {"kind": "PersesDashboard", "metadata": {"name": "p"}, "spec": {"variables": [
        {"kind": "ListVariable", "spec": {"name": "pod", "plugin": {"kind": "PrometheusLabelValuesVariable", "spec": {
            "labelName": "pod", "matchers": [f"{REMOVED}{{job=\"vllm\"}}", "vllm:prompt_tokens_total"]}}}}]}}
    text = json.dumps(perses, indent=2)
    sites = [s for s in parse(text).sites if s.kind is SiteKind.PROMQL]
    assert [s.context.container.index for s in sites] == [0, 1]
    container = sites[0].context.container
    assert container.values == (f'{REMOVED}{{job="vllm"}}', "vllm:prompt_tokens_total")
    matchers = json.loads(apply_edits(text, list(container.removal)))["spec"]["variables"][0]["spec"]["plugin"]["spec"]["matchers"]
    assert matchers == ["vllm:prompt_tokens_total"]
    assert sites[0].context.grafana.kind == "templating"


def test_containers_and_target_removal_compose_through_json_in_json() -> None:
    inner = {"uid": "i", "panels": [{"id": 1, "title": "p", "targets": [
        {"expr": f"rate({REMOVED}[5m])", "refId": "A"}, {"expr": "up", "refId": "B"}]}],
        "allow": ["vllm:prompt_tokens_cached_total", REMOVED]}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"},
          "data": {"vllm.json": json.dumps(inner, indent=2)}}
    text = json.dumps(cm, indent=2)
    sites = by_locator(parse(text).sites)
    element = sites["/data/vllm.json/allow/1"]
    assert element.context.embedded_in == "/data/vllm.json"
    container = element.context.container
    assert container.values == ("vllm:prompt_tokens_cached_total", REMOVED)
    # The span covers the inner array as written in the outer file (escaped once more).
    assert json.loads(json.loads('"' + text[container.span.start : container.span.end] + '"')) == inner["allow"]
    out = json.loads(json.loads(apply_edits(text, list(container.removal)))["data"]["vllm.json"])
    assert out["allow"] == ["vllm:prompt_tokens_cached_total"]
    target = sites['/data/vllm.json/panels/0/targets/0/expr (panel "p", id 1, refId A)']
    out = json.loads(json.loads(apply_edits(text, list(target.context.grafana.target_removal)))["data"]["vllm.json"])
    assert [t["refId"] for t in out["panels"][0]["targets"]] == ["B"]


def test_dashboard_sites_from_string_reports_dashboards_rules_and_composed_containers() -> None:
    inner = json.dumps({"groups": [{"name": "g", "rules": [
        {"record": "job:x:rate5m", "expr": f"rate({REMOVED}[5m])"},
        {"alert": "A", "expr": "job:x:rate5m > 1", "labels": {"metrics": ["up", REMOVED]}}]}]})
    offset = 100  # the string starts at file offset 100 of some outer file, written verbatim
    outer = " " * offset + inner
    dashboards: list[tuple[str | None, str | None]] = []
    rules: list[RulePlace] = []
    sites = dashboard_sites_from_string(
        inner, list(range(offset, offset + len(inner) + 1)), lambda s: s, "data.rules ",
        needs=NEEDS, dashboards=dashboards, rules=rules,
    )
    assert dashboards == [] and [(r.kind, r.name) for r in rules] == [("record", "job:x:rate5m"), ("alert", "A")]
    [name] = [s for s in sites if s.context.container is not None]
    assert name.locator == "data.rules /groups/0/rules/1/labels/metrics/1"
    assert name.context.embedded_in == "data.rules"
    assert outer[name.context.container.span.start : name.context.container.span.end] == f'["up", "{REMOVED}"]'
    [record] = [s for s in sites if s.context.rule is not None and s.context.rule.kind == "record"]
    assert raw(outer, record, 5, 5 + len(REMOVED)) == REMOVED


# --------------------------------------------------------------------------- generated files


def test_generated_files_are_read_only_with_the_reason() -> None:
    d = {"__comment": "Code generated by jsonnet from dashboards/vllm.libsonnet. DO NOT EDIT.",
         "uid": "g", "panels": [_panel("KV", "{{pod}}")]}
    doc = parse(json.dumps(d, indent=2))
    assert doc.generated is not None
    assert "Code generated by jsonnet from dashboards/vllm.libsonnet. DO NOT EDIT." in doc.generated
    assert doc.sites and all(not s.editable and s.readonly_reason == doc.generated for s in doc.sites)
    assert parse(json.dumps({"uid": "g", "panels": [_panel("KV", "{{pod}}")]})).generated is None


def test_controller_gen_crd_is_read_only() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "vllmruntimes.production-stack.vllm.ai",
                        "annotations": {"controller-gen.kubebuilder.io/version": "v0.16.1"}},
           "spec": {"versions": [{"name": "v1alpha1", "schema": {"openAPIV3Schema": {"properties": {
               "metrics": {"type": "array", "description": f"Series to scrape, e.g. {REMOVED}"}}}}}]}}
    doc = parse(json.dumps(crd, indent=2))
    assert doc.generated is not None and "controller-gen v0.16.1" in doc.generated
    assert doc.sites and not any(s.editable for s in doc.sites)


# --------------------------------------------------------------------------- Cloud Monitoring

GCM_FILTER = f'metric.type="prometheus.googleapis.com/{OLD_CACHE}/gauge" resource.type="prometheus_target"'
GCM_PROMQL = f"avg by (model_name) (avg_over_time({OLD_CACHE}[${{__interval}}]))"


def _gcm_dashboard() -> dict:  # type: ignore[type-arg]
    return {
        "displayName": "vLLM on GKE",
        "dashboardFilters": [{"filterType": "RESOURCE_LABEL", "labelKey": "namespace", "templateVariable": "ns"}],
        "mosaicLayout": {"columns": 48, "tiles": [
            {"width": 24, "height": 16, "widget": {"title": "KV cache usage (vllm)", "xyChart": {
                "chartOptions": {"mode": "COLOR"},
                "dataSets": [
                    {"plotType": "LINE", "targetAxis": "Y1", "legendTemplate": "${metric.labels.model_name}",
                     "timeSeriesQuery": {"prometheusQuery": GCM_PROMQL, "unitOverride": "10^2.%"}},
                    {"plotType": "LINE", "targetAxis": "Y1",
                     "timeSeriesQuery": {"timeSeriesFilter": {"filter": GCM_FILTER, "aggregation": {
                         "alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_MEAN", "crossSeriesReducer": "REDUCE_MEAN",
                         "groupByFields": ["metric.label.\"model_name\""]}}}},
                ],
                "yAxis": {"label": "", "scale": "LINEAR"}}}},
            {"xPos": 24, "width": 12, "height": 8, "widget": {"title": "Running", "scorecard": {
                "timeSeriesQuery": {"prometheusQuery": "sum(vllm:num_requests_running)"},
                "sparkChartView": {"sparkChartType": "SPARK_LINE"}}}},
            {"xPos": 36, "width": 12, "height": 8, "widget": {"title": "GPU", "xyChart": {"dataSets": [
                {"timeSeriesQuery": {"timeSeriesFilter": {"filter": 'metric.type="kubernetes.io/container/accelerator/duty_cycle"'}}}]}}},
        ]},
    }


def test_cloud_monitoring_dashboard_sites() -> None:
    text = json.dumps(_gcm_dashboard(), indent=2)
    doc = parse(text)
    assert doc.dashboards == [("vLLM on GKE", "vLLM on GKE")]
    sites = by_locator(doc.sites)
    chart = "/mosaicLayout/tiles/0/widget/xyChart/dataSets"
    promql = sites[f'{chart}/0/timeSeriesQuery/prometheusQuery (widget "KV cache usage (vllm)")']
    assert promql.kind is SiteKind.PROMQL and promql.value == GCM_PROMQL
    assert promql.context.field == "prometheusQuery"
    place = promql.context.grafana
    assert (place.uid, place.panel_title, place.kind, place.path) == ("vLLM on GKE", "KV cache usage (vllm)", "target", f"{chart}/0")
    # The chart keeps the filter data set, so the PromQL one can go (and vice versa).
    out = json.loads(apply_edits(text, list(place.target_removal)))
    assert [list(ds["timeSeriesQuery"]) for ds in out["mosaicLayout"]["tiles"][0]["widget"]["xyChart"]["dataSets"]] == [
        ["timeSeriesFilter"]]
    flt = sites[f'{chart}/1/timeSeriesQuery/timeSeriesFilter/filter (widget "KV cache usage (vllm)")']
    assert flt.kind is SiteKind.TEXT and flt.context.field == "filter" and flt.editable
    assert flt.context.grafana.sibling_exprs == (GCM_PROMQL,)
    # The metric name inside the type string maps to the file, quotes escaped around it.
    a = flt.value.index(OLD_CACHE)
    assert raw(text, flt, a, a + len(OLD_CACHE)) == OLD_CACHE
    assert raw(text, flt, a - 27, a) == '\\"prometheus.googleapis.com/'
    renamed = apply_edits(text, [flt.edit(a, a + len(OLD_CACHE), "vllm:kv_cache_usage_perc")])
    assert "prometheus.googleapis.com/vllm:kv_cache_usage_perc/gauge" in json.loads(renamed)["mosaicLayout"]["tiles"][0][
        "widget"]["xyChart"]["dataSets"][1]["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
    scorecard = sites['/mosaicLayout/tiles/1/widget/scorecard/timeSeriesQuery/prometheusQuery (widget "Running")']
    assert scorecard.context.grafana.target_removal is None  # a scorecard has one query
    # Prose: the widget title mentions a needle; the legend template does not.
    [title] = [s for s in doc.sites if s.context.prose]
    assert title.locator == '/mosaicLayout/tiles/0/widget/title (widget "KV cache usage (vllm)")'
    assert title.context.grafana.panel_key == place.panel_key
    # A filter that mentions no needle is no site.
    assert not [s for s in doc.sites if "tiles/2" in s.locator]


@pytest.mark.parametrize("layout", ["gridLayout", "rowLayout", "columnLayout"])
def test_cloud_monitoring_other_layouts(layout: str) -> None:
    widget = {"title": "KV", "xyChart": {"dataSets": [{"timeSeriesQuery": {"prometheusQuery": f"max({OLD_CACHE})"}}]}}
    body = {"gridLayout": {"columns": "2", "widgets": [widget]},
            "rowLayout": {"rows": [{"weight": "1", "widgets": [widget]}]},
            "columnLayout": {"columns": [{"weight": "1", "widgets": [widget]}]}}[layout]
    [site] = [s for s in parse(json.dumps({"displayName": "d", layout: body})).sites if s.kind is SiteKind.PROMQL]
    assert site.value == f"max({OLD_CACHE})" and site.locator.startswith(f"/{layout}/")
    assert site.locator.endswith('/timeSeriesQuery/prometheusQuery (widget "KV")')


def test_cloud_monitoring_alert_policy() -> None:
    policy = {"displayName": "vLLM KV cache", "combiner": "OR", "conditions": [
        {"displayName": "KV cache nearly full", "conditionPrometheusQueryLanguage": {
            "query": f"max({OLD_CACHE}) > 0.95", "duration": "300s", "evaluationInterval": "30s",
            "alertRule": "VllmKvCacheFull", "ruleGroup": "vllm"}},
        {"displayName": "legacy", "conditionThreshold": {"filter": GCM_FILTER, "comparison": "COMPARISON_GT",
                                                           "thresholdValue": 0.95, "duration": "300s"}}]}
    doc = parse(json.dumps([policy], indent=2))
    promql, text_site = [s for s in doc.sites if s.context.rule is not None]
    assert promql.kind is SiteKind.PROMQL
    assert promql.locator == '/0/conditions/0/conditionPrometheusQueryLanguage/query (alert policy "vLLM KV cache", condition "KV cache nearly full")'
    assert promql.context.rule == RulePlace(kind="alert", name="VllmKvCacheFull", group="vllm", index=(0, 0))
    assert text_site.kind is SiteKind.TEXT and text_site.context.field == "filter"
    assert [r.name for r in doc.rules] == ["VllmKvCacheFull", "legacy"]
    # Strings elsewhere in the policy follow the needles like any other JSON string.
    assert [s.locator for s in doc.sites if s.context.rule is None] == ["/0/conditions/0/conditionPrometheusQueryLanguage/ruleGroup"]


def test_odd_datasource_values_do_not_crash_the_walk() -> None:
    # A datasource uid that is not a string (hand-edited or templated by a generator).
    panel = _panel("KV", "{{pod}}", datasource={"uid": {"from": "values"}})
    panel["targets"][0]["datasource"] = {"uid": ["x"]}
    [site] = [s for s in parse(json.dumps({"uid": "u", "panels": [panel]})).sites if s.kind is SiteKind.PROMQL]
    assert site.context.grafana.datasource == {"uid": ["x"]}


def test_perses_and_v2_panels_have_prose_too() -> None:
    perses = {"kind": "PersesDashboard", "metadata": {"name": "p"}, "spec": {"panels": {"kv": {"kind": "Panel", "spec": {
        "display": {"name": "Recomputed tokens", "description": "per second"},
        "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery", "spec": {
            "query": f"rate({REMOVED}[5m])", "seriesNameFormat": "recomputed {{pod}}"}}}}]}}}}}
    prose = [(s.context.prose, s.locator) for s in parse(json.dumps(perses)).sites if s.context.prose]
    assert prose == [
        ("title", '/spec/panels/kv/spec/display/name (panel "Recomputed tokens", id kv)'),
        ("legendFormat", '/spec/panels/kv/spec/queries/0/spec/plugin/spec/seriesNameFormat (panel "Recomputed tokens", id kv)'),
    ]
    v2 = {"kind": "Dashboard", "metadata": {"name": "v2"}, "spec": {"title": "v2", "elements": {"panel-1": {"kind": "Panel", "spec": {
        "id": 1, "title": "KV", "description": "Recomputed vs cached", "data": {"kind": "QueryGroup", "spec": {"queries": [
            {"kind": "PanelQuery", "spec": {"refId": "A", "query": {"kind": "DataQuery", "group": "prometheus", "spec": {
                "expr": f"rate({REMOVED}[5m])", "legendFormat": "recomputed"}}}}]}}}}}}}
    sites = [s for s in parse(json.dumps(v2)).sites if s.context.prose]
    assert [(s.context.prose, s.context.grafana.ref_id) for s in sites] == [("description", None), ("legendFormat", "A")]
    assert sites[1].locator == '/spec/elements/panel-1/spec/data/spec/queries/0/spec/query/spec/legendFormat (panel "KV", id 1, refId A)'
