"""The runner: cross-file dead series (chains included), and the worker pool giving exactly what
the in-process loop gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migrator import runner
from migrator.config import Settings
from migrator.runner import RunOptions, run

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_a_chain_of_recording_rules_dies_with_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - record: job:recomputed:rate5m\n"
        "        expr: sum(rate(vllm:prompt_tokens_recomputed_total[5m])) by (job)\n"
        "      - record: job:recomputed:rate5m_avg1h\n"
        "        expr: avg_over_time(job:recomputed:rate5m[1h])\n"
    )
    (tmp_path / "alerts.yaml").write_text(
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: job:recomputed:rate5m_avg1h > 10\n"
    )
    (tmp_path / "runbook.md").write_text("Check `job:recomputed:rate5m_avg1h` first.\n")
    report = run(["."], Settings(), RunOptions())
    found = sorted((f.path, f.code, f.matched) for f in report.findings)
    assert ("alerts.yaml", "VMM004", "job:recomputed:rate5m_avg1h") in found
    assert ("runbook.md", "VMM004", "job:recomputed:rate5m_avg1h") in found
    assert ("rules.yaml", "VMM004", "job:recomputed:rate5m") in found


def _summary(report):  # type: ignore[no-untyped-def]
    return (
        report.files_scanned,
        sorted(report.errors),
        [(r.path, r.note, r.fixed, [(f.code, f.span, f.message, f.fix) for f in r.findings]) for r in report.results],
    )


@pytest.mark.parametrize("fix", [False, True], ids=["check", "fix"])
def test_the_pool_gives_what_the_loop_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fix: bool) -> None:
    tree = tmp_path / "samples"
    shutil.copytree(SAMPLES, tree)
    monkeypatch.chdir(tmp_path)
    options = RunOptions(fix=fix, unsafe=fix, write=False)
    monkeypatch.setattr(runner, "POOL_MIN_FILES", 10**9)
    alone = run(["samples"], Settings(), options)
    monkeypatch.setattr(runner, "POOL_MIN_FILES", 1)
    monkeypatch.setenv("VLLM_METRICS_MIGRATOR_JOBS", "2")
    pooled = run(["samples"], Settings(), options)
    assert _summary(pooled) == _summary(alone)
    assert alone.findings  # not a vacuous comparison


# A rule file that records series from a removed metric (a chain of two), uses them in the same
# file, and has a rename the fix makes (so the fixed text's positions differ from the input's).
ONE_FILE_DEAD_SERIES = (
    "groups:\n  - name: g\n    rules:\n"
    "      - alert: KvFull\n"
    "        expr: vllm:gpu_cache_usage_perc > 0.9\n"
    "      - record: job:recomputed:rate5m\n"
    "        expr: rate(vllm:prompt_tokens_recomputed_total[5m])\n"
    "      - record: job:recomputed:rate5m_avg1h\n"
    "        expr: avg_over_time(job:recomputed:rate5m[1h])\n"
    "      - alert: RecomputeHigh\n"
    "        expr: job:recomputed:rate5m > 10 or job:recomputed:rate5m_avg1h > 10\n"
)


def _json_findings(output: str) -> list[tuple]:  # type: ignore[type-arg]
    import json

    return sorted((f["code"], f["location"]["row"], f["location"]["column"], f["end_location"]["row"],
                   f["end_location"]["column"], f["locator"]) for f in json.loads(output))


@pytest.mark.parametrize("flags", [[], ["--fix"], ["--fix", "--unsafe-fixes"]], ids=["check", "fix", "unsafe"])
def test_stdin_reports_what_a_run_of_the_same_text_as_one_file_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    from click.testing import CliRunner

    from migrator.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text(ONE_FILE_DEAD_SERIES)
    cli = CliRunner()
    as_path = cli.invoke(main, ["check", "--output-format", "json", *flags, "rules.yaml"], catch_exceptions=False)
    as_stdin = cli.invoke(main, ["check", "--output-format", "json", *flags, "--stdin-filename", "rules.yaml", "-"],
                          input=ONE_FILE_DEAD_SERIES, catch_exceptions=False)
    path_findings = _json_findings(as_path.stdout)
    # With --fix the fixed text goes to stdout and the report to stderr.
    stdin_findings = _json_findings(as_stdin.stderr if flags else as_stdin.stdout)
    assert stdin_findings == path_findings
    assert as_stdin.exit_code == as_path.exit_code == 1
    dead_uses = [(row, col) for code, row, col, *_ in stdin_findings if code == "VMM004"]
    # The chain's second record, and both series in the alert.
    assert dead_uses == [(9, 29), (11, 15), (11, 45)]
    if flags:
        assert as_stdin.stdout == (tmp_path / "rules.yaml").read_text()


def test_stdin_diff_is_the_diff_of_the_same_text_as_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from migrator.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text(ONE_FILE_DEAD_SERIES)
    cli = CliRunner()
    as_path = cli.invoke(main, ["check", "--diff", "rules.yaml"], catch_exceptions=False)
    as_stdin = cli.invoke(main, ["check", "--diff", "--stdin-filename", "rules.yaml", "-"],
                          input=ONE_FILE_DEAD_SERIES, catch_exceptions=False)
    assert as_stdin.stdout == as_path.stdout and "+        expr: vllm:kv_cache_usage_perc" in as_stdin.stdout
    assert as_stdin.exit_code == as_path.exit_code
