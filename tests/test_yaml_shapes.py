"""Real-world YAML shapes (autoscalers, operators, generated manifests) and the needles contract."""

from __future__ import annotations

import pytest
import yaml

from migrator.engine import apply_edits
from migrator.formats.base import SiteKind, SiteNeeds
from migrator.formats.yaml_format import EncodeError, YamlHandler

OLD = "vllm:gpu_cache_usage_perc"
NEW = "vllm:kv_cache_usage_perc"
HANDLER = YamlHandler()


def parse(text: str, *needles: str):
    return HANDLER.parse("manifest.yaml", text, SiteNeeds(needles=needles or ("vllm",)))


def sites_of(doc, kind: SiteKind | None = None) -> dict:
    return {s.locator: s for s in doc.sites if kind is None or s.kind is kind}


def at(text: str, site, needle: str = OLD) -> str:
    """The file text under the decoded occurrence of `needle` in the site."""
    i = site.value.index(needle)
    return text[site.to_file(i) : site.to_file(i + len(needle))]


def renamed(text: str, site, old: str = OLD, new: str = NEW) -> str:
    i = site.value.index(old)
    return apply_edits(text, [site.edit(i, i + len(old), new)])


# --------------------------------------------------------------------------- needles


def test_needles_come_from_the_rules():
    text = "a: vllm:num_requests_running\nb: job:cache_hits:rate5m\nc: up\nexpr: sum(up)\n"
    assert list(sites_of(parse(text, "vllm"))) == ["a", "expr"]
    assert list(sites_of(parse(text, "job:cache_hits"))) == ["b", "expr"]
    # Without needles only the places known to hold PromQL are sites.
    assert [s.locator for s in HANDLER.parse("x.yaml", text, SiteNeeds()).sites] == ["expr"]


def test_a_needle_hidden_by_escapes_is_found_in_the_decoded_value():
    text = 'a: "\\x76llm:num_requests_running"\nb: "v\\\nllm:x"\n'
    sites = sites_of(parse(text))
    assert sites["a"].value == "vllm:num_requests_running"
    assert text[sites["a"].to_file(0) : sites["a"].to_file(1)] == "\\x76"


# --------------------------------------------------------------------------- autoscalers

HPA = """\
{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "vllm.fullname" . }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "vllm.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  metrics:
    - type: External
      external:
        metric:
          name: prometheus.googleapis.com|vllm:gpu_cache_usage_perc|gauge
          selector:
            matchLabels:
              resource.labels.namespace: {{ .Release.Namespace }}
        target:
          type: AverageValue
          averageValue: {{ .Values.autoscaling.cacheTarget | quote }}
{{- end }}
"""


def test_hpa_external_metric_name_in_a_helm_template():
    site = sites_of(parse(HPA))[
        'HorizontalPodAutoscaler/{{ include "vllm.fullname" . }} spec.metrics[0].external.metric.name'
    ]
    # The Stackdriver adapter's `prefix|name|kind` is a metric name by place, though no PromQL.
    assert site.kind is SiteKind.NAME
    assert site.value == "prometheus.googleapis.com|vllm:gpu_cache_usage_perc|gauge"
    assert site.context.field == "name"
    assert at(HPA, site) == OLD
    new = renamed(HPA, site)
    HANDLER.validate(new)
    assert new == HPA.replace(OLD, NEW)


def test_hpa_v2beta1_metric_name():
    text = (
        "apiVersion: autoscaling/v2beta1\nkind: HorizontalPodAutoscaler\nmetadata: {name: llm}\nspec:\n"
        "  metrics:\n  - type: Pods\n    pods:\n      metricName: vllm:num_requests_waiting\n"
        "      targetAverageValue: 5\n"
    )
    site = sites_of(parse(text))["HorizontalPodAutoscaler/llm spec.metrics[0].pods.metricName"]
    assert site.kind is SiteKind.NAME and site.value == "vllm:num_requests_waiting"


KEDA = """\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: llm-scaler
spec:
  scaleTargetRef:
    name: llm
  triggers:
    - type: prometheus
      metadata:
        serverAddress: http://prometheus.monitoring:9090
        metricName: vllm_gpu_cache_usage_perc
        query: |
          max(vllm:gpu_cache_usage_perc{model_name="llama"})
        threshold: "0.8"
"""


def test_keda_query_is_promql_and_metric_name_is_a_free_label():
    sites = sites_of(parse(KEDA))
    query = sites["ScaledObject/llm-scaler spec.triggers[0].metadata.query"]
    assert query.kind is SiteKind.PROMQL
    assert query.value == 'max(vllm:gpu_cache_usage_perc{model_name="llama"})\n'
    assert at(KEDA, query) == OLD
    assert yaml.safe_load(renamed(KEDA, query))["spec"]["triggers"][0]["metadata"]["query"] == query.value.replace(
        OLD, NEW
    )
    # The name KEDA exports to the HPA is the user's choice, not a series: no site at all.
    assert not any("metricName" in locator for locator in sites)



def test_free_label_that_spells_an_old_metric_is_not_reported_as_prose():
    # A user may well call the metric KEDA exports after the series it queries; the label is
    # theirs (renaming the series never requires renaming it), so it is no finding at all —
    # not even VMM008's "reword this text", which is for comments and descriptions.
    from migrator import engine
    from migrator.config import Settings

    text = KEDA.replace("metricName: vllm_gpu_cache_usage_perc", "metricName: vllm:gpu_cache_usage_perc")
    findings = engine.lint_text("keda.yaml", text, Settings(), "yaml").findings
    assert [(f.code, text[f.span.start : f.span.end]) for f in findings] == [("VMM010", OLD)]
    assert findings[0].span.start == text.index("max(") + 4
    # A comment naming the same metric is still prose.
    commented = text.replace("threshold:", "# was vllm:gpu_cache_usage_perc\n        threshold:")
    codes = [f.code for f in engine.lint_text("keda.yaml", commented, Settings(), "yaml").findings]
    assert codes == ["VMM010", "VMM008"]


def test_a_recording_rule_that_keeps_an_old_name_alive_is_not_prose():
    # `record: vllm:gpu_cache_usage_perc` defines that series (a compatibility shim): no
    # "reword this text" finding on the name it defines.
    from migrator import engine
    from migrator.config import Settings

    text = f"groups:\n- name: compat\n  rules:\n  - record: {OLD}\n    expr: {NEW}\n"
    assert engine.lint_text("compat.yaml", text, Settings(), "yaml").findings == []

HELM_VALUES = """\
router:
  env:
    - name: SCALE_METRIC
      value: "vllm:gpu_cache_usage_perc"
  args: ["--port", "8080", "--metric", "vllm:gpu_cache_usage_perc"]
"""


def test_metric_names_passed_as_flag_values():
    sites = sites_of(parse(HELM_VALUES))
    env = sites["router.env[0].value"]
    assert env.kind is SiteKind.NAME and env.value == OLD
    assert at(HELM_VALUES, env) == OLD
    arg = sites["router.args[3]"]
    assert arg.kind is SiteKind.NAME
    assert arg.context.container.values == ("--port", "8080", "--metric", OLD)
    assert at(HELM_VALUES, arg) == OLD
    assert yaml.safe_load(renamed(HELM_VALUES, arg))["router"]["args"][3] == NEW


ADAPTER = """\
rules:
  custom:
    - seriesQuery: 'vllm:num_requests_waiting{namespace!="",pod!=""}'
      resources:
        overrides:
          namespace: {resource: namespace}
          pod: {resource: pod}
      name:
        matches: "^vllm:(.*)$"
        as: "vllm_${1}"
      metricsQuery: sum(vllm:num_requests_waiting{<<.LabelMatchers>>}) by (<<.GroupBy>>)
"""


def test_prometheus_adapter_queries():
    sites = sites_of(parse(ADAPTER))
    series = sites["rules.custom[0].seriesQuery"]
    assert series.kind is SiteKind.PROMQL
    assert at(ADAPTER, series, "vllm:num_requests_waiting") == "vllm:num_requests_waiting"
    metrics = sites["rules.custom[0].metricsQuery"]
    assert metrics.kind is SiteKind.PROMQL
    assert [metrics.value[a:b] for a, b in metrics.protected] == ["<<.LabelMatchers>>", "<<.GroupBy>>"]
    assert at(ADAPTER, metrics, "vllm:num_requests_waiting") == "vllm:num_requests_waiting"
    i = metrics.value.index("<<.GroupBy>>")
    assert not metrics.can_edit(i, i + 2)
    # `name.as` is the name the adapter exports (the user's choice); `matches` selects series.
    assert "rules.custom[0].name.as" not in sites
    assert sites["rules.custom[0].name.matches"].value == "^vllm:(.*)$"



def _adapter_rule(name_block: str) -> str:
    return (
        "rules:\n  external:\n"
        "    - seriesQuery: 'vllm:gpu_cache_usage_perc{namespace!=\"\"}'\n"
        "      resources: {overrides: {namespace: {resource: namespace}}}\n"
        + name_block
        + "      metricsQuery: avg(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n"
    )


def test_adapter_rename_that_keeps_the_exported_name_is_safe_and_renames_name_matches_too():
    # `name.matches` is the adapter's regex over series names: left on the old name after the
    # seriesQuery rename, the adapter drops every series ("did not match expected pattern").
    from migrator import engine
    from migrator.config import Settings
    from migrator.model import Applicability

    text = _adapter_rule('      name: {matches: "^vllm:gpu_cache_usage_perc$", as: "kv_usage"}\n')
    findings = engine.lint_text("adapter.yaml", text, Settings(), "yaml").findings
    assert [(f.code, f.fix.applicability) for f in findings] == [
        ("VMM010", Applicability.SAFE), ("VMM010", Applicability.SAFE)
    ]
    fixed = engine.fix_text("adapter.yaml", text, Settings(), "yaml").text
    assert fixed == text.replace(OLD, NEW)


@pytest.mark.parametrize(
    "name_block, old_export, new_export",
    [
        ("", OLD, NEW),  # no `name`: the adapter exports the series under its own name
        ('      name: {matches: "^vllm:(.*)$", as: "vllm_${1}"}\n', "vllm_gpu_cache_usage_perc", "vllm_kv_cache_usage_perc"),
        ("      name:\n        matches: ^(.*)_perc$\n", "vllm:gpu_cache_usage", "vllm:kv_cache_usage"),
    ],
)
def test_adapter_rename_that_changes_the_exported_name_is_unsafe(name_block, old_export, new_export):
    # The HPA asks the adapter for the exported name: a rename that changes it breaks the
    # autoscaler however equal the values are.
    from migrator import engine
    from migrator.config import Settings
    from migrator.model import Applicability

    text = _adapter_rule(name_block)
    findings = engine.lint_text("adapter.yaml", text, Settings(), "yaml").findings
    series = [f for f in findings if f.span.start == text.index(OLD)]
    assert [(f.code, f.fix.applicability) for f in series] == [("VMM010", Applicability.UNSAFE)]
    message = series[0].fix.message
    assert f"`{old_export}`" in message and f"`{new_export}`" in message and "HPA" in message
    assert engine.fix_text("adapter.yaml", text, Settings(), "yaml").text == text
    unsafe = engine.fix_text("adapter.yaml", text, Settings(), "yaml", unsafe=True).text
    assert yaml.safe_load(unsafe)["rules"]["external"][0]["seriesQuery"] == 'vllm:kv_cache_usage_perc{namespace!=""}'

# --------------------------------------------------------------------------- operators

GRAFANA_DASHBOARD = """\
apiVersion: grafana.integreatly.org/v1beta1
kind: GrafanaDashboard
metadata:
  name: vllm-overview
spec:
  instanceSelector:
    matchLabels: {dashboards: grafana}
  json: |
    {
      "uid": "vllm-overview",
      "title": "vLLM overview",
      "panels": [
        {"id": 1, "title": "KV cache", "type": "timeseries",
         "targets": [{"refId": "A", "expr": "avg(vllm:gpu_cache_usage_perc{model_name=\\"$model\\"})"}]}
      ]
    }
"""


def test_grafana_operator_dashboard_in_a_block_scalar():
    pytest.importorskip("migrator.formats.grafana")
    doc = parse(GRAFANA_DASHBOARD)
    site = next(s for s in doc.sites if s.kind is SiteKind.PROMQL)
    assert site.locator.startswith("GrafanaDashboard/vllm-overview spec.json /panels/0/targets/0/expr")
    assert site.value == 'avg(vllm:gpu_cache_usage_perc{model_name="$model"})'
    assert at(GRAFANA_DASHBOARD, site) == OLD
    i = site.value.index('"$model"')
    # JSON escapes inside the literal block: the decoded quote maps to `\\"` in the file.
    assert GRAFANA_DASHBOARD[site.to_file(i) : site.to_file(i + 1)] == '\\"'
    assert doc.dashboards == [("vllm-overview", "vLLM overview")]
    new = renamed(GRAFANA_DASHBOARD, site)
    assert new == GRAFANA_DASHBOARD.replace(OLD, NEW)
    HANDLER.validate(new)


# --------------------------------------------------------------------------- generated files

CRD = """\
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.14.0
  name: inferencepools.serving.example.io
spec:
  group: serving.example.io
  names:
    kind: InferencePool
    plural: inferencepools
  scope: Namespaced
  versions:
  - name: v1alpha1
    schema:
      openAPIV3Schema:
        properties:
          spec:
            properties:
              queueMetric:
                default: vllm:num_requests_waiting
                description: |-
                  QueueMetric is the series the router reads, e.g. vllm:gpu_cache_usage_perc.
                type: string
"""


def test_controller_gen_manifests_are_read_only_with_the_source_named():
    doc = parse(CRD)
    assert "controller-gen v0.14.0" in doc.generated
    assert "`InferencePool`" in doc.generated and "Go source" in doc.generated
    assert len(doc.sites) >= 2
    description = next(s for s in doc.sites if s.locator.endswith("queueMetric.description"))
    assert at(CRD, description) == OLD
    for site in doc.sites:
        assert not site.editable and site.readonly_reason == doc.generated
    i = description.value.index(OLD)
    with pytest.raises(EncodeError):
        description.edit(i, i + len(OLD), NEW)


def test_code_generated_marker():
    text = "# Code generated by metrics-gen from metrics.yaml. DO NOT EDIT.\nkeep:\n  - vllm:num_requests_running\n"
    doc = parse(text)
    assert "Code generated by metrics-gen from metrics.yaml. DO NOT EDIT." in doc.generated
    assert [s.editable for s in doc.sites] == [False]


@pytest.mark.parametrize(
    "text",
    [
        # the marker after content is a quotation, not the header
        "keep:\n  - vllm:num_requests_running\n# Code generated by x. DO NOT EDIT.\n",
        # the annotation's name in prose, not on an object
        "notes: controller-gen.kubebuilder.io/version marks generated CRDs; vllm\n",
        # an object with other annotations
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations: {owner: vllm}\ndata: {}\n",
    ],
)
def test_hand_written_files_are_editable(text):
    doc = parse(text)
    assert doc.generated is None
    assert doc.sites and all(s.editable for s in doc.sites)
