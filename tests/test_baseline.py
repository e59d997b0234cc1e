"""Baselines: accepted findings stay hidden across unrelated edits; new ones still fail."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migrator.cli import main

REF = "vllm:prompt_tokens_recomputed_total"


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "runbook.md").write_text(f"Old panels used `{REF}`.\n")
    return tmp_path


def codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [item["code"] for item in json.loads(result.output)]


def test_write_then_check_with_baseline(tree):
    assert invoke("check").exit_code == 1
    written = invoke("check", "--write-baseline", "baseline.json")
    assert written.exit_code == 0
    assert "Wrote 1 finding to the baseline baseline.json" in written.output
    data = json.loads((tree / "baseline.json").read_text())
    assert data["version"] == 1 and data["tool_version"]
    (entry,) = data["entries"]
    assert entry["path"] == "docs/runbook.md"
    assert entry["code"] == "VMM900" and entry["matched"] == REF and entry["count"] == 1
    assert "line" not in entry and "row" not in entry
    result = invoke("check", "--baseline", "baseline.json")
    assert result.exit_code == 0, result.output
    assert "1 more finding hidden by the baseline." in result.output


def test_inserted_lines_keep_it_hidden_and_new_findings_fail(tree):
    invoke("check", "--write-baseline", "baseline.json")
    runbook = tree / "docs" / "runbook.md"
    runbook.write_text("# Runbook\n\nSome new intro text.\n\n" + runbook.read_text())
    assert invoke("check", "--baseline", "baseline.json").exit_code == 0
    runbook.write_text(runbook.read_text() + f"Also `ray_{REF}`.\n")
    result = invoke("check", "--baseline", "baseline.json", "--output-format", "json")
    assert result.exit_code == 1
    (item,) = json.loads(result.output)
    assert item["location"]["row"] == 6


def test_identical_findings_need_one_entry_each(tree):
    (tree / "docs" / "runbook.md").write_text(f"`{REF}`\n")
    invoke("check", "--write-baseline", "baseline.json")
    (tree / "docs" / "runbook.md").write_text(f"`{REF}`\nagain `{REF}`\n")
    result = invoke("check", "--baseline", "baseline.json", "--output-format", "json")
    assert result.exit_code == 1 and codes(result) == ["VMM900"]
    invoke("check", "--write-baseline", "baseline.json")
    (entry,) = json.loads((tree / "baseline.json").read_text())["entries"]
    assert entry["count"] == 2
    assert invoke("check", "--baseline", "baseline.json").exit_code == 0


def test_baseline_from_config_and_from_a_subfolder(tree, monkeypatch):
    (tree / ".git").mkdir()  # the project root: baseline paths are relative to it
    invoke("check", "--write-baseline", "baseline.json")
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nbaseline = "baseline.json"\n')
    assert invoke("check").exit_code == 0
    monkeypatch.chdir(tree / "docs")
    assert invoke("check", ".").exit_code == 0
    assert invoke("check", "--baseline", str(tree / "baseline.json"), ".").exit_code == 0


def test_the_baseline_file_itself_is_not_a_finding(tree):
    (tree / "docs" / "runbook.md").write_text(f"`{REF}`\n")
    invoke("check", "--write-baseline", "baseline.json")
    # The baseline quotes the removed metric; scanning the folder that holds it stays clean.
    result = invoke("check", "--baseline", "baseline.json", "--output-format", "json", ".")
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_machine_formats_respect_the_baseline(tree):
    invoke("check", "--write-baseline", "baseline.json")
    result = invoke("check", "--baseline", "baseline.json", "--output-format", "json")
    assert json.loads(result.output) == []
    result = invoke("check", "--baseline", "baseline.json", "--output-format", "sarif")
    assert json.loads(result.output)["runs"][0]["results"] == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a vllm-metrics-migrator baseline"),
        ('{"version": 99, "entries": []}', "unsupported version"),
        ('{"version": 1, "entries": [{"path": "a", "code": 3, "matched": "x"}]}', "entry 0"),
        ('{"version": 1, "entries": [{"path": "a", "code": "VMM900", "matched": "x", "count": 0}]}', "count"),
    ],
)
def test_malformed_baseline_is_a_usage_error(tree, content, message):
    (tree / "baseline.json").write_text(content)
    result = invoke("check", "--baseline", "baseline.json")
    assert result.exit_code == 2
    assert "baseline baseline.json" in result.output and message in result.output


def test_missing_baseline_is_a_usage_error(tree):
    result = invoke("check", "--baseline", "nope.json")
    assert result.exit_code == 2 and "no such file" in result.output
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nbaseline = "nope.json"\n')
    assert invoke("check").exit_code == 2
    # Writing a baseline never needs the old one.
    assert invoke("check", "--write-baseline", "nope.json").exit_code == 0
    assert invoke("check").exit_code == 0
