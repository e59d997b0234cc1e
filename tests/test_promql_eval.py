"""Tests for the oracle's PromQL evaluator (migrator.promql.evaluate): instant semantics.

`ev` runs one instant query over single samples; `evr` runs it at t=600s over counters that
grow linearly from 0 (slope = the sample's value per second, one sample a minute), where
`rate(x[5m])` is exactly the slope. Time semantics (extrapolation, offsets, `@`, subqueries)
are in test_promql_time.py, checked against promtool.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from migrator.promql import (
    EvaluationError,
    EvaluationUnsupported,
    Sample,
    Series,
    evaluate_at as evaluate,
    parse,
    same_result,
)

SAMPLES = [
    Sample("vllm:prompt_tokens_recomputed_total", {"model_name": "llama", "pod": "p1", "role": "prefill"}, 10.0),
    Sample("vllm:prompt_tokens_recomputed_total", {"model_name": "llama", "pod": "p2", "role": "decode"}, 20.0),
    Sample("vllm:prompt_tokens_recomputed_total", {"model_name": "qwen", "pod": "p3", "role": "prefill"}, 5.0),
    Sample("vllm:prompt_tokens_total", {"model_name": "llama", "pod": "p1", "role": "prefill"}, 100.0),
    Sample("vllm:prompt_tokens_total", {"model_name": "llama", "pod": "p2", "role": "decode"}, 200.0),
    Sample("vllm:prompt_tokens_total", {"model_name": "qwen", "pod": "p3", "role": "prefill"}, 50.0),
    Sample("vllm:prompt_tokens_by_source_total", {"model_name": "llama", "source": "local_cache_hit"}, 30.0),
    Sample("vllm:prompt_tokens_by_source_total", {"model_name": "llama", "source": "local_compute"}, 270.0),
    Sample("vllm:prompt_tokens_by_source_total", {"model_name": "qwen", "source": "local_cache_hit"}, 5.0),
    Sample("vllm:prompt_tokens_by_source_total", {"model_name": "qwen", "source": "local_compute"}, 45.0),
    Sample("vllm:cache_config_info", {"model_name": "llama", "block_size": "16"}, 1.0),
    Sample("vllm:cache_config_info", {"model_name": "qwen", "block_size": "32"}, 1.0),
]


def ev(q, samples=SAMPLES):
    return evaluate(parse(q), samples)


TIMES = tuple(range(0, 600_001, 60_000))
COUNTERS = [
    Series(s.name, s.labels, TIMES, [s.value * t / 1000 if s.name.endswith("_total") else s.value for t in TIMES])
    for s in SAMPLES
]


def evr(q):
    return evaluate(parse(q), COUNTERS, 600_000)


def vec(*items):
    """Build an expected vector from (dict, value) pairs."""
    return sorted(((tuple(sorted(d.items())), float(v)) for d, v in items), key=lambda x: x[0])


def test_sum_of_rates_equals_sum_of_values():
    r = evr("sum(rate(vllm:prompt_tokens_recomputed_total[5m])) + sum(rate(vllm:prompt_tokens_total[5m]))")
    assert r == [((), 385.0)]
    # The counters started 10 minutes ago: a 1h rate spreads that increase over the hour.
    assert same_result(evr("sum(rate(vllm:prompt_tokens_recomputed_total[1h]))"), [((), 35 / 6)])


def test_grafana_expression_by_role():
    q = (
        'sum(rate(vllm:prompt_tokens_recomputed_total{model_name=~"$model_name", ns=~"$ns"}'
        "[$__rate_interval])) by (role)"
    )
    assert evr(q) == vec(({"role": "prefill"}, 15), ({"role": "decode"}, 20))


def test_selector_keeps_name_functions_drop_it():
    r = ev('vllm:prompt_tokens_total{pod="p1"}')
    assert r == vec(({"__name__": "vllm:prompt_tokens_total", "model_name": "llama", "pod": "p1", "role": "prefill"}, 100))
    r = evr('rate(vllm:prompt_tokens_total{pod="p1"}[5m])')
    assert r == vec(({"model_name": "llama", "pod": "p1", "role": "prefill"}, 100))
    r = ev('vllm:prompt_tokens_total{pod="p1"} * 2')
    assert r[0][0] == (("model_name", "llama"), ("pod", "p1"), ("role", "prefill"))
    r = ev('vllm:prompt_tokens_total{pod="p1"} > 2')  # filter keeps the name
    assert r[0][0][0] == ("__name__", "vllm:prompt_tokens_total")
    r = ev('last_over_time(vllm:prompt_tokens_total{pod="p1"}[5m])')
    assert r[0][0][0] == ("__name__", "vllm:prompt_tokens_total")


def test_regex_and_name_matchers():
    r = ev('{__name__=~"vllm:prompt_tokens_recomputed(_total)?"}')
    assert len(r) == 3
    r = ev('{__name__=~"vllm:prompt_tokens_recomputed"}')  # fully anchored
    assert r == []
    r = ev('vllm:prompt_tokens_total{model_name=~"ll.*"}')
    assert {dict(l)["pod"] for l, _ in r} == {"p1", "p2"}
    r = ev('vllm:prompt_tokens_total{model_name!~"ll.*"}')
    assert [dict(l)["pod"] for l, _ in r] == ["p3"]
    r = ev('vllm:prompt_tokens_total{model_name!="llama", role="prefill"}')
    assert [v for _, v in r] == [50.0]
    r = ev('{__name__!="vllm:prompt_tokens_total", __name__=~"vllm:prompt_tokens.*"}')
    assert len(r) == 7


def test_empty_label_matching():
    s = [Sample("m", {"a": "x"}, 1), Sample("m", {"b": "y"}, 2), Sample("m", {"a": "", "c": "z"}, 3)]
    assert sorted(v for _, v in ev('m{a=""}', s)) == [2.0, 3.0]
    assert [v for _, v in ev('m{a!=""}', s)] == [1.0]
    assert len(ev('m{a=~"x|"}', s)) == 3
    assert len(ev('m{a=~"x"}', s)) == 1
    # an empty label value is the same as no label
    assert ev('m{c="z"}', s)[0][0] == (("__name__", "m"), ("c", "z"))


def test_variables_match_everything():
    everything = ev("vllm:prompt_tokens_total")
    for q in (
        'vllm:prompt_tokens_total{model_name=~"$model_name"}',
        'vllm:prompt_tokens_total{model_name="${model_name}"}',
        'vllm:prompt_tokens_total{model_name!~"[[exclude]]"}',
        'vllm:prompt_tokens_total{model_name=~"{{ .Values.model }}"}',
        'vllm:prompt_tokens_total{$label="x"}',
    ):
        assert same_result(ev(q), everything), q


def test_templated_name_and_placeholders_unsupported():
    with pytest.raises(EvaluationUnsupported):
        ev('$metric{job="x"}')
    with pytest.raises(EvaluationUnsupported):
        ev("vllm:${name}_total")
    with pytest.raises(EvaluationUnsupported):
        ev("vllm:prompt_tokens_total > $threshold")
    with pytest.raises(EvaluationUnsupported):
        ev("sum by ($group) (vllm:prompt_tokens_total)")
    with pytest.raises(EvaluationUnsupported):
        ev("histogram_quantile(0.9, vllm:prompt_tokens_total)")
    with pytest.raises(EvaluationUnsupported):
        ev("limitk(1, vllm:prompt_tokens_total)")
    with pytest.raises(EvaluationUnsupported):
        ev("vllm:prompt_tokens_total[5m]")  # range vector result


def test_ratio_with_ignoring_group_left():
    q = (
        'sum by (model_name, source) (increase(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[1h]))'
        " / ignoring(source) group_left sum by (model_name) (increase(vllm:prompt_tokens_by_source_total[1h]))"
    )
    assert evr(q) == vec(
        ({"model_name": "llama", "source": "local_cache_hit"}, 0.1),
        ({"model_name": "qwen", "source": "local_cache_hit"}, 0.1),
    )


def test_on_and_group_left_include_labels():
    q = "sum by (model_name) (rate(vllm:prompt_tokens_total[5m])) * on(model_name) group_left(block_size) vllm:cache_config_info"
    assert evr(q) == vec(
        ({"model_name": "llama", "block_size": "16"}, 300),
        ({"model_name": "qwen", "block_size": "32"}, 50),
    )
    # group_right: labels come from the right ("many") side, values keep lhs op rhs order
    q = "vllm:cache_config_info * on(model_name) group_right(block_size) rate(vllm:prompt_tokens_total[5m])"
    r = evr(q)
    assert len(r) == 3
    assert dict(r[0][0])["block_size"] in ("16", "32")
    q = "2 * vllm:cache_config_info - on(model_name) group_right() sum by (model_name) (vllm:prompt_tokens_total)"
    assert sorted(v for _, v in ev(q)) == [-298.0, -48.0]


def test_one_to_one_on_keeps_only_on_labels():
    q = "rate(vllm:prompt_tokens_recomputed_total[5m]) / on(pod) rate(vllm:prompt_tokens_total[5m])"
    assert evr(q) == vec(({"pod": "p1"}, 0.1), ({"pod": "p2"}, 0.1), ({"pod": "p3"}, 0.1))
    q = "rate(vllm:prompt_tokens_recomputed_total[5m]) / rate(vllm:prompt_tokens_total[5m])"
    r = evr(q)
    assert len(r) == 3 and all(math.isclose(v, 0.1) for _, v in r)
    assert ("role", "prefill") in r[0][0] or ("role", "decode") in r[0][0]


def test_matching_errors():
    with pytest.raises(EvaluationError, match="many-to-one matching must be explicit|many-to-many"):
        ev("vllm:prompt_tokens_total * on(model_name) vllm:cache_config_info")
    with pytest.raises(EvaluationError, match="many-to-many"):
        ev("vllm:cache_config_info * on(model_name) vllm:prompt_tokens_total")
    with pytest.raises(EvaluationError, match="same labelset"):
        evr('rate({__name__=~"vllm:prompt_tokens(_recomputed)?_total"}[5m])')


def test_comparisons_and_bool():
    r = evr("rate(vllm:prompt_tokens_total[5m]) > 60")
    assert sorted(v for _, v in r) == [100.0, 200.0]
    r = evr("60 < rate(vllm:prompt_tokens_total[5m])")  # vector value is kept
    assert sorted(v for _, v in r) == [100.0, 200.0]
    r = evr("rate(vllm:prompt_tokens_total[5m]) > bool 60")
    assert sorted(v for _, v in r) == [0.0, 1.0, 1.0]
    assert ev("1 > bool 2") == 0.0 and ev("2 >= bool 2") == 1.0
    with pytest.raises(EvaluationError):
        ev("1 > 2")
    r = ev("vllm:prompt_tokens_recomputed_total > vllm:prompt_tokens_total")
    assert r == []
    r = ev("vllm:prompt_tokens_recomputed_total < ignoring() vllm:prompt_tokens_total")
    assert sorted(v for _, v in r) == [5.0, 10.0, 20.0]  # lhs values kept
    assert dict(r[0][0])["__name__"] == "vllm:prompt_tokens_recomputed_total"


def test_set_operators():
    a = "vllm:prompt_tokens_recomputed_total"
    b = 'vllm:prompt_tokens_total{model_name="llama"}'
    assert len(ev(f"{a} and {b}")) == 2
    assert len(ev(f"{a} unless {b}")) == 1
    assert len(ev(f"{a} or {b}")) == 3  # rhs series with the same labels are dropped
    assert len(ev(f"{a} and on(model_name) {b}")) == 2
    assert len(ev(f"{a} unless on() {b}")) == 0
    r = ev("vllm:missing_total or vector(0)")
    assert r == [((), 0.0)]
    with pytest.raises(EvaluationError):
        ev("1 and vector(1)")


def test_absent():
    assert ev("absent(vllm:prompt_tokens_recomputed_total)") == []
    assert ev("absent(vllm:missing_total)") == [((), 1.0)]
    assert ev('absent(vllm:missing_total{job="x", model_name=~"a"})') == [((("job", "x"),), 1.0)]
    assert ev("absent(vllm:prompt_tokens_recomputed_total{model_name=\"nope\"})") == [
        ((("model_name", "nope"),), 1.0)
    ]
    assert ev("absent_over_time(vllm:missing_total[5m])") == [((), 1.0)]
    assert ev("absent(sum(vllm:missing_total))") == [((), 1.0)]


def test_aggregations():
    m = "vllm:prompt_tokens_total"
    assert ev(f"sum({m})") == [((), 350.0)]
    assert ev(f"avg({m})") == [((), 350.0 / 3)]
    assert ev(f"count({m})") == [((), 3.0)]
    assert ev(f"min({m})") == [((), 50.0)]
    assert ev(f"max by (model_name) ({m})") == vec(({"model_name": "llama"}, 200), ({"model_name": "qwen"}, 50))
    assert ev(f"sum without (pod, role) ({m})") == vec(({"model_name": "llama"}, 300), ({"model_name": "qwen"}, 50))
    assert ev(f"group by (model_name) ({m})") == vec(({"model_name": "llama"}, 1), ({"model_name": "qwen"}, 1))
    assert ev(f"topk(1, {m})")[0][1] == 200.0
    assert ev(f"topk(1, {m})")[0][0][0] == ("__name__", m)  # topk keeps the series
    assert sorted(v for _, v in ev(f"bottomk by (model_name) (1, {m})")) == [50.0, 100.0]
    assert ev(f"topk(0, {m})") == []
    assert ev(f"quantile(0.5, {m})") == [((), 100.0)]
    assert ev(f"quantile(0.25, {m})") == [((), 75.0)]
    assert ev(f"quantile(2, {m})") == [((), math.inf)]
    assert ev(f"stddev({m})")[0][1] == pytest.approx(math.sqrt(((100 - 350 / 3) ** 2 + (200 - 350 / 3) ** 2 + (50 - 350 / 3) ** 2) / 3))
    assert ev(f"stdvar by (pod) ({m})")[0][1] == 0.0
    assert ev(f'count_values("v", {m})') == vec(({"v": "100"}, 1), ({"v": "200"}, 1), ({"v": "50"}, 1))
    assert ev(f'count_values by (model_name) ("v", {m} / 1000)') == vec(
        ({"model_name": "llama", "v": "0.1"}, 1), ({"model_name": "llama", "v": "0.2"}, 1), ({"model_name": "qwen", "v": "0.05"}, 1)
    )
    assert ev(f"sum by (__name__) ({m})") == [(((("__name__", m),)), 350.0)]
    assert ev("sum(vllm:missing_total)") == []


def test_min_max_ignore_nan():
    s = [Sample("m", {"a": "1"}, math.nan), Sample("m", {"a": "2"}, 3.0), Sample("m", {"a": "3"}, 1.0)]
    assert ev("max(m)", s) == [((), 3.0)]
    assert ev("min(m)", s) == [((), 1.0)]
    assert math.isnan(ev("max(m{a=\"1\"})", s)[0][1])
    assert math.isnan(ev("sum(m)", s)[0][1])


def test_functions():
    s = [Sample("m", {"a": "1"}, -2.5), Sample("m", {"a": "2"}, 4.0)]
    assert [v for _, v in ev("abs(m)", s)] == [2.5, 4.0]
    assert [v for _, v in ev("ceil(m)", s)] == [-2.0, 4.0]
    assert [v for _, v in ev("floor(m)", s)] == [-3.0, 4.0]
    assert [v for _, v in ev("round(m)", s)] == [-2.0, 4.0]
    assert [v for _, v in ev("round(m, 5)", s)] == [0.0, 5.0]
    r = ev("sqrt(m)", s)
    assert math.isnan(r[0][1]) and r[1][1] == 2.0
    assert [v for _, v in ev("clamp_min(m, 0)", s)] == [0.0, 4.0]
    assert [v for _, v in ev("clamp_max(m, 0)", s)] == [-2.5, 0.0]
    assert [v for _, v in ev("clamp(m, -1, 1)", s)] == [-1.0, 1.0]
    assert ev("clamp(m, 1, -1)", s) == []
    assert ev("scalar(m)", s) != ev("scalar(m)", s)  # NaN: more than one element
    assert ev('scalar(m{a="2"})', s) == 4.0
    assert ev("vector(scalar(m{a=\"2\"}) * 2)", s) == [((), 8.0)]
    assert ev("sort_desc(m)", s) == ev("m", s)
    assert ev("ln(vector(0))") == [((), -math.inf)]
    assert ev("exp(vector(0))") == [((), 1.0)]


def test_range_functions_and_subqueries():
    """Over counters growing linearly from 0 (one sample a minute, evaluated at 10m)."""
    m = "vllm:prompt_tokens_total"
    base = evr(f"rate({m}[5m])")
    assert [v for _, v in base] == [100.0, 200.0, 50.0]
    for f in ("irate", "deriv"):
        assert same_result(evr(f"{f}({m}[5m])"), base), f
    assert same_result(evr(f"increase({m}[5m])"), [(labels, 300 * v) for labels, v in base])
    assert same_result(evr(f"idelta({m}[5m])"), [(labels, 60 * v) for labels, v in base])
    assert [v for _, v in evr(f"max_over_time({m}[5m])")] == [60000.0, 120000.0, 30000.0]
    assert [v for _, v in evr(f"min_over_time({m}[5m])")] == [30000.0, 60000.0, 15000.0]
    assert [v for _, v in evr(f"count_over_time({m}[5m])")] == [6.0, 6.0, 6.0]
    assert same_result(evr(f"avg_over_time(rate({m}[2m])[5m:1m])"), base)
    assert same_result(evr(f"max_over_time(sum(rate({m}[2m]))[1h:])"), [((), 350.0)])
    assert evr(f"rate({m}[5m] offset 1d)") == []
    assert same_result(evr(f"rate({m}[5m] offset 5m)"), base)
    assert same_result(evr(f"rate({m}[5m] @ end())"), base)
    assert same_result(evr(f"{m} @ 60"), [((("__name__", m),) + labels, v * 60) for labels, v in base])
    assert [v for _, v in evr(f"present_over_time({m}[5m])")] == [1.0, 1.0, 1.0]
    assert [v for _, v in evr(f"changes({m}[5m])")] == [5.0, 5.0, 5.0]
    assert [v for _, v in evr(f"resets({m}[5m])")] == [0.0, 0.0, 0.0]
    with pytest.raises(EvaluationError):
        evr(f"rate({m})")

def test_label_replace_and_join():
    s = [Sample("m", {"model_name": "meta-llama/Llama-3-8B", "pod": "p1"}, 1.0)]
    r = ev('label_replace(m, "model", "$1", "model_name", "meta-llama/(.*)")', s)
    assert dict(r[0][0])["model"] == "Llama-3-8B" and dict(r[0][0])["__name__"] == "m"
    r = ev('label_replace(m, "model", "${1}-x", "model_name", "(.*)/(.*)")', s)
    assert dict(r[0][0])["model"] == "meta-llama-x"
    r = ev('label_replace(m, "model", "$1x", "model_name", "(.*)/(.*)")', s)  # Go: $1x is group "1x"
    assert "model" not in dict(r[0][0])
    r = ev('label_replace(m, "model", "$name", "model_name", "(?P<name>[^/]*)/.*")', s)
    assert dict(r[0][0])["model"] == "meta-llama"
    r = ev('label_replace(m, "model", "x", "model_name", "nomatch")', s)  # no match: unchanged
    assert "model" not in dict(r[0][0])
    r = ev('label_replace(m, "pod", "", "pod", ".*")', s)  # empty replacement deletes
    assert "pod" not in dict(r[0][0])
    with pytest.raises(EvaluationError):
        ev('label_replace(m, "bad-name", "x", "pod", ".*")', s)
    r = ev('label_join(m, "id", "/", "pod", "model_name")', s)
    assert dict(r[0][0])["id"] == "p1/meta-llama/Llama-3-8B"


def test_arithmetic_semantics():
    assert ev("1 + 2 * 3") == 7.0
    assert ev("2 ^ 3 ^ 2") == 512.0
    assert ev("-2 ^ 2") == -4.0
    assert ev("7 % 3") == 1.0 and ev("-7 % 3") == -1.0
    assert ev("1 / 0") == math.inf and ev("-1 / 0") == -math.inf
    assert math.isnan(ev("0 / 0")) and math.isnan(ev("5 % 0"))
    assert math.isnan(ev("(-8) ^ 0.5"))
    assert ev("0 ^ -1") == math.inf
    assert ev("10 ^ 400") == math.inf
    assert ev("1 atan2 1") == pytest.approx(math.pi / 4)
    s = [Sample("m", {}, 0.0)]
    r = ev("vector(1) / m", s)
    assert r == [((), math.inf)]  # both sides have the empty label set (the name is ignored)
    r = ev("m / on() vector(0)", s)
    assert math.isnan(r[0][1])


def test_vector_one_matches_empty_labelset():
    s = [Sample("m", {}, 2.0)]
    assert ev("m + vector(1)", s) == [((), 3.0)]


def test_same_result():
    assert same_result(1.0, 1.0 + 1e-12)
    assert same_result(math.nan, math.nan)
    assert not same_result(math.nan, 1.0)
    assert same_result(math.inf, math.inf) and not same_result(math.inf, -math.inf)
    assert not same_result(1.0, [((), 1.0)])
    a = [((("a", "1"),), 1.0), ((("a", "2"),), math.nan)]
    b = [(frozenset({("a", "2")}), math.nan), ({"a": "1"}, 1.0 + 1e-12)]
    assert same_result(a, b)
    assert not same_result(a, a[:1])
    assert not same_result([((("a", "1"),), 1.0)], [((("a", "2"),), 1.0)])
    assert not same_result([((("a", "1"),), 1.0)], [((("a", "1"),), 1.1)])
    assert same_result(0.0, 1e-15)  # absolute tolerance
    assert not same_result(0.0, 1e-15, abs_tol=0.0)


def test_duck_typed_samples():
    s = [SimpleNamespace(name="m", labels={"a": "b"}, value=3)]
    assert ev("sum(m)", s) == [((), 3.0)]


def test_equivalence_of_a_migration():
    """The kind of check the migrator performs: old expression vs rewritten one."""
    old = "sum(rate(vllm:prompt_tokens_recomputed_total[5m])) / sum(rate(vllm:prompt_tokens_total[5m]))"
    new = "sum(rate(vllm:prompt_tokens_recomputed_total[5m])) / sum(rate(vllm:prompt_tokens_total[5m])) * 1"
    assert same_result(evr(old), evr(new))
    wrong = "sum(rate(vllm:prompt_tokens_total[5m])) / sum(rate(vllm:prompt_tokens_recomputed_total[5m]))"
    assert not same_result(evr(old), evr(wrong))
