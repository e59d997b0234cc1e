"""`verify`: prove every PromQL rewrite the lint offers on Prometheus' own engine.

The lint's fix safety comes from the oracle (`migrator.promql.oracle`): a Python evaluator of
Prometheus' semantics over the reference simulation's time series. This module checks each of
its verdicts independently, with Prometheus doing all PromQL evaluation, on the same series.

Design: `promtool test rules` over the oracle's own time series
--------------------------------------------------------------
1. Data: the reference timeline (four hours of 1-minute scrapes, six engines, bursts of full
   hits, a counter reset) for both vLLM eras, with the oracle's aliases and extra labels for
   the expressions (`oracle.simulated_series`): exactly the series the verdict was judged on.
   promtool's input series start at time 0, like the timeline, so `@ 3600` means the same.
2. Queries: for each rewrite, the original expression on the v0.16–v0.19 (era a) data and the
   rewrite on the v0.20+ (era c) data, as instant queries at the oracle's evaluation times
   (every minute of the last three hours), written as `promql_expr_test`s. All rewrites go in
   one test file per dataset; one promtool process per file.
3. Values: each test expects the oracle's value. A test that passes has exactly that value on
   Prometheus; a failing one is reported with what Prometheus got, which is parsed back
   (`migrator.promtool_eval`). So every comparison below uses Prometheus' own numbers.
4. For each rewrite, Prometheus' original-on-era-a is compared with its rewrite-on-era-c at
   every instant (label sets exactly, values within 1e-9 relative/absolute). A threshold
   comparison with a literal number is judged on what it filters, as the oracle does.

Verdicts: `equivalent` (equal at every instant), `differs` (with the measured values),
`unverifiable` (a Helm value or templated timestamp the result depends on, a `label_values()`
query, the original selects no simulated series, or NaN/±Inf results — the oracle calls all of
these unsafe too), or `error` (Prometheus rejected a query; its message is shown). The verdict
must agree with the lint's fix safety: safe ⇔ equivalent, unsafe ⇔ differs (or unverifiable).
Anything else is a bug in the oracle or in this module, and `verify` exits 1.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from migrator.model import Applicability, LineIndex

DEBIAN_PACKAGE = "prometheus"
REL_TOL = 1e-9
ABS_TOL = 1e-9

EQUIVALENT, DIFFERS, UNVERIFIABLE, ERROR = "equivalent", "differs", "unverifiable", "error"


class VerifyError(Exception):
    """Verification could not run at all (missing tool, promtool failed): exit 2."""


# ------------------------------------------------------------------------------- tools


def find_promtool() -> str:
    """`promtool` from PATH (or $VMM_PROMTOOL)."""
    override = os.environ.get("VMM_PROMTOOL")
    path = override or shutil.which("promtool")
    if not path or not os.access(path, os.X_OK):
        raise VerifyError(
            "`promtool` was not found on PATH; verify needs Prometheus' own engine. Install the "
            f"Debian/Ubuntu package `{DEBIAN_PACKAGE}` (apt-get install {DEBIAN_PACKAGE}) or put the "
            "binaries from https://prometheus.io/download/ on PATH (or set VMM_PROMTOOL)"
        )
    return path


def prometheus_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (out.stdout or out.stderr).strip().splitlines()
    parts = first[0].split() if first else []
    return parts[2] if len(parts) > 2 and parts[1] == "version" else "unknown"


# ------------------------------------------------------------------------- collecting


@dataclass(frozen=True)
class RewriteCase:
    """One fix the lint offers that came from a PromQL rewrite."""

    path: str
    line: int
    col: int
    code: str
    locator: str
    kind: str  # "term elimination" | "regex alternation" | "rename"
    original: str  # the site's expression, as in the file (decoded)
    rewritten: str
    lint: Applicability  # the lint's verdict on the rewrite
    lint_reason: str
    fix_applicability: Applicability  # what the finding shows (display-only when not editable)
    grafana_query: bool = False
    # Renames: (old name, new name) as written; the rewrite reads the old name's data under it.
    renames: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


def collect_rewrites(paths: Sequence[str], settings, *, force_exclude: bool = False):  # type: ignore[no-untyped-def]
    """Lint `paths` (no fixing) and return (cases, report): every finding whose fix is a PromQL
    rewrite, with the whole expression before and after (the fix records it)."""
    from migrator.runner import RunOptions, run

    report = run(list(paths), settings, RunOptions(fix=False, write=False, force_exclude=force_exclude))
    cases: list[RewriteCase] = []
    seen: set[tuple[str, str, str]] = set()
    for result in report.results:
        if result.original is None:
            continue
        lines = LineIndex(result.original)
        for finding in result.findings:
            rewrite = finding.fix.rewrite if finding.fix is not None else None
            if rewrite is None:
                continue
            key = (result.path, rewrite.original, rewrite.rewritten)
            if key in seen:
                continue  # the renames of one expression are one case: all of them at once
            seen.add(key)
            line, col = lines.position(finding.span.start)
            cases.append(RewriteCase(
                path=result.path, line=line, col=col, code=finding.code, locator=finding.locator,
                kind=rewrite.kind, original=rewrite.original, rewritten=rewrite.rewritten,
                lint=rewrite.verdict, lint_reason=rewrite.reason,
                fix_applicability=finding.fix.applicability, grafana_query=rewrite.grafana_query,
                renames=rewrite.renames,
            ))
    return cases, report


# ------------------------------------------------------------------------- preparing


class _Unverifiable(Exception):
    pass


def substitute_variables(text: str) -> str:
    """Plain PromQL for a templated expression, for *evaluation* (not only for parsing):
    a label matcher whose value holds a Grafana variable or Helm/Jinja template matches any
    value (`{ns=~"$ns"}` → `{ns=~".*"}`: every namespace, like the dashboard's "All"); then
    `substitute_for_oracle` handles the rest (`$__rate_interval` → 5m, operands → 1, …)."""
    from migrator.promql import ast
    from migrator.promql.parser import PromQLSyntaxError, parse
    from migrator.promql.removed import apply_text_edits, TextEdit
    from migrator.promql.variables import contains_variable, substitute_for_oracle

    if not contains_variable(text):
        return text
    try:
        tree = parse(text)
    except PromQLSyntaxError:
        return substitute_for_oracle(text)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.VectorSelector):
            continue
        for m in node.matchers:
            label = text[m.label_span[0] : m.label_span[1]]
            if contains_variable(m.value) and not contains_variable(label):
                edits.append(TextEdit(m.start, m.end, f'{label}=~".*"'))
    return substitute_for_oracle(apply_text_edits(text, tuple(edits)))


def _refuse_opaque_values(text: str) -> None:
    """A variable or template standing for a *value* (a threshold `< {{ .Values.floor }}`, a
    metric name `$metric`, a function) decides the result; no single substitute proves the
    rewrite for every value it may take. Label matchers (read as "All") and durations (5m, as
    the oracle evaluates them) are fine."""
    from migrator.promql import ast
    from migrator.promql.parser import PromQLSyntaxError, parse
    from migrator.promql.variables import contains_variable

    try:
        tree = parse(text)
    except PromQLSyntaxError:
        return  # reported as unverifiable after substitution
    for node in ast.walk(tree):
        if isinstance(node, ast.Placeholder):
            raise _Unverifiable(f"`{node.text}` stands for a value the result depends on")
        at = getattr(node, "at", None)
        if at is not None and contains_variable(at):
            raise _Unverifiable(f"the timestamp `@ {at}` is templated")
        if isinstance(node, ast.VectorSelector) and node.templated:
            raise _Unverifiable(f"the metric name `{node.name}` is templated")
        span = getattr(node, "func_span", None) or getattr(node, "op_span", None)
        if isinstance(node, (ast.Call, ast.AggregateExpr)) and span and contains_variable(text[span[0] : span[1]]):
            raise _Unverifiable(f"the function `{text[span[0]:span[1]]}` is templated")


def _evaluable(text: str, grafana: bool):  # type: ignore[no-untyped-def]
    """(expression text, parsed tree) Prometheus can evaluate, or raise _Unverifiable."""
    from migrator.promql.parser import PromQLSyntaxError, parse, parse_grafana_query

    if grafana:
        query = parse_grafana_query(text)
        if query.kind not in ("promql", "query_result") or query.expr is None:
            raise _Unverifiable(f"a Grafana {query.kind}() query returns label values, not samples")
        text = text[query.expr.start : query.expr.end]
    _refuse_opaque_values(text)
    text = substitute_variables(text).strip()
    try:
        tree = parse(text)
    except PromQLSyntaxError as err:
        raise _Unverifiable(f"cannot be made evaluable: {err}") from None
    # Like the oracle, compare what a threshold filters, not the filtered result.
    from migrator.promql.oracle import unfiltered

    inner = unfiltered(tree)
    if inner is not tree:
        text, tree = text[inner.start : inner.end], parse(text[inner.start : inner.end])
    return text, tree


def _refuse_newer_syntax(texts: tuple[str, ...], version: str) -> None:
    """A Prometheus 2 engine cannot parse Prometheus 3 syntax (quoted names, duration
    expressions, …): such a rewrite cannot be verified there, which is not an error of it."""
    from migrator.promql.validate import prometheus3_features

    major = version.split(".", 1)[0]
    if major.isdigit() and int(major) >= 3:
        return
    for text in texts:
        features = prometheus3_features(text)
        if features:
            raise _Unverifiable(f"uses Prometheus 3 syntax ({', '.join(features)}), which Prometheus {version} cannot parse")


@dataclass
class _Prepared:
    case: RewriteCase
    original: str
    rewritten: str
    dataset: tuple  # type: ignore[type-arg]  # oracle.dataset_key of the pair
    times: tuple[int, ...]  # oracle.evaluation_times of the pair
    index: int = 0
    outcome: "Outcome | None" = None
    expected: tuple = ()  # type: ignore[type-arg]  # the oracle's values (original, rewrite), if it has them


@dataclass
class Outcome:
    case: RewriteCase
    verdict: str  # equivalent | differs | unverifiable | error
    detail: str = ""
    original_query: str = ""
    rewritten_query: str = ""
    instants: list[dict[str, Any]] = field(default_factory=list)

    @property
    def policy_unsafe(self) -> bool:
        """Regex-alternation rewrites are unsafe by the rule's policy (the query selects other
        series), not by a measurement: equal values on the workloads do not contradict it."""
        return self.case.kind == "regex alternation" and self.case.lint is Applicability.UNSAFE

    @property
    def catalogue_safe(self) -> bool:
        """A rename is safe by the catalogue's fact (same values, new name); the engine can show
        it only where the query selects nothing but the renamed series and the simulated ones."""
        return self.case.kind == "rename" and self.case.lint is Applicability.SAFE

    @property
    def agrees(self) -> bool:
        if self.verdict == EQUIVALENT:
            return self.case.lint is Applicability.SAFE or self.policy_unsafe
        if self.verdict == UNVERIFIABLE and self.catalogue_safe:
            return True
        if self.verdict in (DIFFERS, UNVERIFIABLE):
            return self.case.lint is Applicability.UNSAFE
        return False

    def line(self) -> str:
        detail = self.detail
        if self.verdict == EQUIVALENT and self.policy_unsafe:
            detail += "; the fix stays unsafe by policy: the regex selects other series"
        if self.verdict == UNVERIFIABLE and self.catalogue_safe:
            detail += "; the rename stays safe: the catalogue says the new name carries the same values"
        detail = f" ({detail})" if detail else ""
        return f"{self.case.where} {self.case.code} {self.verdict}{detail}"

    def disagreement(self) -> str:
        lint = self.case.lint.value
        if self.verdict == ERROR:
            return f"Prometheus could not evaluate it; the lint called the fix {lint}"
        if self.verdict == EQUIVALENT:
            return (f"the lint called the fix {lint} ({self.case.lint_reason}), but Prometheus gives the same "
                    "values at every instant")
        return f"the lint called the fix {lint}, but Prometheus says {self.verdict}"


# ---------------------------------------------------------------------------- comparing


def _clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _fmt(v: float) -> str:
    if v != v:
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def _feq(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _labels_text(key: tuple[tuple[str, str], ...]) -> str:
    shown = [(k, v) for k, v in key if k != "__name__"]
    return "{" + ", ".join(f'{k}="{v}"' for k, v in shown) + "} " if shown else ""


def _with_new_names(answer: dict, renames: tuple[tuple[str, str], ...]) -> dict:  # type: ignore[type-arg]
    """The original's answer with each renamed metric's `__name__` as the rewrite spells it: a
    rename is the same data under the new name, so a series that keeps its name (a bare
    selector, `x > 0.9`) matches its renamed twin. Any other label derived from the name (a
    `label_replace` of `__name__`) still differs."""
    if not renames:
        return answer
    new_name = dict(renames)
    return {
        tuple(sorted((k, new_name.get(v, v) if k == "__name__" else v) for k, v in key)): value
        for key, value in answer.items()
    }


def _difference(a: dict, c: dict) -> str | None:  # type: ignore[type-arg]
    for key in sorted(set(a) | set(c)):
        if key not in c:
            return f"{_labels_text(key)}{_fmt(a[key])} → no value"
        if key not in a:
            return f"{_labels_text(key)}no value → {_fmt(c[key])}"
        if not _feq(a[key], c[key]):
            return f"{_labels_text(key)}{_fmt(a[key])} → {_fmt(c[key])}"
    return None


@dataclass
class VerifyReport:
    outcomes: list[Outcome]
    files_scanned: int
    version: str
    seconds: float
    workdir: Path | None = None

    @property
    def disagreements(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.agrees]

    def summary(self) -> str:
        counts = {v: sum(o.verdict == v for o in self.outcomes) for v in (EQUIVALENT, DIFFERS, UNVERIFIABLE, ERROR)}
        n = len(self.outcomes)
        parts = [f"{counts[EQUIVALENT]} equivalent", f"{counts[DIFFERS]} differ"]
        if counts[UNVERIFIABLE]:
            parts.append(f"{counts[UNVERIFIABLE]} unverifiable")
        if counts[ERROR]:
            parts.append(f"{counts[ERROR]} error{'s' if counts[ERROR] != 1 else ''}")
        bad = len(self.disagreements)
        agreement = ("all agree with the lint's fix safety" if not bad
                     else f"{bad} disagree{'s' if bad == 1 else ''} with the lint's fix safety")
        return (f"Verified {n} rewrite{'s' if n != 1 else ''} on Prometheus {self.version} (promtool) in {self.seconds:.1f}s: "
                f"{', '.join(parts)}; {agreement}.")


def verify_cases(cases: Sequence[RewriteCase], *, promtool: str | None = None, keep: Path | None = None,
                 on_outcome: Callable[[Outcome], None] | None = None) -> VerifyReport:
    """Evaluate every case with promtool (original on era a, rewrite on era c) and compare."""
    from migrator import promtool_eval
    from migrator.promql.oracle import dataset_key, evaluation_times, per_time, simulated_evaluator, simulated_series
    from migrator.reference.renamed_series import renamed_series

    started = time.monotonic()
    promtool = promtool or find_promtool()
    version = prometheus_version(promtool)
    outcomes: dict[int, Outcome] = {}
    prepared: list[_Prepared] = []
    for i, case in enumerate(cases):
        try:
            original, before = _evaluable(case.original, case.grafana_query)
            rewritten, after = _evaluable(case.rewritten, case.grafana_query)
            _refuse_newer_syntax((original, rewritten), version)
        except _Unverifiable as err:
            outcomes[i] = Outcome(case, UNVERIFIABLE, str(err))
            continue
        key = dataset_key(before, after)
        times = evaluation_times(before, after)
        expected = []
        for era, tree in (("a", before), ("c", after)):
            if case.renames:
                expected.append(None)  # renamed metrics are outside the oracle's model: Prometheus decides
                continue
            try:
                expected.append(tuple(per_time(simulated_evaluator(era, *key).eval(tree, times), len(times))))
            except Exception:  # the oracle cannot evaluate it: Prometheus still can
                expected.append(None)
        prepared.append(_Prepared(case, original, rewritten, key + (case.renames,), times, index=i,
                                  expected=tuple(expected)))
        outcomes[i] = Outcome(case, ERROR, "not evaluated", original, rewritten)

    workdir = _workdir(keep)
    try:
        if prepared:
            batch = promtool_eval.Batch()
            for p in prepared:
                for era, expr, expected in (("a", p.original, p.expected[0]), ("c", p.rewritten, p.expected[1])):
                    name = f"era-{era}:{p.dataset}"
                    *simulated, renames = p.dataset
                    batch.datasets[name] = simulated_series(era, *simulated) + renamed_series(renames, era, simulated[1])
                    batch.queries.append(promtool_eval.Query(name, expr, p.times, expected))
            try:
                answers = promtool_eval.run(promtool, batch, workdir)
            except promtool_eval.PromtoolError as err:
                raise VerifyError(str(err)) from None
            for n, p in enumerate(prepared):
                p.outcome = _judge(p, p.times, answers[2 * n], answers[2 * n + 1])
                outcomes[p.index] = p.outcome
            if keep is not None:
                _write_plan(workdir, prepared, version)
        ordered = [outcomes[i] for i in range(len(cases))]
        if on_outcome is not None:
            for outcome in ordered:
                on_outcome(outcome)
        return VerifyReport(ordered, 0, version, time.monotonic() - started, workdir if keep else None)
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _judge(p: _Prepared, times: Sequence[int], on_a: list, on_c: list) -> Outcome:  # type: ignore[type-arg]
    for side, answers in (("original on v0.16–v0.19 counters", on_a), ("rewrite on v0.20+ counters", on_c)):
        error = next((a for a in answers if isinstance(a, str)), None)
        if error is not None:
            return Outcome(p.case, ERROR, f"{side}: {error}", p.original, p.rewritten)
    instants = [{"time": t / 1000, "original": _jsonable(a), "rewritten": _jsonable(c)}
                for t, a, c in zip(times, on_a, on_c)]
    if not any(on_a):
        return Outcome(p.case, UNVERIFIABLE, "the original selects no simulated series", p.original, p.rewritten,
                       instants)
    for side, answers in (("the original", on_a), ("the rewrite", on_c)):
        for t, answer in zip(times, answers):
            bad = next((v for v in answer.values() if not math.isfinite(v)), None)
            if bad is not None:
                return Outcome(p.case, UNVERIFIABLE, f"{side} gives {_fmt(bad)} at {_clock(t)}, which hides whether "
                               "the values change", p.original, p.rewritten, instants)
    renamed = [_with_new_names(a, p.case.renames) for a in on_a]
    differences = [(t, d) for t, a, c in zip(times, renamed, on_c) if (d := _difference(a, c)) is not None]
    if not differences:
        return Outcome(p.case, EQUIVALENT, f"{len(times)} instants", p.original, p.rewritten, instants)
    shown = "; ".join(f"at {_clock(t)}: {d}" for t, d in differences[:3]) + ("; …" if len(differences) > 3 else "")
    return Outcome(p.case, DIFFERS, f"{len(differences)}/{len(times)} instants: {shown}", p.original, p.rewritten,
                   instants)


def _jsonable(answer: dict) -> list:  # type: ignore[type-arg]
    return [{"labels": dict(k), "value": v if math.isfinite(v) else str(v)} for k, v in sorted(answer.items())]


def _workdir(keep: Path | None) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="vmm-verify-"))
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise VerifyError(f"--keep {keep}: must be an empty or new directory")
    keep.mkdir(parents=True, exist_ok=True)
    return keep


def _write_plan(workdir: Path, prepared: list[_Prepared], version: str) -> None:
    data = {
        "prometheus_version": version,
        "rewrites": [
            {
                "where": p.case.where, "code": p.case.code, "lint": p.case.lint.value,
                "verdict": p.outcome.verdict if p.outcome else None,
                "detail": p.outcome.detail if p.outcome else None,
                "original_query": p.original, "rewritten_query": p.rewritten,
                "aliases": dict(p.dataset[0]), "extra_labels": dict(p.dataset[1]),
                "evaluation_times_seconds": [t / 1000 for t in p.times],
                "instants": p.outcome.instants if p.outcome else [],
            }
            for p in prepared
        ],
    }
    (workdir / "plan.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    (workdir / "README.txt").write_text(
        "Generated by `vllm-metrics-migrator verify --keep`.\n\n"
        "promtool-test-N.yaml: one `promtool test rules` file per dataset (the reference counters of one\n"
        "vLLM era as input series, each query as promql_expr_tests expecting the oracle's values);\n"
        "promtool-test-N.out: what promtool printed. Re-run one yourself:\n\n"
        "  promtool test rules promtool-test-0.yaml\n\n"
        "plan.json: every rewrite, its verdict, and Prometheus' values at each instant.\n",
        encoding="utf-8",
    )


def verify_paths(paths: Sequence[str], settings, *, keep: Path | None = None, force_exclude: bool = False,  # type: ignore[no-untyped-def]
                 on_outcome: Callable[[Outcome], None] | None = None) -> VerifyReport:
    promtool = find_promtool()  # fail fast, before linting a large tree
    cases, report = collect_rewrites(paths, settings, force_exclude=force_exclude)
    if not cases:
        return VerifyReport([], report.files_scanned, prometheus_version(promtool), 0.0)
    result = verify_cases(cases, promtool=promtool, keep=keep, on_outcome=on_outcome)
    result.files_scanned = report.files_scanned
    return result
