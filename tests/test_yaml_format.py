"""The YAML handler: exact scalar positions, every rule-file shape, templates, and safety."""

from __future__ import annotations

import time
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from migrator.engine import apply_edits
from migrator.formats.base import ParseError, RulePlace, SiteKind, SiteNeeds
from migrator.formats.yaml_compose import Mapping, Scalar, Sequence, compose_documents
from migrator.formats.yaml_format import EncodeError, YamlHandler, YamlSite
from migrator.formats.yaml_scalars import encoder, map_scalar, scalar_offsets

NAME = "vllm:prompt_tokens_recomputed_total"
CACHED = "vllm:prompt_tokens_cached_total"
HANDLER = YamlHandler()


def parse(text: str, *needles: str):
    """Parse with the needles the rules ask for (`vllm` by default, as the catalogue rules do)."""
    return HANDLER.parse("rules.yaml", text, SiteNeeds(needles=needles or ("vllm",)))


def only(doc, kind: SiteKind | None = None):
    sites = [s for s in doc.sites if kind is None or s.kind is kind]
    assert len(sites) == 1, [s.locator for s in sites]
    return sites[0]


def span_text(text: str, site, needle: str = NAME) -> str:
    i = site.value.index(needle)
    return text[site.to_file(i) : site.to_file(i + len(needle))]


def edited(text: str, site, old: str, new: str) -> str:
    i = site.value.index(old)
    return apply_edits(text, [site.edit(i, i + len(old), new)])


# --------------------------------------------------------------------------- scalar maps

STYLE_CASES = [
    # (yaml text, key whose value is checked)
    ("k: plain value\n", "k"),
    ("k: plain\n  folded   \n\n  over lines # comment\nz: 1\n", "k"),
    ("k: 'it''s ''quoted'''\n", "k"),
    ("k: 'single\n\n   folded  \n  twice'\n", "k"),
    ('k: "esc \\" \\\\ \\n \\t \\u00e9 \\x41 \\U0001F600 \\/ \\N \\_ \\L \\P \\e \\0"\n', "k"),
    ('k: "joined \\\n     here\n\n  and  \\\n\n  folded"\n', "k"),
    ('k: "\\\n  leading escaped break"\n', "k"),
    ("k: |\n  line one\n    more indented\n\n  last\n\n\nz: 1\n", "k"),
    ("k: |-\n  strip\n  me\n\n\nz: 1\n", "k"),
    ("k: |+\n  keep\n  me\n\n\nz: 1\n", "k"),
    ("a:\n  k: |2\n      two extra\n    base\n", "k"),
    ("a:\n  k: |-2\n      two extra\n    base\n", "k"),
    ("k: >\n  folded one\n  folded two\n\n  para\n    literal-ish\n  back\n", "k"),
    ("k: >-\n  a\n  b\n", "k"),
    ("k: >+\n  a\n  b\n\n", "k"),
    ("k: |  # a comment after the header\n  text\n", "k"),
    ("k: !!str &anchor tagged\nz: *anchor\n", "k"),
    ("k: [flow one, 'flow two', \"flow three\"]\n", "k"),
    ("k: {x: flow value}\n", "k"),
    ("k: |\r\n  crlf one\r\n  crlf two\r\n", "k"),
    ("k: plain\r\n  crlf fold\r\n", "k"),
    ("\ufeffk: 'after a BOM é😀'\n", "k"),
    ("x: 'é😀 non-ASCII before'\nk: \"😀 é \\u00e9\"\n", "k"),
    ("k: x\x85  next line\n", "k"),
    ("k: |\n  a\ttab inside\n", "k"),
    ("k: ''\n", "k"),
    ("k:\n", "k"),
]


def _all_scalars(node, out):
    if isinstance(node, yaml.ScalarNode):
        out.append(node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _all_scalars(item, out)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _all_scalars(k, out)
            _all_scalars(v, out)


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
@pytest.mark.parametrize("text,key", STYLE_CASES)
def test_scalar_offsets_match_pyyaml_for_every_style(text, key, loader):
    loaded = yaml.safe_load(text)
    nodes: list = []
    for doc in yaml.compose_all(text, Loader=loader):
        _all_scalars(doc, nodes)
    for node in nodes:
        value, offsets = scalar_offsets(text, node)
        assert value == node.value
        assert len(offsets) == len(value) + 1
        assert offsets == sorted(offsets)
    # The checked value is exactly what yaml.safe_load gives.
    target = loaded[key] if key in loaded else loaded["a"][key]
    if isinstance(target, list):
        target = target[0]
    elif isinstance(target, dict):
        target = target["x"]
    values = [scalar_offsets(text, n)[0] for n in nodes]
    assert (target or "") in values


def test_offsets_point_at_escapes_and_folds():
    text = 'k: "a\\u00e9b\\"c"\n'
    node = yaml.compose(text).value[0][1]
    value, offsets = scalar_offsets(text, node)
    assert value == 'aéb"c'
    assert text[offsets[1] : offsets[2]] == "\\u00e9"
    assert text[offsets[3] : offsets[4]] == '\\"'
    text = "k: one\n  two\n"
    value, offsets = scalar_offsets(text, yaml.compose(text).value[0][1])
    assert value == "one two"
    assert text[offsets[3] : offsets[4]] == "\n  "  # the folded space owns the line break
    text = "k: |\n  ab\n  cd\n"
    value, offsets = scalar_offsets(text, yaml.compose(text).value[0][1])
    assert value == "ab\ncd\n"
    assert text[offsets[2] : offsets[3]] == "\n  "  # a line break owns the next indentation
    assert offsets[len(value)] == len(text)


def test_libyaml_marks_count_code_points_and_skip_the_bom():
    text = "\ufeffa: é😀\nb: 'x😀y'\n"
    docs = compose_documents(text)
    (_, a), (_, b) = docs[0].pairs
    assert text[a.start : a.end] == "é😀"
    assert text[b.start : b.end] == "'x😀y'"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["é", "😀", "日本", "x", "ab", " ", "\u00a0", "'", "\u2028"]), max_size=6),
       st.sampled_from(["\n", "\r\n"]))  # fmt: skip
def test_composer_marks_equal_pure_python_marks(words, newline):
    value = "".join(words).strip() or "v"
    text = newline.join([f"a: {value!r}", f"b: {yaml.dump(value).strip()}", "c: [x, 'é']", ""])
    try:
        expected = list(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return
    ours = compose_documents(text)
    spans = []

    def walk(n):
        if isinstance(n, Scalar):
            spans.append((n.start, n.end, n.value))
        elif isinstance(n, Sequence):
            for i in n.items:
                walk(i)
        elif isinstance(n, Mapping):
            for k, v in n.pairs:
                walk(k)
                walk(v)

    for d in ours:
        walk(d)
    theirs = [(e.start_mark.index, e.end_mark.index, e.value) for e in expected if isinstance(e, yaml.ScalarEvent)]
    assert spans == theirs


# --------------------------------------------------------------------------- round trips

_ALPHABET = ["a", "b", "x y", " ", "  ", "\n", "\n\n", "'", '"', "\\", "#", ": ", " #", "é", "😀", "\t",
             "{", "}", "[", "]", ",", "-", "a:b", "\r\n", "|", ">", NAME]  # fmt: skip
_pieces = st.lists(st.sampled_from(_ALPHABET), max_size=8).map("".join)


def _dump(value: str, style, ctx: str, width: int) -> str:
    doc = {"k": value, "z": 1} if ctx == "map" else [value, "w"] if ctx == "seq" else {"a": {"b": [{"k": value}]}}
    if ctx == "flow":
        return yaml.dump({"k": [value, "w"]}, default_flow_style=True, width=width, allow_unicode=True)
    return yaml.dump(doc, default_style=style, width=width, allow_unicode=True)


def _get(loaded, ctx: str):
    if ctx == "map":
        assert loaded["z"] == 1
        return loaded["k"]
    if ctx == "seq":
        assert loaded[1] == "w"
        return loaded[0]
    if ctx == "flow":
        assert loaded["k"][1] == "w"
        return loaded["k"][0]
    return loaded["a"]["b"][0]["k"]


def _value_node(text: str, ctx: str):
    root = compose_documents(text)[0]
    if ctx == "map":
        return root.pairs[0][1], False
    if ctx == "seq":
        return root.items[0], False
    if ctx == "flow":
        return root.pairs[0][1].items[0], True
    return root.pairs[0][1].pairs[0][1].items[0].pairs[0][1], False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=_pieces,
    style=st.sampled_from([None, "'", '"', "|", ">"]),
    ctx=st.sampled_from(["map", "seq", "nested", "flow"]),
    width=st.sampled_from([12, 30, 80]),
    crlf=st.booleans(),
    edit=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    replacement=st.one_of(_pieces, st.sampled_from(["", "x", "sum(rate(x[5m]))", CACHED, "a\nb"])),
)
def test_replace_round_trips_through_pyyaml(value, style, ctx, width, crlf, edit, replacement):
    text = _dump(value, style, ctx, width)
    if crlf:
        assume(not any(c in value for c in "\r\x85\u2028\u2029"))
        text = text.replace("\n", "\r\n")
    # PyYAML's emitter itself does not always round-trip (a folded scalar whose value starts
    # with a space and ends in " #" comes back with a line break): such inputs test PyYAML,
    # not us.
    assume(_get(yaml.safe_load(text), ctx) == value)
    node, flow = _value_node(text, ctx)
    sm = map_scalar(text, node, flow=flow)
    assert sm is not None, text
    assert sm.value == value
    a, b = sorted(round(f * len(value)) for f in edit)
    result = sm.replace(a, b, replacement)
    expected = value[:a] + replacement + value[b:]
    if result is None:
        return
    s, e, content = result
    new_text = text[:s] + content + text[e:]
    assert _get(yaml.safe_load(new_text), ctx) == expected, (text, new_text)
    # The position-free encoder agrees whenever it accepts the replacement.
    plain = sm.encode(replacement)
    if plain is not None:
        assert plain == content


@pytest.mark.parametrize(
    "text",
    [
        "k: sum(rate(a[5m])) by (job)\n",
        "k: 'sum(rate(a[5m])) by (job)'\n",
        'k: "sum(rate(a[5m])) by (job)"\n',
        "k: |\n  sum(rate(a[5m]))\n  by (job)\n",
        "k: >\n  sum(rate(a[5m]))\n  by (job)\n",
    ],
)
def test_ordinary_edits_are_accepted_in_every_style(text):
    sm = map_scalar(text, compose_documents(text)[0].pairs[0][1])
    i = sm.value.index("a[5m]")
    s, e, content = sm.replace(i, i + 1, "vllm:prompt_tokens_cached_total")
    new = text[:s] + content + text[e:]
    assert yaml.safe_load(new)["k"] == sm.value.replace("a[5m]", "vllm:prompt_tokens_cached_total[5m]")


@pytest.mark.parametrize(
    "text",
    [
        'k: "sum(vllm:gpu_cache_usage_perc\\\n    \\ > 0.95)"\n',  # escaped line break, escaped space
        'k: "sum(vllm:gpu_cache_usage_perc\\\n    ) > 0.95"\n',
        'k: "sum(vllm:gpu_cache_usage_perc   \n\n    ) > 0.95"\n',  # trailing blanks before a fold
        "k: 'sum(vllm:gpu_cache_usage_perc  \n    ) > 0.95'\n",
        "k: sum(vllm:gpu_cache_usage_perc \n    ) > 0.95\n",
    ],
)
def test_a_name_at_the_end_of_a_line_is_replaced_without_its_line_break(text):
    # The decoded character after the name starts on the next line; the edit must end where
    # the name ends, not swallow the (escaped) line break and indentation up to that character.
    sm = map_scalar(text, compose_documents(text)[0].pairs[0][1])
    old = "vllm:gpu_cache_usage_perc"
    i = sm.value.index(old)
    s, e, content = sm.replace(i, i + len(old), "vllm:kv_cache_usage_perc")
    assert (text[s:e], content) == (old, "vllm:kv_cache_usage_perc")
    new = text[:s] + content + text[e:]
    assert new == text.replace(old, "vllm:kv_cache_usage_perc")
    assert yaml.safe_load(new)["k"] == sm.value.replace(old, "vllm:kv_cache_usage_perc")


def test_encoder_per_style():
    text = "p: plain\ns: 'single'\nd: \"double\"\nl: |\n  lit\n  eral\nf: >\n  fol\n  ded\n"
    nodes = {k.value: v for k, v in yaml.compose(text).value}
    assert encoder(nodes["p"], text)("a b") == "a b"
    assert encoder(nodes["p"], text)("a: b") is None
    assert encoder(nodes["p"], text)("x #y") is None
    assert encoder(nodes["p"], text)("{x}") is None
    assert encoder(nodes["p"], text)("a\nb") is None
    assert encoder(nodes["s"], text)("it's") == "it''s"
    assert encoder(nodes["d"], text)('a"b\\c\n\x01') == 'a\\"b\\\\c\\n\\x01'
    assert encoder(nodes["l"], text)("one\ntwo") == "one\n  two"
    assert encoder(nodes["f"], text)("one\ntwo") is None
    assert encoder(nodes["f"], text)("one two") == "one two"
    # PyYAML's pure-Python marks carry the buffer, so the text is optional there.
    py = {k.value: v for k, v in yaml.compose(text, Loader=yaml.SafeLoader).value}
    assert encoder(py["l"])("a\nb") == "a\n  b"


def test_folded_scalars_edit_exactly_across_folds_and_refuse_refolding():
    text = "k: >\n  sum(a)\n  + sum(b)\n\n  tail\n  - sum(c)\nz: 1\n"
    sm = map_scalar(text, compose_documents(text)[0].pairs[0][1])
    assert sm.value == "sum(a) + sum(b)\ntail - sum(c)\n"
    assert sm.folds == ((6, 7), (15, 16), (20, 21))  # folded spaces, and the empty line
    assert sm.protected == ()
    # Deleting a whole folded line (with the fold before it) is exact...
    i = sm.value.index(" - sum(c)")
    s, e, content = sm.replace(i, i + len(" - sum(c)"), "")
    assert yaml.safe_load(text[:s] + content + text[e:]) == {"k": "sum(a) + sum(b)\ntail\n", "z": 1}
    # ...while a leading blank at a line start would stop the folding, so it is refused.
    j = sm.value.index("+ sum(b)")
    assert sm.replace(j, j, " ") is None
    assert sm.replace(j, j, "x") is not None


# --------------------------------------------------------------------------- rule files

RULES = """\
groups:
  - name: vllm-cache
    interval: 1m
    rules:
      - alert: VllmRecomputeHigh
        expr: sum(rate(vllm:prompt_tokens_recomputed_total[5m])) > 10
        for: 5m
        labels:
          severity: warning
          metric: vllm:prompt_tokens_recomputed_total
        annotations:
          summary: "Recomputed {{ $value }} tokens/s on {{ $labels.instance }} (prompt_tokens_recomputed)"
      - record: job:vllm_recomputed:rate5m
        expr: |
          sum by (job) (
            rate(vllm:prompt_tokens_recomputed_total[5m])
          )
      - alert: Unrelated
        expr: up == 0
"""


def test_prometheus_rule_file_sites_locators_and_context():
    doc = parse(RULES, "vllm", "prompt_tokens_recomputed")
    by_loc = {s.locator: s for s in doc.sites}
    expr = by_loc["groups[0].rules[0] alert=VllmRecomputeHigh expr"]
    assert expr.kind is SiteKind.PROMQL
    assert expr.context.rule == RulePlace("alert", "VllmRecomputeHigh", "vllm-cache", (0, 0))
    assert expr.context.field == "expr"
    assert span_text(RULES, expr) == NAME
    record = by_loc["groups[0].rules[1] record=job:vllm_recomputed:rate5m expr"]
    assert record.context.rule.kind == "record"
    assert record.value.startswith("sum by (job) (\n  rate(")
    assert span_text(RULES, record) == NAME
    # Every rule expression is a site, mentioning the metric or not (dead-series checks need them).
    assert by_loc["groups[0].rules[2] alert=Unrelated expr"].value == "up == 0"
    label = by_loc["groups[0].rules[0] alert=VllmRecomputeHigh labels.metric"]
    assert label.kind is SiteKind.TEXT and span_text(RULES, label) == NAME
    assert (label.context.field, label.context.prose) == ("labels.metric", "metric")
    summary = by_loc["groups[0].rules[0] alert=VllmRecomputeHigh annotations.summary"]
    assert summary.kind is SiteKind.TEXT
    protected = [summary.value[a:b] for a, b in summary.protected]
    assert protected == ["{{ $value }}", "{{ $labels.instance }}"]
    assert "groups[0].rules[0] alert=VllmRecomputeHigh labels.severity" not in by_loc
    assert [r.name for r in doc.rules] == [
        "VllmRecomputeHigh", "job:vllm_recomputed:rate5m", "Unrelated"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "expr_yaml,raw",
    [
        ("expr: rate(vllm:prompt_tokens_recomputed_total[5m]) > 0", NAME),
        ("expr: 'rate(vllm:prompt_tokens_recomputed_total[5m]) > 0'", NAME),
        ('expr: "rate(vllm:prompt_tokens_recomputed_total{job=\\"x\\"}[5m]) > 0"', NAME),
        ('expr: "rate(vllm:prompt_tokens_recomputed\\u005ftotal[5m])"', "vllm:prompt_tokens_recomputed\\u005ftotal"),
        ("expr: |\n          rate(vllm:prompt_tokens_recomputed_total[5m])\n          > 0", NAME),
        ("expr: >-\n          rate(vllm:prompt_tokens_recomputed_total[5m])\n          > 0", NAME),
        ("expr: rate(\n          vllm:prompt_tokens_recomputed_total[5m]) > 0", NAME),
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_expr_styles_give_exact_offsets_and_exact_edits(expr_yaml, raw, newline):
    text = f"groups:\n  - name: g\n    rules:\n      - alert: A\n        {expr_yaml}\n        for: 1m\n"
    text = text.replace("\n", newline)
    site = only(parse(text), SiteKind.PROMQL)
    assert site.locator == "groups[0].rules[0] alert=A expr"
    assert span_text(text, site) == raw
    new = edited(text, site, NAME, CACHED)
    HANDLER.validate(new)
    again = only(parse(new), SiteKind.PROMQL)
    assert again.value == site.value.replace(NAME, CACHED)
    assert newline == "\n" or "\r\n" in new and "\n" not in new.replace("\r\n", "")
    # Nothing outside the scalar moved.
    assert new.endswith(f"for: 1m{newline}")


def test_term_removal_across_lines_in_a_literal_block():
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n"
        "      sum(rate(vllm:prompt_tokens_cached_total[5m]))\n"
        "        + sum(rate(vllm:prompt_tokens_recomputed_total[5m]))\n"
        "    for: 1m\n"
    )
    site = only(parse(text))
    start = site.value.index("\n  + sum")
    end = site.value.index("\n", start + 1)
    new = apply_edits(text, [site.edit(start, end, "")])
    assert yaml.safe_load(new)["groups"][0]["rules"][0] == {
        "alert": "A", "expr": "sum(rate(vllm:prompt_tokens_cached_total[5m]))\n", "for": "1m"
    }  # fmt: skip


def test_refused_edit_raises_encode_error():
    text = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > vllm:prompt_tokens_recomputed_total\n"
    site = only(parse(text))
    assert isinstance(site, YamlSite)
    i = site.value.index(NAME)
    with pytest.raises(EncodeError):
        site.edit(i, i + len(NAME), "y # comment")  # would truncate the plain scalar
    assert not site.can_replace(i, i + len(NAME), "a: b")
    assert site.can_replace(i, i + len(NAME), CACHED)


def test_prometheusrule_list_and_multi_document_streams():
    text = """\
apiVersion: v1
kind: List
items:
  - apiVersion: monitoring.coreos.com/v1
    kind: PrometheusRule
    metadata:
      name: vllm
    spec:
      groups:
        - name: g
          partial_response_strategy: warn
          rules:
            - alert: A
              expr: vllm:prompt_tokens_recomputed_total > 0
---
# a comment that mentions vllm:prompt_tokens_recomputed_total is not a site
namespace: tenant
groups:
  - name: mimir
    rules:
      - record: r
        expr: sum(vllm:prompt_tokens_recomputed_total)
"""
    doc = parse(text)
    # Other strings that mention vllm (the object's name) are sites too, of other kinds.
    assert [(s.locator, s.kind) for s in doc.sites] == [
        ("doc[0] List items[0] PrometheusRule/vllm metadata.name", SiteKind.NAME),
        ("doc[0] List items[0] PrometheusRule/vllm spec.groups[0].rules[0] alert=A expr", SiteKind.PROMQL),
        ("doc[1] groups[0].rules[0] record=r expr", SiteKind.PROMQL),
    ]
    assert all(span_text(text, s) == NAME for s in doc.sites[1:])


CONFIGMAP = """\
apiVersion: v1
kind: ConfigMapList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: rules
  binaryData:
    blob: cHJvbXB0X3Rva2Vuc19yZWNvbXB1dGVk
  data:
    vllm.rules.yaml: |
      groups:
        - name: embedded
          rules:
            - alert: Embedded
              expr: "sum(rate(vllm:prompt_tokens_recomputed_total{job=\\"x\\"}[5m])) > 0"
              annotations:
                summary: recomputed {{ $value }} prompt_tokens_recomputed
    quoted.yaml: "groups:\\n- name: q\\n  rules:\\n  - record: q\\n    expr: vllm:prompt_tokens_recomputed_total\\n"
"""


def test_configmap_embedded_rules_have_composed_offsets_and_edits():
    doc = parse(CONFIGMAP, "vllm", "prompt_tokens_recomputed")
    by_loc = {s.locator: s for s in doc.sites}
    prefix = 'ConfigMapList items[0] ConfigMap/rules data["vllm.rules.yaml"] groups[0].rules[0] alert=Embedded'
    block = by_loc[f"{prefix} expr"]
    assert block.context.rule.group == "embedded"
    assert block.context.embedded_in == 'ConfigMapList items[0] ConfigMap/rules data["vllm.rules.yaml"]'
    assert span_text(CONFIGMAP, block) == NAME
    i = block.value.index('"x"')
    assert CONFIGMAP[block.to_file(i) : block.to_file(i + 3)] == '\\"x\\"'  # inner escapes, outer literal
    summary = by_loc[f"{prefix} annotations.summary"]
    assert [summary.value[a:b] for a, b in summary.protected] == ["{{ $value }}"]
    quoted = by_loc['ConfigMapList items[0] ConfigMap/rules data["quoted.yaml"] groups[0].rules[0] record=q expr']
    assert span_text(CONFIGMAP, quoted) == NAME
    assert not any("blob" in s.locator for s in doc.sites)
    # Edits compose: inner double-quoted escaping inside the outer literal block.
    new = edited(CONFIGMAP, block, '{job="x"}', '{job="y\\\\z"}')
    inner = yaml.safe_load(yaml.safe_load(new)["items"][0]["data"]["vllm.rules.yaml"])
    assert inner["groups"][0]["rules"][0]["expr"] == block.value.replace('{job="x"}', '{job="y\\\\z"}')
    new = edited(CONFIGMAP, quoted, NAME, CACHED)
    inner = yaml.safe_load(yaml.safe_load(new)["items"][0]["data"]["quoted.yaml"])
    assert inner["groups"][0]["rules"][0]["expr"] == CACHED


def test_configmap_embedded_dashboard_uses_the_grafana_hook():
    pytest.importorskip("migrator.formats.grafana")
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dash\ndata:\n  vllm.json: |\n"
        '    {"panels": [{"id": 1, "title": "p", "targets": [\n'
        '      {"refId": "A", "expr": "sum(rate(vllm:prompt_tokens_recomputed_total{a=\\"b\\"}[5m]))"}]}]}\n'
    )
    site = only(parse(text), SiteKind.PROMQL)
    assert site.locator.startswith('ConfigMap/dash data["vllm.json"] /panels/0/targets/0/expr')
    assert span_text(text, site) == NAME
    new = edited(text, site, NAME, CACHED)
    assert CACHED in yaml.safe_load(new)["data"]["vllm.json"]


def test_grafana_unified_alerting_provisioning():
    text = """\
apiVersion: 1
groups:
  - orgId: 1
    name: vllm
    folder: Inference
    rules:
      - uid: a1
        title: Recompute share
        condition: C
        data:
          - refId: A
            model:
              expr: sum(rate(vllm:prompt_tokens_recomputed_total[5m]))
          - refId: C
            model:
              type: threshold
              expression: A
"""
    site = only(parse(text), SiteKind.PROMQL)
    assert site.locator == 'groups[0].rules[0] alert="Recompute share" data[0].model.expr'
    assert site.context.rule == RulePlace("alert", "Recompute share", "vllm", (0, 0))
    assert (site.context.grafana.kind, site.context.grafana.uid, site.context.grafana.ref_id) == ("alert", "a1", "A")
    assert span_text(text, site) == NAME


def test_other_yaml_promql_keys_and_needle_strings():
    text = """\
triggers:
  - type: prometheus
    metadata:
      query: sum(rate(vllm:prompt_tokens_recomputed_total[2m]))
      threshold: "10"
rules:
  - seriesQuery: '{__name__=~"^vllm:.*"}'
    metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)
description: prompt_tokens_recomputed counts tokens   # trailing comment
"""
    doc = parse(text, "vllm", "prompt_tokens_recomputed")
    kinds = {s.locator: s.kind for s in doc.sites}
    assert kinds == {
        "triggers[0].metadata.query": SiteKind.PROMQL,
        "rules[0].seriesQuery": SiteKind.PROMQL,
        "description": SiteKind.TEXT,
    }
    desc = [s for s in doc.sites if s.locator == "description"][0]
    assert desc.value == "prompt_tokens_recomputed counts tokens"


# --------------------------------------------------------------------------- templates

HELM = """\
{{- if .Values.rules.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "vllm.fullname" . }}
  labels:
    {{- include "vllm.labels" . | nindent 4 }}
spec:
  groups:
    - name: {{ .Release.Name }}-cache
      rules:
        - alert: Recompute
          expr: sum(rate(vllm:prompt_tokens_recomputed_total{ns="{{ .Release.Namespace }}"}[5m])) > {{ .Values.t }}
          annotations:
            summary: '{{`{{ $value }}`}} recomputed'
{{- end }}
"""


def test_helm_templates_are_blanked_and_protected():
    doc = parse(HELM)
    regions = [HELM[a:b] for a, b in doc.template_regions]
    assert regions[:2] == ["{{- if .Values.rules.enabled }}", '{{ include "vllm.fullname" . }}']
    expr = only(doc, SiteKind.PROMQL)
    assert expr.locator == 'PrometheusRule/{{ include "vllm.fullname" . }} spec.groups[0].rules[0] alert=Recompute expr'
    assert expr.context.rule.group == "{{ .Release.Name }}-cache"
    assert expr.context.templated
    assert expr.value == 'sum(rate(vllm:prompt_tokens_recomputed_total{ns="{{ .Release.Namespace }}"}[5m])) > {{ .Values.t }}'
    assert [expr.value[a:b] for a, b in expr.protected] == ["{{ .Release.Namespace }}", "{{ .Values.t }}"]
    assert span_text(HELM, expr) == NAME
    # Literal text is editable; the result still validates (templates blanked again).
    new = edited(HELM, expr, NAME, CACHED)
    HANDLER.validate(new)
    assert new == HELM.replace(NAME, CACHED)
    # Template text is not.
    i = expr.value.index("{{ .Values.t }}")
    assert not expr.can_edit(i, i + 3)
    with pytest.raises(EncodeError):
        expr.edit(i, i + 3, "x")


def test_template_only_line_after_a_block_scalar_is_not_part_of_it():
    # `{{- range }}`/`{{- end }}` indented less than the block's content but more than its
    # key: blanked with spaces, the line would be a content line of the literal block (more
    # spaces than its indentation), and the expression would end in the template's text.
    text = (
        "groups:\n  - name: g\n    rules:\n"
        "        - alert: Itl\n"
        "          expr: |\n"
        "            sum(rate(vllm:time_per_output_token_seconds_count{ {{- include \"sel\" . -}} }[5m])) > 1\n"
        "        {{- range .Values.extraRules }}\n"
        "        - alert: {{ .name }}\n"
        "        {{- end }}\n"
    )
    doc = parse(text)
    expr = [s for s in doc.sites if s.kind is SiteKind.PROMQL][0]
    assert expr.value == (
        'sum(rate(vllm:time_per_output_token_seconds_count{ {{- include "sel" . -}} }[5m])) > 1\n'
    )
    # A template line inside the block (as deep as its content) stays content, as before.
    inside = "a:\n  expr: |\n    sum(vllm:x)\n    {{- if .Values.y }}\n    > 1\n    {{- end }}\nb: {{ .Values.z }}\n"
    doc = parse(inside)
    assert only(doc, SiteKind.PROMQL).value == "sum(vllm:x)\n{{- if .Values.y }}\n> 1\n{{- end }}\n"


def test_template_lines_in_a_plain_scalar_and_after_a_block_scalar_in_one_file():
    # A comment cannot stand inside a multi-line plain scalar (rule B): that one template line
    # stays spaces, while the one after rule A's block scalar still ends that block.
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: >-\n"
        "          max(vllm:gpu_cache_usage_perc)\n"
        "        {{- with .Values.labels }}\n        labels: {{ toYaml . }}\n        {{- end }}\n"
        "      - alert: B\n        expr: sum(vllm:gpu_cache_usage_perc)\n"
        "          {{- if .Values.x }}\n          > 1\n          {{- end }}\n"
    )
    a, b = [s for s in parse(text).sites if s.kind is SiteKind.PROMQL]
    assert a.value == "max(vllm:gpu_cache_usage_perc)"
    assert b.value == "sum(vllm:gpu_cache_usage_perc)\n> 1"


def test_a_rewrite_of_an_expression_that_does_not_parse_says_so():
    from migrator import engine
    from migrator.config import Settings

    text = (
        "groups:\n- name: g\n  rules:\n  - alert: A\n"
        "    expr: max(vllm:gpu_cache_usage_perc) {{ if .Values.byPod }}by (pod){{ end }} > 0.9\n"
    )
    (finding,) = engine.lint_text("r.yaml", text, Settings(), "yaml").findings
    assert "the expression as written cannot be parsed" in finding.fix.message
    assert "the result would not be valid" not in finding.fix.message


def test_prometheus_templates_in_valid_yaml_are_content():
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vllm:prompt_tokens_recomputed_total > 1\n"
        "    annotations:\n      summary: {{ $value }} is high\n"
    )
    # `summary: {{ $value }} ...` is not valid YAML (a flow mapping then text): blanking rescues it.
    doc = parse(text)
    assert [s.locator for s in doc.sites] == ["groups[0].rules[0] alert=A expr"]
    quoted = text.replace("{{ $value }} is high", "'{{ $value }} is high on vllm'")
    doc = parse(quoted)
    assert not doc.template_regions
    summary = [s for s in doc.sites if s.kind is SiteKind.TEXT][0]
    assert summary.protected == ((0, 12),)


def test_templated_file_that_cannot_be_parsed_reports_a_position():
    text = "{{- if .Values.x }}\ngroups:\n  - name: [unclosed\n{{- end }}\n"
    with pytest.raises(ParseError) as info:
        parse(text)
    assert "blanked" in info.value.message
    assert info.value.offset > text.index("[unclosed")


# --------------------------------------------------------------------------- errors and safety


def test_invalid_yaml_reports_the_problem_offset():
    text = (
        "groups:\n  - name: vllm\n    rules:\n      - alert: A\n        expr: up\n"
        "        labels:\n          severity: warning\n       annotations:\n          summary: x\n"
    )
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.message.startswith("invalid YAML: ")
    assert info.value.offset == text.index("annotations")
    with pytest.raises(ParseError):
        HANDLER.validate(text)


def test_python_object_tags_are_refused_not_constructed():
    for text in (
        "a: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
        "a: !!python/name:os.system\n",
        "%TAG !p! tag:yaml.org,2002:python/\n---\na: !p!object/apply:os.system [x]\n",
    ):
        with pytest.raises(ParseError, match="unsafe YAML tag"):
            parse(text)
        with pytest.raises(ParseError, match="unsafe YAML tag"):
            HANDLER.validate(text)


def test_custom_tags_are_not_errors():
    text = "Resources:\n  A:\n    Properties:\n      Query: !Sub 'rate(vllm:prompt_tokens_recomputed_total[5m])'\n"
    site = only(parse(text))
    assert span_text(text, site) == NAME


def test_billion_laughs_is_cheap():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 30)]
    lines += ["m0: &m0 {k: vllm:prompt_tokens_recomputed_total}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 4)}]}}" for i in range(1, 30)]
    text = "\n".join(lines) + "\n"
    tracemalloc.start()
    started = time.perf_counter()
    doc = parse(text)
    HANDLER.validate(text)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 2
    assert peak < 20_000_000
    assert [s.locator for s in doc.sites] == ["m0.k"]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        "- " * 50_000 + "x\n",
        "a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 12_000)),
    ],
    ids=["flow", "compact-block", "indented-block"],
)
def test_deep_nesting_is_a_parse_error_not_a_crash(text):
    # Whichever layer stops it (libyaml's own depth limit, present from PyYAML 6.0.4, or ours),
    # the user gets a VMM000 pointing into the file, not a RecursionError.
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert 0 < caught.value.offset < len(text)
    with pytest.raises(ParseError):
        HANDLER.validate(text)


def test_empty_and_scalar_documents():
    assert parse("").sites == []
    assert parse("---\n...\n").sites == []
    doc = parse("--- vllm:prompt_tokens_recomputed_total\n")
    assert only(doc).kind is SiteKind.NAME


def test_rules_nested_in_helm_values_and_bare_rule_lists():
    text = """\
additionalPrometheusRulesMap:
  vllm-rules:
    groups:
      - name: nested
        rules:
          - alert: Nested
            expr: vllm:prompt_tokens_recomputed_total > 0
prometheusRule:
  rules:
    - record: bare
      expr: rate(vllm:prompt_tokens_recomputed_total[5m])
keda:
  triggers:
    - metadata:
        query: vllm:prompt_tokens_recomputed_total
"""
    doc = parse(text)
    assert [(s.locator, s.kind) for s in doc.sites] == [
        # A key is never PromQL, whatever it parses as.
        ("additionalPrometheusRulesMap.vllm-rules (key)", SiteKind.TEXT),
        ("additionalPrometheusRulesMap.vllm-rules.groups[0].rules[0] alert=Nested expr", SiteKind.PROMQL),
        ("prometheusRule.rules[0] record=bare expr", SiteKind.PROMQL),
        ("keda.triggers[0].metadata.query", SiteKind.PROMQL),
    ]
    assert doc.sites[2].context.rule == RulePlace("record", "bare", None, None)
    assert all(span_text(text, s) == NAME for s in doc.sites[1:])


def test_secret_string_data_and_aliases():
    text = """\
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData:
  rules.yml: |
    base: &expr vllm:prompt_tokens_recomputed_total > 0
    groups:
    - name: g
      rules:
      - alert: A
        expr: *expr
      - alert: B
        expr: *expr
"""
    doc = parse(text)
    # One node shared by two rules: a site per rule (each rule depends on it), both at the anchor.
    assert [s.locator for s in doc.sites] == [
        'Secret/s stringData["rules.yml"] groups[0].rules[0] alert=A expr',
        'Secret/s stringData["rules.yml"] groups[0].rules[1] alert=B expr',
    ]
    assert all(span_text(text, s) == NAME for s in doc.sites)


def test_bom_crlf_and_non_ascii_before_sites():
    text = (
        "\ufeff# résumé 😀\r\ngroups:\r\n- name: 'é😀'\r\n  rules:\r\n  - alert: Ünïcode\r\n"
        '    expr: "😀 < vllm:prompt_tokens_recomputed_total"\r\n'
    )
    site = only(parse(text))
    assert site.locator == "groups[0].rules[0] alert=Ünïcode expr"
    assert site.context.rule.group == "é😀"
    assert span_text(text, site) == NAME
    assert text[site.to_file(0)] == "😀"
    new = edited(text, site, NAME, CACHED)
    assert new == text.replace(NAME, CACHED)


def test_dashboard_in_a_grafana_operator_resource():
    pytest.importorskip("migrator.formats.grafana")
    text = (
        "apiVersion: grafana.integreatly.org/v1beta1\nkind: GrafanaDashboard\nmetadata: {name: d}\nspec:\n"
        '  json: \'{"panels": [{"id": 1, "targets": [{"refId": "A", "expr": "rate(vllm:prompt_tokens_recomputed_total[5m])"}]}]}\'\n'
    )
    site = only(parse(text), SiteKind.PROMQL)
    assert site.locator.startswith("GrafanaDashboard/d spec.json /panels/0/targets/0/expr")
    assert span_text(text, site) == NAME


# --------------------------------------------------------------------------- merge keys

MERGED_RULES = """\
base: &base
  expr: vllm:gpu_cache_usage_perc > 0.9
  for: 5m
  labels: &labels
    severity: page
    about: vllm:gpu_cache_usage_perc
groups:
  - name: g
    rules:
      - alert: B
        expr: up == 0
      - <<: *base
        alert: C
      - <<: *base
        alert: D
"""


def test_a_rule_pulled_in_through_a_merge_key_is_named_like_any_rule():
    sites = [s for s in parse(MERGED_RULES, "vllm").sites if "vllm" in s.value]
    sites.sort(key=lambda s: s.locator)
    assert [s.locator for s in sites] == [
        "groups[0].rules[1] alert=C expr",
        "groups[0].rules[1] alert=C labels.about",
        # Each rule evaluates the shared expr: a site per rule, as for `expr: *alias`; the
        # engine reports (and fixes) the one position once.
        "groups[0].rules[2] alert=D expr",
    ]
    c_expr, _, d_expr = sites
    assert c_expr.kind is SiteKind.PROMQL
    assert c_expr.context.rule == RulePlace("alert", "C", "g", (0, 1))
    assert d_expr.context.rule == RulePlace("alert", "D", "g", (0, 2))
    # The position is where the text is: the anchor's definition.
    for site in (c_expr, d_expr):
        i = site.value.index("vllm:gpu_cache_usage_perc")
        assert site.to_file(i) == MERGED_RULES.index("vllm:gpu_cache_usage_perc")
    fixed = edited(MERGED_RULES, c_expr, "vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc")
    assert fixed == MERGED_RULES.replace("expr: vllm:gpu_cache_usage_perc", "expr: vllm:kv_cache_usage_perc")


def test_a_merged_rule_in_a_prometheus_rule_and_keys_it_overrides():
    text = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: r}
x-templates:
  high: &high
    expr: vllm:gpu_cache_usage_perc > 0.9
    summary: unused vllm:num_requests_swapped
spec:
  groups:
    - name: g
      rules:
        - <<: *high
          alert: High
          summary: own
"""
    assert [s.locator for s in parse(text, "vllm").sites] == [
        "PrometheusRule/r spec.groups[0].rules[0] alert=High expr",
        # The rule's own `summary` wins; the anchor's is walked where it is written.
        "PrometheusRule/r x-templates.high.summary",
    ]


def test_merge_key_forms_follow_yaml_merge():
    text = """\
a: &a {expr: 'vllm:gpu_cache_usage_perc', alert: A1}
b: &b {expr: 'vllm:num_requests_swapped', record: r}
groups:
  - name: g
    rules:
      - <<: [*a, *b]
        alert: Both
      - "<<": *a
        alert: Quoted
"""
    # The list merge takes a's expr (the earlier source wins); b's, overridden, is walked where
    # it is written. A quoted "<<" is an ordinary key: the last item is no rule, and the
    # mapping under that key is walked as what it is (rule A1).
    assert [s.locator for s in parse(text, "vllm").sites] == [
        "groups[0].rules[0] alert=Both expr",
        'groups[0].rules[1]["<<"] alert=A1 expr',
        "b record=r expr",
    ]


def test_excessive_merge_chains_are_a_parse_error_not_a_hang():
    lines = ["groups:", "- name: g", "  rules:", "  - &r0 {alert: A0, expr: 'vllm:gpu_cache_usage_perc'}"]
    lines += [f"  - &r{i} {{<<: *r{i - 1}, k{i}: v}}" for i in range(1, 3000)]
    text = "\n".join(lines) + "\n"
    with pytest.raises(ParseError, match="excessive aliasing") as caught:
        parse(text)
    assert caught.value.offset > 0


# Helm values: mappings that inherit through a merge key but are no Prometheus rule.
HELM_VALUES_MERGED = """\
defaults: &d {metric: vllm:gpu_cache_usage_perc}
prod:
  <<: &inline
    metric: vllm:prompt_tokens_recomputed_total
  replicas: 3
staging: {<<: [*d, *inline]}
canary:
  <<: [{replicas: 1}, {vllm:gpu_prefix_cache_hits: on}]
"""


def test_a_values_mapping_that_merges_names_its_own_key_path():
    sites = sorted(parse(HELM_VALUES_MERGED).sites, key=lambda s: s.to_file(0))
    assert [s.locator for s in sites] == [
        # Written on an ordinary key: named there, whoever merges it later.
        "defaults.metric",
        # Written in the merge key's value: named after the mapping that inherits it (the first
        # one; staging's alias of it is the same text), never `prod["<<"].metric`.
        "prod.metric",
        'canary["vllm:gpu_prefix_cache_hits"] (key)',
    ]
    assert not any("<<" in s.locator for s in sites)
    # Positions are where the text is.
    assert span_text(HELM_VALUES_MERGED, sites[1]) == NAME
    assert edited(HELM_VALUES_MERGED, sites[1], NAME, CACHED) == HELM_VALUES_MERGED.replace(NAME, CACHED)


def test_a_merge_key_that_is_not_a_merge_is_walked_as_written():
    # A quoted "<<" is an ordinary key; a sequence of scalars is no merge.
    text = '"<<": {m: vllm:gpu_cache_usage_perc}\nx:\n  <<: [vllm:gpu_cache_usage_perc]\n'
    assert [s.locator for s in parse(text).sites] == ['["<<"].m', 'x["<<"][0]']
