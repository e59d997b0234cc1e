"""PromQL binary operators for :mod:`evaluate`: vector matching per evaluation time, with
Prometheus' errors for ambiguous matches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from .ast import COMPARISON_OPS, SET_OPS, BinaryExpr, VectorMatching
from .evaluate import NAME, Column, Labels, Scalars, Vector, _dedupe, _drop_name, _key
from .instant_functions import ARITH, CMP, EvaluationError, EvaluationUnsupported, elem_binop
from .variables import contains_variable

if TYPE_CHECKING:
    from .evaluate import Evaluator


def binary(ev: "Evaluator", node: BinaryExpr, steps: Sequence[int]) -> Scalars | Vector:
    op, matching, n = node.op, node.matching, len(steps)
    if matching is not None:
        for label in matching.labels + matching.include:
            if contains_variable(label):
                raise EvaluationUnsupported(f"templated matching label {label!r}")
    lhs, rhs = ev.eval(node.lhs, steps), ev.eval(node.rhs, steps)
    for side in (lhs, rhs):
        if not isinstance(side, (Scalars, Vector)):
            raise EvaluationError("binary expression must contain only scalar and instant vector types")
    l_scalar, r_scalar = isinstance(lhs, Scalars), isinstance(rhs, Scalars)
    if op in SET_OPS and (l_scalar or r_scalar):
        raise EvaluationError(f"set operator {op!r} not allowed in binary scalar expression")
    if l_scalar and r_scalar:
        if op in COMPARISON_OPS:
            if not node.return_bool:
                raise EvaluationError("comparisons between scalars must use BOOL modifier")
            return Scalars(1.0 if CMP[op](a, b) else 0.0 for a, b in zip(lhs, rhs))
        f = ARITH[op]
        return Scalars(float(f(a, b)) for a, b in zip(lhs, rhs))
    if l_scalar or r_scalar:
        return _vector_scalar(op, rhs if l_scalar else lhs, lhs if l_scalar else rhs, l_scalar, node.return_bool, n)
    if op in SET_OPS:
        return _set_op(op, lhs, rhs, matching, n)
    return _vector_vector(op, lhs, rhs, matching, node.return_bool, n)


def _vector_scalar(op: str, vec: Vector, scalars: Scalars, swap: bool, return_bool: bool, n: int) -> Vector:
    is_cmp = op in COMPARISON_OPS
    drop = not is_cmp or return_bool
    out = []
    for c in vec:
        values: list[float | None] = [None] * n
        for i, v in enumerate(c.values):
            if v is None:
                continue
            s = scalars[i]
            value, keep = elem_binop(op, s, v) if swap else elem_binop(op, v, s)
            if is_cmp and swap:
                value = v  # a comparison keeps the vector's value, whichever side it is on
            if return_bool:
                value, keep = (1.0 if keep else 0.0), True
            if keep:
                values[i] = value
        if any(v is not None for v in values):
            out.append(Column(_drop_name(c.labels) if drop else dict(c.labels), values))
    return _dedupe(out, n)


def signature(matching: VectorMatching | None) -> Callable[[dict[str, str]], tuple]:  # type: ignore[type-arg]
    if matching is not None and matching.on:
        names = matching.labels
        return lambda labels: tuple(labels.get(name, "") for name in names)
    ignored = set(matching.labels) if matching is not None else set()
    ignored.add(NAME)
    return lambda labels: tuple(sorted((k, v) for k, v in labels.items() if k not in ignored))


def _set_op(op: str, lhs: Vector, rhs: Vector, matching: VectorMatching | None, n: int) -> Vector:
    sig = signature(matching)
    lsig, rsig = [sig(c.labels) for c in lhs], [sig(c.labels) for c in rhs]
    left = [Column(dict(c.labels), [None] * n) for c in lhs]
    right = [Column(dict(c.labels), [None] * n) for c in rhs]
    for i in range(n):
        r_present = {rsig[k] for k, c in enumerate(rhs) if c.values[i] is not None}
        l_present = set()
        for j, c in enumerate(lhs):
            v = c.values[i]
            if v is None:
                continue
            l_present.add(lsig[j])
            if op == "or" or (op == "and") == (lsig[j] in r_present):
                left[j].values[i] = v
        if op == "or":
            for k, c in enumerate(rhs):
                if c.values[i] is not None and rsig[k] not in l_present:
                    right[k].values[i] = c.values[i]
    columns = [c for c in left + right if any(v is not None for v in c.values)]
    return _dedupe(columns, n)


def _vector_vector(op: str, lhs: Vector, rhs: Vector, matching: VectorMatching | None, return_bool: bool,
                   n: int) -> Vector:
    card = matching.group if matching is not None else None
    on = matching.on if matching is not None else False
    names = matching.labels if matching is not None else ()
    include = matching.include if matching is not None else ()
    sig = signature(matching)
    if card == "right":
        lhs, rhs = rhs, lhs  # walk the "many" side; the values are swapped back below
    lsig, rsig = [sig(c.labels) for c in lhs], [sig(c.labels) for c in rhs]
    drop_name = op in ARITH or return_bool
    results: dict[tuple[int, int], tuple[dict[str, str], Labels]] = {}

    def result_labels(j: int, k: int) -> tuple[dict[str, str], Labels]:
        found = results.get((j, k))
        if found is None:
            labels = dict(lhs[j].labels)
            if drop_name:
                labels.pop(NAME, None)
            if card is None:
                if on:
                    labels = {name: v for name, v in labels.items() if name in names}
                else:
                    for name in names:
                        labels.pop(name, None)
            for name in include:
                value = rhs[k].labels.get(name, "")
                if value:
                    labels[name] = value
                else:
                    labels.pop(name, None)
            found = results[(j, k)] = (labels, _key(labels))
        return found

    out: dict[Labels, Column] = {}
    for i in range(n):
        l_present = [j for j, c in enumerate(lhs) if c.values[i] is not None]
        if not l_present:
            continue
        right: dict[tuple, int] = {}  # type: ignore[type-arg]
        for k, c in enumerate(rhs):
            if c.values[i] is None:
                continue
            if rsig[k] in right:
                raise EvaluationError("found duplicate series for the match group on the "
                                      f"{'left' if card == 'right' else 'right'} hand-side of the operation; "
                                      "many-to-many matching not allowed: matching labels must be unique on one side")
            right[rsig[k]] = k
        if not right:
            continue
        matched: dict[tuple, set[Labels] | None] = {}  # type: ignore[type-arg]
        for j in l_present:
            s = lsig[j]
            k = right.get(s)
            if k is None:
                continue
            vl, vr = lhs[j].values[i], rhs[k].values[i]
            if card == "right":
                vl, vr = vr, vl
            value, keep = elem_binop(op, vl, vr)  # type: ignore[arg-type]
            if return_bool:
                value, keep = (1.0 if keep else 0.0), True
            elif not keep:
                continue
            labels, key = result_labels(j, k)
            if card is None:
                if s in matched:
                    raise EvaluationError("multiple matches for labels: many-to-one matching must be explicit "
                                          "(group_left/group_right)")
                matched[s] = None
            else:
                inserted = matched.setdefault(s, set())
                assert inserted is not None
                if key in inserted:
                    raise EvaluationError("multiple matches for labels: grouping labels must ensure unique matches")
                inserted.add(key)
            column = out.get(key)
            if column is None:
                column = out[key] = Column(labels, [None] * n)
            elif column.values[i] is not None:
                raise EvaluationError("vector cannot contain metrics with the same labelset")
            column.values[i] = value
    return Vector(out.values())
