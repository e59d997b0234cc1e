"""`--target-version`: only changes at or before the target are reported, with the right kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main

RULES = """groups:
  - name: vllm
    rules:
      - alert: KvCacheFull
        expr: max(vllm:gpu_cache_usage_perc) > 0.95
      - alert: Recomputing
        expr: sum(rate(vllm:prompt_tokens_recomputed_total[5m])) > 100
"""


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text(RULES)
    return tmp_path


def findings(*args: str) -> list[dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["check", "--output-format", "json", *args, "rules.yaml"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


def test_default_target_reports_both(rules):
    found = {(f["code"], f["message"].split("`")[1]) for f in findings()}
    assert ("VMM010", "vllm:gpu_cache_usage_perc") in found
    assert ("VMM001", "vllm:prompt_tokens_recomputed_total") in found


def test_target_0_19_keeps_the_recomputed_counter(rules):
    found = findings("--target-version", "0.19")
    assert [f["code"] for f in found] == ["VMM010"]  # gone in 0.12.0; the counter still exists in 0.19.1


def test_target_0_11_says_hidden_and_names_the_removing_release(rules):
    (hidden, newer) = sorted(findings("--target-version", "0.11"), key=lambda f: f["code"])
    assert hidden["code"] == "VMM012" and hidden["severity"] == "warning"
    assert "hidden from vLLM v0.11.0" in hidden["message"] and "removed in v0.12.0" in hidden["message"]
    assert "--show-hidden-metrics-for-version=0.10" in hidden["message"]
    assert hidden["fix"]["applicability"] == "safe"  # kv_cache_usage_perc exists from 0.9.2
    assert newer["code"] == "VMM015"  # the recomputed counter appears in 0.16.0


def test_configuration_sets_the_target(rules):
    (rules / ".vllm-metrics-migrator.toml").write_text('target-version = "0.19"\n')
    assert [f["code"] for f in findings()] == ["VMM010"]


def test_unknown_target_is_a_usage_error(rules):
    result = CliRunner().invoke(main, ["check", "--target-version", "0.99", "rules.yaml"])
    assert result.exit_code == 2
    assert "0.2.0 to 0.33.0" in result.output


def test_reference_catalogue_view(rules):
    result = CliRunner().invoke(main, ["reference", "--catalogue", "--target-version", "0.11", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["target"] == "0.11.2"
    row = next(m for m in data["metrics"] if m["name"] == "vllm:gpu_cache_usage_perc")
    assert (row["status_at_target"], row["change"], row["replacement"], row["removed_in"]) == (
        "hidden", "renamed", "vllm:kv_cache_usage_perc", "0.12.0")
    text = CliRunner().invoke(main, ["reference", "--catalogue", "--all"]).output
    assert "vllm:kv_cache_usage_perc" in text and "vllm:inter_token_latency_seconds" in text
