"""Tests for the position-preserving PromQL lexer/parser and the variable substitution."""

from __future__ import annotations

import dataclasses
import time

import promql_parser
import pytest

from migrator.promql import (
    AggregateExpr,
    BinaryExpr,
    Call,
    GrafanaQuery,
    LabelMatcher,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    Placeholder,
    PromQLSyntaxError,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
    children,
    contains_variable,
    depth,
    find_variables,
    is_valid_promql,
    parse,
    parse_grafana_query,
    substitute_for_oracle,
    tokenize,
    variable_name,
    walk,
)

# --------------------------------------------------------------------------- corpus
CORPUS = [
    # Grafana dashboards (vLLM style)
    'sum(rate(vllm:prompt_tokens_recomputed_total{model_name=~"$model_name", ns=~"$ns"}[$__rate_interval])) by (role)',
    'sum by (model_name) (increase(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[1h]))'
    ' / ignoring(source) group_left sum by (model_name) (increase(vllm:prompt_tokens_total[1h]))',
    "avg_over_time(rate(x[60s])[60s:60s])",
    '{__name__=~"vllm:prompt_tokens_recomputed(_total)?"}',
    "absent(vllm:prompt_tokens_recomputed_total)",
    "histogram_quantile(0.99, sum(rate(vllm:e2e_request_latency_seconds_bucket[5m])) by (le))",
    "x offset 5m",
    "x @ end()",
    "x @ start()",
    "-x",
    "+x",
    "-1",
    "- - x",
    "1 - -1",
    "2 ^ 3 ^ 2",
    "-2 ^ 2",
    "a > bool 3",
    "x == bool 1",
    "x != 0",
    "x >= 1 <= 10",
    "a atan2 b",
    "1 + 2 * 3 - 4 / 2 % 3",
    "(1 + 2) * 3",
    "0x1f + 1e3 - .5",
    "Inf > bool NaN",
    '"a string"',
    "`raw string`",
    "sum(rate(vllm:num_preemptions_total{model_name=\"$model_name\"}[$__rate_interval]))",
    "sum(increase(vllm:prompt_tokens_recomputed_total[$__range]))",
    "rate(vllm:prompt_tokens_recomputed_total[$__interval])",
    "rate(x[${__rate_interval}])",
    "rate(x[[[interval]]])",
    "increase(vllm:prompt_tokens_recomputed_total[$__auto])",
    "sum(rate(vllm:prompt_tokens_total[5m])) - sum(rate(vllm:prompt_tokens_recomputed_total[5m]))",
    "sum(rate(vllm:prompt_tokens_recomputed_total[5m])) / sum(rate(vllm:prompt_tokens_total[5m])) * 100",
    "topk(5, sum by (model_name) (rate(vllm:prompt_tokens_recomputed_total[5m])))",
    'count_values("version", vllm:cache_config_info)',
    "quantile(0.9, rate(vllm:prompt_tokens_recomputed_total[5m]))",
    "sum without (instance, pod) (rate(vllm:prompt_tokens_recomputed_total[5m]))",
    "max(vllm:num_requests_running) by (model_name) > 0",
    "vllm:num_requests_waiting > 10 and vllm:num_requests_running > 0",
    "vllm:num_requests_waiting or vector(0)",
    'up{job="vllm"} unless on (instance) vllm:num_requests_running',
    "x unless y or z and w",
    'label_replace(rate(vllm:prompt_tokens_recomputed_total[5m]), "model", "$1", "model_name", "(.*)")',
    'label_join(vllm:num_requests_running, "id", "-", "namespace", "pod")',
    "clamp_min(sum(rate(vllm:prompt_tokens_total[5m])), 1)",
    "round(sum(rate(x[5m])), 0.01)",
    "sum(rate(vllm:prompt_tokens_recomputed_total[5m] offset 1d))",
    "rate(vllm:prompt_tokens_recomputed_total[5m] @ 1609746000)",
    "x[5m] offset -1h",
    "x offset 5m @ end()",
    "rate(x[5m])[30m:1m]",
    "max_over_time(sum(rate(x[1m]))[1h:])",
    "rate(x[5m:])",
    "x[5m:1m] offset 5m",
    'sum(rate(vllm:request_success_total{finished_reason="stop"}[5m])) by (model_name)'
    " / on (model_name) sum(rate(vllm:request_success_total[5m])) by (model_name)",
    "a * on(instance) group_right(job) b",
    "rate(x[5m]) * on(job) group_left() y",
    "sum(rate(x[5m])) by (job) * on(job) group_left(version) max(vllm:cache_config_info) by (job, version)",
    'vllm:${metric}_total{job="x"}',
    '$metric{job="x"}',
    "rate($metric[5m])",
    '{__name__="vllm:prompt_tokens_recomputed_total", model_name="llama"}',
    'vllm:prompt_tokens_recomputed_total{model_name!="", ns!~"kube-.*"}',
    'sum(x{a="b",})',
    'sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket{model_name=~"$model_name"}[$__rate_interval]))',
    "histogram_quantile(0.5, sum by(le) (rate(vllm:e2e_request_latency_seconds_bucket[${__rate_interval}])))",
    "sum(increase(vllm:prompt_tokens_recomputed_total[1h])) / (sum(increase(vllm:prompt_tokens_total[1h])) > 0)",
    "SUM(rate(x[5m])) BY (job)",
    'sum(by{job="x"})',
    "sum(offset)",
    "# recomputed prompt tokens\nsum(\n  rate(vllm:prompt_tokens_recomputed_total{model_name=~\"$model_name\"}[$__rate_interval])  # per second\n) by (model_name)\n",
    "sum(rate(x[5m]))\n  /\nsum(rate(y[5m]))",
    "sum(rate(x[5m])) * $factor",
    "${factor} * x",
    "x > [[threshold]]",
    "sum(rate(vllm:prompt_tokens_recomputed_total[5m])) > {{ .Values.threshold }}",
    'rate(vllm:prompt_tokens_recomputed_total{namespace="{{ .Release.Namespace }}"}[5m])',
    'x{job="{{ .Values.job | default "vllm" }}"}',
    "sum(rate(vllm_{{ .Values.prefix }}_total[5m]))",
    'up{job="x", {{ .Values.extraSelector }}}',
    "x offset $__interval",
    "sum(x) by ($groupby)",
    "sum by (${group:csv}) (x)",
    "vector(1)",
    "time() - x",
    "scalar(sum(x)) * 2",
    "sort_desc(sum by (model_name) (rate(x[5m])))",
    "absent_over_time(vllm:prompt_tokens_recomputed_total[10m])",
    "x @ ${__to:date:seconds}",
    "(x)",
    '{"vllm:quoted.name", job="x"}',
    'sum by ("model.name") (x)',
    "rate(x[1h30m])",
    "x{a=~'single quoted'}",
]


def _unwrap_ours(e):
    """Normalise our tree for comparison with promql-parser, which folds unary
    minus on number literals and drops unary plus."""
    while isinstance(e, UnaryExpr):
        if e.op == "+":
            e = e.expr
        elif isinstance(e.expr, NumberLiteral):
            return "NumberLiteral"
        else:
            break
    return type(e).__name__


def _canon(node, base):
    """Tree as nested tuples with positions relative to *base*."""
    if dataclasses.is_dataclass(node):
        out = [type(node).__name__]
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            name = f.name
            if name in ("start", "end", "lparen", "rparen"):
                v = v - base
            elif name.endswith("_span") and v is not None:
                v = (v[0] - base, v[1] - base)
            elif name.endswith("_spans"):
                v = tuple((s - base, e - base) for s, e in v)
            else:
                v = _canon(v, base)
            out.append((name, v))
        return tuple(out)
    if isinstance(node, tuple):
        return tuple(_canon(x, base) for x in node)
    if isinstance(node, float) and node != node:
        return "NaN"
    return node


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_parses(text):
    tree = parse(text)
    assert tree.start >= 0 and tree.end <= len(text)
    assert text[: tree.start].strip() == "" or text[: tree.start].lstrip().startswith("#")


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_agrees_with_promql_parser(text):
    ours = parse(text)
    substituted = substitute_for_oracle(text)
    theirs = promql_parser.parse(substituted)
    assert is_valid_promql(text)
    if isinstance(ours, Placeholder):
        return
    assert _unwrap_ours(ours) == type(theirs).__name__, substituted
    if isinstance(ours, BinaryExpr):
        assert str(theirs.op) == ours.op
    if isinstance(ours, AggregateExpr) and not contains_variable(ours.op):
        assert str(theirs.op) == ours.op


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_spans_are_exact(text):
    tree = parse(text)
    for node in walk(tree):
        src = text[node.start : node.end]
        assert src == src.strip(), (node, src)
        # every node is standalone: re-parsing its slice gives the same node, shifted
        again = parse(src)
        if (
            isinstance(node, VectorSelector)
            and node.templated
            and isinstance(again, Placeholder)
        ):
            assert again.text == node.name  # `$metric` in `$metric[5m]` is a bare variable alone
            continue
        assert _canon(again, 0) == _canon(node, node.start), src
        _check_node_shape(text, node)


def _check_node_shape(text, node):
    src = text[node.start : node.end]
    for c in children(node):
        assert node.start <= c.start <= c.end <= node.end
    if isinstance(node, VectorSelector):
        if node.name_span is not None and node.name_span[0] == node.start:
            assert src.startswith(text[node.name_span[0] : node.name_span[1]])
            if not node.templated:
                assert text[node.name_span[0] : node.name_span[1]] == node.name
        else:
            assert src.startswith("{")
        if node.braces_span is not None:
            b = text[node.braces_span[0] : node.braces_span[1]]
            assert b.startswith("{") and b.endswith("}")
        for m in node.matchers:
            _check_matcher(text, m)
        if node.offset_span:
            assert text[node.offset_span[0] : node.offset_span[1]].replace(" ", "") == node.offset
    elif isinstance(node, BinaryExpr):
        assert node.start == node.lhs.start and node.end == node.rhs.end
        op_src = text[node.op_span[0] : node.op_span[1]]
        assert op_src.lower() == node.op
        if node.matching is not None:
            ms = text[node.matching.start : node.matching.end]
            assert ms.split("(")[0].strip().lower() in ("on", "ignoring")
            for lbl, (s, e) in zip(node.matching.labels, node.matching.label_spans):
                assert text[s:e] == lbl or text[s:e][0] in "\"'`"
    elif isinstance(node, Call):
        assert src.startswith(node.func) and src.endswith(")")
        assert text[node.lparen] == "(" and text[node.rparen] == ")"
    elif isinstance(node, AggregateExpr):
        assert text[node.op_span[0] : node.op_span[1]].lower() == node.op.lower()
        assert src.lower().startswith(node.op.lower())
        assert text[node.lparen] == "(" and text[node.rparen] == ")"
        if node.grouping_span is not None:
            g = text[node.grouping_span[0] : node.grouping_span[1]]
            assert g.lower().startswith(("by", "without")) and g.endswith(")")
            for lbl, (s, e) in zip(node.grouping, node.grouping_spans):
                assert text[s:e] == lbl or text[s:e][0] in "\"'`"
    elif isinstance(node, MatrixSelector):
        b = text[node.brackets_span[0] : node.brackets_span[1]]
        assert b.startswith("[") and b.endswith("]")
        assert text[node.range_span[0] : node.range_span[1]] == node.range
        if node.offset is None and node.at is None:
            assert src.endswith("]")
    elif isinstance(node, SubqueryExpr):
        assert text[node.range_span[0] : node.range_span[1]] == node.range
        if node.step is not None:
            assert text[node.step_span[0] : node.step_span[1]] == node.step
        assert ":" in text[node.brackets_span[0] : node.brackets_span[1]]
    elif isinstance(node, ParenExpr):
        assert src.startswith("(") and src.endswith(")")
    elif isinstance(node, UnaryExpr):
        assert src[0] == node.op and node.end == node.expr.end
    elif isinstance(node, NumberLiteral):
        assert src == node.text
    elif isinstance(node, StringLiteral):
        assert src[0] == src[-1] and src[0] in "\"'`"
    elif isinstance(node, Placeholder):
        assert src == node.text


def _check_matcher(text, m: LabelMatcher):
    assert text[m.start : m.end] == text[m.span[0] : m.span[1]]
    assert m.start == m.label_span[0] and m.end == m.value_span[1]
    label_src = text[m.label_span[0] : m.label_span[1]]
    assert label_src == m.label or label_src[0] in "\"'`"
    assert text[m.op_span[0] : m.op_span[1]] == m.op
    v = text[m.value_span[0] : m.value_span[1]]
    assert v[0] == v[-1] and v[0] in "\"'`"


def test_corpus_size():
    assert len(CORPUS) >= 60


# --------------------------------------------------------------------------- structure
def test_precedence_and_associativity():
    e = parse("2 ^ 3 ^ 2")
    assert isinstance(e.rhs, BinaryExpr) and e.rhs.op == "^"  # right assoc
    e = parse("a - b - c")
    assert isinstance(e.lhs, BinaryExpr) and e.lhs.op == "-"  # left assoc
    e = parse("a or b and c unless d")
    assert e.op == "or" and e.rhs.op == "unless" and e.rhs.lhs.op == "and"
    e = parse("a + b * c > d")
    assert e.op == ">" and e.lhs.op == "+" and e.lhs.rhs.op == "*"
    e = parse("a * b atan2 c")
    assert e.op == "atan2" and e.lhs.op == "*"
    e = parse("a == b and c != d")
    assert e.op == "and"
    e = parse("-a ^ b")
    assert isinstance(e, UnaryExpr) and e.expr.op == "^"
    e = parse("-a * b")
    assert isinstance(e, BinaryExpr) and isinstance(e.lhs, UnaryExpr)
    e = parse("2 ^ -3 ^ 2")
    assert e.op == "^" and isinstance(e.rhs, UnaryExpr) and e.rhs.expr.op == "^"


def test_aggregate_grouping_before_and_after():
    a = parse("sum by (a, b) (x)")
    b = parse("sum(x) by (a, b)")
    for e in (a, b):
        assert isinstance(e, AggregateExpr)
        assert e.grouping == ("a", "b") and not e.without
    assert a.grouping_span == (4, 13)
    assert b.grouping_span == (7, 16) and b.end == 16
    w = parse("avg without(pod)(x)")
    assert w.without and w.grouping == ("pod",)
    t = parse("topk(5, x)")
    assert isinstance(t.param, NumberLiteral) and t.param.value == 5
    n = parse("sum(x)")
    assert n.grouping_span is None and n.grouping == ()
    e = parse("sum by () (x)")
    assert e.grouping == () and e.grouping_span == (4, 9)


def test_vector_matching():
    e = parse("a / on(x, y) group_left(z) b")
    m = e.matching
    assert m.on and m.labels == ("x", "y") and m.group == "left" and m.include == ("z",)
    assert "a / on(x, y) group_left(z) b"[m.start : m.end] == "on(x, y) group_left(z)"
    e = parse("a * ignoring(job) group_right b")
    assert not e.matching.on and e.matching.group == "right" and e.matching.include == ()
    e = parse("a > bool on(x) b")
    assert e.return_bool and e.matching.on
    e = parse("a + b")
    assert e.matching is None and not e.return_bool


def test_selector_details():
    text = 'vllm:prompt_tokens_recomputed_total{model_name=~"$model", ns!="a\\"b"} offset 5m @ end()'
    e = parse(text)
    assert isinstance(e, VectorSelector)
    assert e.name == "vllm:prompt_tokens_recomputed_total" and e.name_span == (0, 35)
    assert e.matchers[0].value == "$model" and e.matchers[1].value == 'a"b'
    assert e.offset == "5m" and text[e.offset_span[0] : e.offset_span[1]] == "5m"
    assert e.at == "end()" and text[e.at_span[0] : e.at_span[1]] == "end()"
    assert text[e.braces_span[0] : e.braces_span[1]].startswith("{model_name")
    assert e.end == len(text)


def test_matrix_offset_lives_on_matrix():
    e = parse("x[5m] offset 1m")
    assert isinstance(e, MatrixSelector)
    assert e.offset == "1m" and e.vector.offset is None and e.range == "5m"
    assert e.range_span == (2, 4) and e.brackets_span == (1, 5)


def test_subquery():
    e = parse("max_over_time(rate(x[1m])[1h:5m] offset 1h)")
    sq = e.args[0]
    assert isinstance(sq, SubqueryExpr) and sq.range == "1h" and sq.step == "5m" and sq.offset == "1h"
    e = parse("x[$__range:]")
    assert e.step is None and e.range == "$__range"
    e = parse("x[$__rate_interval:$__interval]")
    assert e.range == "$__rate_interval" and e.step == "$__interval"


def test_templated_names_and_placeholders():
    e = parse('$metric{job="x"}')
    assert isinstance(e, VectorSelector) and e.templated and e.name == "$metric"
    e = parse("vllm:${name}_total")
    assert isinstance(e, VectorSelector) and e.templated and e.name == "vllm:${name}_total"
    e = parse("$threshold")
    assert isinstance(e, Placeholder) and e.text == "$threshold"
    e = parse("{{ .Values.threshold }}")
    assert isinstance(e, Placeholder)
    e = parse("x > ${threshold:raw}")
    assert isinstance(e.rhs, Placeholder) and e.rhs.text == "${threshold:raw}"
    e = parse("vllm_{{ .Values.prefix }}_total")
    assert isinstance(e, VectorSelector) and e.templated
    e = parse('up{job="x", {{ .Values.sel }}}')
    assert e.name == "up" and not e.templated and len(e.matchers) == 1
    assert len(e.template_spans) == 1
    e = parse('x{% if a %}{a="b"}{% endif %}')
    assert e.name == "x" and len(e.template_spans) == 2 and e.matchers[0].label == "a"
    e = parse("$agg(rate(x[5m])) by (job)")
    assert isinstance(e, AggregateExpr) and e.op == "$agg" and e.grouping == ("job",)
    e = parse("$agg by (job) (x)")
    assert isinstance(e, AggregateExpr) and e.op == "$agg"
    e = parse("$fn(x)")
    assert isinstance(e, Call) and e.func == "$fn"


def test_variables_inside_strings_are_text():
    e = parse('x{a="$var", b="[[v]]", c="{{ .Values.c }}", d="${x:regex}"}')
    assert [m.value for m in e.matchers] == ["$var", "[[v]]", "{{ .Values.c }}", "${x:regex}"]


def test_keywords_as_names():
    for name in ("by", "without", "offset", "sum", "and", "start", "end", "group"):
        e = parse(f'{name}{{job="x"}}')
        assert isinstance(e, VectorSelector) and e.name == name
    e = parse('x{by="1", on="2", offset="3", bool="4"}')
    assert [m.label for m in e.matchers] == ["by", "on", "offset", "bool"]
    e = parse("sum(x) by (on, bool, offset)")
    assert e.grouping == ("on", "bool", "offset")
    e = parse("x offset 5m + offset")
    assert isinstance(e, BinaryExpr) and e.rhs.name == "offset"


def test_comments_and_multiline():
    text = "sum( # comment with ) and \"quotes\n  x{a=\"#not a comment\"}\n) # trailing"
    e = parse(text)
    assert isinstance(e, AggregateExpr)
    assert e.expr.matchers[0].value == "#not a comment"
    assert text[e.start : e.end].endswith(")")


def test_number_literals():
    assert parse("0x1F").value == 31
    assert parse("1e3").value == 1000
    assert parse(".5").value == 0.5
    assert parse("Inf").value == float("inf")
    v = parse("NaN").value
    assert v != v
    assert parse("5m").value == 300
    assert parse("1h30m").value == 5400


def test_string_escapes():
    assert parse(r'"a\nb"').value == "a\nb"
    assert parse(r'"\x41\101\u00e9\U0001F600"').value == "AAé\U0001F600"
    assert parse(r"'it\'s'").value == "it's"
    assert parse(r"`raw\n`").value == "raw\\n"
    assert parse(r'"a\\.b"').value == "a\\.b"


def test_unicode_offsets_are_characters():
    text = 'x{a="héllo"} + y'
    e = parse(text)
    assert text[e.rhs.start : e.rhs.end] == "y"


def test_parse_subrange():
    text = "prefix sum(x) suffix"
    e = parse(text, 7, 13)
    assert isinstance(e, AggregateExpr) and (e.start, e.end) == (7, 13)


def test_lexer_tokens():
    toks = tokenize('rate(x[$__rate_interval:1m]) # c')
    kinds = [t.kind for t in toks]
    assert kinds == ["IDENT", "(", "IDENT", "[", "DUR", ":", "DUR", "]", ")", "EOF"]
    assert toks[4].text == "$__rate_interval"
    toks = tokenize("x > {{ a }} and vllm:${n}_total")
    assert [t.kind for t in toks] == ["IDENT", ">", "TEMPLATE", "IDENT", "TVAR", "EOF"]


# --------------------------------------------------------------------------- errors
INVALID = [
    ("sum(rate(x[5m])", 3, "unclosed left parenthesis"),
    ('x{a="b"', 1, "unclosed left brace"),
    ('x{a="b}', 4, "unterminated quoted string"),
    ("rate(x[5m)", 9, "unexpected ')'"),
    ("x +", 3, "end of input"),
    ("1 +* 2", 3, "unexpected '*'"),
    ("sum(x) by", 9, "expected '('"),
    ("x[5m", 1, "unclosed left bracket"),
    ("x[5x]", 2, "bad duration"),
    ("(x)[5m]", 3, "ranges only allowed for vector selectors"),
    ("x offset", 8, "duration"),
    ("sum(x) offset 5m", 7, "offset modifier"),
    ("a + bool b", 4, "bool modifier"),
    ("a and on(b) group_left c", 12, "no grouping allowed"),
    ("{}", 0, "non-empty matcher"),
    ('{a=""}', 0, "non-empty matcher"),
    ('x{a="\\."}', 5, "unknown escape sequence"),
    ("x y", 2, "unexpected identifier 'y'"),
    ("", 0, "empty expression"),
    ("   ", 3, "empty expression"),
    ("topk(x)", 0, "wrong number of arguments"),
    ("rate(x[5m], 1)", 0, "argument"),
    ("sum(x,)", 5, "trailing commas"),
    ("x{a=b}", 4, "quoted label value"),
    ('x{a~"b"}', 3, "unexpected character '~'"),
    ("x @", 3, "timestamp"),
    ("x @ end", 4, "timestamp"),
    ("x offset 5m offset 1m", 12, "multiple times"),
    ("on", 0, "keyword"),
    ("x[5m][5m]", 5, "ranges only allowed"),
    ("x[5m:][5m:]", 6, "subquery is only allowed"),
    ("x[5m][1m:]", 5, "subquery is only allowed"),
    ("x offset 5m [5m]", 12, "before range"),
    ("1 ) ", 2, "right parenthesis"),
    ("x{,}", 2, "expected a label matcher"),
    ("a + group_left b", 4, "group_left"),
    ("sum(x) by (a) by (b)", 14, "unexpected identifier 'by'"),
    ("sum by (a) (x) by (b)", 15, "grouping already specified"),
    ("x !! y", 2, "after '!'"),
    ("x{a=\"b\" c=\"d\"}", 8, "expected ',' or '}'"),
]


@pytest.mark.parametrize("text,offset,fragment", INVALID)
def test_invalid(text, offset, fragment):
    with pytest.raises(PromQLSyntaxError) as ei:
        parse(text)
    err = ei.value
    assert isinstance(err, ValueError)
    assert err.offset == offset, (err.message, err.offset)
    assert fragment in err.message
    # promql-parser agrees that these are invalid
    with pytest.raises(BaseException):
        promql_parser.parse(text)


def test_error_line_column():
    text = "sum(\n  rate(x[5m]\n"
    with pytest.raises(PromQLSyntaxError) as ei:
        parse(text)
    assert ei.value.offset == 11 and ei.value.line == 2 and ei.value.column == 7


# --------------------------------------------------------------------------- grafana
def test_grafana_label_values_with_selector():
    text = 'label_values(vllm:prompt_tokens_recomputed_total{ns=~"$ns", a="x,y"}, model_name)'
    q = parse_grafana_query(text)
    assert isinstance(q, GrafanaQuery) and q.kind == "label_values"
    assert isinstance(q.expr, VectorSelector)
    assert text[q.expr.name_span[0] : q.expr.name_span[1]] == "vllm:prompt_tokens_recomputed_total"
    assert q.metric_span == q.expr.name_span
    assert q.label == "model_name" and text[q.label_span[0] : q.label_span[1]] == "model_name"
    assert q.expr.matchers[1].value == "x,y"


def test_grafana_label_values_label_only_and_whitespace():
    q = parse_grafana_query("label_values(model_name)")
    assert q.kind == "label_values" and q.expr is None and q.label == "model_name"
    text = "  label_values( vllm:x_total{a=\"b\"} ,  pod )  "
    q = parse_grafana_query(text)
    assert q.label == "pod" and text[q.label_span[0] : q.label_span[1]] == "pod"
    assert text[q.expr.start : q.expr.end] == 'vllm:x_total{a="b"}'


def test_grafana_query_result_and_metrics():
    text = "query_result(topk(5, sum by (model_name) (rate(vllm:prompt_tokens_recomputed_total[$__range]))))"
    q = parse_grafana_query(text)
    assert q.kind == "query_result" and isinstance(q.expr, AggregateExpr)
    sel = [n for n in walk(q.expr) if isinstance(n, VectorSelector)][0]
    assert text[sel.name_span[0] : sel.name_span[1]] == "vllm:prompt_tokens_recomputed_total"
    text = "metrics(vllm:prompt_tokens_.*)"
    q = parse_grafana_query(text)
    assert q.kind == "metrics" and q.regex == "vllm:prompt_tokens_.*"
    assert text[q.regex_span[0] : q.regex_span[1]] == q.regex and q.metric_span == q.regex_span
    q = parse_grafana_query("label_names()")
    assert q.kind == "label_names" and q.expr is None
    q = parse_grafana_query("sum(rate(x[5m]))")
    assert q.kind == "promql" and isinstance(q.expr, AggregateExpr)


def test_grafana_query_errors():
    with pytest.raises(PromQLSyntaxError):
        parse_grafana_query("label_values(x{a=\"b\"}, ")
    with pytest.raises(PromQLSyntaxError):
        parse_grafana_query("query_result(sum(x)")


# --------------------------------------------------------------------------- variables
SUBSTITUTIONS = [
    ("rate(x[$__rate_interval])", "rate(x[5m])"),
    ("rate(x[${__interval}])", "rate(x[5m])"),
    ("x[$__range:$__interval]", "x[5m:5m]"),
    ("rate(x[[[interval]]])", "rate(x[5m])"),
    ("x offset $__interval", "x offset 5m"),
    ("x offset -$shift", "x offset 5m"),
    ("x @ ${__to:date:seconds}", "x @ 1"),
    ('x{a=~"$var"}', 'x{a=~"$var"}'),
    ("x > $threshold", "x > 1"),
    ("$threshold < x", "$threshold < x".replace("$threshold", "1")),
    ("$a > 1", "vector(1) > 1"),
    ("x and $other", "x and vector(1)"),
    ("sum($metric)", "sum(vector(1))"),
    ("topk($n, x)", "topk(1, x)"),
    ("histogram_quantile($q, x)", "histogram_quantile(1, x)"),
    ("x * {{ .Values.factor }}", "x * 1"),
    ('x{a="{{ .Values.a }}"}', 'x{a="{{ .Values.a }}"}'),
    ('$metric{job="x"}', 'var_metric{job="x"}'),
    ("vllm:${name}_total", "vllm:var_name_total"),
    ("rate($metric[5m])", "rate(var_metric[5m])"),
    ("sum by ($group) (x)", "sum by (var_group) (x)"),
    ("a / on($l) group_left($m) b", "a / on(var_l) group_left(var_m) b"),
    ('up{job="x", {{ .Values.sel }}}', 'up{job="x"}'),
    ('{ {{ .Values.sel }}, job="x"}', '{job="x"}'),
    ("$agg(rate(x[5m])) by (job)", "sum(rate(x[5m])) by (job)"),
    ("$fn(x[5m])", "rate(x[5m])"),
    ("count_values($label, x)", 'count_values("x", x)'),
    ('x{job=~"{{ .Release.Name }}-.*", a="{{ .Values.a }}"}', 'x{job=~".*-.*", a="{{ .Values.a }}"}'),
    ('x{job="{{ .Values.job | default "vllm" }}"}', 'x{job="tmpl"}'),
    ("no variables here", "no variables here"),
]


@pytest.mark.parametrize("text,expected", SUBSTITUTIONS)
def test_substitute_for_oracle(text, expected):
    assert substitute_for_oracle(text) == expected


@pytest.mark.parametrize(
    "text",
    [t for t, _ in SUBSTITUTIONS if t != "no variables here"]
    + ['x{job="{{ .Values.job | default "vllm" }}"}'],
)
def test_substituted_is_valid(text):
    assert is_valid_promql(text), substitute_for_oracle(text)


def test_substitute_fallback_when_our_parser_fails():
    # `sum(x` is broken; the fallback still replaces the duration variable
    assert substitute_for_oracle("sum(rate(x[$__rate_interval])") == "sum(rate(x[5m])"
    assert not is_valid_promql("sum(rate(x[$__rate_interval])")
    assert substitute_for_oracle("x offset $d +") == "x offset 5m +"


def test_is_valid_promql():
    assert is_valid_promql("sum(rate(x[5m]))")
    assert not is_valid_promql("sum(rate(x[5m])")
    assert not is_valid_promql("rate(x)")  # type error caught by the oracle
    assert is_valid_promql('sum(rate(vllm:x_total{m=~"$m"}[$__rate_interval])) by (le)')


def test_variable_helpers():
    assert contains_variable("a$b") and contains_variable("[[x]]") and contains_variable("{{ x }}")
    assert not contains_variable("foo$") and not contains_variable("plain")
    assert [v[0] for v in find_variables('x{a="$a"}[${b:raw}] > [[c]]')] == ["$a", "${b:raw}", "[[c]]"]
    assert variable_name("${x:csv}") == "x" and variable_name("[[y:raw]]") == "y"
    assert variable_name("$__rate_interval") == "__rate_interval"
    assert variable_name("{{ .Values.x }}") is None


# --------------------------------------------------------------------------- perf
def test_parse_performance():
    text = (
        'sum by (model_name) (increase(vllm:prompt_tokens_by_source_total{source="local_cache_hit",'
        ' model_name=~"$model_name"}[1h])) / ignoring(source) group_left sum by (model_name) '
        "(increase(vllm:prompt_tokens_total[1h]))"
    )
    assert len(text) >= 200
    parse(text)
    n = 300
    t0 = time.perf_counter()
    for _ in range(n):
        parse(text)
    per = (time.perf_counter() - t0) / n
    assert per < 1e-3, f"{per * 1e6:.0f} us per parse"


def test_no_catastrophic_backtracking():
    nasty = '"' + "{{a}}" * 2000  # unterminated string full of template-looking content
    t0 = time.perf_counter()
    with pytest.raises(PromQLSyntaxError):
        parse(nasty)
    nasty2 = "x" + "$a" * 5000 + "!"
    with pytest.raises(PromQLSyntaxError):
        parse(nasty2)
    assert time.perf_counter() - t0 < 0.5


def test_deep_nesting_parses_without_recursion():
    # The parser keeps open parentheses on an explicit stack: a 20,000-level nest is a tree,
    # not a RecursionError, and positions stay exact at the bottom.
    n = 20_000
    text = "(" * n + "x" + ")" * n
    tree = parse(text)
    assert isinstance(tree, ParenExpr) and (tree.start, tree.end) == (0, len(text))
    innermost = list(walk(tree))[-1]
    assert isinstance(innermost, VectorSelector) and innermost.span == (n, n + 1)
    assert depth(tree) == n + 1


def test_deep_calls_and_long_sums_parse():
    n = 5_000
    text = "abs(" * n + "x" + ")" * n
    assert depth(parse(text)) == n + 1
    text = " + ".join(f"x{i}" for i in range(n))
    tree = parse(text)
    assert isinstance(tree, BinaryExpr) and tree.rhs.name == f"x{n - 1}" and depth(tree) == n
    text = "-" * n + "x"
    assert depth(parse(text)) == n + 1
