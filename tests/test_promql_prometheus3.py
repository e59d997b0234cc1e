"""Prometheus 3 syntax: quoted (UTF-8) names, duration expressions, digit separators,
`anchored`/`smoothed`; what the analysis sees in it; and how validation treats what the
installed promql-parser does not know."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import promql_parser
import pytest

from migrator.promql import (
    AggregateExpr,
    BinaryExpr,
    Call,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    Placeholder,
    PromQLSyntaxError,
    SubqueryExpr,
    VectorSelector,
    is_valid_promql,
    parse,
    parse_grafana_query,
    substitute_for_oracle,
    validate_promql,
    walk,
)
from migrator.promql.literals import duration_expr_seconds
from migrator.promql.references import TextEdit, apply_text_edits
from promql_helpers import analyse, eliminations

REMOVED = "vllm:prompt_tokens_recomputed_total"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _selectors(tree):
    return [n for n in walk(tree) if isinstance(n, VectorSelector)]


# --------------------------------------------------------------------------- quoted names
def test_quoted_metric_name_reads_like_an_unquoted_one():
    text = '{"vllm:gpu_cache_usage_perc"}'
    quoted, plain = parse(text), parse("vllm:gpu_cache_usage_perc")
    assert quoted.name == plain.name == "vllm:gpu_cache_usage_perc"
    assert not quoted.templated and quoted.matchers == ()
    assert text[quoted.name_span[0] : quoted.name_span[1]] == "vllm:gpu_cache_usage_perc"
    assert text[quoted.quoted_name_span[0] : quoted.quoted_name_span[1]] == '"vllm:gpu_cache_usage_perc"'
    assert plain.quoted_name_span is None


def test_quoted_metric_name_with_matchers_and_rename_keeps_the_quotes():
    text = 'sum(rate({"vllm:kv_cache_usage_perc", model_name="x"}[5m]))'
    (sel,) = _selectors(parse(text))
    assert sel.name == "vllm:kv_cache_usage_perc"
    assert [(m.label, m.op, m.value) for m in sel.matchers] == [("model_name", "=", "x")]
    renamed = apply_text_edits(text, (TextEdit(*sel.name_span, "vllm:new_name"),))
    assert renamed == 'sum(rate({"vllm:new_name", model_name="x"}[5m]))'
    assert parse(renamed) is not None and is_valid_promql(renamed)


def test_quoted_name_matcher_looks_like_the_plain_name_matcher():
    quoted = parse('{"__name__"="vllm:x_total", "my.dotted.label"="v"}')
    plain = parse('{__name__="vllm:x_total"}')
    q, p = quoted.matchers[0], plain.matchers[0]
    assert (q.label, q.op, q.value) == (p.label, p.op, p.value) == ("__name__", "=", "vllm:x_total")
    assert quoted.name is None and plain.name is None
    assert quoted.matchers[1].label == "my.dotted.label"


def test_quoted_grouping_and_matching_labels():
    text = 'sum by ("model_name", "pod") (a) / on("a") group_left("c") sum by (pod) (b) + ignoring("b") c'
    tree = parse(text)
    assert isinstance(tree, BinaryExpr) and tree.op == "+"
    div = tree.lhs
    assert isinstance(div.lhs, AggregateExpr) and div.lhs.grouping == ("model_name", "pod")
    assert text[div.lhs.grouping_spans[0][0] : div.lhs.grouping_spans[0][1]] == '"model_name"'
    assert div.matching.on and div.matching.labels == ("a",) and div.matching.include == ("c",)
    assert not tree.matching.on and tree.matching.labels == ("b",)


def test_utf8_names_keep_character_positions():
    text = 'rate({"métrique.ünï", "é.label"="ü"}[5m]) + x'
    tree = parse(text)
    (sel, x) = _selectors(tree)
    assert sel.name == "métrique.ünï" and text[sel.name_span[0] : sel.name_span[1]] == "métrique.ünï"
    assert sel.matchers[0].label == "é.label" and sel.matchers[0].value == "ü"
    assert text[x.start : x.end] == "x"


def test_escaped_quoted_name_is_decoded():
    sel = parse(r'{"vllm:a\u0062c"}')
    assert sel.name == "vllm:abc"


@pytest.mark.parametrize(
    "text",
    [
        '{"vllm:gpu_cache_usage_perc"}',
        '{"vllm:kv_cache_usage_perc", model_name="x"}',
        '{"__name__"="vllm:x"}',
        'sum by ("model_name", "pod") (rate({"vllm:x_total"}[5m]))',
        'a + on("a") b',
        'a + ignoring("b") group_left("c") b',
        '{"my.dotted.label"="v"}',
        'label_replace(x, "dst", "$1", "my.dotted.label", "(.*)")',
        '{"vllm:x", __name__="y"}',
    ],
)
def test_quoted_name_forms_agree_with_promql_parser(text):
    parse(text)
    promql_parser.parse(text)  # the installed promql-parser knows quoted names
    verdict = validate_promql(text)
    assert verdict.valid and verdict.note is None


# --------------------------------------------------------------------------- duration expressions
def test_range_duration_expression():
    text = "rate(x[5m * 2])"
    m = parse(text).args[0]
    assert isinstance(m, MatrixSelector)
    assert m.range == "5m * 2" and text[m.range_span[0] : m.range_span[1]] == "5m * 2"
    assert isinstance(m.range_expr, BinaryExpr) and m.range_expr.op == "*"
    assert duration_expr_seconds(m.range_expr) == 600


def test_plain_ranges_keep_their_shape():
    m = parse("x[1h30m]")
    assert m.range == "1h30m" and isinstance(m.range_expr, NumberLiteral) and m.range_expr.value == 5400
    s = parse("x[5m:1m]")
    assert isinstance(s, SubqueryExpr) and s.range == "5m" and s.step == "1m"
    assert duration_expr_seconds(s.step_expr) == 60
    t = parse("x[$__rate_interval]")
    assert isinstance(t.range_expr, Placeholder) and duration_expr_seconds(t.range_expr) is None


def test_subquery_step_functions():
    s = parse("max_over_time(rate(x[5m])[1h:step()])").args[0]
    assert isinstance(s, SubqueryExpr) and s.step == "step()"
    assert isinstance(s.step_expr, Call) and s.step_expr.func == "step"
    assert duration_expr_seconds(s.step_expr) is None  # depends on the query
    m = parse("x[max(5m, 2 * 3m)]")
    assert isinstance(m.range_expr, Call) and duration_expr_seconds(m.range_expr) == 360
    m = parse("x[(1h - 30m) / 2]")
    assert duration_expr_seconds(m.range_expr) == 900


def test_offset_duration_expression():
    text = "x offset (1h + 30m)"
    e = parse(text)
    assert isinstance(e, VectorSelector) and isinstance(e.offset_expr, ParenExpr)
    assert duration_expr_seconds(e.offset_expr) == 5400
    assert text[e.offset_span[0] : e.offset_span[1]] == "(1h + 30m)" and e.offset == "(1h+30m)"
    e = parse("x[5m] offset -(1h)")
    assert isinstance(e, MatrixSelector) and duration_expr_seconds(e.offset_expr) == -3600
    # A bare literal keeps its historic form, and arithmetic after it belongs to the expression.
    e = parse("x offset - 5m")
    assert e.offset == "-5m" and duration_expr_seconds(e.offset_expr) == -300
    e = parse("x offset 5m + 1")
    assert isinstance(e, BinaryExpr) and e.lhs.offset == "5m" and isinstance(e.rhs, NumberLiteral)


def test_templated_duration_expression_is_substituted():
    text = "rate(x[$__rate_interval * 2])"
    m = parse(text).args[0]
    assert isinstance(m.range_expr, BinaryExpr) and isinstance(m.range_expr.lhs, Placeholder)
    assert substitute_for_oracle(text) == "rate(x[5m])"
    assert is_valid_promql(text)


# --------------------------------------------------------------------------- numbers, modifiers
@pytest.mark.parametrize(
    "text,value",
    [("1_000", 1000), ("1_000_000.5", 1_000_000.5), (".123_456", 0.123456), ("0x_ff", 255), ("0xF_F", 255), ("1e1_0", 1e10)],
)
def test_digit_separators(text, value):
    e = parse(text)
    assert isinstance(e, NumberLiteral) and e.value == value and e.text == text


def test_anchored_and_smoothed():
    m = parse("rate(x[5m] anchored)").args[0]
    assert isinstance(m, MatrixSelector) and m.anchored and not m.smoothed
    v = parse("x smoothed")
    assert isinstance(v, VectorSelector) and v.smoothed and v.end == len("x smoothed")
    m = parse("increase(x[1h] offset 1d SMOOTHED)").args[0]
    assert m.smoothed and m.offset == "1d"
    # Still names where a name goes.
    e = parse('anchored{job="a"} + smoothed')
    assert [s.name for s in _selectors(e)] == ["anchored", "smoothed"]


INVALID_P3 = [
    ('x{"a"}', "metric name must not be set twice"),
    ('{"a", "b"}', "metric name must not be set twice"),
    ('{""}', "non-empty matcher"),
    ("x[5m * ]", "expected a duration"),
    ("x[]", "expected a duration"),
    ("x[5m:step(]", "expected ')'"),
    ("x[min(5m)]", "expected ','"),
    ("x offset", "expected a duration"),
    ("x offset foo", "expected a duration"),
    ("1__000", "bad number"),
    ("1_", "bad number"),
    ("1_.5", "bad number"),
    ("sum(x) anchored", "expected an operator"),
    ("x[5m] anchored anchored", "only once"),
    ("x anchored[5m]", "before range"),
    ("x[0s]", "greater than 0"),
    ("x[0]", "greater than 0"),
    ("x[-5m]", "greater than 0"),
    ("x[5m:0s]", "greater than 0"),
    ("x[5m:-(1m)]", "greater than 0"),
]


@pytest.mark.parametrize("text,fragment", INVALID_P3)
def test_rejects_what_prometheus_3_rejects(text, fragment):
    with pytest.raises(PromQLSyntaxError) as ei:
        parse(text)
    assert fragment in ei.value.message


# --------------------------------------------------------------------------- the analysis
@pytest.mark.parametrize(
    "text,kind",
    [
        ('{"vllm:prompt_tokens_recomputed_total"}', "name"),
        ('sum by ("model_name") (rate({"vllm:prompt_tokens_recomputed_total", model_name=~"$m"}[5m]))', "name"),
        ('rate({"__name__"="vllm:prompt_tokens_recomputed_total"}[5m * 2])', "matcher"),
        ('rate({"vllm:prompt_tokens_recomputed_total"}[5m] anchored) * 1_000', "name"),
        ('{"vllm:prompt_tokens_recomputed_total", "my.dotted.label"="v"} offset (1h + 30m)', "name"),
        ('{"__name__"=~"vllm:prompt_tokens_recomputed(_total)?"}', "regex"),
    ],
)
def test_removed_metric_is_found_in_prometheus_3_forms(text, kind):
    analysis = analyse(text)
    assert analysis.error is None
    (ref,) = analysis.references
    assert ref.kind == kind
    spelled = text[ref.start : ref.end]
    if '"__name__"' in text:
        assert spelled.strip("\"'") == ref.written  # the matcher's value literal, as for __name__=
    else:
        assert spelled == REMOVED  # the characters between the quotes


def test_rewrite_of_prometheus_3_syntax_is_not_a_false_error():
    # promql-parser 0.12 rejects `[5m * 2]`; the elimination must still be offered, with its
    # verdict, instead of being dropped as "invalid PromQL".
    text = 'sum(rate({"vllm:prompt_tokens_total"}[5m * 2])) + sum(rate({"vllm:prompt_tokens_recomputed_total"}[5m * 2]))'
    (rewrite,) = eliminations(text)
    assert rewrite.text == 'sum(rate({"vllm:prompt_tokens_total"}[5m * 2]))'


def test_grafana_label_values_with_quoted_name():
    text = 'label_values({"vllm:prompt_tokens_recomputed_total"}, model_name)'
    q = parse_grafana_query(text)
    assert q.expr.name == REMOVED and text[q.metric_span[0] : q.metric_span[1]] == REMOVED


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "text,feature",
    [
        ("rate(x[5m * 2])", "duration expressions"),
        ("x offset (1h + 30m)", "duration expressions"),
        ("max_over_time(x[1h:step()])", "duration expressions"),
        ("x * 1_000", "digit separators"),
        ("rate(x[1_000])", "digit separators"),
        ("rate(x[5m] anchored)", "anchored/smoothed"),
        ("x smoothed", "anchored/smoothed"),
    ],
)
def test_syntax_promql_parser_does_not_know_is_valid_with_a_note(text, feature):
    with pytest.raises(BaseException):
        promql_parser.parse(text)  # if this starts passing, the lowering may be dropped
    verdict = validate_promql(text)
    assert verdict.valid, verdict.note
    assert feature in verdict.note and "own parser" in verdict.note


def test_lowering_still_lets_promql_parser_check_the_rest():
    verdict = validate_promql("rate(sum(x)[5m * 2])")  # a range on a non-selector
    assert not verdict.valid
    verdict = validate_promql("rate(x[5m] anchored) + on(a) group_left rate(y)")  # type error elsewhere
    assert not verdict.valid and "promql-parser rejects it" in verdict.note


def test_older_promql_parser_without_quoted_names_degrades_to_our_verdict(monkeypatch):
    from migrator.promql import validate

    real = validate._ask_promql_parser

    def old_promql_parser(text):
        if '"' in text.split("{", 1)[-1].split("=", 1)[0] or 'by ("' in text:
            return "unexpected string"  # what a pre-UTF-8 parser says
        return real(text)

    monkeypatch.setattr(validate, "_ask_promql_parser", old_promql_parser)
    verdict = validate_promql('sum by ("model.name") (rate({"vllm:x_total", "a.b"="c"}[5m]))')
    assert verdict.valid and "quoted (UTF-8) names" in verdict.note
    assert not validate_promql('rate({"vllm:x_total"})').valid  # still a type error


# --------------------------------------------------------------------------- through the CLI
def _check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "migrator", "check", "--output-format", "concise", path.name],
        capture_output=True, text=True, cwd=path.parent,
    )


def test_cli_finds_removed_metric_in_prometheus_3_dashboard():
    case = SAMPLES / "VMM001" / "prometheus3-quoted-names" / "input.json"
    result = _check(case)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stdout.splitlines() if ": VMM001 " in line]
    text = case.read_text()
    rows = text.splitlines()
    for line in lines:
        _, row, col, _ = line.split(":", 3)
        start = int(col) - 1
        found = rows[int(row) - 1][start:]
        # Each finding points at the removed name (inside the quotes) or at its __name__ value.
        assert found.lstrip('\\"').startswith("vllm:prompt_tokens_recomputed"), line
    assert len(lines) >= 5


def test_cli_passes_live_metrics_in_prometheus_3_syntax():
    case = SAMPLES / "VMM001" / "noop-prometheus3-syntax" / "input.json"
    result = _check(case)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "text,features",
    [
        ("sum(rate(x[5m])) by (job)", []),
        ('{__name__="x", job=~"a|b"} offset -5m', []),
        ('{"vllm:x_total"}', ["quoted (UTF-8) names"]),
        ('sum by ("a.b") (x)', ["quoted (UTF-8) names"]),
        ("x[5m * 2] * 1_000", ["digit separators", "duration expressions"]),
        ("rate(x[5m] anchored)", ["anchored/smoothed modifiers"]),
        ("x offset (1h + 30m)", ["duration expressions"]),
        ("not ( valid", []),
    ],
)
def test_prometheus3_features(text, features):
    from migrator.promql.validate import prometheus3_features

    assert prometheus3_features(text) == features
