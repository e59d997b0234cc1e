"""`verify`: prove every PromQL rewrite the lint offers on a real Prometheus engine.

The lint's fix safety comes from a small Python evaluator (`migrator.promql.oracle`). This
module checks that verdict independently, with Prometheus itself doing all PromQL evaluation.

Design: two real `prometheus` servers over backfilled TSDBs, one per vLLM era
----------------------------------------------------------------------------------------
1. The same counters the oracle uses (`reference.simulate.counter_samples` over
   `standard_workloads()`, with the oracle's aliases and extra labels for the expression) are
   written as OpenMetrics with timestamps, one file per era, and turned into TSDB blocks by
   `promtool tsdb create-blocks-from openmetrics`.
2. Two `prometheus` processes serve them on 127.0.0.1 (random free ports): the era-(a) server
   is "your Prometheus before the upgrade" (v0.16–v0.19 counters), the era-(c) server "after"
   (v0.20+). Both have identical timelines, so `time()`, `timestamp()` and subquery alignment
   agree between them; only the counter values differ.
3. For each rewrite, the original expression is queried on the era-(a) server and the rewrite
   on the era-(c) server (instant queries over the HTTP API), per scenario, and the JSON
   results are compared in Python (label sets exactly, values within 1e-9 relative/absolute).

Why not `promtool test rules`? It only passes or fails against expected values written in
advance; getting the values out means parsing its failure text. The HTTP API returns exact
JSON, the scenario data can be inspected with `--keep`, and the same server machinery serves
the live-check end-to-end test. Start-up costs ~1 s per server (both start in parallel).

Scenarios live in time windows. Like the oracle, each workload is checked alone (so per-case
numbers survive aggregation) and all together (vector matching across label sets). Each
(dataset, scenario) gets its own window, far enough from the next that no range, subquery or
offset in any verified expression reaches across (the spacing is computed from the
expressions). Within a window every counter grows linearly from 0 at the slope of its
simulated value *per second*, sampled on a step that divides every duration in the
expressions: windows then start and end on samples, Prometheus does not extrapolate, and
`rate()`/`irate()` return exactly the simulated token counts (`increase()` and raw counters a
fixed multiple of them). Any function that is linear in the counters (rates, sums, ratios,
`*_over_time`) therefore compares the eras exactly as the oracle does; non-linear uses are
measured as Prometheus computes them, which is the point.

Verdicts: `equivalent` (equal on every scenario), `differs` (with the measured values),
`unverifiable` (the original selects no simulated series, uses `@`, or is a Grafana
`label_values()` query — the oracle cannot verify those either and calls them unsafe), or
`error` (Prometheus rejected a query; its message is shown). The verdict must agree with the
lint's fix safety: safe ⇔ equivalent, unsafe ⇔ differs (or unverifiable). Anything else is a
bug in the oracle or in this module, and `verify` exits 1.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from migrator.model import Applicability, LineIndex

DEBIAN_PACKAGE = "prometheus"
#: 2026-01-01T00:00:00Z: fixed so that `--keep` output is reproducible.
BASE_TIME = 1_767_225_600
LOOKBACK_S = 300  # Prometheus' default --query.lookback-delta
MIN_GROWTH_S = 600
MAX_POINTS_PER_SERIES = 4000
REL_TOL = 1e-9
ABS_TOL = 1e-9
STARTUP_TIMEOUT_S = 30.0
QUERY_TIMEOUT_S = 30.0

EQUIVALENT, DIFFERS, UNVERIFIABLE, ERROR = "equivalent", "differs", "unverifiable", "error"


class VerifyError(Exception):
    """Verification could not run at all (missing tool, server failed to start): exit 2."""


# ------------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class Tools:
    promtool: str
    prometheus: str


def find_tools() -> Tools:
    """`promtool` and `prometheus` from PATH (or $VMM_PROMTOOL / $VMM_PROMETHEUS)."""
    found = {}
    for name in ("promtool", "prometheus"):
        override = os.environ.get(f"VMM_{name.upper()}")
        path = override or shutil.which(name)
        if not path or not os.access(path, os.X_OK):
            raise VerifyError(
                f"`{name}` was not found on PATH; verify needs Prometheus' own engine. Install the "
                f"Debian/Ubuntu package `{DEBIAN_PACKAGE}` (apt-get install {DEBIAN_PACKAGE}) or put the "
                f"binaries from https://prometheus.io/download/ on PATH (or set VMM_{name.upper()})"
            )
        found[name] = path
    return Tools(found["promtool"], found["prometheus"])


def prometheus_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (out.stdout or out.stderr).strip().splitlines()
    parts = first[0].split() if first else []
    return parts[2] if len(parts) > 2 and parts[1] == "version" else "unknown"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrometheusServer:
    """A `prometheus` process on 127.0.0.1 with its own config and storage; always stopped by
    `stop()` / the context manager, whatever happened."""

    def __init__(self, binary: str, storage: Path, workdir: Path, name: str, config: str = "global: {}\n",
                 extra_args: Sequence[str] = ()) -> None:
        self.binary = binary
        self.storage = storage
        self.workdir = workdir
        self.name = name
        self.config = config
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log_path = workdir / f"{name}.log"

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> str:
        config_path = self.workdir / f"{self.name}.yml"
        config_path.write_text(self.config, encoding="utf-8")
        for _attempt in range(3):
            port = free_port()
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    [
                        self.binary,
                        f"--config.file={config_path}",
                        f"--storage.tsdb.path={self.storage}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--storage.tsdb.retention.time=100y",
                        *(() if any(a.startswith("--log.level") for a in self.extra_args) else ("--log.level=warn",)),
                        *self.extra_args,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready(timeout):
                return self.url
            log_text = self.log_tail()
            code = self.process.poll() if self.process is not None else None
            self.stop()
            if "address already in use" not in log_text:
                what = f"exited with code {code}" if code is not None else f"did not become ready within {timeout:g}s"
                raise VerifyError(f"prometheus ({self.name}) {what}: {log_text}")
        raise VerifyError(f"prometheus ({self.name}) could not bind a free port on 127.0.0.1")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> "PrometheusServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------- collecting


@dataclass(frozen=True)
class RewriteCase:
    """One fix the lint offers that came from a PromQL rewrite."""

    path: str
    line: int
    col: int
    code: str
    locator: str
    kind: str  # "term elimination" | "regex alternation"
    original: str  # the site's expression, as in the file (decoded)
    rewritten: str
    lint: Applicability  # the oracle's verdict on the rewrite
    lint_reason: str
    fix_applicability: Applicability  # what the finding shows (display-only when not editable)
    grafana_query: bool = False

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


def collect_rewrites(paths: Sequence[str], settings, *, force_exclude: bool = False):  # type: ignore[no-untyped-def]
    """Lint `paths` (no fixing) and return (cases, report): every finding whose fix is a PromQL
    rewrite, with the original and rewritten expression recovered from the analysis."""
    from migrator import engine
    from migrator.formats import detect_format
    from migrator.formats.base import SiteKind
    from migrator.promql.removed import analyse
    from migrator.runner import RunOptions, run

    report = run(list(paths), settings, RunOptions(fix=False, write=False, force_exclude=force_exclude))
    dead = frozenset(settings.dead_series).union(*(r.dead_series for r in report.results))
    lint_settings = settings.with_overrides(dead_series=dead)
    prefixes = tuple(settings.metric_prefixes)
    cases: list[RewriteCase] = []
    seen: set[tuple[str, int, int, str]] = set()
    for result in report.results:
        if result.original is None or not any(f.fix is not None for f in result.findings):
            continue
        text = result.original
        lint = engine.lint_text(result.path, text, lint_settings, detect_format(result.path, text[:512]))
        if lint.document is None:
            continue
        lines = LineIndex(text)
        for site in lint.document.sites:
            if site.kind not in (SiteKind.PROMQL, SiteKind.GRAFANA_QUERY):
                continue
            grafana = site.kind is SiteKind.GRAFANA_QUERY
            analysis = analyse(site.value, prefixes, dead, grafana)
            for ref in analysis.references:
                for kind, rewrite in (("term elimination", ref.elimination), ("regex alternation", ref.regex_rewrite)):
                    if rewrite is None:
                        continue
                    span = site.file_span(ref.start, ref.end)
                    finding = next(
                        (f for f in result.findings
                         if f.span == span and f.fix is not None and f"`{rewrite.text}`" in f.fix.message),
                        None,
                    )
                    if finding is None:
                        continue  # suppressed, rule disabled, or not the fix offered
                    key = (result.path, span.start, span.end, rewrite.text)
                    if key in seen:
                        continue
                    seen.add(key)
                    line, col = lines.position(span.start)
                    cases.append(RewriteCase(
                        path=result.path, line=line, col=col, code=finding.code, locator=finding.locator,
                        kind=kind, original=site.value, rewritten=rewrite.text,
                        lint=rewrite.verdict.applicability, lint_reason=rewrite.verdict.reason,
                        fix_applicability=finding.fix.applicability, grafana_query=grafana,
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
    rewrite for every value it may take. Label matchers (read as "All") and durations (the
    series are linear, so the window length cancels out) are fine."""
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
        if isinstance(node, ast.VectorSelector) and node.templated:
            raise _Unverifiable(f"the metric name `{node.name}` is templated")
        span = getattr(node, "func_span", None) or getattr(node, "op_span", None)
        if isinstance(node, (ast.Call, ast.AggregateExpr)) and span and contains_variable(text[span[0] : span[1]]):
            raise _Unverifiable(f"the function `{text[span[0]:span[1]]}` is templated")


def _evaluable(text: str, grafana: bool):  # type: ignore[no-untyped-def]
    """(expression text, parsed tree) Prometheus can evaluate, or raise _Unverifiable."""
    from migrator.promql import ast
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
    for node in ast.walk(tree):
        if getattr(node, "at", None) is not None:
            raise _Unverifiable("uses an `@` timestamp, which pins it to real time")
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


def _duration_ms(text: str | None) -> int:
    from migrator.promql.lexer import duration_seconds

    if not text:
        return 0
    sign = -1 if text.startswith("-") else 1
    return sign * int(round(duration_seconds(text.lstrip("+-")) * 1000))


def _reach_ms(node) -> int:  # type: ignore[no-untyped-def]
    """How far from the evaluation time (back, or forward with a negative offset) the
    expression can read, in ms: offsets and ranges add up along nesting, siblings do not."""
    from migrator.promql import ast

    own = abs(_duration_ms(getattr(node, "offset", None)))
    if isinstance(node, ast.VectorSelector):
        return own + LOOKBACK_S * 1000
    if isinstance(node, ast.MatrixSelector):
        return own + _duration_ms(node.range)
    if isinstance(node, ast.SubqueryExpr):
        return own + _duration_ms(node.range) + _duration_ms(node.step) + _reach_ms(node.expr)
    return own + max((_reach_ms(child) for child in ast.children(node)), default=0)


def _reads_forward(tree) -> bool:  # type: ignore[no-untyped-def]
    from migrator.promql import ast

    return any(_duration_ms(getattr(n, "offset", None)) < 0 for n in ast.walk(tree))


def _subquery_steps(tree) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    from migrator.promql import ast

    # `[5m:]` uses the global evaluation interval (1m by default).
    return tuple(_duration_ms(n.step) or 60_000 for n in ast.walk(tree) if isinstance(n, ast.SubqueryExpr))


def _durations(tree) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    """(reach in ms, see _reach_ms; every duration the expression uses, in ms)."""
    from migrator.promql import ast

    used: list[int] = []
    for node in ast.walk(tree):
        used.append(abs(_duration_ms(getattr(node, "offset", None))))
        if isinstance(node, ast.MatrixSelector):
            used.append(_duration_ms(node.range))
        elif isinstance(node, ast.SubqueryExpr):
            used.append(_duration_ms(node.range))
            used.append(_duration_ms(node.step))
    return _reach_ms(tree), [u for u in used if u > 0]


@dataclass
class _Prepared:
    case: RewriteCase
    original: str
    rewritten: str
    dataset: int
    reach_ms: int
    durations: list[int]
    index: int = 0
    outcome: "Outcome | None" = None
    reads_forward: bool = False
    subquery_steps: tuple[int, ...] = ()


@dataclass
class Outcome:
    case: RewriteCase
    verdict: str  # equivalent | differs | unverifiable | error
    detail: str = ""
    original_query: str = ""
    rewritten_query: str = ""
    scenarios: list[dict[str, Any]] = field(default_factory=list)

    @property
    def policy_unsafe(self) -> bool:
        """Regex-alternation rewrites are unsafe by the rule's policy (the query selects other
        series), not by a measurement: equal values on the workloads do not contradict it."""
        return self.case.kind == "regex alternation" and self.case.lint is Applicability.UNSAFE

    @property
    def agrees(self) -> bool:
        if self.verdict == EQUIVALENT:
            return self.case.lint is Applicability.SAFE or self.policy_unsafe
        if self.verdict in (DIFFERS, UNVERIFIABLE):
            return self.case.lint is Applicability.UNSAFE
        return False

    def line(self) -> str:
        detail = self.detail
        if self.verdict == EQUIVALENT and self.policy_unsafe:
            detail += "; the fix stays unsafe by policy: the regex selects other series"
        detail = f" ({detail})" if detail else ""
        return f"{self.case.where} {self.case.code} {self.verdict}{detail}"

    def disagreement(self) -> str:
        lint = self.case.lint.value
        if self.verdict == ERROR:
            return f"Prometheus could not evaluate it; the lint called the fix {lint}"
        if self.verdict == EQUIVALENT:
            return (f"the lint called the fix {lint} ({self.case.lint_reason}), but Prometheus gives the same "
                    "values on every scenario")
        return f"the lint called the fix {lint}, but Prometheus says {self.verdict}"


# ---------------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    step_ms: int
    growth_ms: int
    spacing_ms: int
    datasets: list[tuple[dict[str, str], dict[str, str]]]
    groups: list[tuple[str, dict]]  # (label, workloads)
    forward_ms: int = 0  # data after the evaluation time, for negative offsets

    def eval_time(self, dataset: int, group: int) -> float:
        window = dataset * len(self.groups) + group + 1
        return BASE_TIME + window * self.spacing_ms / 1000


def _groups() -> list[tuple[str, dict]]:
    from migrator.reference.simulate import CANONICAL_CASES, standard_workloads

    workloads = standard_workloads()
    names = {f"case{c.number}": f"case {c.number} ({c.name})" for c in CANONICAL_CASES}
    groups = []
    for key, requests in workloads.items():
        label = names.get(key[0].split("-", 1)[0], f"simulated mix {key[0]} engine {key[1]}")
        groups.append((label, {key: requests}))
    groups.append(("all workloads together", workloads))
    return groups


def _gcd_ms(values: Iterable[int]) -> int:
    step = 60_000
    for v in values:
        step = math.gcd(step, v)
    return step


def _make_plan(prepared: list[_Prepared], datasets: list[tuple[dict[str, str], dict[str, str]]]) -> _Plan:
    reach = max([p.reach_ms for p in prepared] + [LOOKBACK_S * 1000])
    step = max(_gcd_ms(d for p in prepared for d in p.durations), 1000)
    growth = max(MIN_GROWTH_S * 1000, reach)
    growth = -(-growth // step) * step
    while growth // step > MAX_POINTS_PER_SERIES:
        step *= 2  # huge ranges: fewer points; windows may then extrapolate (still linear)
        growth = -(-growth // step) * step
    # A query at a window's evaluation time reads back at most `reach` <= `growth`, so the
    # previous window's last sample, `spacing` earlier, is out of sight. A negative offset
    # reads forward: then the counters keep growing for `forward` after the evaluation time,
    # and the next window's data starts a whole `growth` further away.
    forward = growth if any(p.reads_forward for p in prepared) else 0
    spacing = growth + step + forward
    # Evaluation times on multiples of every subquery step keep subquery points on samples.
    align = step
    for p in prepared:
        for sub_step in p.subquery_steps:
            candidate = math.lcm(align, sub_step)
            if candidate <= 3_600_000:
                align = candidate
    spacing = -(-spacing // align) * align
    return _Plan(step, growth, spacing, datasets, _groups(), forward)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _write_openmetrics(era: str, plan: _Plan, path: Path) -> int:
    """Counters of `era` for every (dataset, scenario) window; returns the sample count."""
    from migrator.promql.oracle import simulated_samples  # the oracle's exact data, aliases and extra labels

    series: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]] = {}
    points = (plan.growth_ms + plan.forward_ms) // plan.step_ms
    step_s = plan.step_ms / 1000
    for d, (aliases, extra) in enumerate(plan.datasets):
        for g, (_label, workloads) in enumerate(plan.groups):
            end = plan.eval_time(d, g)
            start = end - plan.growth_ms / 1000
            for sample in simulated_samples(era, workloads, aliases, extra):
                key = (sample.name, tuple(sorted(dict(sample.labels).items())))
                series.setdefault(key, []).extend(
                    # Slope = the simulated count per second: rate() returns the count itself.
                    (start + i * step_s, sample.value * i * step_s) for i in range(points + 1)
                )
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for (name, labels), values in sorted(series.items()):
            rendered = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels if k != "__name__")
            prefix = f"{name}{{{rendered}}}" if rendered else name
            for t, v in values:
                out.write(f"{prefix} {v!r} {t:.3f}\n")
                count += 1
        out.write("# EOF\n")
    return count


def _backfill(promtool: str, source: Path, target: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(target)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


# ---------------------------------------------------------------------------- comparing


def _normalise(data: Any) -> tuple[str, Any]:
    kind = data.get("resultType")
    result = data.get("result")
    if kind in ("scalar", "string"):
        value = result[1]
        return kind, (float(value) if kind == "scalar" else value)
    if kind == "vector":
        return kind, {tuple(sorted(item["metric"].items())): float(item["value"][1]) for item in result}
    if kind == "matrix":
        return kind, {tuple(sorted(item["metric"].items())): tuple(float(v) for _, v in item["values"])
                      for item in result}
    raise ValueError(f"unexpected result type {kind!r}")


def _feq(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


def _same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    if a[0] != b[0]:
        return False
    kind, left = a
    right = b[1]
    if kind == "string":
        return left == right
    if kind == "scalar":
        return _feq(left, right)
    if left.keys() != right.keys():
        return False
    if kind == "vector":
        return all(_feq(left[k], right[k]) for k in left)
    return all(len(left[k]) == len(right[k]) and all(map(_feq, left[k], right[k])) for k in left)


def _informative(value: tuple[str, Any]) -> bool:
    kind, data = value
    if kind == "scalar":
        return not math.isnan(data)
    if kind == "vector":
        return any(not math.isnan(v) for v in data.values())
    return bool(data)


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def _describe(value: tuple[str, Any]) -> str:
    kind, data = value
    if kind == "scalar":
        return _fmt(data)
    if kind == "string":
        return repr(data)
    if not data:
        return "no data"
    values = [v for _, v in sorted(data.items())] if kind == "vector" else [len(v) for v in data.values()]
    shown = ", ".join(_fmt(v) for v in values[:3]) + (" …" if len(values) > 3 else "")
    return shown


def _labels_text(key: tuple[tuple[str, str], ...]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


# ---------------------------------------------------------------------------- the run


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
        return (f"Verified {n} rewrite{'s' if n != 1 else ''} on Prometheus {self.version} in {self.seconds:.1f}s: "
                f"{', '.join(parts)}; {agreement}.")


def verify_cases(cases: Sequence[RewriteCase], *, tools: Tools | None = None, keep: Path | None = None,
                 on_outcome: Callable[[Outcome], None] | None = None) -> VerifyReport:
    """Evaluate every case on two real Prometheus servers (era a / era c) and compare."""
    from migrator.live import LiveCheckError, PrometheusAPI
    from migrator.promql.oracle import aliases as oracle_aliases, extra_labels

    started = time.monotonic()
    tools = tools or find_tools()
    version = prometheus_version(tools.prometheus)
    outcomes: dict[int, Outcome] = {}
    prepared: list[_Prepared] = []
    dataset_keys: dict[tuple, int] = {}
    datasets: list[tuple[dict[str, str], dict[str, str]]] = []
    for i, case in enumerate(cases):
        try:
            original, before = _evaluable(case.original, case.grafana_query)
            rewritten, after = _evaluable(case.rewritten, case.grafana_query)
            _refuse_newer_syntax((original, rewritten), version)
        except _Unverifiable as err:
            outcomes[i] = Outcome(case, UNVERIFIABLE, str(err))
            continue
        # Identity aliases add no series: cases that differ only by them share a dataset.
        aliases = {k: v for k, v in oracle_aliases([before, after]).items() if k != v}
        extra = extra_labels(before)
        key = (tuple(sorted(aliases.items())), tuple(sorted(extra.items())))
        if key not in dataset_keys:
            dataset_keys[key] = len(datasets)
            datasets.append((aliases, extra))
        reach_a, used_a = _durations(before)
        reach_c, used_c = _durations(after)
        prepared.append(_Prepared(
            case, original, rewritten, dataset_keys[key], max(reach_a, reach_c), used_a + used_c, index=i,
            reads_forward=_reads_forward(before) or _reads_forward(after),
            subquery_steps=_subquery_steps(before) + _subquery_steps(after),
        ))
        outcomes[i] = Outcome(case, ERROR, "not evaluated", original, rewritten)

    workdir = _workdir(keep)
    try:
        if prepared:
            plan = _make_plan(prepared, datasets)
            _run_servers(tools, plan, prepared, workdir, PrometheusAPI, LiveCheckError)
            if keep is not None:
                _write_plan(workdir, plan, prepared, version)
        ordered = [outcomes[i] for i in range(len(cases))]
        for p in prepared:
            if p.outcome is not None:
                ordered[p.index] = p.outcome
        if on_outcome is not None:
            for outcome in ordered:
                on_outcome(outcome)
        return VerifyReport(ordered, 0, version, time.monotonic() - started, workdir if keep else None)
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _workdir(keep: Path | None) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="vmm-verify-"))
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise VerifyError(f"--keep {keep}: must be an empty or new directory")
    keep.mkdir(parents=True, exist_ok=True)
    return keep


def _run_servers(tools: Tools, plan: _Plan, prepared: list[_Prepared], workdir: Path, api_cls, api_error) -> None:  # type: ignore[no-untyped-def]
    jobs = []
    for era in ("a", "c"):
        source = workdir / f"era-{era}.om"
        _write_openmetrics(era, plan, source)
        jobs.append((era, _backfill(tools.promtool, source, workdir / f"era-{era}")))
    for era, job in jobs:
        try:
            _out, err = job.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            job.kill()
            job.communicate()
            raise VerifyError(f"promtool backfill of era ({era}) did not finish within 120s") from None
        if job.returncode != 0:
            raise VerifyError(f"promtool tsdb create-blocks-from openmetrics failed for era ({era}): "
                              f"{err.decode(errors='replace').strip()}")
    servers = [PrometheusServer(tools.prometheus, workdir / f"era-{era}", workdir, f"prometheus-era-{era}")
               for era in ("a", "c")]
    try:
        # Start both before waiting on either: start-up dominates the run time.
        with ThreadPoolExecutor(2) as pool:
            urls = list(pool.map(lambda s: s.start(), servers))
        apis = {era: api_cls(url, timeout=QUERY_TIMEOUT_S) for era, url in zip("ac", urls)}

        def ask(job: tuple[str, str, float]) -> tuple[str, Any]:
            era, expr, at = job
            try:
                return "ok", _normalise(apis[era].query(expr, at=at))
            except api_error as err:
                return "error", str(err).split(": ", 1)[-1]

        jobs_q = [(era, expr, plan.eval_time(p.dataset, g))
                  for p in prepared for g in range(len(plan.groups))
                  for era, expr in (("a", p.original), ("c", p.rewritten))]
        with ThreadPoolExecutor(8) as pool:
            answers = dict(zip(jobs_q, pool.map(ask, jobs_q)))
    finally:
        for server in servers:
            server.stop()
    for p in prepared:
        p.outcome = _judge(p, plan, answers)


def _judge(p: _Prepared, plan: _Plan, answers: dict) -> Outcome:  # type: ignore[type-arg]
    differences: list[str] = []
    informative = False
    scenarios = []
    for g, (label, _workloads) in enumerate(plan.groups):
        at = plan.eval_time(p.dataset, g)
        a = answers[("a", p.original, at)]
        c = answers[("c", p.rewritten, at)]
        for side, answer in (("original on v0.16–v0.19 counters", a), ("rewrite on v0.20+ counters", c)):
            if answer[0] == "error":
                return Outcome(p.case, ERROR, f"{side}, {label}: {answer[1]}", p.original, p.rewritten, scenarios)
        scenarios.append({"scenario": label, "time": at, "original": _jsonable(a[1]), "rewritten": _jsonable(c[1])})
        informative = informative or _informative(a[1])
        if not _same(a[1], c[1]):
            differences.append(f"{label}: {_describe(a[1])} → {_describe(c[1])}{_label_hint(a[1], c[1])}")
    if not informative:
        return Outcome(p.case, UNVERIFIABLE, "the original selects no simulated series", p.original, p.rewritten, scenarios)
    if not differences:
        return Outcome(p.case, EQUIVALENT, f"{len(plan.groups)} scenarios", p.original, p.rewritten, scenarios)
    shown = "; ".join(differences[:3]) + ("; …" if len(differences) > 3 else "")
    return Outcome(p.case, DIFFERS, f"{len(differences)}/{len(plan.groups)} scenarios: {shown}",
                   p.original, p.rewritten, scenarios)


def _label_hint(a: tuple[str, Any], c: tuple[str, Any]) -> str:
    if a[0] != c[0]:
        return f" ({a[0]} vs {c[0]})"
    if a[0] in ("vector", "matrix") and a[1].keys() != c[1].keys():
        only = sorted(set(a[1]) ^ set(c[1]))
        return f" (series differ, e.g. {_labels_text(only[0])})"
    return ""


def _jsonable(value: tuple[str, Any]) -> Any:
    kind, data = value
    if kind in ("vector", "matrix"):
        return {"type": kind, "series": [{"labels": dict(k), "value": v} for k, v in sorted(data.items())]}
    return {"type": kind, "value": data}


def _write_plan(workdir: Path, plan: _Plan, prepared: list[_Prepared], version: str) -> None:
    data = {
        "prometheus_version": version,
        "step_seconds": plan.step_ms / 1000,
        "growth_seconds": plan.growth_ms / 1000,
        "window_spacing_seconds": plan.spacing_ms / 1000,
        "datasets": [{"aliases": a, "extra_labels": e} for a, e in plan.datasets],
        "rewrites": [
            {
                "where": p.case.where, "code": p.case.code, "lint": p.case.lint.value,
                "verdict": p.outcome.verdict if p.outcome else None,
                "detail": p.outcome.detail if p.outcome else None,
                "original_query": p.original, "rewritten_query": p.rewritten, "dataset": p.dataset,
                "scenarios": p.outcome.scenarios if p.outcome else [],
            }
            for p in prepared
        ],
    }
    (workdir / "plan.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    (workdir / "README.txt").write_text(
        "Generated by `vllm-metrics-migrator verify --keep`.\n\n"
        "era-a.om / era-c.om: the simulated counters (OpenMetrics with timestamps);\n"
        "era-a/ / era-c/: the TSDBs promtool built from them. To look yourself:\n\n"
        "  prometheus --config.file=prometheus-era-a.yml --storage.tsdb.path=era-a \\\n"
        "    --storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:9090\n\n"
        "then query the original expression at the times listed in plan.json (and the rewrite on era-c).\n",
        encoding="utf-8",
    )


def verify_paths(paths: Sequence[str], settings, *, keep: Path | None = None, force_exclude: bool = False,  # type: ignore[no-untyped-def]
                 on_outcome: Callable[[Outcome], None] | None = None) -> VerifyReport:
    tools = find_tools()  # fail fast, before linting a large tree
    cases, report = collect_rewrites(paths, settings, force_exclude=force_exclude)
    if not cases:
        return VerifyReport([], report.files_scanned, prometheus_version(tools.prometheus), 0.0)
    result = verify_cases(cases, tools=tools, keep=keep, on_outcome=on_outcome)
    result.files_scanned = report.files_scanned
    return result
