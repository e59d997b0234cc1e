"""`verify`: every PromQL rewrite proven on Prometheus' own engine (`promtool test rules`).

Tests that need promtool skip locally when it is missing, and FAIL when CI=true.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli_verify_and_live import verify_command
from migrator.config import Settings
from migrator.model import Applicability
from migrator.verify import (
    DIFFERS,
    EQUIVALENT,
    ERROR,
    RewriteCase,
    VerifyError,
    find_promtool,
    substitute_variables,
    verify_cases,
    verify_paths,
)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

LOCAL = 'sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit", namespace=~"$ns"}[$__rate_interval]))'
EXTERNAL = 'sum(rate(vllm:prompt_tokens_by_source_total{source="external_kv_transfer", namespace=~"$ns"}[$__rate_interval]))'
RECOMPUTED = 'sum(rate(vllm:prompt_tokens_recomputed_total{namespace=~"$ns"}[$__rate_interval]))'
CACHED = 'sum(rate(vllm:prompt_tokens_cached_total{namespace=~"$ns"}[$__rate_interval]))'
SAFE_EXPR = f"{LOCAL} + {EXTERNAL} - {RECOMPUTED}"
UNSAFE_EXPR = f"{CACHED} + {RECOMPUTED}"


def need_tools():  # type: ignore[no-untyped-def]
    try:
        return find_promtool()
    except VerifyError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the Prometheus binaries are missing: {err}")
        pytest.skip(str(err))


@pytest.fixture
def tools():  # type: ignore[no-untyped-def]
    return need_tools()



def rule_file(expr: str, alert: str = "VllmCache") -> str:
    return f"groups:\n  - name: vllm\n    rules:\n      - alert: {alert}\n        expr: {expr}\n        for: 10m\n"


def case_for(expr: str, path: str = "x.yaml") -> RewriteCase:
    """The rewrite the lint offers for `expr` in an alert rule, as `verify` collects it."""
    from migrator import engine
    from migrator.config import Settings

    text = f"groups:\n  - name: vllm\n    rules:\n      - alert: X\n        expr: |-\n          {expr}\n"
    lint = engine.lint_text(path, text, Settings(), "yaml")
    (finding,) = [f for f in lint.findings if f.fix is not None and f.fix.rewrite is not None]
    r = finding.fix.rewrite
    return RewriteCase(path, 1, 1, finding.code, "expr", r.kind, r.original, r.rewritten, r.verdict, r.reason,
                       finding.fix.applicability, r.grafana_query, r.renames)


# ---------------------------------------------------------------------- pure parts


def test_variables_are_substituted_for_evaluation() -> None:
    text = 'sum(rate(x{ns=~"$ns", pod="${pod}", job="api"}[$__rate_interval])) > $threshold'
    assert substitute_variables(text) == 'sum(rate(x{ns=~".*", pod=~".*", job="api"}[5m])) > 1'
    assert substitute_variables('rate(x{ns=~"{{ .Values.ns }}"}[5m])') == 'rate(x{ns=~".*"}[5m])'
    assert substitute_variables("rate(x[5m])") == "rate(x[5m])"


def test_missing_binaries_exit_2_naming_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("VMM_PROMTOOL", raising=False)
    monkeypatch.delenv("VMM_PROMETHEUS", raising=False)
    result = CliRunner().invoke(verify_command, [str(tmp_path)])
    assert result.exit_code == 2
    assert "Debian/Ubuntu package `prometheus`" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------- on a real Prometheus


def test_safe_rewrite_is_equivalent_and_unsafe_one_differs(tools) -> None:  # type: ignore[no-untyped-def]
    safe, unsafe = case_for(SAFE_EXPR), case_for(UNSAFE_EXPR)
    assert (safe.lint, unsafe.lint) == (Applicability.SAFE, Applicability.UNSAFE)
    report = verify_cases([safe, unsafe], promtool=tools)
    first, second = report.outcomes
    assert first.verdict == EQUIVALENT, first.line()
    assert first.detail == "180 instants"
    assert second.verdict == DIFFERS, second.line()
    # Every instant differs: some full hit is in every window; the values are Prometheus'.
    assert second.detail.startswith("180/180 instants: at 01:00:30: ")
    assert first.agrees and second.agrees and not report.disagreements


def test_prometheus_rejection_is_an_error_with_its_message(tools) -> None:  # type: ignore[no-untyped-def]
    # rate() drops __name__, so two names with equal labels collide: real Prometheus refuses
    # what a name-agnostic evaluator happily sums.
    expr = 'sum(rate({__name__=~"vllm:prompt_tokens_cached_total|vllm:prompt_tokens_recomputed_total"}[10m]))'
    (outcome,) = verify_cases([case_for(expr)], promtool=tools).outcomes
    assert outcome.verdict == ERROR
    assert "same labelset" in outcome.detail
    assert not outcome.agrees


def test_regex_rewrite_unsafe_by_policy_may_be_equivalent(tools) -> None:  # type: ignore[no-untyped-def]
    expr = 'sum(vllm:prompt_tokens_total) + 0 * count({__name__=~"vllm:prompt_tokens_total|vllm:prompt_tokens_recomputed_total"})'
    case = case_for(expr)
    assert case.kind == "regex alternation" and case.lint is Applicability.UNSAFE
    (outcome,) = verify_cases([case], promtool=tools).outcomes
    assert outcome.verdict == EQUIVALENT, outcome.line()
    assert outcome.agrees and "unsafe by policy" in outcome.line()


def test_a_renamed_series_that_keeps_its_name_is_equivalent(tools) -> None:  # type: ignore[no-untyped-def]
    """A bare selector (or a comparison) keeps `__name__`: the rename is the same data under the
    new name, which `verify` used to report as every series vanishing (a false disagreement)."""
    cases = [case_for('vllm:gpu_cache_usage_perc{job="vllm"} > 0.9'),
             case_for("count by (__name__) (vllm:time_per_output_token_seconds_count)")]
    assert all(case.lint is Applicability.SAFE for case in cases)
    for outcome in verify_cases(cases, promtool=tools).outcomes:
        assert outcome.verdict == EQUIVALENT, outcome.line()
        assert outcome.agrees


def test_a_rename_copied_into_another_label_is_unsafe_and_differs(tools) -> None:  # type: ignore[no-untyped-def]
    case = case_for('label_replace(vllm:gpu_cache_usage_perc, "metric", "$1", "__name__", "vllm:(.*)")')
    assert case.lint is Applicability.UNSAFE
    (outcome,) = verify_cases([case], promtool=tools).outcomes
    assert outcome.verdict == DIFFERS, outcome.line()
    assert 'metric="gpu_cache_usage_perc"' in outcome.detail
    assert outcome.agrees


def test_verify_command_on_rule_files(tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "safe.yaml").write_text(rule_file(f"{SAFE_EXPR} < 1"))
    (tmp_path / "rules" / "unsafe.yaml").write_text(rule_file(f"({UNSAFE_EXPR}) > 100"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(verify_command, ["rules", "--keep", "kept"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(re.fullmatch(r"rules/safe\.yaml:5:\d+ VMM001 equivalent \(180 instants\)", line) for line in lines), result.output
    assert any(re.match(r"rules/unsafe\.yaml:5:\d+ VMM001 differs \(\d+/180 instants: ", line) for line in lines), result.output
    assert "2 rewrites" in lines[-2] and "all agree with the lint's fix safety" in lines[-2]
    plan = json.loads((tmp_path / "kept" / "plan.json").read_text())
    assert [r["verdict"] for r in plan["rewrites"]] == ["equivalent", "differs"]
    assert "promql_expr_test" in (tmp_path / "kept" / "promtool-test-0.yaml").read_text()
    assert (tmp_path / "kept" / "promtool-test-0.out").exists()

    as_json = CliRunner().invoke(verify_command, ["rules", "--format", "json"])
    assert as_json.exit_code == 0
    assert [o["verdict"] for o in json.loads(as_json.output)] == ["equivalent", "differs"]


def test_keep_refuses_a_non_empty_directory(tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "r.yaml").write_text(rule_file(SAFE_EXPR))
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "mine.txt").write_text("do not touch")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(verify_command, ["r.yaml", "--keep", "kept"])
    assert result.exit_code == 2 and "must be an empty or new directory" in result.output
    assert (tmp_path / "kept" / "mine.txt").read_text() == "do not touch"


def test_no_rewrites_is_not_an_error(tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.md").write_text("nothing about vLLM here\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(verify_command, ["."])
    assert result.exit_code == 0 and "No PromQL rewrites to verify" in result.output


# ----------------------------------------------------------------- the golden samples


def _sample_cases() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("VMM*/*") if p.is_dir())


@pytest.fixture(scope="module")
def samples_outcomes():  # type: ignore[no-untyped-def]
    """One verify run over every golden sample (both servers start once)."""
    need_tools()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(SAMPLES.parent)
        report = verify_paths(["samples"], Settings())
    return report


def test_samples_have_rewrites_to_verify(samples_outcomes) -> None:  # type: ignore[no-untyped-def]
    has_rules = any(SAMPLES.glob("VMM*/rules-*/input.yaml"))
    if has_rules:
        paths = {o.case.path for o in samples_outcomes.outcomes}
        assert any(p.endswith(".yaml") for p in paths), "no rewrite found in the rules YAML samples"


@pytest.mark.parametrize("case", _sample_cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_rewrites_agree_with_prometheus(case: Path, samples_outcomes) -> None:  # type: ignore[no-untyped-def]
    prefix = f"samples/{case.parent.name}/{case.name}/"
    mine = [o for o in samples_outcomes.outcomes if o.case.path.startswith(prefix)]
    bad = [f"{o.line()}\n    {o.disagreement()}\n    original:  {o.original_query}\n    rewritten: {o.rewritten_query}"
           for o in mine if not o.agrees]
    assert not bad, "\n".join(bad)
