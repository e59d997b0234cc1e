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


def test_statistics_in_json_are_json(tree):
    (tree / "m.py").write_text('A = "vllm:gpu_cache_usage_perc"\nB = "vllm:gpu_cache_usage_perc"\n')
    stats = invoke("check", "--statistics", "--output-format", "json")
    assert stats.exit_code == 1
    assert json.loads(stats.output) == [
        {"code": "VMM010", "name": "renamed-metric", "count": 2, "fixable": True},
        {"code": "VMM900", "name": "removed-metric-in-other-file", "count": 1, "fixable": False},
    ]
    lines = invoke("check", "--statistics", "--output-format", "json-lines").output.splitlines()
    assert [json.loads(line)["code"] for line in lines] == ["VMM010", "VMM900"]


def test_rule_is_ruffs_name_for_explain():
    assert invoke("rule", "VMM010").output == invoke("explain", "VMM010").output
    assert invoke("rule", "VMM999").exit_code == 2
    commands = [line.split()[0] for line in invoke("--help").output.split("Commands:")[1].splitlines() if line.strip()]
    assert "rule" not in commands and "explain" in commands  # hidden: one documented name


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


def test_ignore_on_the_command_line_adds_to_the_configured_ignore(tree):
    """As in ruff: `--ignore` narrows the configured selection (it used to replace the
    configured `ignore`, bringing back the codes the configuration silences); `--select`
    starts a new selection that only the command line's `--ignore` narrows."""
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nignore = ["VMM900"]\n')
    assert invoke("check", "--ignore", "VMM201").exit_code == 0
    assert invoke("check", "--select", "VMM9").exit_code == 1
    assert invoke("check", "--select", "VMM9", "--ignore", "VMM900").exit_code == 0
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nselect = ["VMM0"]\n')
    assert invoke("check", "--ignore", "VMM201").exit_code == 0  # the configured select stays


def test_bad_config_exits_2(tree):
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nselect = "VMM"\nbogus = 1\n')
    result = invoke("check")
    assert result.exit_code == 2 and "bogus" in result.output


def test_a_broken_discovered_pyproject_is_an_error_not_skipped(tree):
    """Skipping it would drop its `ignore` and `fail-on` silently and change the verdict."""
    (tree / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nignore = ["VMM900"\nfail-on = "error"\n')
    for command in (["check"], ["migrate", "--dry-run"]):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert "pyproject.toml: invalid TOML" in result.output and "line 3" in result.output


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


# --- what text output shows ---------------------------------------------------------------------


def test_severity_is_shown_in_words_and_distinct_colours(tree):
    (tree / "runbook.md").write_text("field prompt_tokens_recomputed is gone\nsee vllm:prompt_tokens_recomputed_total\n")
    plain = invoke("check", "--fail-on", "info")
    assert "runbook.md:1:7: VMM007 info: " in plain.output
    assert "runbook.md:2:5: VMM900 warning: " in plain.output
    concise = invoke("check", "--output-format", "concise")
    assert "runbook.md:2:5: VMM900 warning: " in concise.output
    coloured = invoke("check", "--color").output
    info_line, warning_line = [line for line in coloured.splitlines() if "VMM" in line][:2]
    colour = lambda line: line.split("VMM")[0][-5:]  # noqa: E731 - the escape just before the code
    assert colour(info_line) != colour(warning_line)


def test_one_finding_in_a_huge_line_prints_a_window_of_it(tree):
    """A minified 5 MB one-line file: the source line is clipped around the finding."""
    (tree / "runbook.md").write_text("x" * 2_500_000 + " vllm:prompt_tokens_recomputed_total " + "y" * 2_500_000 + "\n")
    result = invoke("check")
    assert result.exit_code == 1
    assert len(result.output) < 2000
    source = next(line for line in result.output.splitlines() if line.lstrip().startswith("1 |"))
    assert source.count("…") == 2 and "vllm:prompt_tokens_recomputed_total" in source
    caret = next(line for line in result.output.splitlines() if "^" in line)
    start = source.index("vllm:prompt_tokens_recomputed_total")
    assert caret.index("^") == start and caret.count("^") == len("vllm:prompt_tokens_recomputed_total")


def test_locators_of_deep_documents_are_shortened_in_text_output(tree):
    depth = 3000
    doc = '{"a": ' * depth + '{"expr": "rate(vllm:prompt_tokens_recomputed_total[5m])"}' + "}" * depth + "\n"
    (tree / "runbook.md").unlink()
    (tree / "deep.json").write_text(doc)
    result = invoke("check")
    head = next(line for line in result.output.splitlines() if "VMM" in line)
    assert len(head) < 700 and " … " in head and head.rstrip(")").endswith("/expr")
    full = json.loads(invoke("check", "--output-format", "json").output)
    assert full[0]["locator"].count("/a") == depth  # machines get the whole locator


def test_control_characters_of_a_source_line_never_reach_the_terminal(tree):
    (tree / "runbook.md").write_text("\x1b]0;owned\x07 vllm:prompt_tokens_recomputed_total\n")
    result = invoke("check")
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "␛]0;owned␇ vllm" in result.output


def test_cr_only_line_endings_count_lines(tree):
    (tree / "runbook.md").write_bytes(b"first\rsecond\rsee vllm:prompt_tokens_recomputed_total\r")
    result = invoke("check", "--output-format", "concise")
    assert "runbook.md:3:5: VMM900" in result.output


def test_utf16_files_are_noted_not_silently_skipped(tree):
    (tree / "runbook.md").write_bytes("\ufeffsee vllm:prompt_tokens_recomputed_total\n".encode("utf-16"))
    result = invoke("check")
    assert "runbook.md: skipped: UTF-16 text; convert it to UTF-8 to check it" in result.output


def test_no_color_is_overridden_only_by_an_explicit_flag(tree, monkeypatch):
    monkeypatch.setattr("migrator.cli._is_terminal", lambda stream: True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in invoke("check").output
    assert "\x1b[" in invoke("check", "--color").output
    readme = (REPO / "README.md").read_text()
    assert "never with `NO_COLOR`" not in readme


# --- stdin ---------------------------------------------------------------------------------------


def _stdin(*args: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "migrator", "check", *args, "-"], input=data, capture_output=True)


def test_stdin_fix_passes_bytes_that_are_not_utf8_through_unchanged():
    data = "café vllm:prompt_tokens_recomputed_total\r\n".encode("latin-1") + b"\xff\xfe tail\n"
    result = _stdin("--fix", "--stdin-filename", "notes.md", data=data)
    assert result.stdout == data
    stderr = result.stderr.decode()
    assert "notes.md: skipped: not valid UTF-8; passed through unchanged" in stderr
    assert "All checks passed!" not in stderr and "1 file was skipped" in stderr


def test_fix_summary_counts_one_finding_in_the_singular():
    from migrator.output import summary_line

    assert summary_line([], False, fixed=1) == "Found 1 finding (1 fixed, 0 remaining)."
    assert summary_line([], False, fixed=2) == "Found 2 findings (2 fixed, 0 remaining)."


def test_stdin_fix_keeps_the_encoding_a_python_file_declares():
    text = '# -*- coding: latin-1 -*-\nS = "café vllm:gpu_cache_usage_perc"\n'
    result = _stdin("--fix", "--stdin-filename", "scraper.py", data=text.encode("latin-1"))
    assert result.stdout == text.replace("gpu_cache", "kv_cache").encode("latin-1")
    assert "1 fixed, 0 remaining" in result.stderr.decode()


def test_force_exclude_applies_to_the_stdin_filename(tmp_path, monkeypatch):
    """An editor passing a file's text by stdin with `--force-exclude` gets nothing for a file
    the configuration excludes, and with `--fix` its text back unchanged."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.vllm-metrics-migrator]\nextend-exclude = ["vendor/"]\n')
    text = 'S = "vllm:gpu_cache_usage_perc"\n'
    excluded = invoke("check", "--force-exclude", "--stdin-filename", "vendor/m.py", "-", input=text)
    assert excluded.exit_code == 0 and "VMM010" not in excluded.output
    fixed = invoke("check", "--fix", "--force-exclude", "--stdin-filename", "vendor/m.py", "-", input=text)
    assert fixed.stdout == text
    assert invoke("check", "--force-exclude", "--stdin-filename", "src/m.py", "-", input=text).exit_code == 1
    assert invoke("check", "--stdin-filename", "vendor/m.py", "-", input=text).exit_code == 1


def test_stdin_fix_reports_positions_in_the_text_it_prints():
    rules = (
        "keep_metrics:\n  - vllm:prompt_tokens_total\n  - vllm:prompt_tokens_recomputed_total\n"
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: vllm:prompt_tokens_recomputed_total > 1\n"
    )
    result = _stdin("--fix", "--unsafe-fixes", "--stdin-filename", "rules.yaml", data=rules.encode())
    printed = result.stdout.decode()
    assert "  - vllm:prompt_tokens_recomputed_total\n" not in printed  # the list item was removed
    row = printed.splitlines().index("        expr: vllm:prompt_tokens_recomputed_total > 1") + 1
    assert row == 7
    stderr = result.stderr.decode()
    assert "rules.yaml:7:15: VMM001" in stderr
    assert "  7 |         expr: vllm:prompt_tokens_recomputed_total > 1" in stderr
    assert "1 fixed, 1 remaining" in stderr


LONE_SURROGATES = (
    '{"uid": "lone", "panels": [{"id": 1, "title": "KV \\ud800 recomputed", "targets": ['
    '{"refId": "A\\udfff", "expr": "vllm:gpu_cache_usage_perc"},'
    '{"refId": "B", "expr": "sum(rate(vllm:prompt_tokens_recomputed_total[5m]))"}]}]}\n'
)


@pytest.mark.parametrize("output_format", ["full", "concise", "json", "json-lines", "sarif", "github", "gitlab", "junit"])
def test_lone_surrogate_escapes_in_a_dashboard_never_crash_a_report(tmp_path, output_format):
    """`\\ud800` in a JSON string decodes to a lone surrogate, which UTF-8 cannot encode; in a
    locator (the panel title, the refId) it used to end the run with an internal error."""
    (tmp_path / "lone.json").write_text(LONE_SURROGATES)
    result = subprocess.run(
        [sys.executable, "-m", "migrator", "check", "--no-color", "--output-format", output_format, "lone.json"],
        cwd=tmp_path, capture_output=True,
    )
    assert result.returncode == 1, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    out = result.stdout.decode("utf-8")
    if output_format in ("json", "sarif", "gitlab"):
        json.loads(out)
    if output_format == "json":
        locators = [f["locator"] for f in json.loads(out)]
        assert '/panels/0/targets/0/expr (panel "KV \ud800 recomputed", id 1, refId A\udfff)' in locators
    elif output_format in ("full", "concise"):
        assert 'refId A\\udfff' in out


def test_lone_surrogate_locators_in_an_output_file(tmp_path):
    (tmp_path / "lone.json").write_text(LONE_SURROGATES)
    result = subprocess.run(
        [sys.executable, "-m", "migrator", "check", "--output-format", "json", "--output-file", "out.json", "lone.json"],
        cwd=tmp_path, capture_output=True,
    )
    assert result.returncode == 1, result.stderr.decode()
    assert any("\ud800" in f["locator"] for f in json.loads((tmp_path / "out.json").read_text()))


def test_a_file_whose_only_mention_is_a_name_regex_is_checked(tmp_path, monkeypatch):
    """The byte prefilter must not skip what the rules report: a name regex such as
    `vllm:(gpu|time)_.*` spells no catalogue name, but selects renamed ones."""
    monkeypatch.chdir(tmp_path)
    text = (
        "groups:\n  - name: a\n    rules:\n      - alert: X\n"
        '        expr: count({__name__=~"vllm:(gpu|time)_.*"}) > 0\n'
    )
    (tmp_path / "alert.yaml").write_text(text)
    from_file = invoke("check", "--output-format", "json", "alert.yaml")
    from_stdin = invoke("check", "--output-format", "json", "--stdin-filename", "alert.yaml", "-", input=text)
    assert from_file.exit_code == from_stdin.exit_code == 1
    codes = lambda out: sorted(f["code"] for f in json.loads(out))  # noqa: E731
    assert codes(from_file.stdout) == codes(from_stdin.stdout) and "VMM010" in codes(from_file.stdout)


def test_a_fix_in_an_anchor_merged_into_two_rules_is_reported_and_applied_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (
        "base: &base\n  expr: vllm:gpu_cache_usage_perc > 0.9\n"
        "groups:\n  - name: g\n    rules:\n"
        "      - <<: *base\n        alert: C\n"
        "      - <<: *base\n        alert: D\n"
    )
    (tmp_path / "rules.yaml").write_text(text)
    result = invoke("check", "rules.yaml")
    assert result.output.count("VMM010") == 1, result.output
    assert "rules.yaml:2:9: VMM010" in result.output
    assert "(groups[0].rules[0] alert=C expr)" in result.output
    fixed = invoke("check", "--fix", "rules.yaml")
    assert "1 fixed, 0 remaining" in fixed.output, fixed.output
    assert (tmp_path / "rules.yaml").read_text() == text.replace("gpu_cache_usage_perc", "kv_cache_usage_perc")


def test_a_fix_in_a_values_anchor_merged_twice_is_reported_and_applied_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (
        "prod:\n  <<: &d\n    metric: vllm:gpu_cache_usage_perc\n  replicas: 3\n"
        "staging:\n  <<: *d\n"
        "canary: {<<: *d}\n"
    )
    (tmp_path / "values.yaml").write_text(text)
    result = invoke("check", "values.yaml")
    assert result.output.count("VMM010") == 1, result.output
    assert "values.yaml:3:13: VMM010" in result.output and "(prod.metric)" in result.output
    fixed = invoke("check", "--fix", "values.yaml")
    assert "1 fixed, 0 remaining" in fixed.output, fixed.output
    assert (tmp_path / "values.yaml").read_text() == text.replace("gpu_cache_usage_perc", "kv_cache_usage_perc")


def test_a_removable_entry_in_a_markdown_yaml_block_gets_the_removal_as_advice_that_says_why(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = "keep:\n  - vllm:num_requests_running\n  - vllm:prompt_tokens_recomputed_total\n"
    (tmp_path / "doc.md").write_text(f"# Scrape\n\n```yaml\n{block}```\n")
    (tmp_path / "keep.yaml").write_text(block)
    fixes = {}
    for name in ("doc.md", "keep.yaml"):
        result = invoke("check", "--unsafe-fixes", "--output-format", "json", name)
        (finding,) = json.loads(result.stdout)
        assert finding["code"] == "VMM005"
        fixes[name] = finding["fix"]
    assert fixes["keep.yaml"]["applicability"] == "unsafe" and fixes["keep.yaml"]["edits"]
    # Documentation is never edited; the finding says what to do there and why it is not done.
    assert fixes["doc.md"]["applicability"] == "display-only" and not fixes["doc.md"]["edits"]
    assert fixes["doc.md"]["message"].startswith("Remove the entry from its sequence `keep`")
    assert "not applied: a code block in documentation" in fixes["doc.md"]["message"]
