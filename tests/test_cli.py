"""The command line as users and CI see it: exit codes, output shapes, config, discovery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runbook.md").write_text("Check `vllm:prompt_tokens_recomputed_total` first.\n")
    (tmp_path / "notes.txt").write_text("nothing to see\n")
    return tmp_path


def test_findings_exit_1_clean_tree_exit_0(tree):
    result = invoke("check", ".")
    assert result.exit_code == 1
    assert "runbook.md:1:8: VMM900" in result.output
    assert "Found 1 finding." in result.output
    (tree / "runbook.md").write_text("Check `vllm:prompt_tokens_cached_total` first.\n")
    clean = invoke("check", ".")
    assert clean.exit_code == 0, clean.output
    assert "All checks passed!" in clean.output


def test_usage_errors_exit_2(tree):
    assert invoke("check", "--output-format", "xml").exit_code == 2
    assert invoke("check", "--select", "VMM999").exit_code == 2
    assert invoke("check", "does-not-exist").exit_code == 2
    assert invoke("check", "--no-such-option").exit_code == 2


def test_unknown_code_suggests_close_match(tree):
    result = invoke("check", "--select", "VMM09")
    assert result.exit_code == 2 and "VMM0" in result.output


def test_exit_zero_and_info_severity(tree):
    assert invoke("check", "--exit-zero").exit_code == 0
    (tree / "runbook.md").write_text("field prompt_tokens_recomputed is gone\n")
    info_only = invoke("check")
    assert info_only.exit_code == 0 and "VMM007" in info_only.output
    assert invoke("check", "--fail-on", "info").exit_code == 1


def test_json_output_matches_the_contract(tree):
    result = invoke("check", "--output-format", "json")
    (item,) = json.loads(result.output)
    assert set(item) == {"code", "message", "filename", "location", "end_location", "severity", "locator", "fix", "url"}
    assert item["code"] == "VMM900"
    assert item["filename"] == "runbook.md"
    assert item["location"] == {"row": 1, "column": 8}
    assert item["end_location"] == {"row": 1, "column": 43}
    assert item["severity"] == "warning"
    assert item["fix"] is None
    lines = invoke("check", "--output-format", "json-lines").output.splitlines()
    assert [json.loads(line)["code"] for line in lines] == ["VMM900"]


def test_columns_count_characters_not_bytes(tree):
    (tree / "runbook.md").write_text("Prüfe `vllm:prompt_tokens_recomputed_total`.\n")
    (item,) = json.loads(invoke("check", "--output-format", "json").output)
    assert item["location"]["column"] == 8


def test_output_file_and_statistics(tree):
    stats = invoke("check", "--statistics")
    assert stats.exit_code == 1
    assert stats.output.split() == ["1", "VMM900", "removed-metric-in-other-file"]
    invoke("check", "--output-format", "json", "--output-file", "report.json")
    assert json.loads((tree / "report.json").read_text())[0]["code"] == "VMM900"


def test_select_and_ignore(tree):
    assert invoke("check", "--ignore", "VMM900").exit_code == 0
    assert invoke("check", "--select", "VMM007").exit_code == 0
    assert invoke("check", "--select", "VMM9").exit_code == 1


def test_config_in_pyproject(tree):
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nignore = ["VMM900"]\n')
    assert invoke("check").exit_code == 0
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nper-file-ignores = {"*.md" = ["VMM900"]}\n')
    assert invoke("check").exit_code == 0
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nfail-on = "error"\n')
    assert invoke("check").exit_code == 0


def test_bad_config_exits_2(tree):
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nselect = "VMM"\nbogus = 1\n')
    result = invoke("check")
    assert result.exit_code == 2 and "bogus" in result.output


def test_metric_prefixes_config(tree):
    (tree / "runbook.md").write_text("team_vllm:prompt_tokens_recomputed_total\n")
    # Unconfigured, `vllm:` glued to `team_` is not a whole token of a known spelling.
    assert json.loads(invoke("check", "--output-format", "json").output) == []
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nmetric-prefixes = ["team_"]\n')
    (item,) = json.loads(invoke("check", "--output-format", "json").output)
    assert item["location"]["column"] == 1


def test_gitignore_is_respected_and_force_exclude(tree):
    (tree / ".git").mkdir()
    (tree / ".gitignore").write_text("generated/\n")
    (tree / "generated").mkdir()
    (tree / "generated" / "old.md").write_text("vllm:prompt_tokens_recomputed_total\n")
    (tree / "runbook.md").unlink()
    assert invoke("check").exit_code == 0
    # An explicitly named file is checked, unless --force-exclude (what pre-commit passes).
    assert invoke("check", "generated/old.md").exit_code == 1
    assert invoke("check", "--force-exclude", "generated/old.md").exit_code == 0
    assert invoke("check", "--no-respect-gitignore").exit_code == 1


def test_symlinks_are_not_followed(tree, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "x.md").write_text("vllm:prompt_tokens_recomputed_total\n")
    (tree / "runbook.md").unlink()
    (tree / "linked").symlink_to(elsewhere)
    assert invoke("check").exit_code == 0


def test_stdin_with_stdin_filename(tree):
    result = invoke("check", "--stdin-filename", "notes.md", "-", input="see vllm:prompt_tokens_recomputed_total\n")
    assert result.exit_code == 1
    assert "notes.md:1:5: VMM900" in result.output


def test_diff_writes_nothing(tree):
    before = (tree / "runbook.md").read_text()
    result = invoke("check", "--diff")
    assert result.exit_code == 0  # no fixable finding among the foundation rules
    assert (tree / "runbook.md").read_text() == before


def test_rules_and_explain():
    listing = invoke("rules")
    assert listing.exit_code == 0
    for code in ("VMM000", "VMM007", "VMM900"):
        assert code in listing.output
    doc = invoke("explain", "vmm900")
    assert doc.exit_code == 0
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Fix safety"):
        assert heading in doc.output
    assert invoke("explain", "VMM123").exit_code == 2


def test_reference_json_has_both_eras_and_six_cases():
    data = json.loads(invoke("reference", "--format", "json").output)
    assert len(data["cases"]) == 6
    text = invoke("reference").output
    assert "local_cache_hit" in text


def test_python_dash_m_is_the_same_program(tree):
    result = subprocess.run(
        [sys.executable, "-m", "migrator", "check", "--output-format", "concise", "."],
        capture_output=True, text=True, cwd=tree,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("runbook.md:1:8: VMM900")


def test_every_rule_documents_the_four_headings():
    from migrator.rule import all_rules

    for r in all_rules():
        docs = r.docs()
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Fix safety"):
            assert heading in docs, f"{r.code} lacks {heading}"


def test_readme_rules_section_is_generated_from_the_registry():
    from migrator.docs import render_readme

    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert render_readme(text) == text, "README rules are stale: run `python -m migrator.docs`"


def test_dashboard_exclusion_by_uid_panel_and_ref_id(tree):
    (tree / "runbook.md").unlink()
    dashboard = {
        "uid": "vllm-cache",
        "panels": [
            {"id": 2, "title": "Cached vs Recomputed", "targets": [
                {"refId": "A", "expr": "sum(rate(vllm:prompt_tokens_cached_total[5m]))"},
                {"refId": "B", "expr": "sum(rate(vllm:prompt_tokens_recomputed_total[5m]))"},
            ]},
            {"id": 3, "title": "Recompute", "targets": [
                {"refId": "A", "expr": "sum(rate(vllm:prompt_tokens_recomputed_total[5m]))"},
            ]},
        ],
    }
    (tree / "dash.json").write_text(json.dumps(dashboard, indent=2))
    before = {(f["code"], f["locator"].split(" ")[0]) for f in json.loads(invoke("check", "--output-format", "json").output)}
    assert ("VMM001", "/panels/0/targets/1/expr") in before and ("VMM001", "/panels/1/targets/0/expr") in before
    (tree / "pyproject.toml").write_text(
        '[tool.vllm-metrics-migrator]\n'
        '[[tool.vllm-metrics-migrator.exclusions]]\n'
        'uid = "vllm-cache"\npanel-id = 2\nref-id = "B"\nreason = "kept until every cluster runs v0.20"\n'
    )
    after = {(f["code"], f["locator"].split(" ")[0]) for f in json.loads(invoke("check", "--output-format", "json").output)}
    assert ("VMM001", "/panels/0/targets/1/expr") not in after
    assert ("VMM001", "/panels/1/targets/0/expr") in after  # other panels are still checked
    (tree / "pyproject.toml").write_text(
        '[tool.vllm-metrics-migrator]\n[[tool.vllm-metrics-migrator.exclusions]]\nuid = "vllm-cache"\npanel-id = 2\n'
    )
    missing_reason = invoke("check")
    assert missing_reason.exit_code == 2 and "reason" in missing_reason.output


def test_stdin_fix_writes_only_the_fixed_text_to_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rules = (
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: "
        'sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[5m])) + '
        'sum(rate(vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}[5m])) - '
        "sum(rate(vllm:prompt_tokens_recomputed_total[5m])) < 1\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "migrator", "check", "--fix", "--stdin-filename", "rules.yaml", "-"],
        input=rules, capture_output=True, text=True,
    )
    assert result.stdout == rules.replace(" - sum(rate(vllm:prompt_tokens_recomputed_total[5m]))", "")
    assert "fixed" in result.stderr
