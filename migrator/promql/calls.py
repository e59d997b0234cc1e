"""PromQL function calls for :mod:`evaluate` (range functions are in :mod:`range_functions`)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Sequence

from .ast import Call, VectorSelector
from .evaluate import NAME, Column, Scalars, Vector, _dedupe, _drop_name, absent_labels
from .instant_functions import (
    DATE,
    MATH,
    EvaluationError,
    EvaluationUnsupported,
    compiled_regex,
    date_part,
    div,
    expand_template,
    go_max,
    go_min,
)
from .range_functions import NEEDS_PARAMS, RANGE_FUNCTIONS
from .variables import contains_variable

if TYPE_CHECKING:
    from .evaluate import Evaluator

_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_IDENTITY = frozenset({"sort", "sort_desc", "sort_by_label", "sort_by_label_desc"})


def _map(vec: Vector, f, n: int, keep_name: bool = False) -> Vector:  # type: ignore[no-untyped-def]
    out = [Column(dict(c.labels) if keep_name else _drop_name(c.labels),
                  [None if v is None else f(v, i) for i, v in enumerate(c.values)]) for c in vec]
    return _dedupe(out, n)


def call(ev: "Evaluator", node: Call, steps: Sequence[int]) -> object:
    f, args, n = node.func, node.args, len(steps)
    if contains_variable(f):
        raise EvaluationUnsupported(f"templated function {f!r}")

    def nargs(lo: int, hi: int | None = None) -> None:
        if not lo <= len(args) <= (lo if hi is None else hi):
            raise EvaluationError(f"wrong number of arguments to {f}()")

    if f in RANGE_FUNCTIONS:
        nargs(1 + len(NEEDS_PARAMS.get(f, ())))
        return ev.range_call(node, steps)
    if f == "absent_over_time":
        nargs(1)
        return ev.absent_over_time(node, steps)
    if f == "absent":
        nargs(1)
        vec = ev.vector(args[0], steps, f)
        values = [None if any(c.values[i] is not None for c in vec) else 1.0 for i in range(n)]
        return Vector([Column(absent_labels(args[0]), values)]) if any(v is not None for v in values) else Vector()
    if f in MATH:
        nargs(1)
        fn = MATH[f]
        return _map(ev.vector(args[0], steps, f), lambda v, i: float(fn(v)), n)
    if f == "round":
        nargs(1, 2)
        vec = ev.vector(args[0], steps, f)
        to = ev.scalars(args[1], steps, f) if len(args) == 2 else Scalars([1.0] * n)
        inverse = [div(1.0, t) for t in to]
        return _map(vec, lambda v, i: div(_floor(v * inverse[i] + 0.5), inverse[i]), n)
    if f in ("clamp_min", "clamp_max"):
        nargs(2)
        vec = ev.vector(args[0], steps, f)
        bound = ev.scalars(args[1], steps, f)
        pick = go_max if f == "clamp_min" else go_min
        return _map(vec, lambda v, i: pick(bound[i], v), n)
    if f == "clamp":
        nargs(3)
        vec = ev.vector(args[0], steps, f)
        lo, hi = ev.scalars(args[1], steps, f), ev.scalars(args[2], steps, f)
        out = [Column(_drop_name(c.labels),
                      [None if v is None or hi[i] < lo[i] else go_max(lo[i], go_min(hi[i], v))
                       for i, v in enumerate(c.values)]) for c in vec]
        return _dedupe([c for c in out if any(v is not None for v in c.values)], n)
    if f == "scalar":
        nargs(1)
        vec = ev.vector(args[0], steps, f)
        result = Scalars()
        for i in range(n):
            present = [c.values[i] for c in vec if c.values[i] is not None]
            result.append(present[0] if len(present) == 1 else math.nan)
        return result
    if f == "vector":
        nargs(1)
        return Vector([Column({}, list(ev.scalars(args[0], steps, f)))])
    if f == "time":
        nargs(0)
        return Scalars(t / 1000 for t in steps)
    if f == "pi":
        nargs(0)
        return Scalars([math.pi] * n)
    if f == "timestamp":
        nargs(1)
        arg = args[0]
        vec = ev.vector(arg, steps, f)
        if isinstance(arg, VectorSelector):  # the sample's own time; otherwise the evaluation time
            return _dedupe([Column(_drop_name(c.labels), [None if t is None else t / 1000 for t in c.sample_times or []])
                            for c in vec], n)
        return _map(vec, lambda v, i: steps[i] / 1000, n)
    if f in DATE:
        nargs(0, 1)
        if not args:
            return Vector([Column({}, [date_part(f, t / 1000) for t in steps])])
        return _map(ev.vector(args[0], steps, f), lambda v, i: date_part(f, v), n)
    if f in _IDENTITY:
        if not args:
            raise EvaluationError(f"wrong number of arguments to {f}()")
        for a in args[1:]:
            ev.string(a, steps, f)
        return ev.vector(args[0], steps, f)
    if f == "label_replace":
        nargs(5)
        return _label_replace(ev, args, steps)
    if f == "label_join":
        if len(args) < 3:
            raise EvaluationError("wrong number of arguments to label_join()")
        return _label_join(ev, args, steps)
    raise EvaluationUnsupported(f"function {f}() is not supported by the oracle")


def _label_replace(ev: "Evaluator", args, steps: Sequence[int]) -> Vector:  # type: ignore[no-untyped-def]
    vec = ev.vector(args[0], steps, "label_replace")
    dst, repl, src, rx = (ev.string(a, steps, "label_replace") for a in args[1:])
    if not _LABEL_NAME_RE.fullmatch(dst) and dst != NAME:
        raise EvaluationError(f"invalid destination label name in label_replace(): {dst}")
    pattern = compiled_regex(f"^(?:{rx})$")
    out = []
    for c in vec:
        labels = c.labels
        m = pattern.match(labels.get(src, ""))
        if m is not None:
            new = expand_template(repl, m)
            labels = dict(labels)
            if new:
                labels[dst] = new
            else:
                labels.pop(dst, None)
        out.append(Column(labels, c.values))
    return _dedupe(out, len(steps))


def _label_join(ev: "Evaluator", args, steps: Sequence[int]) -> Vector:  # type: ignore[no-untyped-def]
    vec = ev.vector(args[0], steps, "label_join")
    dst, sep = ev.string(args[1], steps, "label_join"), ev.string(args[2], steps, "label_join")
    if not _LABEL_NAME_RE.fullmatch(dst):
        raise EvaluationError(f"invalid destination label name in label_join(): {dst}")
    sources = [ev.string(a, steps, "label_join") for a in args[3:]]
    out = []
    for c in vec:
        new = sep.join(c.labels.get(s, "") for s in sources)
        labels = dict(c.labels)
        if new:
            labels[dst] = new
        else:
            labels.pop(dst, None)
        out.append(Column(labels, c.values))
    return _dedupe(out, len(steps))


def _floor(v: float) -> float:
    return float(math.floor(v)) if math.isfinite(v) else v
