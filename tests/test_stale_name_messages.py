"""What the messages about stale vLLM names say: every name a regex selects, and no claim of
'no data' where nothing is queried."""

from __future__ import annotations

import json

from migrator.config import Settings
from migrator.engine import lint_text
from migrator.model import Applicability


def _findings(path: str, text: str, fmt: str, code: str):  # type: ignore[no-untyped-def]
    return [f for f in lint_text(path, text, Settings(), fmt).findings if f.code == code]


def _rule_file(expr: str) -> str:
    return json.dumps({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]})


def test_a_regex_message_names_every_renamed_metric_it_selects_with_its_replacement():
    (finding,) = _findings("r.yaml", _rule_file('{__name__=~"vllm:gpu_.*"} > 0'), "yaml", "VMM010")
    for old, new in (
        ("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"),
        ("vllm:gpu_prefix_cache_hits", "vllm:prefix_cache_hits"),
        ("vllm:gpu_prefix_cache_queries", "vllm:prefix_cache_queries"),
    ):
        assert f"`{old}` (now `{new}`)" in finding.message
    assert "3 metrics" in finding.message and "they have no data" in finding.message


def test_a_regex_rename_renames_every_alternative_it_names():
    expr = '{__name__=~"vllm:gpu_prefix_cache_hits|vllm:gpu_prefix_cache_queries"} > 0'
    (finding,) = _findings("r.yaml", _rule_file(expr), "yaml", "VMM010")
    assert "vllm:gpu_prefix_cache_queries" in finding.message
    assert finding.fix is not None and finding.fix.applicability is Applicability.SAFE
    assert [e.content for e in finding.fix.edits] == ["vllm:prefix_cache_hits|vllm:prefix_cache_queries"]


def test_a_regex_message_counts_the_names_beyond_a_few_and_dates_each_one_when_they_differ():
    (finding,) = _findings("r.yaml", _rule_file('count({__name__=~"vllm:(gpu|time)_.*"}) > 0'), "yaml", "VMM010")
    assert "selects 5 metrics" in finding.message and "and 1 more" in finding.message
    assert "`vllm:time_in_queue_requests` (now `vllm:request_queue_time_seconds`, renamed in v0.6.4, removed in v0.9.1)" in finding.message
    assert "none has data on your target release" in finding.message
    assert "`vllm:inter_token_latency_seconds`" in finding.fix.message  # the by-hand advice names every replacement


def test_a_renamed_name_in_prose_or_another_datasource_is_not_said_to_get_no_data():
    dashboard = {
        "meta": {"folderTitle": "vllm:gpu_cache_usage_perc"},
        "dashboard": {"uid": "u", "title": "vLLM", "panels": [
            {"id": 1, "title": "Logs", "type": "logs", "datasource": {"type": "loki", "uid": "l"},
             "targets": [{"refId": "A", "expr": '{app="vllm"} |= "vllm:gpu_cache_usage_perc"'}]},
        ]},
    }
    alerts = {"apiVersion": 1, "groups": [{"orgId": 1, "name": "g", "folder": "f", "interval": "1m", "rules": [{
        "uid": "r", "title": "KV", "condition": "A",
        "data": [{"refId": "A", "datasourceUid": "p", "model": {"refId": "A", "expr": "vllm:kv_cache_usage_perc > 0.9"}}],
        "annotations": {"summary": "vllm:gpu_cache_usage_perc is high"},
    }]}]}
    found = _findings("d.json", json.dumps(dashboard, indent=1), "json", "VMM010")
    found += _findings("a.json", json.dumps(alerts, indent=1), "json", "VMM010")
    by_place = {f.locator.split(" ")[0]: f.message for f in found}
    assert set(by_place) == {"/meta/folderTitle", "/dashboard/panels/0/targets/0/expr", "/groups/0/rules/0/annotations/summary"}
    for message in by_place.values():
        assert "no data" not in message and "renamed `vllm:kv_cache_usage_perc`" in message
    assert "may mislead" in by_place["/meta/folderTitle"]
    assert "not for Prometheus" in by_place["/dashboard/panels/0/targets/0/expr"]


def test_a_renamed_name_a_program_reads_still_gets_no_data():
    (finding,) = _findings("c.json", json.dumps({"metrics": ["vllm:gpu_cache_usage_perc", "vllm:num_requests_running"]}), "json", "VMM010")
    assert "it has no data on v0.12+" in finding.message
