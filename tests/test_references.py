"""The catalogue analysis of PromQL: which vLLM metrics an expression selects, their status at
the target release, and the rewrites offered for them."""

from __future__ import annotations

import pytest

from migrator.formats.base import GrafanaPlace, Site, SiteContext, SiteKind
from migrator.model import Applicability
from migrator.promql.references import analyse, apply_text_edits, rename_edit
from migrator.reference.catalogue import ChangeKind, Status, catalogue
from migrator.replacement_fixes import promql_formula_fix

CAT = catalogue()


def _refs(expr, target=None, **kwargs):
    return analyse(expr, target=CAT.target(target), **kwargs).references


def test_renamed_metric_in_every_position():
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(vllm:time_per_output_token_seconds_bucket[5m])))'
        ' / on() group_left {__name__="vllm:gpu_cache_usage_perc"}'
    )
    refs = _refs(expr)
    assert [(r.kind, r.written) for r in refs] == [
        ("name", "vllm:time_per_output_token_seconds_bucket"),
        ("matcher", "vllm:gpu_cache_usage_perc"),
    ]
    for ref in refs:
        assert ref.status.status is Status.GONE
        assert ref.change.kind is ChangeKind.RENAMED
        assert expr[ref.start : ref.end] == ref.written


def test_literal_name_after_a_template_prefix_is_reported_not_edited():
    # Helm charts put a configurable prefix before the name: the old name is still written.
    expr = '{{ .Values.prefix }}vllm:gpu_cache_usage_perc{namespace="{{ $ns }}"} > 0.9'
    (ref,) = _refs(expr)
    assert (ref.kind, ref.written, ref.exact) == ("name", "vllm:gpu_cache_usage_perc", False)
    assert expr[ref.start : ref.end] == ref.written
    assert ref.change.kind is ChangeKind.RENAMED
    assert rename_edit(ref, CAT.renamed_series(ref.status.series, ref.change)) is None
    # A removed gauge behind a prefix: the formula is not written in, and the reason is that.
    gauge = "avg({{ .Values.prefix }}vllm:gpu_prefix_cache_hit_rate) < 0.2"
    (ref,) = _refs(gauge)
    site = Site(value=gauge, kind=SiteKind.PROMQL, locator="")
    fix = promql_formula_fix(site, analyse(gauge, target=CAT.target(None)), ref, ref.change)
    assert fix.applicability is Applicability.DISPLAY_ONLY and "a template is part of the metric name" in fix.message
    # A name put together by the template is not a literal name.
    assert _refs("vllm:{{ .Values.name }}_perc + $prefix_vllm:gpu_cache_usage_perc") == []
    assert _refs('{{ printf "vllm:gpu_cache_usage_perc" }}{job="x"}') == []


def test_rename_keeps_suffix_and_prefix_form():
    expr = "sum(rate(ray_vllm_time_per_output_token_seconds_sum[5m])) / sum(rate(ray_vllm_time_per_output_token_seconds_count[5m]))"
    refs = _refs(expr)
    edits = [rename_edit(r, CAT.renamed_series(r.status.series, r.change)) for r in refs]
    assert apply_text_edits(expr, edits) == (
        "sum(rate(ray_vllm_inter_token_latency_seconds_sum[5m])) / sum(rate(ray_vllm_inter_token_latency_seconds_count[5m]))"
    )


@pytest.mark.parametrize(
    ("target", "status"),
    [("0.19", Status.CURRENT), ("0.20", Status.GONE), (None, Status.GONE)],
)
def test_flagship_status_follows_the_target(target, status):
    (ref,) = _refs("sum(rate(vllm:prompt_tokens_recomputed_total[5m]))", target)
    assert ref.status.status is status


def test_lookalikes_are_current_names():
    refs = _refs("rate(vllm:request_time_per_output_token_seconds_sum[5m]) + vllm:kv_cache_usage_perc")
    assert all(r.status.status is Status.CURRENT for r in refs)


def test_unknown_and_family_names():
    refs = _refs("rate(vllm:prompt_tokens[5m]) + vllm:avg_generation_throughput + vllm:current_qps")
    assert [(r.kind, r.written) for r in refs] == [
        ("family", "vllm:prompt_tokens"),
        ("unknown", "vllm:avg_generation_throughput"),
        ("unknown", "vllm:current_qps"),
    ]


def test_recording_rule_names_are_not_unknown():
    refs = _refs("vllm:gpu_cache_usage_perc:avg5m > 0.9 or vllm:my_ratio", local_records=frozenset({"vllm:my_ratio"}))
    assert refs == []


def test_regex_lists_every_name_it_selects():
    (ref,) = _refs('count({__name__=~"vllm:num_requests_running|vllm:num_requests_swapped"})')
    assert ref.kind == "regex"
    statuses = {h.text: s.status for h, s in ref.regex_hits}
    assert statuses == {"vllm:num_requests_running": Status.CURRENT, "vllm:num_requests_swapped": Status.GONE}


def test_dead_series():
    (ref,) = _refs("job:recomputed:rate5m > 1", dead=frozenset({"job:recomputed:rate5m"}))
    assert ref.kind == "dead-series"


def test_absent_and_range_context():
    absent, ranged = _refs("absent(vllm:num_requests_swapped) or avg_over_time(vllm:gpu_prefix_cache_hit_rate[10m])")
    assert absent.absent and not absent.in_range
    assert ranged.in_range


def _site(expr, grafana=False):
    return Site(value=expr, kind=SiteKind.PROMQL, locator="", context=SiteContext(grafana=GrafanaPlace() if grafana else None))


def test_formula_carries_matchers_and_prefix():
    expr = 'avg by (model_name) (vllm_avg_generation_throughput_toks_per_s{model_name=~"$model"}) > 100'
    analysis = analyse(expr, target=CAT.target())
    (ref,) = analysis.references
    fix = promql_formula_fix(_site(expr, grafana=True), analysis, ref, ref.change)
    assert fix.applicability is Applicability.UNSAFE
    (edit,) = fix.edits
    assert edit.content == 'rate(vllm_generation_tokens_total{model_name=~"$model"}[$__rate_interval])'


def test_formula_in_an_operation_is_parenthesised_and_a_range_is_left_alone():
    expr = "vllm:gpu_prefix_cache_hit_rate * 100"
    analysis = analyse(expr, target=CAT.target())
    (ref,) = analysis.references
    fix = promql_formula_fix(_site(expr), analysis, ref, ref.change)
    assert fix.edits[0].content == "(rate(vllm:prefix_cache_hits_total[5m]) / rate(vllm:prefix_cache_queries_total[5m]))"
    expr = "avg_over_time(vllm:gpu_prefix_cache_hit_rate[10m])"
    analysis = analyse(expr, target=CAT.target())
    (ref,) = analysis.references
    assert promql_formula_fix(_site(expr), analysis, ref, ref.change).applicability is Applicability.DISPLAY_ONLY


def test_grafana_metrics_query_is_a_name_regex():
    """`metrics(regex)` lists the names the regex selects: a removed or renamed name in it is a
    reference like `{__name__=~"regex"}`, located on the regex inside the parentheses."""
    text = "metrics(vllm:gpu_cache_usage_perc|vllm:num_requests_running)"
    (ref,) = _refs(text, grafana=True)
    assert ref.kind == "regex"
    assert text[ref.start : ref.end] == "vllm:gpu_cache_usage_perc|vllm:num_requests_running"
    statuses = {h.text: s.status for h, s in ref.regex_hits}
    assert statuses == {"vllm:gpu_cache_usage_perc": Status.GONE, "vllm:num_requests_running": Status.CURRENT}
    (current,) = _refs("metrics( vllm:kv_cache_usage_.* )", grafana=True)
    assert [(h.text, s.status) for h, s in current.regex_hits] == [("vllm:kv_cache_usage_perc", Status.CURRENT)]


def test_a_name_regex_of_one_renamed_name_is_renamed_in_place():
    from migrator.promql.references import alternation_edit

    text = 'count({__name__=~"vllm:time_per_output_token_seconds_count"})'
    (ref,) = _refs(text)
    edit = alternation_edit(ref, {"vllm:time_per_output_token_seconds_count": "vllm:inter_token_latency_seconds_count"})
    assert apply_text_edits(text, [edit]) == 'count({__name__=~"vllm:inter_token_latency_seconds_count"})'
    assert alternation_edit(ref, {"vllm:time_per_output_token_seconds_count": None}) is None  # never an empty regex


@pytest.mark.parametrize(
    ("query", "counter"),
    [
        ('label_values(vllm:gpu_prefix_cache_hit_rate{namespace="$ns"}, pod)', 'vllm:prefix_cache_hits_total{namespace="$ns"}'),
        ("label_names(vllm:avg_generation_throughput_toks_per_s)", "vllm:generation_tokens_total"),
    ],
)
def test_a_selector_only_grafana_query_gets_a_counter_not_a_formula(query, counter):
    """`label_values(rate(a) / rate(b), pod)` is sent as `match[]`, which Prometheus rejects:
    the gauge becomes the counter it was computed from."""
    site = Site(value=query, kind=SiteKind.GRAFANA_QUERY, locator="", context=SiteContext(grafana=GrafanaPlace()))
    analysis = analyse(query, grafana=True, target=CAT.target())
    (ref,) = analysis.references
    fix = promql_formula_fix(site, analysis, ref, ref.change)
    assert fix.applicability is Applicability.UNSAFE
    (edit,) = fix.edits
    assert edit.content == counter


def test_a_grafana_selector_query_rewritten_into_an_expression_is_refused():
    from migrator.promql.references import check_rewrite

    assert check_rewrite("label_values(rate(vllm:prefix_cache_hits_total[5m]), pod)", grafana=True) is not None
    assert check_rewrite("label_names(sum(vllm:kv_cache_usage_perc))", grafana=True) is not None
    assert check_rewrite("label_values(vllm:kv_cache_usage_perc{pod!=\"\"}, pod)", grafana=True) is None
    assert check_rewrite("query_result(sum(rate(vllm:prefix_cache_hits_total[5m])))", grafana=True) is None


@pytest.mark.parametrize(
    ("expr", "read"),
    [
        ("vllm:gpu_cache_usage_perc > 0.9", None),
        ("count by (__name__) (vllm:gpu_cache_usage_perc)", None),  # the series is renamed, nothing else
        ('label_replace(vllm:gpu_cache_usage_perc, "m", "$1", "__name__", "(.*)")', "label_replace"),
        ('label_join(max(vllm:gpu_cache_usage_perc) by (__name__, pod), "id", "/", "pod", "__name__")', "label_join"),
        ('label_replace(vllm:gpu_cache_usage_perc, "m", "$1", "pod", "(.*)")', None),
        ("vllm:gpu_cache_usage_perc / on (__name__, pod) vllm:num_requests_running", "on (__name__)"),
    ],
)
def test_a_query_that_turns_the_metric_name_into_data(expr, read):
    from migrator.promql.references import reads_metric_name

    analysis = analyse(expr, target=CAT.target())
    ref = next(r for r in analysis.references if r.written == "vllm:gpu_cache_usage_perc")
    found = reads_metric_name(ref.selector, analysis.parents)
    assert (found is None) if read is None else (read in found)


def test_a_variable_editor_metric_field_stays_a_selector_and_agrees_with_its_definition():
    """Grafana 10's editor keeps `label_values` as `{"metric": …, "label": …}`: a removed gauge
    there becomes its counter (never `rate(a) / rate(b)`), and the removed counter takes its
    values from the cached one, exactly as in the `definition` beside it."""
    import json

    from migrator import engine
    from migrator.config import Settings

    def variable(name, metric):
        return {"name": name, "type": "query", "datasource": {"type": "prometheus", "uid": "p"},
                "query": {"qryType": 1, "label": "model_name", "metric": metric,
                          "refId": "PrometheusVariableQueryEditor-VariableQuery"},
                "definition": f"label_values({metric},model_name)"}

    dashboard = {"uid": "v", "templating": {"list": [
        variable("rate", "vllm:gpu_prefix_cache_hit_rate"), variable("recomputed", "vllm:prompt_tokens_recomputed_total")]}}
    fixed = json.loads(engine.fix_text("d.json", json.dumps(dashboard, indent=2), Settings(), "json", unsafe=True).text)
    got = [(v["query"]["metric"], v["definition"]) for v in fixed["templating"]["list"]]
    assert got == [
        ("vllm:prefix_cache_hits_total", "label_values(vllm:prefix_cache_hits_total,model_name)"),
        ("vllm:prompt_tokens_cached_total", "label_values(vllm:prompt_tokens_cached_total,model_name)"),
    ]
