"""Compatibility recording rules ("shims"): a rule of the run that records an old vLLM metric name
again keeps that series alive, so queries of the same run that read it are not errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator import runner
from migrator.cli import main
from migrator.config import Settings
from migrator.model import Severity
from migrator.runner import RunOptions, run

OLD_KV = "vllm:gpu_cache_usage_perc"
OLD_TPOT = "vllm:time_per_output_token_seconds_bucket"
OLD_RECOMPUTED = "vllm:prompt_tokens_recomputed_total"

SHIMS = (
    "groups:\n"
    "  - name: vllm-compat\n"
    "    rules:\n"
    f"      - record: {OLD_KV}\n"
    "        expr: sum by (model_name) (vllm:kv_cache_usage_perc)\n"
    f"      - record: {OLD_TPOT}\n"
    "        expr: vllm:inter_token_latency_seconds_bucket\n"
    f"      - record: {OLD_RECOMPUTED}\n"
    "        expr: sum without (source) (vllm:prompt_tokens_by_source_total) - vllm:prompt_tokens_total\n"
)
ALERTS = (
    "groups:\n"
    "  - name: a\n"
    "    rules:\n"
    "      - alert: KvFull\n"
    f"        expr: {OLD_KV} > 0.9\n"
    "      - alert: SlowDecode\n"
    f"        expr: histogram_quantile(0.9, rate({OLD_TPOT}[5m])) > 1\n"
    "      - alert: Recompute\n"
    f"        expr: rate({OLD_RECOMPUTED}[5m]) > 1\n"
)
DASHBOARD = json.dumps(
    {"uid": "d", "panels": [{"id": 1, "targets": [{"refId": "A", "expr": f'{OLD_KV}{{model_name="m"}}'}]}]}
)
OLD_NAMES = (OLD_KV, OLD_TPOT, OLD_RECOMPUTED)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compat").mkdir()
    (tmp_path / "compat" / "vllm-compat.rules.yaml").write_text(SHIMS)
    (tmp_path / "alerts.yaml").write_text(ALERTS)
    (tmp_path / "dashboard.json").write_text(DASHBOARD)
    return tmp_path


def _about_old_names(report):  # type: ignore[no-untyped-def]
    return [f for f in report.findings if f.matched in OLD_NAMES]


def test_uses_of_shimmed_names_are_info_naming_the_rule(repo: Path) -> None:
    report = run(["."], Settings(), RunOptions())
    about = _about_old_names(report)
    assert sorted((f.path, f.matched) for f in about) == sorted([
        ("alerts.yaml", OLD_KV), ("alerts.yaml", OLD_TPOT), ("alerts.yaml", OLD_RECOMPUTED), ("dashboard.json", OLD_KV),
    ])
    assert all(f.severity is Severity.INFO for f in about)
    where = {OLD_KV: "compat/vllm-compat.rules.yaml:4", OLD_TPOT: "compat/vllm-compat.rules.yaml:6",
             OLD_RECOMPUTED: "compat/vllm-compat.rules.yaml:8"}
    for finding in about:
        assert where[finding.matched] in finding.message
        assert "only while that rule is deployed" in finding.message
    # Renaming is still the migration: the safe rename stays available.
    assert any(f.fix is not None and f.fix.applies_at(False) for f in about if f.matched == OLD_KV)
    assert not [f for f in report.findings if f.severity >= Severity.WARNING]


def test_the_check_passes_with_the_shim_and_fails_without_it(repo: Path) -> None:
    assert CliRunner().invoke(main, ["check", "."], catch_exceptions=False).exit_code == 0
    (repo / "compat" / "vllm-compat.rules.yaml").unlink()
    result = CliRunner().invoke(main, ["check", "."], catch_exceptions=False)
    assert result.exit_code == 1


def test_without_the_shim_the_errors_are_as_before(repo: Path) -> None:
    (repo / "compat" / "vllm-compat.rules.yaml").unlink()
    about = _about_old_names(run(["."], Settings(), RunOptions()))
    assert len(about) == 4
    assert all(f.severity is Severity.ERROR and "compatibility" not in f.message for f in about)


def test_a_shim_outside_the_run_does_not_count(repo: Path) -> None:
    excluded = run(["."], Settings(extend_exclude=("compat/",)), RunOptions())
    assert all(f.severity is Severity.ERROR for f in _about_old_names(excluded))
    not_given = run(["alerts.yaml", "dashboard.json"], Settings(), RunOptions())
    assert all(f.severity is Severity.ERROR for f in _about_old_names(not_given))
    assert len(_about_old_names(not_given)) == 4


def test_a_rule_that_reads_the_name_it_records_is_not_a_shim(repo: Path) -> None:
    (repo / "compat" / "vllm-compat.rules.yaml").write_text(
        "groups:\n  - name: noop\n    rules:\n"
        f"      - record: {OLD_KV}\n        expr: sum by (model_name) ({OLD_KV})\n"
        # Another spelling of the same metric is the same gone series.
        f"      - record: {OLD_TPOT}\n        expr: vllm_time_per_output_token_seconds_bucket\n"
    )
    report = run(["."], Settings(), RunOptions())
    uses = [f for f in _about_old_names(report) if f.path != "compat/vllm-compat.rules.yaml"]
    assert {f.matched for f in uses} == set(OLD_NAMES)
    assert all(f.severity is Severity.ERROR for f in uses)


def test_the_shim_file_itself_has_nothing_to_rename(repo: Path) -> None:
    for options in (RunOptions(), RunOptions(fix=True, unsafe=True, write=False)):
        report = run(["."], Settings(), options)
        shim_file = [r for r in report.results if r.path == "compat/vllm-compat.rules.yaml"]
        assert not shim_file or (not shim_file[0].findings and not shim_file[0].changed)


@pytest.mark.parametrize("wrapper", ["prometheusrule", "configmap"])
def test_a_wrapped_shim_counts_and_is_not_reported(repo: Path, wrapper: str) -> None:
    body = "\n".join("    " + line for line in SHIMS.splitlines())
    if wrapper == "prometheusrule":
        text = ("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: compat\nspec:\n"
                + "\n".join("  " + line for line in SHIMS.splitlines()) + "\n")
    else:
        text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: compat\ndata:\n  compat.rules.yaml: |\n" + body + "\n"
    (repo / "compat" / "vllm-compat.rules.yaml").write_text(text)
    report = run(["."], Settings(), RunOptions())
    assert not [r for r in report.results if r.path == "compat/vllm-compat.rules.yaml"]
    about = _about_old_names(report)
    assert len(about) == 4 and all(f.severity is Severity.INFO for f in about)


def test_the_recorded_name_must_be_the_one_queried(repo: Path) -> None:
    # A recording rule records exactly its name: `…_recomputed` does not answer `…_recomputed_total`.
    (repo / "compat" / "vllm-compat.rules.yaml").write_text(
        SHIMS.replace(f"record: {OLD_RECOMPUTED}", "record: vllm:prompt_tokens_recomputed")
    )
    about = _about_old_names(run(["."], Settings(), RunOptions()))
    assert [f.severity for f in about if f.matched == OLD_RECOMPUTED] == [Severity.ERROR]


def test_a_shim_computed_from_a_gone_name_needs_a_shim_for_it(repo: Path) -> None:
    chained = (
        "groups:\n  - name: c\n    rules:\n"
        f"      - record: {OLD_KV}\n        expr: vllm:gpu_cache_usage_perc_v0\n"
    )
    # `vllm:gpu_cache_usage_perc_v0` is no catalogue name: the rule reads a series of the user's.
    (repo / "compat" / "vllm-compat.rules.yaml").write_text(chained)
    assert {f.severity for f in _about_old_names(run(["."], Settings(), RunOptions())) if f.matched == OLD_KV} == {
        Severity.INFO
    }
    # Computed from a gone name that nothing records: it records nothing either.
    (repo / "compat" / "vllm-compat.rules.yaml").write_text(
        "groups:\n  - name: c\n    rules:\n"
        f"      - record: {OLD_KV}\n        expr: vllm:gpu_prefix_cache_hit_rate\n"
    )
    kv = [f for f in _about_old_names(run(["."], Settings(), RunOptions())) if f.matched == OLD_KV]
    assert kv and all(f.severity is Severity.ERROR for f in kv if f.path != "compat/vllm-compat.rules.yaml")


def test_series_recorded_from_a_shimmed_metric_do_not_die(repo: Path) -> None:
    (repo / "recording.yaml").write_text(
        "groups:\n  - name: r\n    rules:\n"
        "      - record: job:recomputed:rate5m\n"
        f"        expr: sum by (job) (rate({OLD_RECOMPUTED}[5m]))\n"
    )
    (repo / "alerts.yaml").write_text(
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: job:recomputed:rate5m > 10\n"
    )
    report = run(["."], Settings(), RunOptions())
    assert not [f for f in report.findings if f.code == "VMM004"]
    assert [(f.code, f.severity) for f in report.findings if f.path == "recording.yaml"] == [("VMM003", Severity.INFO)]
    (repo / "compat" / "vllm-compat.rules.yaml").unlink()
    report = run(["."], Settings(), RunOptions())
    assert [f.path for f in report.findings if f.code == "VMM004"] == ["alerts.yaml"]


def test_names_outside_queries_are_not_answered_by_a_recording_rule(repo: Path) -> None:
    # A scraper reads vLLM's /metrics, not Prometheus: a recording rule does not feed it.
    (repo / "scrape.py").write_text(f'WANTED = ["{OLD_KV}", "vllm:num_requests_running"]\n')
    report = run(["."], Settings(), RunOptions())
    scraper = [f for f in report.findings if f.path == "scrape.py" and f.matched == OLD_KV]
    assert scraper and all(f.severity > Severity.INFO and "compatibility" not in f.message for f in scraper)


def test_fix_mode_lowers_too_and_still_renames(repo: Path) -> None:
    report = run(["."], Settings(), RunOptions(fix=True, write=False))
    alerts = next(r for r in report.results if r.path == "alerts.yaml")
    assert alerts.fixed is not None and OLD_KV not in alerts.fixed
    assert not [f for f in report.findings if f.severity >= Severity.WARNING]


def test_a_shim_in_the_same_text_on_stdin_counts() -> None:
    text = SHIMS + ALERTS.split("rules:\n", 1)[1]
    result = CliRunner().invoke(main, ["check", "--stdin-filename", "rules.yaml", "-"], input=text,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "rules.yaml:4" in result.output


def _summary(report):  # type: ignore[no-untyped-def]
    return [(r.path, r.fixed, [(f.code, f.span, f.severity, f.message) for f in r.findings]) for r in report.results]


def test_output_does_not_depend_on_file_order_or_the_pool(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two shims of the same name: the message names the first by path and line, however the
    # run met them.
    (repo / "a-compat.yaml").write_text(SHIMS)
    forward = run(["compat", "a-compat.yaml", "alerts.yaml", "dashboard.json"], Settings(), RunOptions())
    backward = run(["dashboard.json", "alerts.yaml", "a-compat.yaml", "compat"], Settings(), RunOptions())
    assert _summary(forward) == _summary(backward)
    assert all("a-compat.yaml:4 (and 1 more)" in f.message for f in forward.findings if f.matched == OLD_KV)
    monkeypatch.setattr(runner, "POOL_MIN_FILES", 1)
    monkeypatch.setenv("VLLM_METRICS_MIGRATOR_JOBS", "2")
    pooled = run(["compat", "a-compat.yaml", "alerts.yaml", "dashboard.json"], Settings(), RunOptions())
    assert _summary(pooled) == _summary(forward)


def test_recording_a_removed_name_from_itself_does_not_make_it_a_dead_series(repo: Path) -> None:
    # Its uses are reported as the removed metric they name (VMM001), not a second time as
    # users of a series recorded from a removed metric (VMM004).
    (repo / "compat" / "vllm-compat.rules.yaml").write_text(
        "groups:\n  - name: noop\n    rules:\n"
        f"      - record: {OLD_RECOMPUTED}\n        expr: sum without (instance) ({OLD_RECOMPUTED})\n"
    )
    report = run(["."], Settings(), RunOptions())
    assert not [f for f in report.findings if f.code == "VMM004"]
    assert [(f.code, f.severity) for f in report.findings if f.path == "alerts.yaml" and f.matched == OLD_RECOMPUTED] == [
        ("VMM001", Severity.ERROR)
    ]
