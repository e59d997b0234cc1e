"""Fix safety (migrator.promql.oracle): what makes a rewrite safe, unsafe, or not offered."""

from __future__ import annotations

import pytest

from migrator.formats.base import Site, SiteKind
from migrator.model import Applicability
from migrator.promql import parse
from migrator.promql.oracle import judge, unfiltered
from migrator.promql_findings import removed_metric_fix
from promql_helpers import analyse, eliminations, rule_context

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE


def rate(selector: str, window: str = "5m", fn: str = "rate", extra: str = "") -> str:
    return f"{fn}({selector}[{window}]{extra})"


L = 'vllm:prompt_tokens_by_source_total{source="local_cache_hit"}'
E = 'vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}'
R = "vllm:prompt_tokens_recomputed_total"
C = "vllm:prompt_tokens_cached_total"
T = "vllm:prompt_tokens_total"


def only_elimination(expr: str):  # type: ignore[no-untyped-def]
    (rewrite,) = eliminations(expr)
    return rewrite


# ------------------------------------------------------------------- thresholds


@pytest.mark.parametrize("expr,kept", [
    ("sum(x) > 100", "sum(x)"),
    ("sum(x) > -5", "sum(x)"),
    ("100 < sum(x)", "sum(x)"),
    ("(sum(x) <= (2))", "sum(x)"),
    ("sum(x) > bool 100", "sum(x) > bool 100"),  # a 0/1 value: compared whole
    ("-sum(x) > -(sum(x) + sum(y))", "-sum(x) > -(sum(x) + sum(y))"),  # an expression, not a threshold
    ("sum(x) > sum(y)", "sum(x) > sum(y)"),
    ("sum(x) > $threshold", "sum(x) > $threshold"),  # a value nobody knows
])
def test_only_literal_numbers_are_thresholds(expr: str, kept: str) -> None:
    tree = unfiltered(parse(expr))
    assert expr[tree.start:tree.end].strip("()") == kept.strip("()")


# ------------------------------------------------------------------ safe stays safe


@pytest.mark.parametrize("expr", [
    f"sum({rate(L)}) + sum({rate(E)}) - sum({rate(R)})",
    f"sum by (model_name) ({rate(L, '1h')}) + sum by (model_name) ({rate(E, '1h')}) - sum by (model_name) ({rate(R, '1h')})",
    f"sum by (model_name, engine) ({rate(L)} + ignoring(source) {rate(E)} - ignoring(source) {rate(R)})",
    f"(sum({rate(L)}) + sum({rate(E)}) - sum({rate(R)})) / sum({rate(T)})",
    f"sum({rate(L)}) + sum({rate(E)}) - sum({rate(R)}) < 100",
    f"max(sum by (model_name) ({rate(L)} + ignoring(source) {rate(E)} - ignoring(source) {rate(R)}))",
    f"sum({rate(L, '$__rate_interval')}) + sum({rate(E, '$__rate_interval')}) - sum({rate(R, '$__rate_interval')})",
    f"sum({rate(L, '1h', 'increase', ' offset 30m')}) + sum({rate(E, '1h', 'increase', ' offset 30m')})"
    f" - sum({rate(R, '1h', 'increase', ' offset 30m')})",
    f"avg_over_time((sum({rate(L)}) + sum({rate(E)}) - sum({rate(R)}))[1h:5m])",
    # Day over day: every selector reads a day back, so the instants move a day later.
    f"sum({rate(L, extra=' offset 1d')}) + sum({rate(E, extra=' offset 1d')}) - sum({rate(R, extra=' offset 1d')})",
])
def test_value_preserving_eliminations_stay_safe(expr: str) -> None:
    rewrite = only_elimination(expr)
    assert rewrite.verdict.applicability is SAFE, rewrite.verdict.reason
    assert "180 instants" in rewrite.verdict.reason


# --------------------------------------------------------------- what makes it unsafe


def test_a_change_in_values_says_where_and_by_how_much() -> None:
    verdict = only_elimination(f"sum({rate(C)}) + sum({rate(R)})").verdict
    assert verdict.applicability is UNSAFE
    assert verdict.reason.startswith("values change at 180 of 180 instants (at 01:00:30: ")
    assert "→" in verdict.reason


def test_max_of_each_term_changes_values_on_the_reference_data() -> None:
    """Different engines lead each counter in the timeline, so even without the structural
    rule (which also refuses it) the measurement shows max() is not linear."""
    original = f"max({rate(L)}) + max({rate(E)}) - max({rate(R)})"
    verdict = judge(original, f"max({rate(L)}) + max({rate(E)})")
    assert verdict.applicability is UNSAFE and verdict.reason.startswith("values change")
    assert "`max` is not linear" in only_elimination(original).verdict.reason


@pytest.mark.parametrize("removed,why", [
    (f"sum({rate(R, extra=' offset 1h')})", "offset 1h"),
    (f"sum({rate(R, extra=' @ 3600')})", "@ 3600"),
    (f"sum({rate(R, '1h')})", "[1h]"),
    (f"sum({rate(R, fn='increase')})", "apply different functions"),
    (f"sum by (engine) ({rate(R)})", "apply different functions or aggregations"),
    (f"max_over_time(sum({rate(R)})[1h:1m])", "`max_over_time` is not linear"),
    (f"topk(3, {rate(R)})", "`topk` is not linear"),
    (f"sqrt(sum({rate(R)}))", "`sqrt` is not linear"),
    ("sum(rate(vllm:prompt_tokens_recomputed_total{namespace=\"prod\"}[5m]))", 'it selects {namespace="prod"} where'),
])
def test_a_term_that_cannot_cancel_is_unsafe_before_any_measurement(removed: str, why: str) -> None:
    verdict = only_elimination(f"sum({rate(L)}) + sum({rate(E)}) - {removed}").verdict
    assert verdict.applicability is UNSAFE
    assert why in verdict.reason


def test_nan_or_inf_proves_nothing() -> None:
    zero = f"(sum({rate(T)}) * 0)"
    verdict = only_elimination(f"(sum({rate(L)}) + sum({rate(E)}) - sum({rate(R)})) / {zero}").verdict
    assert verdict.applicability is UNSAFE
    assert verdict.reason.startswith("could not be verified: the original gives +Inf at 01:00:30")


def test_no_data_and_unknown_values_prove_nothing() -> None:
    c99, r99 = C + '{engine="99"}', R + '{engine="99"}'
    nothing = only_elimination(f"sum({rate(c99)}) + sum({rate(r99)})").verdict
    assert nothing.applicability is UNSAFE and "selects no simulated series" in nothing.reason
    templated = only_elimination(f"sum({rate(L)}) + sum({rate(E)}) - sum({rate(R)}) < $floor").verdict
    assert templated.applicability is UNSAFE and "`$floor` stands for a value" in templated.reason
    unknown = judge(f"histogram_quantile(0.9, sum({rate(R)}))", "vector(1)")
    assert unknown.applicability is UNSAFE and unknown.reason.startswith("could not be verified on the reference counters")


def test_a_negated_expression_on_the_right_is_compared_whole() -> None:
    verdict = only_elimination(f"-sum({rate(C)}) > -(sum({rate(C)}) + sum({rate(R)}))").verdict
    assert verdict.applicability is UNSAFE
    assert "→ no value" in verdict.reason  # the rewrite never fires


# --------------------------------------------------------------- not offered at all


def test_a_rewrite_still_reading_the_removed_metric_is_not_offered() -> None:
    expr = f"sum({rate(R)}) / (sum({rate(C)}) + sum({rate(R)}))"
    assert eliminations(expr) == []
    analysis = analyse(expr)
    site = Site(value=expr, kind=SiteKind.PROMQL, locator="expr", base=0)
    fixes = [removed_metric_fix(rule_context(), site, analysis, ref) for ref in analysis.references]
    assert {f.applicability for f in fixes} == {Applicability.DISPLAY_ONLY}
    # Two removed terms: dropping one leaves the other.
    assert eliminations(f"sum({rate(C)}) + sum({rate(R)}) + sum({rate(R, '1h')})") == []


def test_verdicts_are_cached_per_pair() -> None:
    original, rewritten = f"sum({rate(C, '7m')}) + sum({rate(R, '7m')})", f"sum({rate(C, '7m')})"
    before = judge.cache_info().hits
    first = judge(original, rewritten)
    assert judge(original, rewritten) is first
    assert judge.cache_info().hits == before + 1
