"""Evaluate PromQL with Prometheus' own engine: one `promtool test rules` run for many queries.

`promtool test rules` loads series into an in-memory TSDB and runs instant queries
(`promql_expr_test`) at chosen times, comparing each result with expected samples. Here the
expected samples are the oracle's own values: a query that passes has exactly those values on
Prometheus; one that fails is printed with what Prometheus got, which is parsed back. Either
way the caller gets Prometheus' values for every query at every time, from one process per dataset for
thousands of queries.

Samples must sit on a 1-minute grid from time 0 (promtool's input series start at 0), which
is how the reference timeline is laid out; missing minutes are allowed.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import yaml

Labels = tuple[tuple[str, str], ...]
#: One instant's result: {labels: value}, or a string when Prometheus reported an error.
Instant = dict[Labels, float] | str

INTERVAL_MS = 60_000


class PromtoolError(Exception):
    """promtool could not run the tests at all (bad file, crash); the message says why."""


@dataclass(frozen=True)
class Query:
    dataset: str
    expr: str
    times_ms: tuple[int, ...]
    #: What the caller expects at each time ({labels: value}); None = nothing expected.
    expected: tuple[dict[Labels, float], ...] | None = None


@dataclass
class Batch:
    """Series per dataset and the queries to run on them."""

    datasets: dict[str, Sequence[object]] = field(default_factory=dict)  # series with name, labels, times_ms, values
    queries: list[Query] = field(default_factory=list)


def _format_value(v: float) -> str:
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _series_text(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f"{k}={_quote(v)}" for k, v in sorted(labels.items()) if k != "__name__" and v != "")
    return f"{name}{{{inner}}}"


def _labels_text(labels: Labels) -> str:
    inner = ", ".join(f"{k}={_quote(v)}" for k, v in labels)
    return "{" + inner + "}"


def _seconds(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _values_text(times: Sequence[int], values: Sequence[float]) -> str:
    """promtool's value list: one entry per `INTERVAL_MS` from 0, `_` where there is no sample."""
    by_slot: dict[int, float] = {}
    for t, v in zip(times, values):
        if t % INTERVAL_MS:
            raise ValueError(f"sample at {t} ms is not on promtool's {INTERVAL_MS} ms grid")
        by_slot[t // INTERVAL_MS] = v
    if not by_slot:
        return ""
    return " ".join(_format_value(float(by_slot[i])) if i in by_slot else "_" for i in range(max(by_slot) + 1))


def rule_test_document(series: Sequence[object], queries: Sequence[Query]) -> dict:  # type: ignore[type-arg]
    """A `promtool test rules` document: the series as input, one expr test per query and time."""
    input_series = []
    for s in series:
        values = _values_text(s.times_ms, s.values)  # type: ignore[attr-defined]
        input_series.append({"series": _series_text(s.name, dict(s.labels)), "values": values})  # type: ignore[attr-defined]
    tests = []
    for q in queries:
        for i, t in enumerate(q.times_ms):
            expected = q.expected[i] if q.expected is not None else {}
            tests.append({
                "expr": q.expr,
                "eval_time": _seconds(t),
                "exp_samples": [{"labels": _labels_text(k), "value": _format_value(v)} for k, v in sorted(expected.items())],
            })
    return {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": _seconds(INTERVAL_MS), "input_series": input_series, "promql_expr_test": tests}],
    }


_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}


def go_unquote(body: str) -> str:
    """The text of a Go double-quoted literal's body (strconv.Quote's escapes)."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _GO_ESCAPES:
            out.append(_GO_ESCAPES[e])
            i += 2
        elif e == "x":
            out.append(bytes([int(body[i + 2 : i + 4], 16)]).decode("latin-1"))
            i += 4
        elif e in "uU":
            width = 4 if e == "u" else 8
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            out.append(e)
            i += 2
    return "".join(out)


_QUOTED = r'"(?:[^"\\]|\\.)*"'
_HEADER = re.compile(r"^\s*expr: (" + _QUOTED + r"), time: ([^,]+),(?: err: (.*))?$")
_SAMPLE = re.compile(r"\{((?:[^\"}]|" + _QUOTED + r")*)\}\s+([^,\s]+)")
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(" + _QUOTED + ")")
_UNITS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}


def _duration_ms(text: str) -> int:
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)(ms|[ywdhms])", text))


def _samples(text: str) -> dict[Labels, float]:
    found: dict[Labels, float] = {}
    for m in _SAMPLE.finditer(text):
        labels = tuple(sorted((k, go_unquote(v[1:-1])) for k, v in _PAIR.findall(m.group(1))))
        found[labels] = float(m.group(2))
    return found


def parse_failures(output: str) -> dict[tuple[str, int], Instant]:
    """{(expr, time in ms): what Prometheus returned} for every failed expr test."""
    failures: dict[tuple[str, int], Instant] = {}
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m is None:
            continue
        key = (go_unquote(m.group(1)[1:-1]), _duration_ms(m.group(2)))
        if m.group(3) is not None:
            failures[key] = m.group(3).strip() or "error"
            continue
        got = next((ln.split("got:", 1)[1] for ln in lines[i + 1 : i + 3] if ln.strip().startswith("got:")), "")
        failures[key] = _samples(got)
    return failures


def _run_file(promtool: str, path: Path, timeout: float) -> dict[tuple[str, int], Instant]:
    try:
        done = subprocess.run([promtool, "test", "rules", path.name], capture_output=True, text=True,
                              timeout=timeout, cwd=path.parent)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise PromtoolError(f"promtool test rules {path.name} did not finish: {err}") from None
    # Failures go to stderr; keep it next to the file for whoever inspects a kept work dir.
    path.with_suffix(".out").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode == 0 and "SUCCESS" in done.stdout:
        return {}
    if done.returncode != 1 or "FAILED" not in done.stderr:
        raise PromtoolError(f"promtool test rules {path.name} failed (exit {done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[:500]}")
    return parse_failures(done.stderr)


def run(promtool: str, batch: Batch, workdir: Path, timeout: float = 600.0) -> list[list[Instant]]:
    """Prometheus' result for every query of `batch` at each of its times (one promtool
    process per dataset, run side by side)."""
    from concurrent.futures import ThreadPoolExecutor

    by_dataset: dict[str, list[Query]] = {}
    for q in batch.queries:
        by_dataset.setdefault(q.dataset, []).append(q)
    files: dict[str, Path] = {}
    for n, (dataset, queries) in enumerate(sorted(by_dataset.items())):
        path = workdir / f"promtool-test-{n}.yaml"
        doc = rule_test_document(batch.datasets[dataset], queries)
        path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1 << 20), encoding="utf-8")
        files[dataset] = path
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = dict(zip(files, pool.map(lambda p: _run_file(promtool, p, timeout), files.values())))
    answers: list[list[Instant]] = []
    for q in batch.queries:
        row: list[Instant] = []
        for i, t in enumerate(q.times_ms):
            got = failures[q.dataset].get((q.expr, t))
            row.append(got if got is not None else dict(q.expected[i]) if q.expected is not None else {})
        answers.append(row)
    return answers
