"""`migrate`: one-shot migration, summary, report, dry run, interrupts, idempotence."""

from __future__ import annotations

import io
import json
import os
import signal

import pytest
from click.testing import CliRunner

import migrator.migrate as migrate_module
from migrator.cli import main
from migrator.model import Applicability, Edit, Finding, Fix, Severity, Span

REF = "vllm:prompt_tokens_recomputed_total"
SAFE_EXPR = (
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"local_cache_hit\\"}[5m])) + '
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"external_kv_transfer\\"}[5m])) - '
    f"sum(rate({REF}[5m]))"
)
MIGRATED_EXPR = (
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"local_cache_hit\\"}[5m])) + '
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"external_kv_transfer\\"}[5m]))'
)


def dashboard(expr: str, uid: str = "vllm") -> str:
    return (
        f'{{\n  "title": "vLLM",\n  "uid": "{uid}",\n  "panels": [\n    {{\n      "id": 1,\n'
        '      "type": "stat",\n      "title": "Served prompt tokens",\n'
        f'      "targets": [\n        {{"refId": "A", "expr": "{expr}"}}\n      ]\n    }}\n  ],\n'
        '  "schemaVersion": 39\n}\n'
    )


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """Three dashboards with a safe fix, and a runbook only a person can fix (VMM900)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dashboards").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "dashboards" / f"{name}.json").write_text(dashboard(SAFE_EXPR, uid=name))
    (tmp_path / "runbook.md").write_text(f"Check `{REF}` first.\n")
    (tmp_path / "clean.md").write_text("nothing to see\n")
    return tmp_path


def snapshot(root) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_migrate_fixes_and_summarises(tree):
    result = invoke("migrate")
    assert result.exit_code == 1  # the runbook still names the removed metric (warning)
    out = result.output
    assert "5 files scanned, 3 files changed, 3 findings fixed, 1 finding left for a person" in out
    for name in ("a", "b", "c"):
        # The summary counts files; the report (--report) lists them.
        assert f"dashboards/{name}.json" not in out
        assert (tree / "dashboards" / f"{name}.json").read_text() == dashboard(MIGRATED_EXPR, uid=name)
    table = out[out.index("RULE"):].splitlines()
    assert table[0].split() == ["RULE", "FIXED", "LEFT", "NAME"]
    assert table[1].split() == ["VMM001", "3", "0", "removed-metric-in-promql"]
    assert table[2].split() == ["VMM900", "0", "1", "removed-metric-in-other-file"]
    assert "\r" not in out  # no progress bar when stderr is not a terminal


def test_second_migrate_has_nothing_to_do(tree):
    invoke("migrate", "--report", "report.md")
    before = snapshot(tree)
    again = invoke("migrate", "--report", "report.md")
    assert "Nothing to fix automatically" in again.output
    assert "1 finding left for a person" in again.output
    after = snapshot(tree)
    assert {k: v for k, v in after.items() if k != "report.md"} == {k: v for k, v in before.items() if k != "report.md"}
    (tree / "runbook.md").write_text("Check `vllm:prompt_tokens_cached_total` first.\n")
    clean = invoke("migrate", "--report", "report.md")
    assert clean.exit_code == 0
    assert "Nothing to do" in clean.output
    # The reports written into the tree quote the removed metric, but are never findings.
    assert invoke("check").exit_code == 0


def test_fail_on_decides_the_exit_code(tree):
    assert invoke("migrate", "--fail-on", "error").exit_code == 0


def test_dry_run_prints_the_diff_and_writes_nothing(tree):
    before = snapshot(tree)
    result = invoke("migrate", "--dry-run")
    assert result.exit_code == 1
    assert snapshot(tree) == before
    assert "--- a/dashboards/a.json" in result.output and "+++ b/dashboards/a.json" in result.output
    assert "Dry run: 5 files scanned; would change 3 files and fix 3 findings" in result.output


def test_quiet_prints_one_line(tree):
    result = invoke("migrate", "--quiet")
    assert result.output.strip().splitlines() == [
        "Migrated: 5 files scanned, 3 files changed, 3 findings fixed, 1 finding left for a person."
    ]


def test_markdown_report(tree):
    result = invoke("migrate", "--report", "report.md")
    assert "Report written to report.md." in result.output
    text = (tree / "report.md").read_text()
    assert text.startswith("<!--") and "# vLLM metrics migration report" in text
    assert "- Files changed: 3" in text and "- Findings left for a person: 1" in text
    assert "| `runbook.md:1:8` | VMM900 | warning |" in text
    assert "| no automatic fix |" in text
    assert "- `dashboards/a.json`: 1 fix" in text


def test_json_report(tree):
    invoke("migrate", "--report", "report.json")
    data = json.loads((tree / "report.json").read_text())
    assert data["summary"]["files_scanned"] == 5
    assert data["summary"]["files_changed"] == 3
    assert data["summary"]["findings_fixed"] == 3
    assert data["summary"]["findings_left"] == 1
    (item,) = data["remaining"]
    assert item["path"] == "runbook.md" and (item["line"], item["column"]) == (1, 8)
    assert item["code"] == "VMM900" and item["reason"] == "no automatic fix" and item["message"]
    assert sorted(c["path"] for c in data["changed_files"]) == [f"dashboards/{n}.json" for n in "abc"]


def test_report_needs_a_known_extension(tree):
    before = snapshot(tree)
    result = invoke("migrate", "--report", "report.txt")
    assert result.exit_code == 2 and ".md" in result.output
    assert snapshot(tree) == before


def test_reasons():
    def finding(fix: Fix | None, code: str = "VMM001") -> Finding:
        return Finding(code, "m", "p", Span(0, 1), Severity.ERROR, fix=fix)

    edit = (Edit(Span(0, 1), ""),)
    assert migrate_module.reason(finding(None), False) == "no automatic fix"
    shown = Fix(Applicability.DISPLAY_ONLY, "Delete the panel by hand")
    assert migrate_module.reason(finding(shown), False) == "Delete the panel by hand"
    unsafe = Fix(Applicability.UNSAFE, "Drop the term", edit)
    assert migrate_module.reason(finding(unsafe), False).startswith("unsafe fix available: rerun with --unsafe-fixes")
    assert "could not be applied" in migrate_module.reason(finding(unsafe), True)
    assert "does not parse" in migrate_module.reason(finding(None, "VMM000"), False)


def test_broken_file_is_left_and_never_written(tree):
    broken = '{"panels": [ "' + REF + '"\n'
    (tree / "dashboards" / "broken.json").write_text(broken)
    result = invoke("migrate", "--report", "report.json")
    assert (tree / "dashboards" / "broken.json").read_text() == broken
    remaining = json.loads((tree / "report.json").read_text())["remaining"]
    assert any(r["code"] == "VMM000" and "does not parse" in r["reason"] for r in remaining)
    assert result.exit_code == 1


def test_interrupt_while_writing_leaves_whole_files(tree, monkeypatch):
    """Ctrl-C (a real SIGINT) arriving in the middle of writing the second file: that file is
    finished, the third is untouched, the command lists both and exits 130."""
    real_write = migrate_module.write_result
    calls = []

    def write_and_interrupt(path, result):  # type: ignore[no-untyped-def]
        calls.append(path)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        real_write(path, result)

    monkeypatch.setattr(migrate_module, "write_result", write_and_interrupt)
    result = invoke("migrate")
    assert result.exit_code == 130
    files = {n: (tree / "dashboards" / f"{n}.json").read_text() for n in "abc"}
    assert files["a"] == dashboard(MIGRATED_EXPR, uid="a")
    assert files["b"] == dashboard(MIGRATED_EXPR, uid="b")
    assert files["c"] == dashboard(SAFE_EXPR, uid="c")
    out = result.output
    assert "Written before the interrupt (2):" in out
    assert "  dashboards/a.json" in out and "  dashboards/b.json" in out
    assert "Not written (1); run migrate again to finish:" in out and "  dashboards/c.json" in out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    # Finishing the job later works.
    monkeypatch.setattr(migrate_module, "write_result", real_write)
    again = invoke("migrate")
    assert "1 file changed" in again.output
    assert (tree / "dashboards" / "c.json").read_text() == dashboard(MIGRATED_EXPR, uid="c")


def test_keyboard_interrupt_raised_inside_a_write(tree, monkeypatch):
    """Off the main thread the signal cannot be deferred; a KeyboardInterrupt that escapes the
    write still leaves the file original (atomic rename) and is reported as not written."""
    real_write = migrate_module.write_result
    calls = []

    def interrupted(path, result):  # type: ignore[no-untyped-def]
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_write(path, result)

    monkeypatch.setattr(migrate_module, "write_result", interrupted)
    result = invoke("migrate")
    assert result.exit_code == 130
    assert (tree / "dashboards" / "a.json").read_text() == dashboard(MIGRATED_EXPR, uid="a")
    assert (tree / "dashboards" / "b.json").read_text() == dashboard(SAFE_EXPR, uid="b")
    assert "Written before the interrupt (1):" in result.output
    assert "Not written (2)" in result.output
    leftovers = [p for p in tree.rglob("*") if p.name.endswith(".vmm-tmp")]
    assert leftovers == []


def test_interrupt_while_scanning_writes_nothing(tree, monkeypatch):
    before = snapshot(tree)

    def run(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(migrate_module, "run", run)
    result = invoke("migrate")
    assert result.exit_code == 130
    assert "no file was written" in result.output
    assert snapshot(tree) == before


def test_progress_bar():
    stream = io.StringIO()
    progress = migrate_module.Progress(stream)
    for number in range(1, 4):
        progress(number, 3)
    assert stream.getvalue().startswith("\rScanning [")
    assert stream.getvalue().rstrip().endswith("3/3 files")
    progress.clear()
    assert stream.getvalue().endswith("\r\x1b[2K")


def test_progress_only_on_a_terminal_and_not_with_quiet(tree, monkeypatch):
    seen = []
    real = migrate_module.migrate

    def spy(path, settings, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs["on_file"])
        return real(path, settings, **kwargs)

    monkeypatch.setattr(migrate_module, "migrate", spy)
    invoke("migrate", "--dry-run")  # CliRunner's stderr is not a terminal
    monkeypatch.setattr("migrator.cli._is_terminal", lambda stream: True)
    terminal = invoke("migrate", "--dry-run")
    invoke("migrate", "--dry-run", "--quiet")
    assert seen[0] is None and seen[2] is None
    assert isinstance(seen[1], migrate_module.Progress)
    assert "\rScanning [" in terminal.output and "5/5 files" in terminal.output


def test_unsafe_fixes_flag_is_passed(tree, monkeypatch):
    seen = []
    real = migrate_module.migrate

    def spy(path, settings, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs["unsafe"])
        return real(path, settings, **kwargs)

    monkeypatch.setattr(migrate_module, "migrate", spy)
    invoke("migrate", "--dry-run")
    invoke("migrate", "--dry-run", "--unsafe-fixes")
    assert seen == [False, True]


def test_migrate_respects_a_baseline(tree):
    invoke("check", "--write-baseline", "baseline.json", "runbook.md")
    result = invoke("migrate", "--baseline", "baseline.json")
    assert result.exit_code == 0
    assert "0 findings left for a person" in result.output
    assert "(1 finding hidden by the baseline.)" in result.output


def test_migrate_a_copy_of_the_samples_gives_the_goldens(tmp_path, monkeypatch):
    """The one-shot migration over every bundled sample input: each file ends up exactly as its
    `expected.*` golden (or untouched), the report lists what is left, and a second run has
    nothing to do."""
    import shutil
    from pathlib import Path

    samples = Path(__file__).resolve().parent.parent / "samples"
    tree = tmp_path / "repo"
    wanted = {}
    for source in sorted(samples.glob("VMM*/*/input.*")):
        case = source.parent
        if (case / "settings.toml").exists():
            continue  # a case with its own configuration (a target version) is checked alone
        target = tree / case.parent.name / case.name
        target.mkdir(parents=True)
        shutil.copy2(source, target / source.name)
        if (case / "context").is_dir():
            shutil.copytree(case / "context", target / "context")
        ext = "".join(source.suffixes)
        golden = case / f"expected{ext}"
        wanted[target / source.name] = (golden if golden.exists() else source).read_bytes()
    monkeypatch.chdir(tree)

    first = invoke("migrate", "--report", str(tmp_path / "report.md"), "--quiet")
    assert first.exit_code == 1  # display-only findings remain for a person
    assert "files scanned" in first.output
    for path, content in wanted.items():
        assert path.read_bytes() == content, f"{path.relative_to(tree)} differs from its golden"
    report = (tmp_path / "report.md").read_text()
    assert "VMM001" in report and "VMM900" in report

    second = invoke("migrate", "--quiet")
    assert "Nothing to" in second.output
    for path, content in wanted.items():
        assert path.read_bytes() == content
