"""PromQL aggregations for :mod:`evaluate`, per evaluation time, in Prometheus 2.x's arithmetic
(running mean for avg, Welford for stddev/stdvar, the heap behind topk/bottomk)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Sequence

from .ast import AggregateExpr
from .evaluate import NAME, Column, Labels, Vector, _key
from .instant_functions import EvaluationError, EvaluationUnsupported, format_value
from .range_functions import quantile
from .variables import contains_variable

if TYPE_CHECKING:
    from .evaluate import Evaluator

_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def aggregate(ev: "Evaluator", node: AggregateExpr, steps: Sequence[int]) -> Vector:
    op = node.op
    if contains_variable(op):
        raise EvaluationUnsupported(f"templated aggregation {op!r}")
    for g in node.grouping:
        if contains_variable(g):
            raise EvaluationUnsupported(f"templated grouping label {g!r}")
    if op in ("limitk", "limit_ratio"):
        raise EvaluationUnsupported(f"{op} picks series arbitrarily")
    n = len(steps)
    vec = ev.vector(node.expr, steps, op)
    if op == "count_values":
        label = ev.string(node.param, steps, op) if node.param is not None else ""
        if not _LABEL_NAME_RE.fullmatch(label):
            raise EvaluationError(f"invalid label name {label!r}")
    elif node.param is not None:
        params = ev.scalars(node.param, steps, op)
    grouping = set(node.grouping)

    def group_of(labels: dict[str, str]) -> dict[str, str]:
        if node.without:
            return {k: v for k, v in labels.items() if k not in grouping and k != NAME}
        return {k: v for k, v in labels.items() if k in grouping}

    groups: dict[Labels, tuple[dict[str, str], list[Column]]] = {}
    for column in vec:
        g = group_of(column.labels)
        groups.setdefault(_key(g), (g, []))[1].append(column)

    if op == "count_values":
        return _count_values(groups, label, n)
    if op in ("topk", "bottomk"):
        return _top(op, groups, params, n)
    out = Vector()
    no_param = [math.nan] * n
    for g, members in groups.values():
        values: list[float | None] = [None] * n
        for i, (column, param) in enumerate(zip(zip(*(c.values for c in members)), params if node.param is not None else no_param)):
            present = [v for v in column if v is not None]
            if present:
                values[i] = _fold(op, present, param)
        if any(v is not None for v in values):
            out.append(Column(g, values))
    return out


def _fold(op: str, values: list[float], param: float) -> float:  # type: ignore[return]
    first = values[0]
    if op == "sum":
        total = first
        for v in values[1:]:
            total += v
        return total
    if op == "avg":
        mean, count = first, 1.0
        for v in values[1:]:
            count += 1
            if math.isinf(mean):
                if math.isinf(v) and (mean > 0) == (v > 0):
                    continue
                if not math.isinf(v) and not math.isnan(v):
                    continue
            mean += v / count - mean / count
        return mean
    if op == "count":
        return float(len(values))
    if op == "group":
        return 1.0
    if op == "max":
        best = first
        for v in values[1:]:
            if best < v or best != best:
                best = v
        return best
    if op == "min":
        best = first
        for v in values[1:]:
            if best > v or best != best:
                best = v
        return best
    if op in ("stddev", "stdvar"):
        mean, acc, count = first, 0.0, 1.0
        for v in values[1:]:
            count += 1
            delta = v - mean
            mean += delta / count
            acc += delta * (v - mean)
        return acc / count if op == "stdvar" else math.sqrt(acc / count)
    if op == "quantile":
        return quantile(param, values)
    raise EvaluationUnsupported(f"aggregation {op!r} is not supported")


def _count_values(groups, label: str, n: int) -> Vector:  # type: ignore[no-untyped-def]
    columns: dict[Labels, Column] = {}
    for g, members in groups.values():
        for i in range(n):
            for c in members:
                v = c.values[i]
                if v is None:
                    continue
                labels = dict(g)
                labels[label] = format_value(v)
                key = _key(labels)
                column = columns.get(key)
                if column is None:
                    column = columns[key] = Column(labels, [None] * n)
                column.values[i] = (column.values[i] or 0.0) + 1.0
    return Vector(columns.values())


def _less(a: float, b: float, reverse: bool) -> bool:
    """Prometheus' vectorByValueHeap order (vectorByReverseValueHeap for bottomk): NaN first."""
    if a != a:
        return True
    return a > b if reverse else a < b


def _up(heap: list[tuple[float, Column]], j: int, reverse: bool) -> None:
    while j > 0:
        i = (j - 1) // 2
        if not _less(heap[j][0], heap[i][0], reverse):
            break
        heap[i], heap[j] = heap[j], heap[i]
        j = i


def _down(heap: list[tuple[float, Column]], i: int, reverse: bool) -> None:
    n = len(heap)
    while True:
        j = 2 * i + 1
        if j >= n:
            break
        if j + 1 < n and _less(heap[j + 1][0], heap[j][0], reverse):
            j += 1
        if not _less(heap[j][0], heap[i][0], reverse):
            break
        heap[i], heap[j] = heap[j], heap[i]
        i = j


def _top(op: str, groups, params, n: int) -> Vector:  # type: ignore[no-untyped-def]
    """topk/bottomk keep whole series. The same binary heap as Go's container/heap, so ties at
    the k-th place go to the same series as in Prometheus."""
    reverse = op == "bottomk"
    picked: dict[int, tuple[Column, list[float | None]]] = {}
    for i in range(n):
        k_param = params[i]
        if not math.isfinite(k_param) or abs(k_param) >= 2**63:
            raise EvaluationError(f"scalar value {k_param} overflows int64")
        k = int(k_param)
        if k < 1:
            continue
        for _g, members in groups.values():
            heap: list[tuple[float, Column]] = []
            for c in members:
                v = c.values[i]
                if v is None:
                    continue
                if len(heap) < k:
                    heap.append((v, c))
                    _up(heap, len(heap) - 1, reverse)
                    continue
                top = heap[0][0]
                if (v < top if reverse else top < v) or (top != top and v == v):
                    heap[0] = (v, c)
                    if k > 1:
                        _down(heap, 0, reverse)
            for v, c in heap:
                slot = picked.setdefault(id(c), (c, [None] * n))
                slot[1][i] = v
    return Vector(Column(dict(c.labels), values) for c, values in picked.values())
