"""File names are bytes: a name that is not UTF-8, or holds control characters, must reach every
output format and report intact (escaped where the format needs text) and never crash a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.filenames import printable, uri_path

from test_file_safety import AFTER, BEFORE

UNDECODABLE = os.fsdecode(b"dash\xff.json")  # Latin-1 "ÿ" from an old export: not UTF-8
CONTROL = "evil\x1b[31m.json"  # an escape sequence a terminal would obey


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    for name in (UNDECODABLE, CONTROL):
        with open(os.path.join(tmp_path, name), "w", encoding="utf-8") as handle:
            handle.write(BEFORE)
    return tmp_path


def test_printable_and_uri_path():
    assert printable(UNDECODABLE) == "dash\\xff.json"
    assert printable(CONTROL) == "evil\\x1b[31m.json"
    assert printable("café/ok.json") == "café/ok.json"
    assert printable("a\u202eb") == "a\\u202eb"
    assert uri_path(UNDECODABLE) == "dash%FF.json"
    assert uri_path("dir/café #1.json") == "dir/caf%C3%A9%20%231.json"


def _no_raw_names(text: str) -> None:
    assert "\x1b" not in text and "\udcff" not in text
    assert "dash\\xff.json" in text and "evil\\x1b[31m.json" in text


@pytest.mark.parametrize("fmt", ["full", "concise", "json", "json-lines", "github", "gitlab", "sarif", "junit"])
def test_every_output_format_handles_any_name(tree, fmt):
    result = subprocess.run([sys.executable, "-m", "migrator", "check", "--output-format", fmt, "."],
                            cwd=tree, capture_output=True)
    assert result.returncode == 1, result.stderr.decode(errors="replace")
    text = result.stdout.decode("utf-8")  # valid UTF-8
    assert "\x1b" not in text
    names = {"dash\\xff.json", "evil\\x1b[31m.json"}
    if fmt == "sarif":
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in json.loads(text)["runs"][0]["results"]}
        assert uris == {"dash%FF.json", "evil%1B%5B31m.json"}
    elif fmt == "json":
        assert {f["filename"] for f in json.loads(text)} == names
    elif fmt == "json-lines":
        assert {json.loads(line)["filename"] for line in text.splitlines()} == names
    elif fmt == "gitlab":
        assert {i["location"]["path"] for i in json.loads(text)} == names
    elif fmt == "junit":
        assert {s.get("name") for s in ET.fromstring(result.stdout).findall("testsuite")} == names
    else:
        _no_raw_names(text)


def test_output_file_baseline_and_migrate_report(tree):
    assert invoke("check", "--output-format", "concise", "--output-file", "out.txt").exit_code == 1
    _no_raw_names((tree / "out.txt").read_text("utf-8"))
    (tree / "out.txt").unlink()  # it quotes the metric: a finding itself
    written = invoke("check", "--write-baseline", "base.json")
    assert written.exit_code == 0, written.output
    baseline = json.loads((tree / "base.json").read_text("utf-8"))
    assert {e["path"] for e in baseline["entries"]} == {"dash\\xff.json", "evil\\x1b[31m.json"}
    hidden = invoke("check", "--baseline", "base.json")
    assert hidden.exit_code == 0 and "2 more findings hidden by the baseline" in hidden.output
    for report in ("report.md", "report.json"):
        result = invoke("migrate", "--dry-run", "--report", report)
        assert result.exit_code == 1, result.output
        text = (tree / report).read_text("utf-8")
        _no_raw_names(json.dumps(json.loads(text), ensure_ascii=False).replace("\\\\", "\\") if report.endswith(".json") else text)


def test_migrate_writes_files_with_any_name_and_then_its_report(tree):
    result = invoke("migrate", "--report", "report.json")
    assert result.exit_code == 0, result.output
    for name in (UNDECODABLE, CONTROL):
        with open(os.path.join(tree, name), encoding="utf-8") as handle:
            assert handle.read() == AFTER
    report = json.loads((tree / "report.json").read_text("utf-8"))
    assert sorted(c["path"] for c in report["changed_files"]) == ["dash\\xff.json", "evil\\x1b[31m.json"]


def test_notes_and_errors_escape_names(tree):
    os.unlink(os.path.join(tree, CONTROL))
    with open(os.path.join(tree, UNDECODABLE), "wb") as handle:
        handle.write(b"\xff\xfe" + "vllm:prompt_tokens_recomputed_total\n".encode("utf-16-le"))
    result = subprocess.run([sys.executable, "-m", "migrator", "check", "."], cwd=tree, capture_output=True)
    stderr = result.stderr.decode("utf-8")
    assert "dash\\xff.json: skipped: UTF-16 text; convert it to UTF-8 to check it" in stderr


def test_reports_are_never_left_empty(tree, monkeypatch):
    """A report that fails to render leaves the previous one (or none), never a 0-byte file."""
    (tree / "report.md").write_text("previous report\n")
    import migrator.migrate as migrate_module

    def broken(migration):  # type: ignore[no-untyped-def]
        raise UnicodeEncodeError("utf-8", "x", 0, 1, "simulated")

    monkeypatch.setattr(migrate_module, "report_markdown", broken)
    with pytest.raises(UnicodeEncodeError):
        invoke("migrate", "--dry-run", "--report", "report.md")
    assert (tree / "report.md").read_text() == "previous report\n"
    assert [p.name for p in Path(tree).iterdir() if p.name.endswith(".vmm-tmp")] == []
