"""Fix safety, decided by what Prometheus would compute rather than by taste.

A rewrite is *safe* only when the rewritten expression, evaluated on vLLM v0.20+ counters,
gives exactly the values the original gave on v0.16–v0.19 counters, at every evaluation time.
The counters are the reference simulation's four hours of traffic (several models and
engines, bursts of full hits that differ by engine and hour, a counter reset); the evaluator
implements Prometheus' semantics for ranges, offsets, `@`, subqueries and extrapolation and is
checked against `promtool` by the test suite. The verdict is *unsafe* when values change (the
message says where and by how much) and whenever equality cannot be shown: the evaluator
cannot evaluate the expression exactly, the expression selects no simulated series, or a
result is NaN or ±Inf (two NaNs or two infinities compare equal and hide a change).

Before any evaluation, a term elimination must be able to cancel at all (see
:func:`cancellation_problem`): the removed term has to be linear in its counters and shaped
exactly like the other terms of its sum (same functions, ranges, offsets, `@`, subqueries and
aggregations). Only then do per-term differences cancel the way the identity
`local + external - recomputed = cached` promises.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

from migrator.model import Applicability
from migrator.promql import ast
from migrator.promql.evaluate import EvaluationError, EvaluationUnsupported, Evaluator, Scalars, Series
from migrator.promql.parser import PromQLSyntaxError, parse

# The labels the simulation already sets; matchers on any other label get a matching value.
_SIMULATED_LABELS = frozenset({"__name__", "model_name", "engine", "source"})
REL_TOL = 1e-9
ABS_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Verdict:
    applicability: Applicability
    reason: str


def _selectors(expr: ast.Expr) -> list[ast.VectorSelector]:
    return [n for n in ast.walk(expr) if isinstance(n, ast.VectorSelector)]


def aliases(exprs: list[ast.Expr]) -> dict[str, str]:
    """Map each prompt-token metric name spelled in the expressions (`vllm_…`, `ray_vllm:…`,
    no `_total`) to the simulation's canonical sample name (the counter's `_total` series)."""
    from migrator.reference.catalogue import catalogue
    from migrator.reference.spellings import classify

    flagship = catalogue().flagship
    simulated = {m.name: m for m in (flagship.removed, *flagship.surviving)}
    aliases: dict[str, str] = {}
    for expr in exprs:
        for selector in _selectors(expr):
            names = [selector.name] if selector.name and not selector.templated else []
            names += [m.value for m in selector.matchers if m.label == "__name__" and m.op == "="]
            for name in names:
                hit = classify(name)
                if hit is None:
                    continue
                for series in hit.candidates:
                    metric = simulated.get(series.metric.name)
                    if metric is not None and series.suffix in ("", "_total"):
                        aliases[name] = metric.base + "_total"
    return aliases


def extra_labels(expr: ast.Expr) -> dict[str, str]:
    """Equality matchers on labels the simulation lacks (`role="prefill"`): give every series
    that value, so the expression selects data instead of trivially comparing empty results."""
    extra: dict[str, str] = {}
    for selector in _selectors(expr):
        for m in selector.matchers:
            if m.op == "=" and m.label not in _SIMULATED_LABELS and "$" not in m.value:
                extra.setdefault(m.label, m.value)
    return extra


@lru_cache(maxsize=32)
def simulated_series(era: str, alias_items: tuple[tuple[str, str], ...] = (),
                     extra_items: tuple[tuple[str, str], ...] = ()) -> tuple[Series, ...]:
    """The reference timeline of ``era`` with every series also under each alias spelling that
    names it, and the extra labels on every series."""
    from migrator.reference.simulate import timeline_series

    extra = dict(extra_items)
    out: list[Series] = []
    for s in timeline_series(era):
        labels = {**s.labels, **extra}
        out.append(Series(s.name, labels, s.times_ms, s.values))
        for alias, canonical in alias_items:
            if canonical == s.name and alias != s.name:
                out.append(Series(alias, labels, s.times_ms, s.values))
    return tuple(out)


@lru_cache(maxsize=32)
def simulated_evaluator(era: str, alias_items: tuple[tuple[str, str], ...] = (),
                        extra_items: tuple[tuple[str, str], ...] = ()) -> Evaluator:
    """An evaluator over `simulated_series` (built once per dataset: judging stays cheap)."""
    return Evaluator(simulated_series(era, alias_items, extra_items))


def dataset_key(before: ast.Expr, after: ast.Expr) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """(aliases, extra labels) of the data a comparison of these two expressions needs."""
    return tuple(sorted(aliases([before, after]).items())), tuple(sorted(extra_labels(before).items()))


def evaluation_times(*exprs: ast.Expr) -> tuple[int, ...]:
    """The instants to compare at: every minute of the timeline's last three hours, moved later
    by the offset every selector of the expressions shares (a day-over-day panel reading only
    `offset 1d` data is evaluated a day after the simulated hours, so it reads them)."""
    from migrator.reference.simulate import EVALUATION_TIMES_MS

    shifts = [_shared_offset(e) for e in exprs]
    shift = min(shifts) if shifts and all(s is not None for s in shifts) else 0
    return tuple(t + shift for t in EVALUATION_TIMES_MS) if shift and shift > 0 else EVALUATION_TIMES_MS


def _shared_offset(expr: ast.Expr, above: int = 0) -> int | None:
    """The smallest total offset (ms) any selector not pinned by `@` reads at; None if none."""
    if getattr(expr, "at", None) is not None:
        return None
    from migrator.promql.evaluate import duration_ms

    try:
        own = above + duration_ms(getattr(expr, "offset", None))
    except EvaluationUnsupported:
        return None
    if isinstance(expr, (ast.VectorSelector, ast.MatrixSelector)):
        return own
    found = [o for o in (_shared_offset(child, own) for child in ast.children(expr)) if o is not None]
    return min(found) if found else None


# ------------------------------------------------------------------------ thresholds


def _literal_number(expr: ast.Expr) -> bool:
    while isinstance(expr, (ast.ParenExpr, ast.UnaryExpr)):
        expr = expr.expr
    return isinstance(expr, ast.NumberLiteral)


def unfiltered(expr: ast.Expr) -> ast.Expr:
    """`X > 100` filters X; comparing the filtered results would call two different X equal
    whenever both happen to fall on the same side of the threshold, so compare X itself. Only
    a literal number is a threshold: `-sum(a) > -(sum(a) + sum(b))` compares two expressions
    and is judged whole."""
    while isinstance(expr, ast.ParenExpr):
        expr = expr.expr
    if isinstance(expr, ast.BinaryExpr) and expr.op in ast.COMPARISON_OPS and not expr.return_bool:
        if _literal_number(expr.rhs) and not _literal_number(expr.lhs):
            return expr.lhs
        if _literal_number(expr.lhs) and not _literal_number(expr.rhs):
            return expr.rhs
    return expr


# ------------------------------------------------------------------------ comparing


def _clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "NaN" if v != v else ("+Inf" if v > 0 else "-Inf")
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def per_time(result: Any, n: int) -> list[dict[tuple[tuple[str, str], ...], float]]:
    """A result as one {labels: value} map per evaluation time (a scalar has no labels)."""
    if isinstance(result, Scalars):
        return [{(): float(v)} for v in result]
    if isinstance(result, str):
        return [{(("", result),): 0.0} for _ in range(n)]
    maps: list[dict[tuple[tuple[str, str], ...], float]] = [{} for _ in range(n)]
    for column in result:
        key = tuple(sorted(column.labels.items()))
        for i, v in enumerate(column.values):
            if v is not None:
                maps[i][key] = v
    return maps


def _close(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _labels_text(key: tuple[tuple[str, str], ...]) -> str:
    shown = [(k, v) for k, v in key if k != "__name__"]
    return "{" + ", ".join(f'{k}="{v}"' for k, v in shown) + "} " if shown else ""


def compare(before: Any, after: Any, times: Sequence[int]) -> tuple[str | None, list[str], int]:
    """(why the comparison proves nothing, differences, instants that differ)."""
    a_maps, c_maps = per_time(before, len(times)), per_time(after, len(times))
    if not any(a_maps):
        return "the expression selects no simulated series", [], 0
    for side, maps in (("the original", a_maps), ("the rewrite", c_maps)):
        for t, m in zip(times, maps):
            for key, v in m.items():
                if not math.isfinite(v):
                    return (f"{side} gives {_fmt(v)} at {_clock(t)} "
                            f"{_labels_text(key)}on the reference counters (a division by zero?), and NaN or "
                            "±Inf on both sides would hide whether the values change"), [], 0
    differences: list[str] = []
    differing = 0
    for t, a, c in zip(times, a_maps, c_maps):
        diff = None
        for key in sorted(set(a) | set(c)):
            if key not in c:
                diff = f"{_labels_text(key)}{_fmt(a[key])} → no value"
            elif key not in a:
                diff = f"{_labels_text(key)}no value → {_fmt(c[key])}"
            elif not _close(a[key], c[key]):
                diff = f"{_labels_text(key)}{_fmt(a[key])} → {_fmt(c[key])}"
            if diff:
                break
        if diff:
            differing += 1
            if len(differences) < 3 and (not differences or differing % 20 == 1):
                differences.append(f"at {_clock(t)}: {diff}")
    return None, differences, differing


@lru_cache(maxsize=4096)
def judge(original: str, rewritten: str) -> Verdict:
    """Compare `original` on era-(a) counters with `rewritten` on era-(c) counters."""
    try:
        before, after = parse(original), parse(rewritten)
    except (PromQLSyntaxError, RecursionError) as err:
        return Verdict(Applicability.UNSAFE, f"could not be verified: {err}")
    before, after = unfiltered(before), unfiltered(after)
    alias_items, extra_items = dataset_key(before, after)
    times = evaluation_times(before, after)
    try:
        a = simulated_evaluator("a", alias_items, extra_items).eval(before, times)
        c = simulated_evaluator("c", alias_items, extra_items).eval(after, times)
    except (EvaluationUnsupported, EvaluationError, ZeroDivisionError, OverflowError, RecursionError) as err:
        return Verdict(Applicability.UNSAFE, f"could not be verified on the reference counters ({err})")
    except Exception as err:  # an evaluator bug must not end the lint run, nor make a fix safe
        return Verdict(Applicability.UNSAFE, f"could not be verified: the oracle failed ({type(err).__name__}: {err})")
    problem, differences, differing = compare(a, c, times)
    if problem:
        return Verdict(Applicability.UNSAFE, f"could not be verified: {problem}")
    if not differences:
        return Verdict(
            Applicability.SAFE,
            f"same values on v0.20+ as the original on v0.16–v0.19 at all {len(times)} instants of the "
            "reference counters (6 engines, 4 models, bursts of full hits, a counter reset)",
        )
    shown = "; ".join(differences) + ("; …" if differing > len(differences) else "")
    return Verdict(Applicability.UNSAFE, f"values change at {differing} of {len(times)} instants ({shown})")


# ------------------------------------------------------------ can the term cancel at all


#: Functions whose value is a linear function of the samples' values (so `f(a) + f(b) - f(c)`
#: is `f(a + b - c)` sample by sample). rate() and friends also depend on *where* samples fall
#: and on resets, which all prompt-token counters of one engine share.
_LINEAR_FUNCTIONS = frozenset({
    "rate", "increase", "irate", "delta", "idelta", "deriv", "sum_over_time", "avg_over_time",
    "last_over_time", "label_replace", "label_join", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc",
})
_LINEAR_AGGREGATIONS = frozenset({"sum", "avg"})


def _nonlinear_part(expr: ast.Expr) -> ast.Expr | None:
    """The first node that makes ``expr`` non-linear in the series it selects, if any."""
    if isinstance(expr, (ast.VectorSelector, ast.NumberLiteral, ast.StringLiteral)):
        return None
    if isinstance(expr, (ast.ParenExpr, ast.UnaryExpr, ast.MatrixSelector, ast.SubqueryExpr)):
        return _nonlinear_part(expr.expr if not isinstance(expr, ast.MatrixSelector) else expr.vector)
    if isinstance(expr, ast.Call):
        if expr.func not in _LINEAR_FUNCTIONS:
            return expr
        return next((p for p in map(_nonlinear_part, expr.args) if p is not None), None)
    if isinstance(expr, ast.AggregateExpr):
        return expr if expr.op not in _LINEAR_AGGREGATIONS else _nonlinear_part(expr.expr)
    if isinstance(expr, ast.BinaryExpr):
        if expr.op in ("+", "-") and not expr.return_bool:
            return _nonlinear_part(expr.lhs) or _nonlinear_part(expr.rhs)
        if expr.op == "*" and (_literal_number(expr.lhs) or _literal_number(expr.rhs)):
            return _nonlinear_part(expr.lhs) or _nonlinear_part(expr.rhs)
        if expr.op == "/" and _literal_number(expr.rhs):
            return _nonlinear_part(expr.lhs)
        return expr
    return expr


def _shape(expr: ast.Expr) -> Any:
    """What a term does to the series it selects, with the selection itself left out."""
    if isinstance(expr, ast.ParenExpr):
        return _shape(expr.expr)
    if isinstance(expr, ast.VectorSelector):
        # Which series a term reads beyond its metric: `{namespace="prod"}` on one term only
        # cancels nothing in the other namespaces. Labels that tell a family's children apart
        # (`source`) and the name itself legitimately differ between the terms.
        scope = tuple(sorted((m.label, m.op, m.value) for m in expr.matchers
                             if m.label != "__name__" and m.label not in _child_labels()))
        return ("selector", scope, _norm(expr.offset), _norm(expr.at))
    if isinstance(expr, ast.MatrixSelector):
        return ("range", _norm(expr.range), _norm(expr.offset), _norm(expr.at), _shape(expr.vector))
    if isinstance(expr, ast.SubqueryExpr):
        return ("subquery", _norm(expr.range), _norm(expr.step), _norm(expr.offset), _norm(expr.at), _shape(expr.expr))
    if isinstance(expr, ast.Call):
        return ("call", expr.func, tuple(_shape(a) for a in expr.args))
    if isinstance(expr, ast.AggregateExpr):
        grouping = tuple(sorted(expr.grouping))
        param = _shape(expr.param) if expr.param is not None else None
        return ("aggregate", expr.op, expr.without, grouping, param, _shape(expr.expr))
    if isinstance(expr, ast.BinaryExpr):
        m = expr.matching
        matching = (m.on, tuple(sorted(m.labels)), m.group, tuple(sorted(m.include))) if m is not None else None
        return ("binary", expr.op, expr.return_bool, matching, _shape(expr.lhs), _shape(expr.rhs))
    if isinstance(expr, ast.UnaryExpr):
        return ("unary", expr.op, _shape(expr.expr))
    if isinstance(expr, ast.NumberLiteral):
        return ("number", expr.value)
    if isinstance(expr, ast.StringLiteral):
        return ("string", expr.value)
    if isinstance(expr, ast.Placeholder):
        return ("placeholder", expr.text)
    return ("unknown", id(expr))  # a node this module does not know never matches another term


@lru_cache(maxsize=1)
def _child_labels() -> frozenset[str]:
    from migrator.reference.catalogue import SURVIVING_PROMPT_METRICS

    return frozenset(label for metric in SURVIVING_PROMPT_METRICS for label, _values in metric.label_values)


def _norm(text: str | None) -> str | None:
    return None if text is None else re.sub(r"\s+", "", text)


def _modifiers(expr: ast.Expr, text: str) -> list[str]:
    """How a term's evaluation is moved in time or window: ranges, offsets, `@`, subqueries."""
    found = []
    for node in ast.walk(expr):
        if isinstance(node, ast.MatrixSelector):
            found.append(f"[{node.range}]")
        if isinstance(node, ast.SubqueryExpr):
            found.append(f"[{node.range}:{node.step or ''}]")
        if getattr(node, "offset", None):
            found.append(f"offset {node.offset}")  # type: ignore[attr-defined]
        if getattr(node, "at", None):
            found.append(f"@ {node.at}")  # type: ignore[attr-defined]
    return found


def _scope(expr: ast.Expr) -> str:
    """The label matchers a term restricts its series with (the ones `_shape` compares)."""
    found = sorted({f'{m.label}{m.op}"{m.value}"' for n in ast.walk(expr) if isinstance(n, ast.VectorSelector)
                    for m in n.matchers if m.label != "__name__" and m.label not in _child_labels()})
    return "{" + ", ".join(found) + "}" if found else ""


def _chain(parent: ast.BinaryExpr, parents: dict[int, ast.Expr]) -> ast.Expr:
    """The outermost +/- expression (through parentheses) the term's parent belongs to."""
    top: ast.Expr = parent
    while True:
        up = parents.get(id(top))
        while isinstance(up, ast.ParenExpr):
            up = parents.get(id(up))
        if isinstance(up, ast.BinaryExpr) and up.op in ("+", "-") and not up.return_bool:
            top = up
            continue
        return top


def _terms(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.ParenExpr):
        inner = expr.expr
        while isinstance(inner, ast.ParenExpr):
            inner = inner.expr
        if isinstance(inner, ast.BinaryExpr) and inner.op in ("+", "-") and not inner.return_bool:
            return _terms(inner)
        return [expr]
    if isinstance(expr, ast.BinaryExpr) and expr.op in ("+", "-") and not expr.return_bool:
        return _terms(expr.lhs) + _terms(expr.rhs)
    return [expr]


def _unparen(expr: ast.Expr) -> ast.Expr:
    while isinstance(expr, ast.ParenExpr):
        expr = expr.expr
    return expr


def cancellation_problem(text: str, term: ast.Expr, parent: ast.BinaryExpr, parents: dict[int, ast.Expr]) -> str | None:
    """Why removing ``term`` from its sum cannot preserve values, whatever the data; None when
    it can (the oracle then measures it). `text` is the expression the nodes index into."""
    nonlinear = _nonlinear_part(term)
    if nonlinear is not None:
        what = nonlinear.op if isinstance(nonlinear, (ast.AggregateExpr, ast.BinaryExpr)) else getattr(nonlinear, "func", "")
        return (f"`{what}` is not linear, so the removed term cannot cancel against the others "
                f"(`{text[nonlinear.start:nonlinear.end]}`): different series or instants can lead each term")
    mine = _shape(term)
    for other in _terms(_chain(parent, parents)):
        if _unparen(other) is _unparen(term) or not _selectors(other):
            continue
        if _shape(other) != mine:
            own, theirs = _modifiers(term, text), _modifiers(other, text)
            own_scope, their_scope = _scope(term), _scope(other)
            if own != theirs:
                detail = (f"it reads {', '.join(own) or 'no range'} where `{text[other.start:other.end]}` reads "
                          f"{', '.join(theirs) or 'no range'}")
            elif own_scope != their_scope:
                detail = (f"it selects {own_scope or 'every series'} where `{text[other.start:other.end]}` selects "
                          f"{their_scope or 'every series'}")
            else:
                detail = (f"`{text[term.start:term.end]}` and `{text[other.start:other.end]}` apply different "
                          "functions or aggregations")
            return ("the removed term is not shaped like the other terms of the sum, so it cannot cancel "
                    f"against them: {detail}")
    return None


__all__ = [
    "Verdict", "aliases", "cancellation_problem", "compare", "dataset_key", "evaluation_times", "extra_labels",
    "judge", "simulated_series", "unfiltered",
]
