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
