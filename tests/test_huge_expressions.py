"""Huge PromQL expressions never take the run down.

A 5,000-term sum used to kill the process with SIGSEGV (exit 139) inside the `promql-parser`
validation of a rewrite; a 20,000-level parenthesis nest hid the removed metric behind a
RecursionError. Both run end to end through the real CLI in a child process (a crash there is
a return code, not a dead test runner), on a rules YAML file and a dashboard JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from migrator.promql import parse, validate_promql
from promql_helpers import analyse, offered

REMOVED = "vllm:prompt_tokens_recomputed_total"
TERMS = 5_000
NEST = 20_000


def _long_sum() -> str:
    # The removed metric first: its term elimination is a rewrite that gets validated.
    return " + ".join([f"rate({REMOVED}[5m])"] + [f"x{i}" for i in range(TERMS - 1)])


def _deep_nest() -> str:
    return "(" * NEST + f"rate({REMOVED}[5m]) + rate(vllm:prompt_tokens_total[5m])" + ")" * NEST


def _rules_yaml(expr: str) -> str:
    return f"groups:\n- name: g\n  rules:\n  - record: job:x:rate5m\n    expr: {json.dumps(expr)}\n"


def _dashboard(expr: str) -> str:
    panel = {"id": 1, "type": "timeseries", "title": "t", "targets": [{"refId": "A", "expr": expr}]}
    return json.dumps({"title": "d", "panels": [panel]}, indent=2)


@pytest.fixture(scope="module")
def huge_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("huge")
    (root / "sum-rules.yaml").write_text(_rules_yaml(_long_sum()))
    (root / "sum-dashboard.json").write_text(_dashboard(_long_sum()))
    (root / "nest-rules.yaml").write_text(_rules_yaml(_deep_nest()))
    (root / "nest-dashboard.json").write_text(_dashboard(_deep_nest()))
    return root


@pytest.mark.parametrize("extra", [[], ["--fix", "--unsafe-fixes"]], ids=["check", "fix"])
def test_cli_reports_every_huge_expression_and_exits_normally(huge_tree, extra):
    files = ["sum-rules.yaml", "sum-dashboard.json", "nest-rules.yaml", "nest-dashboard.json"]
    before = {name: (huge_tree / name).read_bytes() for name in files}
    result = subprocess.run(
        [sys.executable, "-m", "migrator", "check", "--output-format", "json", *extra, *files],
        capture_output=True, text=True, cwd=huge_tree, timeout=600,
    )
    assert result.returncode in (0, 1), (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    findings = json.loads(result.stdout)
    for name in files:
        mine = [f for f in findings if f["filename"] == name]
        # The removed metric is found: VMM003 for a recording rule, VMM001 in a panel.
        assert any(f["code"] in ("VMM001", "VMM003") for f in mine), (name, mine)
        # No fix was proven for these, so nothing was written.
        assert (huge_tree / name).read_bytes() == before[name]


def test_long_sum_analysis_finds_the_reference_without_a_rewrite():
    text = _long_sum()
    analysis = analyse(text)
    assert analysis.error is None
    (ref,) = analysis.references
    assert text[ref.start : ref.end] == REMOVED
    # The term elimination would be valid PromQL, but it is too large to validate: no rewrite.
    assert [rewrite for _ref, rewrite in offered(text)] == [None]


def test_deep_nest_analysis_finds_the_reference():
    text = _deep_nest()
    analysis = analyse(text)
    assert analysis.error is None
    (ref,) = [r for r in analysis.references if r.written == REMOVED]
    assert text[ref.start : ref.end] == REMOVED


def test_too_large_for_promql_parser_is_a_verdict_not_a_crash():
    verdict = validate_promql(" + ".join(f"x{i}" for i in range(TERMS)))
    assert not verdict.valid
    assert verdict.note is not None and "could not be validated: expression too large" in verdict.note
    assert "5000" in verdict.note  # the measured depth is named
    verdict = validate_promql("(" * NEST + "x" + ")" * NEST)
    assert not verdict.valid and "too large" in verdict.note


def test_depth_just_under_the_bound_is_validated_on_a_big_stack():
    # Between 32 and 200 levels promql-parser runs on its own thread with a large stack; the
    # answer is the same as on the main thread.
    from migrator.promql.validate import PROMQL_PARSER_MAX_DEPTH

    deep_ok = " + ".join(f"x{i}" for i in range(PROMQL_PARSER_MAX_DEPTH))
    assert validate_promql(deep_ok).valid
    deep_bad = "rate(" + " + ".join(f"x{i}" for i in range(PROMQL_PARSER_MAX_DEPTH - 5)) + ")"
    verdict = validate_promql(deep_bad)
    assert not verdict.valid and verdict.note.startswith("promql-parser rejects it")


def test_huge_trees_keep_exact_positions():
    text = _deep_nest()
    tree = parse(text)
    assert (tree.start, tree.end) == (0, len(text))
    text = _long_sum()
    tree = parse(text)
    assert text[tree.rhs.start : tree.rhs.end] == f"x{TERMS - 2}"
