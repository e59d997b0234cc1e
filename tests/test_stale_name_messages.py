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
