"""The JSON handler: position-keeping scanner, re-encoding, Grafana walker, embedded dashboards."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.engine import apply_edits
from migrator.formats.base import GrafanaPlace, ParseError, RulePlace, Site, SiteKind, SiteNeeds
from migrator.formats.grafana_datasources import is_prometheus_datasource
from migrator.formats.json_format import JsonHandler, dashboard_sites_from_string
from migrator.formats.json_scan import JArray, JObject, parse
from migrator.formats.json_strings import JsonStyle, decode_string

HANDLER = JsonHandler()
REMOVED = "vllm:prompt_tokens_recomputed_total"
# What the rules pass today: "vllm" for every catalogue name, and the word the prose rule looks
# for (needles are case-sensitive, so both spellings of its first letter).
NEEDS = SiteNeeds(needles=("vllm", "recomput", "Recomput"))


def parse_doc(path: str, text: str, needs: SiteNeeds = NEEDS):  # type: ignore[no-untyped-def]
    return HANDLER.parse(path, text, needs)


def sites_of(text: str, kind: SiteKind | None = None, needs: SiteNeeds = NEEDS) -> list[Site]:
    doc = parse_doc("d.json", text, needs)
    return [s for s in doc.sites if kind is None or s.kind is kind]


def by_locator(sites: list[Site], fragment: str) -> Site:
    found = [s for s in sites if fragment in s.locator]
    assert len(found) == 1, [s.locator for s in sites]
    return found[0]


def raw_of(text: str, site: Site, start: int, end: int) -> str:
    return text[site.to_file(start) : site.to_file(end)]


def apply(text: str, edits) -> str:  # type: ignore[no-untyped-def]
    return apply_edits(text, list(edits))


def dashboard(*panels: dict, **extra) -> dict:  # type: ignore[type-arg]
    return {"uid": "vllm-main", "title": "vLLM", "panels": list(panels), "schemaVersion": 39, **extra}


def panel(pid: int, title: str, *exprs: str, **extra) -> dict:  # type: ignore[type-arg]
    targets = [{"expr": e, "legendFormat": "{{pod}}", "refId": chr(ord("A") + i)} for i, e in enumerate(exprs)]
    return {"id": pid, "title": title, "type": "timeseries", "targets": targets, **extra}


# --------------------------------------------------------------------------- offsets and escapes

# Written the way Go's encoder writes (HTML-safe `\u003c`), with a literal non-ASCII title.
REALISTIC = r"""{
  "__inputs": [{"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"}],
  "uid": "vllm-kv",
  "title": "vLLM — KV cache",
  "panels": [
    {
      "id": 4,
      "title": "KV cache: cached vs recomputed",
      "description": "Tokens served from cache \u003c→\u003e recomputed ones",
      "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
      "targets": [
        {
          "expr": "sum(rate(vllm:prompt_tokens_cached_total{env=~\"$env\"}[$__rate_interval]))",
          "legendFormat": "cached",
          "refId": "A"
        },
        {
          "expr": "sum(rate(vllm:prompt_tokens_recomputed_total{env=~\"$env\", model=\"é\"}[$__rate_interval])) \u003e 0 \u0026\u0026 ☃",
          "legendFormat": "recomputed ☃",
          "refId": "B"
        }
      ]
    }
  ]
}
"""


def test_site_offsets_map_every_decoded_char_to_its_escape() -> None:
    text = REALISTIC
    site = by_locator(sites_of(text, SiteKind.PROMQL), "refId B")
    assert site.locator == '/panels/0/targets/1/expr (panel "KV cache: cached vs recomputed", id 4, refId B)'
    value = site.value
    assert value.startswith('sum(rate(vllm:prompt_tokens_recomputed_total{env=~"$env", model="é"}')
    a = value.index(REMOVED)
    assert raw_of(text, site, a, a + len(REMOVED)) == REMOVED
    sel = value.index("{env")
    sel_end = value.index("}") + 1
    assert raw_of(text, site, sel, sel_end) == r'{env=~\"$env\", model=\"é\"}'
    gt = value.index(">")
    assert raw_of(text, site, gt, gt + 1) == r"\u003e"
    amp = value.index("&&")
    assert raw_of(text, site, amp, amp + 2) == r"\u0026\u0026"
    assert raw_of(text, site, 0, len(value)) == json.dumps(value, ensure_ascii=False)[1:-1].replace(
        ">", "\\u003e"
    ).replace("&", "\\u0026")
    # Every decoded character re-encodes to exactly its raw slice.
    for i, ch in enumerate(value):
        assert raw_of(text, site, i, i + 1) == site.encode(ch)


def test_encoder_keeps_the_files_escaping_style() -> None:
    site = by_locator(sites_of(REALISTIC, SiteKind.PROMQL), "refId B")
    assert site.encode('a<b>"c"&\\d\n é') == r"a\u003cb\u003e\"c\"\u0026\\d\n é"
    assert site.encode("\u2028") == r"\u2028"
    assert site.encode("\ud800") == r"\ud800"  # a lone surrogate could not be written as UTF-8


def test_decode_string_surrogate_pairs_and_short_escapes() -> None:
    text = r'"a\ud83d\ude00b\u00e9\n\/\\\"\t\b\fz\ud800"'
    value, offsets = decode_string(text, 0, len(text))
    assert value == json.loads(text)
    assert value[1] == "\U0001f600"
    assert offsets[:4] == [1, 2, 14, 15]  # the pair maps to the start of its 12-char escape
    assert offsets[-1] == len(text) - 1
    assert len(offsets) == len(value) + 1


def test_style_detection() -> None:
    assert JsonStyle.detect(json.dumps({"a": "é<"})).ascii_only
    assert not JsonStyle.detect(json.dumps({"a": "é<"})).html_safe
    assert JsonStyle.detect('{"a": "\\u003c"}').html_safe
    assert not JsonStyle.detect('{"a": "é \\u00e9"}').ascii_only  # literal non-ASCII wins
    assert JsonStyle.detect('{"a": "a\\/b"}').escape_slash
    style = JsonStyle.detect('{"a": "\\u00E9"}')
    assert style.upper_hex and style.encode("é") == "\\u00E9"


def _styled_dump(obj: object, style: str) -> str:
    if style == "ascii":
        return json.dumps(obj, indent=2, ensure_ascii=True)
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if style == "html":
        # Go's encoder: HTML-sensitive characters escaped (they only occur inside strings).
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text


_CHARS = st.characters(blacklist_categories=("Cs",))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    style=st.sampled_from(["plain", "ascii", "html"]),
    before=st.text(_CHARS, max_size=12),
    after=st.text(_CHARS, max_size=12),
    replacement=st.text(_CHARS, max_size=12),
    data=st.data(),
)
def test_encoder_round_trip(style: str, before: str, after: str, replacement: str, data) -> None:  # type: ignore[no-untyped-def]
    expr = f"{before}rate({REMOVED}{{a=\"x\"}}[5m]){after}"
    doc = {"title": "café <b> & co", "panels": [panel(1, "p", expr)]}
    text = _styled_dump(doc, style)
    [site] = sites_of(text, SiteKind.PROMQL)
    assert site.value == expr
    start = data.draw(st.integers(0, len(expr)))
    end = data.draw(st.integers(start, len(expr)))
    edit = site.edit(start, end, replacement)
    new = apply(text, [edit])
    assert json.loads(new)["panels"][0]["targets"][0]["expr"] == expr[:start] + replacement + expr[end:]
    if style == "ascii":
        assert new.isascii()
    if style == "html":
        assert not any(c in edit.content for c in "<>&")
    if style == "plain":
        assert "\\u" not in edit.content or any(ord(c) < 0x20 for c in replacement)


# --------------------------------------------------------------------------- parsing errors

@pytest.mark.parametrize(
    "text",
    ["", " ", "[1,]", '{"a" 1}', '{"a":1,}', "[1}", '"abc', '"a\\x"', "[1] 2", '{"a":"\x01"}', "[", "tru",
     '{"a":1', '[1 2]', '{"a":1 "b":2}', '"\\u12"', "01", "1.", "-", '{,}', '[,1]', "\ufeff", "\ufeff[1,]",
     '[null"]', '{"a" "b"}', '"\\u0007', '"\\ud800\\u12"', '[1]]', '{"a":1}}'],
)
def test_invalid_json_offsets_match_the_json_module(text: str) -> None:
    body = text[1:] if text.startswith("\ufeff") else text
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(body)
    with pytest.raises(ParseError) as err:
        parse_doc("x.json", text)
    assert err.value.offset == expected.value.pos + (len(text) - len(body))
    assert err.value.message.startswith("invalid JSON: ")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400)
@given(value=_JSON, data=st.data())
def test_scanner_agrees_with_json_module_on_mutations(value, data) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps(value, indent=data.draw(st.sampled_from([None, 1])), ensure_ascii=data.draw(st.booleans()))
    i = data.draw(st.integers(0, len(text)))
    mutation = data.draw(st.sampled_from(["delete", "insert", "none"]))
    if mutation == "delete" and i < len(text):
        text = text[:i] + text[i + 1 :]
    elif mutation == "insert":
        text = text[:i] + data.draw(st.sampled_from(list('{}[],:"\\ 1e-.tn\x01'))) + text[i:]
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        with pytest.raises(ParseError) as ours:
            parse(text)
        assert ours.value.offset == err.pos, (text, ours.value.message, err.msg)
        return
    parse(text)


def test_deep_nesting_does_not_crash() -> None:
    depth = 100_000
    assert type(parse("[" * depth + "]" * depth)) is JArray
    deep_objects = '{"a":' * depth + "1" + "}" * depth
    assert type(parse(deep_objects)) is JObject
    parse_doc("deep.json", deep_objects)
    HANDLER.validate(deep_objects)  # the C decoder gives up; the scanner decides
    with pytest.raises(ParseError) as err:
        parse_doc("deep.json", "[" * depth)
    assert err.value.offset == depth
    with pytest.raises(ParseError):
        HANDLER.validate("[" * depth + "]" * (depth - 1))


def test_bom_is_allowed_and_offsets_stay_file_offsets() -> None:
    text = "\ufeff" + json.dumps(dashboard(panel(1, "p", f"rate({REMOVED}[5m])")))
    [site] = sites_of(text, SiteKind.PROMQL)
    a = site.value.index(REMOVED)
    assert raw_of(text, site, a, a + len(REMOVED)) == REMOVED
    HANDLER.validate(text)


# --------------------------------------------------------------------------- dashboard shapes

RECOMPUTED_EXPR = f'sum(rate({REMOVED}{{namespace=~"$ns"}}[$__rate_interval])) by (role)'
CACHED_EXPR = 'sum(rate(vllm:prompt_tokens_cached_total{namespace=~"$ns"}[$__rate_interval])) by (role)'


def test_classic_dashboard_sites_and_context() -> None:
    d = dashboard(
        panel(
            4,
            "Cached vs Recomputed",
            CACHED_EXPR,
            RECOMPUTED_EXPR,
            description="Prompt tokens recomputed for the forward pass",
            fieldConfig={
                "defaults": {"displayName": "Recomputed tokens"},
                "overrides": [
                    {"matcher": {"id": "byName", "options": "recomputed"},
                     "properties": [{"id": "displayName", "value": "Recomputed (last token)"}]}
                ],
            },
        ),
        panel(5, "Unrelated", "up"),
    )
    d["panels"][0]["targets"][1]["legendFormat"] = "{{role}} recomputed"
    text = json.dumps(d, indent=2)
    doc = parse_doc("d.json", text)
    assert doc.dashboards == [("vllm-main", "vLLM")]
    promql = [s for s in doc.sites if s.kind is SiteKind.PROMQL]
    assert [s.locator for s in promql] == [
        '/panels/0/targets/0/expr (panel "Cached vs Recomputed", id 4, refId A)',
        '/panels/0/targets/1/expr (panel "Cached vs Recomputed", id 4, refId B)',
        '/panels/1/targets/0/expr (panel "Unrelated", id 5, refId A)',
    ]
    site = promql[1]
    place = site.context.grafana
    assert (place.uid, place.panel_id, place.panel_title, place.ref_id) == ("vllm-main", 4, "Cached vs Recomputed", "B")
    assert (place.datasource, place.path, place.kind, place.hidden) == (None, "/panels/0/targets/1", "target", False)
    assert site.context.field == "expr" and site.context.json_path == "/panels/0/targets/1/expr"
    assert place.sibling_exprs == (CACHED_EXPR,)
    prose = {s.context.prose: s for s in doc.sites if s.kind is SiteKind.TEXT and s.context.prose}
    assert set(prose) == {"title", "description", "legendFormat", "displayName"}
    assert by_locator(doc.sites, "/panels/0/title").value == "Cached vs Recomputed"
    legend = by_locator(doc.sites, "/panels/0/targets/1/legendFormat")
    assert legend.context.grafana.ref_id == "B"
    # Prose keeps the panel's identity, so a rule can tie it to the targets it changes.
    assert legend.context.grafana.panel_key == place.panel_key and legend.context.grafana.kind == "panel"
    names = sorted(s.locator.split(" ")[0] for s in doc.sites if s.context.prose == "displayName")
    assert names == [
        "/panels/0/fieldConfig/defaults/displayName",
        "/panels/0/fieldConfig/overrides/0/matcher/options",
        "/panels/0/fieldConfig/overrides/0/properties/0/value",
    ]
    # The unrelated panel's title gets no prose site; the other panel's `{{pod}}` legend neither.
    assert not [s for s in doc.sites if s.locator.startswith("/panels/1/title")]


def test_api_export_wrapper_rows_collapsed_rows_and_library_panels() -> None:
    inner = {
        "uid": "u1",
        "title": "Wrapped",
        "rows": [{"title": "old row", "panels": [panel(1, "old", RECOMPUTED_EXPR)]}],
        "panels": [
            {"type": "row", "id": 9, "title": "Collapsed", "collapsed": True, "panels": [panel(10, "in row", RECOMPUTED_EXPR)]},
            {"id": 11, "title": "lib ref", "libraryPanel": {"uid": "lp1", "name": "lp"}},
        ],
        "__elements": {"lp1": {"name": "lp", "uid": "lp1", "kind": 1, "model": panel(12, "library", RECOMPUTED_EXPR)}},
    }
    text = json.dumps({"dashboard": inner, "meta": {"slug": "x"}}, indent=1)
    doc = parse_doc("d.json", text)
    locs = sorted(s.locator for s in doc.sites if s.kind is SiteKind.PROMQL)
    assert locs == [
        '/dashboard/__elements/lp1/model/targets/0/expr (panel "library", id 12, refId A)',
        '/dashboard/panels/0/panels/0/targets/0/expr (panel "in row", id 10, refId A)',
        '/dashboard/rows/0/panels/0/targets/0/expr (panel "old", id 1, refId A)',
    ]
    assert doc.dashboards == [("u1", "Wrapped")]
    for s in doc.sites:
        if s.kind is SiteKind.PROMQL:
            assert s.context.grafana.uid == "u1"


def test_library_panel_export_and_library_panels_list() -> None:
    text = json.dumps({"uid": "lp", "name": "shared", "kind": 1, "model": panel(3, "shared", RECOMPUTED_EXPR)})
    [s] = sites_of(text, SiteKind.PROMQL)
    assert s.locator == '/model/targets/0/expr (panel "shared", id 3, refId A)'
    text = json.dumps({"libraryPanels": [{"uid": "a", "model": panel(3, "shared", RECOMPUTED_EXPR)}]})
    [s] = sites_of(text, SiteKind.PROMQL)
    assert s.locator.startswith("/libraryPanels/0/model/targets/0/expr")


def test_kubernetes_shapes() -> None:
    k8s = {"apiVersion": "dashboard.grafana.app/v1beta1", "kind": "Dashboard", "metadata": {"name": "k"},
           "spec": dashboard(panel(1, "p", RECOMPUTED_EXPR))}
    [s] = sites_of(json.dumps(k8s), SiteKind.PROMQL)
    assert s.locator.startswith("/spec/panels/0/targets/0/expr")
    op = {"apiVersion": "integreatly.org/v1alpha1", "kind": "GrafanaDashboard", "metadata": {"name": "op"},
          "spec": {"json": json.dumps(dashboard(panel(1, "p", CACHED_EXPR, RECOMPUTED_EXPR)), indent=2)}}
    text = json.dumps(op, indent=2)
    doc = parse_doc("op.json", text)
    promql = [s for s in doc.sites if s.kind is SiteKind.PROMQL]
    assert [s.locator for s in promql] == [
        '/spec/json/panels/0/targets/0/expr (panel "p", id 1, refId A)',
        '/spec/json/panels/0/targets/1/expr (panel "p", id 1, refId B)',
    ]
    assert doc.dashboards == [("vllm-main", "vLLM")]
    site = promql[1]
    a = site.value.index(REMOVED)
    assert raw_of(text, site, a, a + len(REMOVED)) == REMOVED
    sel = site.value.index('"$ns"')
    assert raw_of(text, site, sel, sel + 5) == r"\\\"$ns\\\""  # escaped twice: JSON in JSON
    # An edit through the composed encoder lands as doubly-escaped text.
    new = apply(text, [site.edit(sel, sel + 5, '"prod"<')])
    inner = json.loads(json.loads(new)["spec"]["json"])
    assert inner["panels"][0]["targets"][1]["expr"] == RECOMPUTED_EXPR.replace('"$ns"', '"prod"<')
    # The composed target removal keeps both documents valid.
    assert site.context.embedded_in == "/spec/json"
    new = apply(text, site.context.grafana.target_removal)
    inner_text = json.loads(new)["spec"]["json"]
    assert [t["refId"] for t in json.loads(inner_text)["panels"][0]["targets"]] == ["A"]
    expected = dashboard(panel(1, "p", CACHED_EXPR))
    assert inner_text == json.dumps(expected, indent=2)  # the inner document's layout is kept


def test_kubernetes_configmap_json_and_list() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dash"},
          "data": {"vllm.json": json.dumps(dashboard(panel(1, "p", RECOMPUTED_EXPR))), "other": "x"}}
    lst = {"apiVersion": "v1", "kind": "List", "items": [cm]}
    [s] = sites_of(json.dumps(lst), SiteKind.PROMQL)
    assert s.locator.startswith("/items/0/data/vllm.json/panels/0/targets/0/expr")


def test_templating_and_annotations() -> None:
    d = dashboard(
        templating={"list": [
            {"name": "model", "type": "query", "datasource": {"type": "prometheus", "uid": "p"},
             "query": {"query": f"label_values({REMOVED}, model_name)", "refId": "PrometheusVariableQueryEditor-VariableQuery"},
             "definition": f"label_values({REMOVED}, model_name)"},
            {"name": "old", "type": "query", "query": f"query_result({REMOVED})", "definition": "something else"},
            {"name": "ds", "type": "datasource", "query": "prometheus"},
            {"name": "custom", "type": "custom", "query": "a,b"},
        ]},
        annotations={"list": [
            {"name": "Recompute spikes", "datasource": "$ds", "expr": f"rate({REMOVED}[5m]) > 10"},
            {"name": "new style", "datasource": {"type": "prometheus"}, "target": {"expr": f"{REMOVED} > 0", "refId": "Anno"}},
            {"name": "Builtin", "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}},
        ]},
    )
    doc = parse_doc("d.json", json.dumps(d, indent=2))
    queries = [s for s in doc.sites if s.kind is SiteKind.GRAFANA_QUERY]
    assert [s.locator for s in queries] == [
        '/templating/list/0/query/query (variable "model")',
        '/templating/list/0/definition (variable "model")',
        '/templating/list/1/query (variable "old")',
        '/templating/list/1/definition (variable "old")',
    ]
    assert queries[0].context.grafana.ref_id == "PrometheusVariableQueryEditor-VariableQuery"
    assert queries[0].context.grafana.kind == "templating"
    assert [q.context.grafana.duplicate_of_query for q in queries] == [False, True, False, False]
    annotations = [s for s in doc.sites if s.kind is SiteKind.PROMQL]
    assert [s.locator for s in annotations] == [
        '/annotations/list/0/expr (annotation "Recompute spikes")',
        '/annotations/list/1/target/expr (annotation "new style")',
    ]
    assert annotations[0].context.grafana.kind == "annotation"
    assert annotations[0].context.grafana.target_removal is None


def test_unified_alerting_exports() -> None:
    provisioning = {"apiVersion": 1, "groups": [{"orgId": 1, "name": "vllm", "folder": "x", "rules": [
        {"uid": "r1", "title": "High recompute", "condition": "C", "data": [
            {"refId": "A", "datasourceUid": "prom", "model": {"expr": f"rate({REMOVED}[5m])", "refId": "A"}},
            {"refId": "C", "datasourceUid": "__expr__", "model": {"type": "threshold", "expression": "A"}},
        ]}]}]}
    [s] = sites_of(json.dumps(provisioning), SiteKind.PROMQL)
    assert s.locator == '/groups/0/rules/0/data/0/model/expr (alert rule "High recompute", refId A)'
    assert s.context.rule == RulePlace(kind="alert", name="High recompute", group="vllm", index=(0, 0))
    assert s.context.field == "data[0].model.expr"
    # An alert query is not a panel target: removing it would break the condition naming it.
    place = s.context.grafana
    assert (place.kind, place.uid, place.ref_id, place.target_removal) == ("alert", "r1", "A", None)
    ruler = {"vllm-folder": [{"name": "g", "interval": "1m", "rules": [
        {"expr": "", "grafana_alert": {"uid": "r2", "title": "T", "data": [
            {"refId": "A", "datasourceUid": "loki-uid", "model": {"expr": f'count_over_time({{app="x"}} |= "{REMOVED}" [5m])'}},
            {"refId": "B", "datasourceUid": "prom", "model": {"expr": f"{REMOVED} > 1"}}]}}]}]}
    sites = sites_of(json.dumps(ruler))
    [s] = [x for x in sites if x.kind is SiteKind.PROMQL and "/model/expr" in x.locator]
    assert s.locator == '/vllm-folder/0/rules/0/grafana_alert/data/1/model/expr (alert rule "T", refId B)'
    [loki] = [x for x in sites if x.context.not_prometheus]
    assert not loki.editable and loki.kind is SiteKind.TEXT
    prom_rules = {"groups": [{"name": "vllm.rules", "rules": [
        {"record": "job:vllm_recomputed:rate5m", "expr": f"sum(rate({REMOVED}[5m]))"},
        {"alert": "VllmRecomputeHigh", "expr": "job:vllm_recomputed:rate5m > 1"}]}]}
    sites = sites_of(json.dumps(prom_rules), SiteKind.PROMQL)
    assert [s.locator for s in sites] == [
        "groups[0].rules[0] record=job:vllm_recomputed:rate5m expr",
        "groups[0].rules[1] alert=VllmRecomputeHigh expr",
    ]
    assert sites[0].context.rule == RulePlace(kind="record", name="job:vllm_recomputed:rate5m", group="vllm.rules", index=(0, 0))
    assert sites[1].context.rule.kind == "alert"
    # Every rule of the file is listed, whether or not it has a site.
    assert [(r.kind, r.name) for r in parse_doc("r.json", json.dumps(prom_rules)).rules] == [
        ("record", "job:vllm_recomputed:rate5m"), ("alert", "VllmRecomputeHigh")]


def test_perses_and_grafana_v2() -> None:
    perses = {"kind": "Dashboard", "metadata": {"name": "vllm", "project": "p"}, "spec": {
        "display": {"name": "vLLM"},
        "panels": {"kv": {"kind": "Panel", "spec": {"display": {"name": "KV"}, "plugin": {"kind": "TimeSeriesChart"},
            "queries": [
                {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery", "spec": {"query": CACHED_EXPR}}}},
                {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery", "spec": {"query": RECOMPUTED_EXPR}}}},
            ]}}},
        "variables": [{"kind": "ListVariable", "spec": {"name": "m", "plugin": {"kind": "PrometheusPromQLVariable",
                                                                                 "spec": {"expr": f"group by (model) ({REMOVED})"}}}}],
    }}
    text = json.dumps(perses, indent=2)
    sites = sites_of(text, SiteKind.PROMQL)
    assert [s.locator for s in sites] == [
        '/spec/panels/kv/spec/queries/0/spec/plugin/spec/query (panel "KV", id kv)',
        '/spec/panels/kv/spec/queries/1/spec/plugin/spec/query (panel "KV", id kv)',
        '/spec/variables/0/spec/plugin/spec/expr (variable "m")',
    ]
    removed = json.loads(apply(text, sites[1].context.grafana.target_removal))
    assert len(removed["spec"]["panels"]["kv"]["spec"]["queries"]) == 1
    v2 = {"apiVersion": "dashboard.grafana.app/v2beta1", "kind": "Dashboard", "metadata": {"name": "v2"}, "spec": {
        "title": "v2", "elements": {"panel-1": {"kind": "Panel", "spec": {"id": 1, "title": "KV", "data": {"kind": "QueryGroup", "spec": {
            "queries": [{"kind": "PanelQuery", "spec": {"refId": "A", "query": {"kind": "DataQuery", "group": "prometheus",
                                                                                 "spec": {"expr": RECOMPUTED_EXPR}}}},
                        {"kind": "PanelQuery", "spec": {"refId": "B", "query": {"kind": "DataQuery", "group": "loki",
                                                                                 "spec": {"expr": "{app=\"x\"}"}}}}]}}}}},
        "variables": [{"kind": "QueryVariable", "spec": {"name": "m", "query": {"kind": "DataQuery", "group": "prometheus",
                      "spec": {"query": f"label_values({REMOVED}, m)"}}, "definition": f"label_values({REMOVED}, m)"}}]}}
    doc = parse_doc("v2.json", json.dumps(v2))
    [s] = [x for x in doc.sites if x.kind is SiteKind.PROMQL]
    assert s.locator == '/spec/elements/panel-1/spec/data/spec/queries/0/spec/query/spec/expr (panel "KV", id 1, refId A)'
    assert s.context.grafana.target_removal is not None  # the Loki query keeps the panel alive
    assert [x.context.grafana.duplicate_of_query for x in doc.sites if x.kind is SiteKind.GRAFANA_QUERY] == [False, True]


def test_grafana_v2_query_removal_respects_hidden_queries_and_expressions() -> None:
    def query(ref_id: str, spec: dict, group: str = "prometheus", hidden: bool = False) -> dict:  # type: ignore[type-arg]
        return {"kind": "PanelQuery", "spec": {"refId": ref_id, "hidden": hidden,
                                               "query": {"kind": "DataQuery", "group": group, "spec": spec}}}

    def element(queries: list) -> dict:  # type: ignore[type-arg]
        return {"kind": "Panel", "spec": {"id": 1, "title": "t", "data": {"kind": "QueryGroup", "spec": {"queries": queries}}}}

    cached = {"expr": CACHED_EXPR}
    v2 = {"apiVersion": "dashboard.grafana.app/v2beta1", "kind": "Dashboard", "metadata": {"name": "v2"}, "spec": {
        "title": "v2", "elements": {
            "hidden": element([query("A", {"expr": RECOMPUTED_EXPR}), query("B", cached, hidden=True)]),
            "math": element([query("A", {"expr": RECOMPUTED_EXPR}), query("B", cached),
                             query("C", {"type": "math", "expression": "$A / $B"}, group="__expr__")]),
            "fine": element([query("A", {"expr": RECOMPUTED_EXPR}), query("B", cached)]),
        }}}
    sites = {s.locator.split("/")[3]: s for s in sites_of(json.dumps(v2), SiteKind.PROMQL) if "refId A" in s.locator}
    assert "hidden" in sites["hidden"].context.grafana.removal_blocked
    assert sites["hidden"].context.grafana.target_removal is None
    assert "expression C" in sites["math"].context.grafana.removal_blocked
    assert sites["math"].context.grafana.target_removal is None
    assert sites["fine"].context.grafana.target_removal is not None


def test_strings_outside_known_places_become_sites_when_they_mention_a_needle() -> None:
    text = json.dumps(
        {"allow": ["vllm:prompt_tokens_cached_total", REMOVED, 3, "vllm:prompt_tokens_total"],
         "only": [REMOVED],
         "by_key": {REMOVED: 1, "other": 2},
         "query": f"sum(rate({REMOVED}[5m]))",
         "note": "prompt_tokens_recomputed was removed in v0.20",
         "unrelated": ["up", "process_cpu_seconds_total"]},
        indent=2,
    )
    sites = {s.locator: s for s in sites_of(text)}
    assert sorted(sites) == [
        "/allow/0", "/allow/1", "/allow/3", "/by_key/vllm:prompt_tokens_recomputed_total (key)",
        "/note", "/only/0", "/query",
    ]
    assert sites["/query"].kind is SiteKind.PROMQL and sites["/query"].context.field == "query"
    assert sites["/note"].kind is SiteKind.TEXT and sites["/note"].context.container is None
    assert sites["/allow/1"].kind is SiteKind.NAME
    # Only what the needles say: without "recomput" the note is nobody's business.
    assert "/note" not in {s.locator for s in sites_of(text, needs=SiteNeeds(needles=("vllm",)))}
    assert sites_of(text, needs=SiteNeeds()) == []


def test_containers_of_array_elements_and_object_keys() -> None:
    text = json.dumps(
        {"allow": ["vllm:prompt_tokens_cached_total", REMOVED, 3, "vllm:prompt_tokens_total"],
         "only": [REMOVED],
         "by_key": {REMOVED: 1, "other": 2},
         "one_key": {REMOVED: True}},
        indent=2,
    )
    sites = {s.locator: s for s in sites_of(text)}
    allow = sites["/allow/1"].context.container
    assert (allow.kind, allow.index, allow.owner) == ("array", 1, "/allow")
    # Every element's decoded value, None for the number: a rule sees the old and new names side by side.
    assert allow.values == ("vllm:prompt_tokens_cached_total", REMOVED, None, "vllm:prompt_tokens_total")
    assert text[allow.span.start : allow.span.end].startswith("[") and text[allow.span.end - 1] == "]"
    assert json.loads(apply(text, allow.removal))["allow"] == [
        "vllm:prompt_tokens_cached_total", 3, "vllm:prompt_tokens_total"]
    # The last element: the comma before it goes.
    last = sites["/allow/3"].context.container
    assert json.loads(apply(text, last.removal))["allow"] == ["vllm:prompt_tokens_cached_total", REMOVED, 3]
    assert apply(text, last.removal) == json.dumps(
        {**json.loads(text), "allow": ["vllm:prompt_tokens_cached_total", REMOVED, 3]}, indent=2)
    # The only element: removing it would leave an empty collection, so no removal.
    only = sites["/only/0"].context.container
    assert only.values == (REMOVED,) and only.removal is None
    key = sites["/by_key/vllm:prompt_tokens_recomputed_total (key)"].context.container
    assert (key.kind, key.values, key.owner) == ("mapping-key", (REMOVED, "other"), "/by_key")
    assert json.loads(apply(text, key.removal))["by_key"] == {"other": 2}
    assert sites["/one_key/vllm:prompt_tokens_recomputed_total (key)"].context.container.removal is None


def test_container_removal_in_minified_json() -> None:
    text = json.dumps({"a": ["x", REMOVED, "y"], "k": {"z": 1, REMOVED: 2}}, separators=(",", ":"))
    sites = {s.locator: s for s in sites_of(text)}
    assert apply(text, sites["/a/1"].context.container.removal) == '{"a":["x","y"],"k":{"z":1,"vllm:prompt_tokens_recomputed_total":2}}'
    key = sites["/k/vllm:prompt_tokens_recomputed_total (key)"].context.container
    assert apply(text, key.removal) == '{"a":["x","vllm:prompt_tokens_recomputed_total","y"],"k":{"z":1}}'


def test_needles_hidden_behind_escapes_are_found() -> None:
    # `\u0076` is `v`: nobody's serializer writes that, but the decoded value is what counts.
    text = '{"metrics": ["up", "\\u0076llm:num_requests_running"], "note": "a\\/b"}'
    assert json.loads(text)["metrics"][1] == "vllm:num_requests_running"
    [site] = sites_of(text)
    assert site.value == "vllm:num_requests_running" and site.locator == "/metrics/1"
    assert site.context.container.values == ("up", "vllm:num_requests_running")
    # A needle with a `/`, written `\/` the way PHP does.
    [slash] = sites_of(text, needs=SiteNeeds(needles=("a/b",)))
    assert slash.locator == "/note" and slash.value == "a/b"


# --------------------------------------------------------------------------- target removal


def _three_target_dashboard() -> dict:  # type: ignore[type-arg]
    return dashboard(panel(4, "KV", RECOMPUTED_EXPR, CACHED_EXPR, RECOMPUTED_EXPR.replace("role", "pod")))


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("layout", ["indent2", "indent4-crlf", "minified", "compact-spaces"])
def test_target_removal_keeps_valid_json_and_indentation(index: int, layout: str) -> None:
    d = _three_target_dashboard()
    d["panels"][0]["targets"][1]["expr"] = f"{REMOVED} + 0"  # every target is a PromQL site
    if layout == "indent2":
        text = json.dumps(d, indent=2)
    elif layout == "indent4-crlf":
        text = json.dumps(d, indent=4).replace("\n", "\r\n")
    elif layout == "minified":
        text = json.dumps(d, separators=(",", ":"))
    else:
        text = json.dumps(d)
    sites = sites_of(text, SiteKind.PROMQL)
    removal = sites[index].context.grafana.target_removal
    new = apply(text, removal)
    expected = json.loads(text)
    del expected["panels"][0]["targets"][index]
    assert json.loads(new) == expected
    # The result is exactly what the same serializer writes for the smaller document.
    if layout == "indent2":
        assert new == json.dumps(expected, indent=2)
    elif layout == "indent4-crlf":
        assert new == json.dumps(expected, indent=4).replace("\n", "\r\n")
    elif layout == "minified":
        assert new == json.dumps(expected, separators=(",", ":"))
    else:
        assert new == json.dumps(expected)


def test_target_removal_is_none_when_no_other_target_has_an_expr() -> None:
    d = dashboard(panel(1, "only", RECOMPUTED_EXPR))
    d["panels"][0]["targets"].append({"refId": "B", "datasource": {"type": "__expr__", "uid": "__expr__"}, "expression": "$A * 2"})
    d["panels"][0]["targets"].append({"refId": "C", "expr": ""})
    [s] = sites_of(json.dumps(d), SiteKind.PROMQL)
    assert s.context.grafana.target_removal is None
    assert s.context.grafana.sibling_exprs == ()


@pytest.mark.parametrize(
    "expression",
    [
        {"type": "math", "expression": "$A / $B"},
        {"type": "math", "expression": "${A} * 100"},
        {"type": "reduce", "expression": "A", "reducer": "last"},
        {"type": "sql", "expression": "SELECT time, value * 100 AS pct FROM A"},
        {"type": "classic_conditions", "conditions": [{"query": {"params": ["A"]}, "evaluator": {"type": "gt", "params": [1]}}]},
    ],
)
def test_a_target_an_expression_reads_is_not_removed(expression) -> None:  # type: ignore[no-untyped-def]
    """Removing target A would leave expression C reading a refId that no longer exists: the
    panel errors instead of losing one series."""
    d = dashboard(panel(1, "share", RECOMPUTED_EXPR, "sum(rate(vllm:prompt_tokens_total[5m]))"))
    d["panels"][0]["targets"].append({"refId": "C", "datasource": {"type": "__expr__", "uid": "__expr__"}, **expression})
    a, b = sites_of(json.dumps(d), SiteKind.PROMQL)
    assert a.context.grafana.target_removal is None
    assert "expression C" in a.context.grafana.removal_blocked
    reads_b = "B" in json.dumps(expression)
    assert (b.context.grafana.target_removal is None) is reads_b


def test_a_target_is_not_removed_when_only_hidden_targets_would_remain() -> None:
    d = dashboard(panel(1, "recomputed", RECOMPUTED_EXPR, "sum(rate(vllm:prompt_tokens_total[5m]))"))
    d["panels"][0]["targets"][1]["hide"] = True
    a, b = sites_of(json.dumps(d), SiteKind.PROMQL)
    assert a.context.grafana.target_removal is None
    assert "hidden" in a.context.grafana.removal_blocked
    assert b.context.grafana.target_removal is not None  # removing the hidden one leaves A on show


def test_two_removals_never_empty_the_targets_array() -> None:
    d = dashboard(panel(1, "two", RECOMPUTED_EXPR, f"{REMOVED} * 2"))
    text = json.dumps(d, indent=2)
    a, b = sites_of(text, SiteKind.PROMQL)
    ea, eb = a.context.grafana.target_removal[0], b.context.grafana.target_removal[0]
    assert ea.span.overlaps(eb.span)  # the engine defers one of them to the next pass


# --------------------------------------------------------------------------- datasources


@pytest.mark.parametrize(
    ("ds", "expected"),
    [
        (None, True),
        ({"type": "prometheus", "uid": "abc"}, True),
        ({"type": "grafana-amazonprometheus-datasource", "uid": "x"}, True),
        ({"type": "loki", "uid": "abc"}, False),
        ({"type": "elasticsearch"}, False),
        ({"uid": "${DS_PROMETHEUS}"}, True),
        ({"uid": "my-loki"}, False),
        ("$datasource", True),
        ("${DS_PROMETHEUS}", True),
        ("InfluxDB-prod", False),
        ("Tempo", False),
        ("Prometheus", True),
        ("${DS_LOGS}", False),  # resolved through the variables map
        ({"type": "${ds_type}", "uid": "postgres-main"}, False),
    ],
)
def test_datasource_classification(ds, expected) -> None:  # type: ignore[no-untyped-def]
    assert is_prometheus_datasource(ds, {"DS_LOGS": "loki", "DS_PROMETHEUS": "prometheus"}) is expected


def test_non_prometheus_targets_are_skipped() -> None:
    d = dashboard(
        panel(1, "logs", f'{{app="vllm"}} |= "{REMOVED}"', datasource={"type": "loki", "uid": "l"}),
        panel(2, "mixed", RECOMPUTED_EXPR, "up", datasource={"type": "datasource", "uid": "-- Mixed --"}),
        panel(3, "via input", RECOMPUTED_EXPR, datasource="${DS_LOKI}"),
        __inputs=[{"name": "DS_LOKI", "type": "datasource", "pluginId": "loki"}],
    )
    d["panels"][1]["targets"][1]["datasource"] = {"type": "elasticsearch", "uid": "es"}
    doc = parse_doc("d.json", json.dumps(d, indent=2))
    promql = [s for s in doc.sites if s.kind is SiteKind.PROMQL]
    assert [s.locator for s in promql] == ['/panels/1/targets/0/expr (panel "mixed", id 2, refId A)']
    # The Elasticsearch query still counts as a target the panel keeps.
    assert promql[0].context.grafana.target_removal is not None
    readonly = [s for s in doc.sites if s.context.not_prometheus]
    assert sorted(s.locator.split(" ")[0] for s in readonly) == ["/panels/0/targets/0/expr", "/panels/2/targets/0/expr"]
    assert all(not s.editable and s.kind is SiteKind.TEXT for s in readonly)
    # No prose for panels without a PromQL site.
    assert not [s for s in doc.sites if s.context.prose]


# --------------------------------------------------------------------------- embedded in YAML


def _literal_block(yaml_text: str, marker: str) -> tuple[str, list[int], str]:
    """Decode the `|` block scalar after `marker`: (value, offsets, indent). Test-only helper."""
    start = yaml_text.index(marker) + len(marker)
    start = yaml_text.index("\n", start) + 1
    first = yaml_text[start:]
    indent = first[: len(first) - len(first.lstrip(" "))]
    chars: list[str] = []
    offsets: list[int] = []
    pos = start
    while pos < len(yaml_text) and (yaml_text.startswith(indent, pos) or yaml_text[pos] in "\r\n"):
        line_end = yaml_text.find("\n", pos)
        line_end = len(yaml_text) if line_end == -1 else line_end
        content = pos + len(indent) if yaml_text.startswith(indent, pos) else pos
        for i in range(content, line_end + (1 if line_end < len(yaml_text) else 0)):
            chars.append(yaml_text[i])
            offsets.append(i)
        pos = line_end + 1
    offsets.append(pos if pos <= len(yaml_text) else len(yaml_text))
    return "".join(chars), offsets, indent


def test_dashboard_embedded_in_a_yaml_configmap() -> None:
    inner = json.dumps(dashboard(panel(4, "KV", CACHED_EXPR, RECOMPUTED_EXPR, f"{REMOVED} / 2")), indent=2)
    block = "".join("    " + line + "\n" for line in inner.split("\n"))
    yaml_text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vllm-dashboards\n"
        "  labels:\n    grafana_dashboard: \"1\"\ndata:\n  vllm.json: |\n" + block + "  other: x\n"
    )
    value, offsets, indent = _literal_block(yaml_text, "vllm.json: |")
    assert value == yaml.safe_load(yaml_text)["data"]["vllm.json"]

    def encode(s: str) -> str:
        return s.replace("\n", "\n" + indent)

    found: list[tuple[str | None, str | None]] = []
    sites = dashboard_sites_from_string(value, offsets, encode, 'data["vllm.json"]', needs=NEEDS, dashboards=found)
    assert found == [("vllm-main", "vLLM")]
    promql = [s for s in sites if s.kind is SiteKind.PROMQL]
    assert [s.locator for s in promql] == [
        f'data["vllm.json"]/panels/0/targets/{i}/expr (panel "KV", id 4, refId {r})' for i, r in enumerate("ABC")
    ]
    site = promql[1]
    a = site.value.index(REMOVED)
    assert raw_of(yaml_text, site, a, a + len(REMOVED)) == REMOVED
    assert site.context.grafana.path == "/panels/0/targets/1"
    assert site.context.embedded_in == 'data["vllm.json"]'
    # A replacement with a quote is JSON-escaped inside the YAML block.
    q = site.value.index('"$ns"')
    new = apply(yaml_text, [site.edit(q, q + 5, '"a\nb"')])
    got = json.loads(yaml.safe_load(new)["data"]["vllm.json"])["panels"][0]["targets"][1]["expr"]
    assert got == RECOMPUTED_EXPR.replace('"$ns"', '"a\nb"')
    # Removing the middle and the last target keeps YAML and JSON valid and indented.
    for idx in (1, 2):
        new = apply(yaml_text, promql[idx].context.grafana.target_removal)
        loaded = yaml.safe_load(new)
        assert loaded["data"]["other"] == "x"
        refs = [t["refId"] for t in json.loads(loaded["data"]["vllm.json"])["panels"][0]["targets"]]
        assert refs == [r for i, r in enumerate("ABC") if i != idx]
        assert loaded["data"]["vllm.json"] == json.dumps(
            {**json.loads(inner), "panels": [{**json.loads(inner)["panels"][0], "targets": [
                t for i, t in enumerate(json.loads(inner)["panels"][0]["targets"]) if i != idx]}]}, indent=2) + "\n"
    # Not JSON: nothing, or a ParseError at the file offset when asked.
    assert dashboard_sites_from_string("{oops", list(range(10, 16)), encode, "x", needs=NEEDS) == []
    with pytest.raises(ParseError) as err:
        dashboard_sites_from_string("{oops", list(range(10, 16)), encode, "x", needs=NEEDS, strict=True)
    assert err.value.offset == 11


# --------------------------------------------------------------------------- engine and scale


def test_engine_lints_a_dashboard_without_changing_it() -> None:
    from migrator.config import Settings
    from migrator.engine import fix_text, lint_text

    text = REALISTIC
    lint_text("d.json", text, Settings(), "json")
    assert fix_text("d.json", text, Settings(), "json").text == text
    broken = lint_text("d.json", text[:-5], Settings(), "json")
    assert [f.code for f in broken.findings] == ["VMM000"]


def _big_dashboard(n_panels: int) -> str:
    panels = []
    for i in range(n_panels):
        panels.append({
            "id": i, "title": f"Panel {i} <KV> caché", "type": "timeseries",
            "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
            "gridPos": {"h": 8, "w": 12, "x": 0, "y": i * 8},
            "fieldConfig": {"defaults": {"unit": "short", "custom": {"lineWidth": 1, "fillOpacity": 10}}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "calcs": ["mean", "max"]}},
            "targets": [
                {"expr": CACHED_EXPR, "legendFormat": "{{role}} cached", "refId": "A"},
                {"expr": RECOMPUTED_EXPR, "legendFormat": "{{role}} recomputed", "refId": "B"},
            ],
        })
    return json.dumps({"uid": "big", "title": "big", "panels": panels}, indent=2)


def test_twenty_megabyte_dashboard() -> None:
    # Speed is measured by bench/, not here: this checks that nothing is lost at scale.
    text = _big_dashboard(18_000)
    assert len(text) > 20_000_000
    doc = parse_doc("big.json", text)
    assert len([s for s in doc.sites if s.kind is SiteKind.PROMQL]) == 36_000
    # The legend that says "recomputed" on every panel, and nothing else of its prose.
    assert len([s for s in doc.sites if s.context.prose]) == 18_000
    HANDLER.validate(text)
