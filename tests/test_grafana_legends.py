"""A rename keeps a panel's values but not its legend when the legend shows the metric name."""

from __future__ import annotations

import json

import pytest

from migrator.config import Settings
from migrator.engine import lint_text
from migrator.model import Applicability

OLD = "vllm:gpu_cache_usage_perc"


def _rename_fix(expr: str, target_extra: dict | None = None, panel_extra: dict | None = None, v2: bool = False):  # type: ignore[no-untyped-def,type-arg]
    target = {"refId": "A", "expr": expr, **(target_extra or {})}
    if v2:
        legend = target.pop("legendFormat", None)
        spec = {"expr": expr, **({"legendFormat": legend} if legend is not None else {})}
        query = {"kind": "PanelQuery", "spec": {"refId": "A", "query": {"kind": "prometheus", "spec": spec}}}
        element = {"kind": "Panel", "spec": {"id": 1, "title": "KV", "data": {"kind": "QueryGroup", "spec": {"queries": [query]}}}}
        doc = {"apiVersion": "dashboard.grafana.app/v2alpha1", "kind": "Dashboard", "metadata": {"name": "d"},
               "spec": {"title": "vLLM", "elements": {"panel-1": element}}}
    else:
        panel = {"id": 1, "title": "KV", "type": "timeseries", "targets": [target], **(panel_extra or {})}
        doc = {"uid": "u", "title": "vLLM", "panels": [panel]}
    result = lint_text("d.json", json.dumps(doc, indent=2), Settings(), "json")
    found = [f for f in result.findings if f.code == "VMM010"]
    assert len(found) == 1, [(f.code, f.message) for f in result.findings]
    assert found[0].fix is not None
    return found[0].fix


@pytest.mark.parametrize(
    ("expr", "target_extra", "panel_extra"),
    [
        (OLD, {"legendFormat": "{{__name__}} {{pod}}"}, None),
        (OLD, {"legendFormat": "{{ __name__ }}"}, None),
        (f"{OLD} > 0.9", {"legendFormat": "{{__name__}}"}, None),  # a filter keeps the series as they are
        (f"topk(3, {OLD})", {"legendFormat": "{{__name__}}"}, None),
        (OLD, {"legendFormat": "{{pod}}", "format": "table"}, None),  # a table has a __name__ column
        (
            OLD, {"legendFormat": "{{pod}}"},
            {"fieldConfig": {"defaults": {}, "overrides": [{"matcher": {"id": "byFrameRefID", "options": "A"},
             "properties": [{"id": "displayName", "value": "${__field.labels.__name__}"}]}]}},
        ),
    ],
)
def test_a_rename_that_changes_what_the_legend_shows_is_unsafe(expr, target_extra, panel_extra):  # type: ignore[no-untyped-def]
    fix = _rename_fix(expr, target_extra, panel_extra)
    assert fix.applicability is Applicability.UNSAFE
    assert "legend changes" in fix.message and "values stay" in fix.message


@pytest.mark.parametrize(
    ("expr", "target_extra"),
    [
        (f"sum(rate({OLD}[5m]))", {"legendFormat": "{{__name__}}"}),  # rate and sum drop the name
        (f"{OLD} * 100", {}),  # arithmetic drops it
        (f"{OLD} > bool 0.9", {"legendFormat": "{{__name__}}"}),
        (f"max by (pod) ({OLD})", {}),
        (OLD, {"legendFormat": "{{pod}}"}),  # the legend does not show it
        # Grafana's default legend prints `name{labels}`: it shows the new name, which is what a
        # rename is for; only a template written to print `__name__` makes the user decide.
        (OLD, {}),
        (OLD, {"legendFormat": "__auto"}),
        (OLD, {"legendFormat": ""}),
    ],
)
def test_a_rename_whose_legend_keeps_its_text_stays_safe(expr, target_extra):  # type: ignore[no-untyped-def]
    assert _rename_fix(expr, target_extra).applicability is Applicability.SAFE


def test_a_grafana_v2_query_legend_counts_too():
    assert _rename_fix(OLD, {"legendFormat": "{{__name__}}"}, v2=True).applicability is Applicability.UNSAFE
    assert _rename_fix(OLD, {"legendFormat": "{{pod}}"}, v2=True).applicability is Applicability.SAFE
