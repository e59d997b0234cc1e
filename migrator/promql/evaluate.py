"""A PromQL evaluator with Prometheus' semantics over time series: the fix-safety oracle's engine.

The oracle compares an expression with its rewrite at many instants over hours of simulated
counters, so this evaluator works like a batch of Prometheus *instant queries*: every node is
evaluated at all the requested evaluation times at once, and each instant follows Prometheus
2.x (the version `promtool` checks it against):

* an instant selector takes each series' latest sample at most 5 minutes old (lookback delta,
  both ends inclusive); ``offset`` moves the instant back (or forward), ``@ t`` pins it, and
  ``@ start()``/``@ end()`` are the evaluation time of an instant query;
* a range selector ``[r]`` takes the samples in ``[t - r, t]``; the functions over it (rate with
  its extrapolation and counter-reset correction, irate, increase, delta, deriv, the
  ``*_over_time`` family, changes, resets…) are in :mod:`range_functions`;
* a subquery ``expr[r:s]`` evaluates ``expr`` at the multiples of ``s`` (default 1m, the
  evaluation interval) inside ``[t - r, t]`` and feeds those points to the range function;
* binary operators match per instant (``on``/``ignoring``/``group_left``/``group_right``,
  ``bool``, set operators) and raise Prometheus' errors for ambiguous matches; aggregations
  work per instant.

What it cannot evaluate exactly raises :class:`EvaluationUnsupported` (unknown or experimental
functions, a Grafana variable standing for a value, ``@ start()`` inside a subquery); what
Prometheus would reject raises :class:`EvaluationError`. A Grafana variable used as a label
value matches every value; one used as a duration stands for 5m (what `verify` substitutes).

Results are per evaluation time: :class:`Scalars` (one float each), a string, or a
:class:`Vector` of :class:`Column` (a label set and one value or None per time).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    Placeholder,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from .instant_functions import EvaluationError, EvaluationUnsupported, compiled_regex
from .range_functions import KEEPS_NAME, MATRIX_ARG, NEEDS_PARAMS, RANGE_FUNCTIONS, reset_indices, windows
from .variables import contains_variable

__all__ = [
    "Column", "EvaluationError", "EvaluationUnsupported", "Evaluator", "Sample", "Scalars", "Series",
    "Vector", "duration_ms", "evaluate", "evaluate_at", "same_result",
]

NAME = "__name__"
LOOKBACK_MS = 300_000
DEFAULT_STEP_MS = 60_000
#: What a Grafana/Helm variable used as a duration stands for (`verify` substitutes the same).
VARIABLE_DURATION_MS = 300_000

Labels = tuple[tuple[str, str], ...]
_DURATION_RE = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


@dataclass(frozen=True)
class Series:
    """An input time series: ``values[i]`` was sampled at ``times_ms[i]`` (ascending)."""

    name: str
    labels: Mapping[str, str]
    times_ms: Sequence[int]
    values: Sequence[float]


@dataclass(frozen=True)
class Sample:
    """A single sample (at the evaluation time of :func:`evaluate_at`); for instant-only tests."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0


class Scalars(list):  # type: ignore[type-arg]
    """A scalar result: one float per evaluation time."""


@dataclass(slots=True)
class Column:
    """One series of an instant-vector result: a value (or None: absent) per evaluation time."""

    labels: dict[str, str]
    values: list[float | None]
    sample_times: list[int | None] | None = None  # only for timestamp(<selector>)


class Vector(list):  # type: ignore[type-arg]
    """An instant-vector result: a list of :class:`Column`."""


@dataclass(slots=True)
class _Matrix:
    """A range-vector argument: raw series and one closed window per evaluation time."""

    series: list[tuple[dict[str, str], Sequence[int], Sequence[float], list[int]]]
    starts: list[int]
    ends: list[int]
    range_ms: int
    selector: VectorSelector | None  # for absent_over_time's labels


@dataclass(slots=True)
class _Stored:
    labels: dict[str, str]
    times: Sequence[int]
    values: Sequence[float]
    _resets: list[int] | None = None

    @property
    def resets(self) -> list[int]:
        if self._resets is None:
            self._resets = reset_indices(self.values)
        return self._resets


def duration_ms(text: str | None) -> int:
    """Milliseconds in a PromQL duration (``1h30m``, ``-5m``, ``90``); a template variable
    stands for 5m."""
    if not text:
        return 0
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").strip()
    if contains_variable(body):
        return sign * VARIABLE_DURATION_MS
    m = _DURATION_RE.fullmatch(body)
    if m and any(m.groups()):
        return sign * sum(int(g) * unit for g, unit in zip(m.groups(), _UNIT_MS) if g)
    try:
        return sign * round(float(body) * 1000)
    except ValueError:
        raise EvaluationUnsupported(f"duration {text!r}") from None


def _key(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _drop_name(labels: dict[str, str]) -> dict[str, str]:
    if NAME in labels:
        labels = dict(labels)
        del labels[NAME]
    return labels


class Evaluator:
    """Evaluates expressions over a fixed set of series at any list of evaluation times (ms)."""

    def __init__(self, series: Iterable[Any], *, lookback_ms: int = LOOKBACK_MS, step_ms: int = DEFAULT_STEP_MS,
                 sample_time_ms: int = 0) -> None:
        self.lookback_ms = lookback_ms
        self.step_ms = step_ms
        self.by_name: dict[str, list[_Stored]] = {}
        for s in series:
            labels = {k: v for k, v in dict(s.labels).items() if v != "" and k != NAME}
            labels[NAME] = s.name
            if hasattr(s, "times_ms"):
                stored = _Stored(labels, s.times_ms, [float(v) for v in s.values])
            else:
                stored = _Stored(labels, (sample_time_ms,), (float(s.value),))
            self.by_name.setdefault(s.name, []).append(stored)
        for group in self.by_name.values():
            group.sort(key=lambda s: _key(s.labels))  # Prometheus' series order (ties in topk)
        self._in_subquery = 0

    # ------------------------------------------------------------------ nodes
    def eval(self, node: Expr, steps: Sequence[int]) -> Any:
        if isinstance(node, NumberLiteral):
            return Scalars([node.value] * len(steps))
        if isinstance(node, StringLiteral):
            return node.value
        if isinstance(node, ParenExpr):
            return self.eval(node.expr, steps)
        if isinstance(node, VectorSelector):
            return self.select(node, steps)
        if isinstance(node, (MatrixSelector, SubqueryExpr)):
            raise EvaluationUnsupported("a range vector is only evaluated as a function argument")
        if isinstance(node, UnaryExpr):
            value = self.eval(node.expr, steps)
            if node.op == "+":
                return value
            if isinstance(value, Scalars):
                return Scalars(-v for v in value)
            if isinstance(value, Vector):
                return _dedupe([Column(_drop_name(c.labels), [None if v is None else -v for v in c.values])
                                for c in value], len(steps))
            raise EvaluationError("unary minus expects a scalar or an instant vector")
        if isinstance(node, Call):
            from .calls import call

            return call(self, node, steps)
        if isinstance(node, AggregateExpr):
            from .aggregate import aggregate

            return aggregate(self, node, steps)
        if isinstance(node, BinaryExpr):
            from .binary import binary

            return binary(self, node, steps)
        if isinstance(node, Placeholder):
            raise EvaluationUnsupported(f"`{node.text}` stands for a value the result depends on")
        raise EvaluationUnsupported(f"cannot evaluate {type(node).__name__}")

    def vector(self, node: Expr, steps: Sequence[int], what: str) -> Vector:
        value = self.eval(node, steps)
        if not isinstance(value, Vector):
            raise EvaluationError(f"{what} expects an instant vector")
        return value

    def scalars(self, node: Expr, steps: Sequence[int], what: str) -> Scalars:
        value = self.eval(node, steps)
        if not isinstance(value, Scalars):
            raise EvaluationError(f"{what} expects a scalar")
        return value

    def string(self, node: Expr, steps: Sequence[int], what: str) -> str:
        value = self.eval(node, steps)
        if not isinstance(value, str):
            raise EvaluationError(f"{what} expects a string")
        return value

    # ------------------------------------------------------------- selectors
    def _instants(self, node: VectorSelector | MatrixSelector | SubqueryExpr, steps: Sequence[int]) -> list[int]:
        """The instant each evaluation time reads at: `@` pins it, `offset` moves it."""
        offset = duration_ms(node.offset)
        at = node.at
        if at is None:
            return [t - offset for t in steps] if offset else list(steps)
        at = at.strip()
        if at in ("start()", "end()"):
            if self._in_subquery:
                raise EvaluationUnsupported(f"`@ {at}` inside a subquery")
            return [t - offset for t in steps]
        if contains_variable(at):
            raise EvaluationUnsupported(f"`@ {at}` (a templated timestamp)")
        try:
            pinned = round(float(at) * 1000)
        except ValueError:
            raise EvaluationUnsupported(f"`@ {at}`") from None
        return [pinned - offset] * len(steps)

    def matching(self, node: VectorSelector) -> list[_Stored]:
        if node.templated:
            raise EvaluationUnsupported(f"templated metric name {node.name!r}")
        tests = []
        names: list[str] | None = [node.name] if node.name is not None else None
        for m in node.matchers:
            if contains_variable(m.value) or contains_variable(m.label):
                continue  # unknown value: matches everything
            if m.label == NAME and m.op == "=":
                names = [m.value] if names is None or m.value in names else []
            if m.op in ("=~", "!~"):
                rx = compiled_regex(m.value)
                pos = m.op == "=~"
                tests.append((m.label, lambda v, rx=rx, pos=pos: (rx.fullmatch(v) is not None) == pos))
            elif m.op == "=":
                tests.append((m.label, lambda v, want=m.value: v == want))
            else:
                tests.append((m.label, lambda v, want=m.value: v != want))
        candidates = ([s for n in names for s in self.by_name.get(n, ())] if names is not None
                      else sorted((s for group in self.by_name.values() for s in group), key=lambda s: _key(s.labels)))
        return [s for s in candidates if all(t(s.labels.get(label, "")) for label, t in tests)]

    def select(self, node: VectorSelector, steps: Sequence[int]) -> Vector:
        instants = self._instants(node, steps)
        lookback = self.lookback_ms
        out = Vector()
        positions: dict[int, list[int]] = {}
        for stored in self.matching(node):
            times = stored.times
            index = positions.get(id(times))
            if index is None:
                index = []
                for t in instants:
                    j = bisect_right(times, t) - 1
                    index.append(j if j >= 0 and times[j] >= t - lookback else -1)
                positions[id(times)] = index
            values = stored.values
            column = [values[j] if j >= 0 else None for j in index]
            if any(v is not None for v in column):
                out.append(Column(dict(stored.labels), column, [times[j] if j >= 0 else None for j in index]))
        return out

    def matrix(self, node: Expr, steps: Sequence[int], what: str) -> _Matrix:
        while isinstance(node, ParenExpr):
            node = node.expr
        if isinstance(node, MatrixSelector):
            range_ms = duration_ms(node.range)
            ends = self._instants(node, steps)
            series = [(s.labels, s.times, s.values, s.resets) for s in self.matching(node.vector)]
            return _Matrix(series, [e - range_ms for e in ends], ends, range_ms, node.vector)
        if isinstance(node, SubqueryExpr):
            return self.subquery(node, steps)
        raise EvaluationError(f"{what} expects a range vector")

    def subquery(self, node: SubqueryExpr, steps: Sequence[int]) -> _Matrix:
        range_ms = duration_ms(node.range)
        step = duration_ms(node.step) if node.step else self.step_ms
        if step <= 0 or range_ms <= 0:
            raise EvaluationError("subquery range and step must be positive")
        ends = self._instants(node, steps)
        starts = [e - range_ms for e in ends]
        inner: set[int] = set()
        for start, end in zip(starts, ends):
            first = step * (start // step)  # the first multiple of the step inside the window
            if first < start:
                first += step
            inner.update(range(first, end + 1, step))
        inner_steps = sorted(inner)
        self._in_subquery += 1
        try:
            value = self.eval(node.expr, inner_steps)
        finally:
            self._in_subquery -= 1
        if not isinstance(value, Vector):
            raise EvaluationError("subquery is only allowed on an instant vector")
        series = []
        for column in value:
            present = [i for i, v in enumerate(column.values) if v is not None]
            values = [column.values[i] for i in present]
            series.append((column.labels, [inner_steps[i] for i in present], values, reset_indices(values)))
        return _Matrix(series, starts, ends, range_ms, None)

    # ----------------------------------------------------- range functions
    def range_call(self, node: Call, steps: Sequence[int]) -> Vector:
        f = node.func
        index = MATRIX_ARG.get(f, 0)
        m = self.matrix(node.args[index], steps, f)
        params = [self.scalars(node.args[i], steps, f) for i in NEEDS_PARAMS.get(f, ())]
        if f in ("holt_winters", "double_exponential_smoothing"):
            for name, p in zip(("smoothing", "trend"), params):
                if any(not 0 < v < 1 for v in p):
                    raise EvaluationError(f"invalid {name} factor: expected 0 < factor < 1")
        fn = RANGE_FUNCTIONS[f]
        keep_name = f in KEEPS_NAME
        out = []
        cache: dict[int, list[tuple[int, int]]] = {}
        n = len(steps)
        for labels, times, values, resets in m.series:
            wins = cache.get(id(times))
            if wins is None:
                wins = cache[id(times)] = windows(times, m.starts, m.ends)
            column = fn(times, values, resets, wins, m.starts, m.ends, m.range_ms, steps, params)
            if any(v is not None for v in column):
                out.append(Column(dict(labels) if keep_name else _drop_name(labels), column))
        return _dedupe(out, n)

    def absent_over_time(self, node: Call, steps: Sequence[int]) -> Vector:
        m = self.matrix(node.args[0], steps, node.func)
        present = [False] * len(steps)
        for _labels, times, _values, _resets in m.series:
            for i, (lo, hi) in enumerate(windows(times, m.starts, m.ends)):
                if hi >= lo:
                    present[i] = True
        values = [None if p else 1.0 for p in present]
        if all(v is None for v in values):
            return Vector()
        return Vector([Column(absent_labels(m.selector), values)])


def absent_labels(selector: Expr | None) -> dict[str, str]:
    """The labels absent() reports: the selector's equality matchers (unless repeated)."""
    while isinstance(selector, ParenExpr):
        selector = selector.expr
    if isinstance(selector, MatrixSelector):
        selector = selector.vector
    if not isinstance(selector, VectorSelector):
        return {}
    labels: dict[str, str] = {}
    repeated = set()
    for m in selector.matchers:
        if m.op != "=" or m.label == NAME:
            continue
        if m.label in labels:
            repeated.add(m.label)
        labels[m.label] = m.value
    for label in repeated:
        del labels[label]
    return labels


def _dedupe(columns: list[Column], n: int) -> Vector:
    """Prometheus refuses a result holding one label set twice at the same instant; columns
    with the same labels at different instants are one series."""
    merged: dict[Labels, Column] = {}
    for column in columns:
        key = _key(column.labels)
        seen = merged.get(key)
        if seen is None:
            merged[key] = column
            continue
        values = list(seen.values)
        for i, v in enumerate(column.values):
            if v is not None:
                if values[i] is not None:
                    raise EvaluationError("vector cannot contain metrics with the same labelset")
                values[i] = v
        merged[key] = Column(seen.labels, values)
    return Vector(merged.values())


# ---------------------------------------------------------------------------- public API


def evaluate(expr: Expr, series: Iterable[Any], steps_ms: Sequence[int], **options: int) -> Any:
    """Evaluate *expr* at each of *steps_ms* over *series* (:class:`Series`-like objects, or
    :class:`Sample` ones holding one sample at time 0): :class:`Scalars`, a string or a
    :class:`Vector`, per evaluation time."""
    return Evaluator(series, **options).eval(expr, list(steps_ms))


def evaluate_at(expr: Expr, series: Iterable[Any], at_ms: int = 0, **options: int) -> float | str | list[tuple[Labels, float]]:
    """One instant query: a float, a string, or the sorted ``[(labels, value)]`` of a vector.
    :class:`Sample` objects are samples taken at ``at_ms``."""
    result = Evaluator(series, sample_time_ms=at_ms, **options).eval(expr, [at_ms])
    return instant(result, 0)


def instant(result: Any, i: int) -> float | str | list[tuple[Labels, float]]:
    """The value of a per-time result at evaluation time number *i*."""
    if isinstance(result, Scalars):
        return float(result[i])
    if isinstance(result, str):
        return result
    return sorted(((_key(c.labels), float(c.values[i])) for c in result if c.values[i] is not None),
                  key=lambda x: x[0])


def _feq(x: float, y: float, rel_tol: float, abs_tol: float) -> bool:
    if x != x or y != y:
        return x != x and y != y
    if x == y:
        return True
    return math.isclose(x, y, rel_tol=rel_tol, abs_tol=abs_tol)


def same_result(a: Any, b: Any, rel_tol: float = 1e-9, abs_tol: float = 1e-9) -> bool:
    """Compare two instant results (see :func:`instant`) as label-set maps, within tolerances."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, list) != isinstance(b, list):
        return False
    if not isinstance(a, list):
        return _feq(float(a), float(b), rel_tol, abs_tol)
    if len(a) != len(b):
        return False

    def norm(vec: list[tuple[Any, float]]) -> list[tuple[Labels, float]]:
        items = [(_key(dict(labels)), float(v)) for labels, v in vec]
        return sorted(items, key=lambda x: (x[0], x[1] != x[1], x[1] if x[1] == x[1] else 0.0))

    return all(la == lb and _feq(va, vb, rel_tol, abs_tol) for (la, va), (lb, vb) in zip(norm(a), norm(b)))
