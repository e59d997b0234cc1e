"""A tiny PromQL evaluator used as a *semantic oracle* for rewrites.

It is not a query engine.  The input is one value per counter series - the
series' increase over "the" evaluation window - and both sides of an
equivalence check are evaluated over the same data, so time does not exist:

* ``rate``/``irate``/``increase``/``delta``/``idelta`` over a range selector
  return the sample value (window length, extrapolation and offsets/``@`` are
  ignored).  ``avg/min/max/sum/last/first/quantile_over_time`` likewise return
  the value, ``present_over_time`` returns 1.
* A subquery evaluates its inner expression once; a range function applied to it
  is the identity (``avg_over_time(rate(x[1m])[5m:1m])`` == ``rate(x[1m])``).
* A matcher whose value (or label name) contains a Grafana variable or template
  region matches everything (the value is unknown).  A templated metric name,
  a placeholder operand, or a templated grouping label raises
  :class:`EvaluationUnsupported`.

Results are a ``float`` (scalar), a ``str`` (string literal), or an instant
vector: a list of ``(labels, value)`` with ``labels`` a sorted tuple of
``(name, value)`` pairs, sorted by labels.  ``__name__`` is kept only where
Prometheus keeps it (bare selectors, filters, set operators, ``topk``,
``sort``, ``label_replace``...).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Iterable, Mapping

from .ast import (
    COMPARISON_OPS,
    SET_OPS,
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
from .variables import contains_variable

__all__ = [
    "Sample",
    "evaluate",
    "same_result",
    "EvaluationError",
    "EvaluationUnsupported",
    "Labels",
    "InstantVector",
    "Result",
]

Labels = tuple[tuple[str, str], ...]
InstantVector = list[tuple[Labels, float]]
Result = float | str | InstantVector

NAME = "__name__"
NAN = math.nan
INF = math.inf


class EvaluationError(ValueError):
    """The expression is invalid for this data (as Prometheus would report)."""


class EvaluationUnsupported(NotImplementedError):
    """The oracle cannot evaluate this expression (unknown function, variables...)."""


@dataclass(frozen=True)
class Sample:
    """Convenience sample type; any object with ``name``/``labels``/``value`` works."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0


class _Matrix(list):
    """Range vector: one value per series (the series' increase)."""


_Vec = list  # list[tuple[dict[str, str], float]]

_RANGE_IDENTITY = frozenset(
    {
        "rate", "irate", "increase", "delta", "idelta",
        "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
        "last_over_time", "first_over_time",
    }
)
_KEEP_NAME = frozenset(
    {"last_over_time", "first_over_time", "sort", "sort_desc", "sort_by_label",
     "sort_by_label_desc", "label_replace", "label_join"}
)
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _go_max(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a > b else b


def _go_min(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a < b else b


def _safe(f):
    def g(x: float) -> float:
        try:
            return float(f(x))
        except ValueError:
            return NAN
        except OverflowError:
            return INF

    return g


def _finite_or(f):
    def g(x: float) -> float:
        return float(f(x)) if math.isfinite(x) else x

    return g


def _log(base_fn):
    def g(x: float) -> float:
        if x != x or x < 0:
            return NAN
        if x == 0:
            return -INF
        if x == INF:
            return INF
        return base_fn(x)

    return g


def _sgn(x: float) -> float:
    if x != x:
        return NAN
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


_MATH = {
    "abs": abs,
    "ceil": _finite_or(math.ceil),
    "floor": _finite_or(math.floor),
    "sqrt": _safe(math.sqrt),
    "exp": _safe(math.exp),
    "ln": _log(math.log),
    "log2": _log(math.log2),
    "log10": _log(math.log10),
    "sgn": _sgn,
    "deg": math.degrees,
    "rad": math.radians,
    "sin": _safe(math.sin), "cos": _safe(math.cos), "tan": _safe(math.tan),
    "asin": _safe(math.asin), "acos": _safe(math.acos), "atan": _safe(math.atan),
    "sinh": _safe(math.sinh), "cosh": _safe(math.cosh), "tanh": _safe(math.tanh),
    "asinh": _safe(math.asinh), "acosh": _safe(math.acosh), "atanh": _safe(math.atanh),
}


def _is_odd_int(y: float) -> bool:
    return math.isfinite(y) and y == int(y) and int(y) % 2 == 1


def _pow(x: float, y: float) -> float:
    """Go's math.Pow semantics (NaN / ±Inf instead of exceptions)."""
    try:
        return math.pow(x, y)
    except ValueError:
        if x == 0 and y < 0:
            return math.copysign(INF, x) if _is_odd_int(y) else INF
        return NAN
    except OverflowError:
        return -INF if x < 0 and _is_odd_int(y) else INF


def _div(x: float, y: float) -> float:
    if y == 0:
        if x != x or x == 0:
            return NAN
        return math.copysign(INF, x) * math.copysign(1.0, y)
    return x / y


def _mod(x: float, y: float) -> float:
    try:
        return math.fmod(x, y)
    except ValueError:
        return NAN


_ARITH = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "%": _mod,
    "^": _pow,
    "atan2": math.atan2,
}
_CMP = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def _elem_binop(op: str, a: float, b: float) -> tuple[float, bool]:
    f = _ARITH.get(op)
    if f is not None:
        return f(a, b), True
    return a, _CMP[op](a, b)


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error as e:
        raise EvaluationError(f"invalid regular expression {pattern!r}: {e}") from None


def _expand(template: str, m: re.Match) -> str:
    """Go regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out = []
    i, n = 0, len(template)
    groupindex = m.re.groupindex
    while i < n:
        c = template[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        if i + 1 < n and template[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        name = None
        if i + 1 < n and template[i + 1] == "{":
            close = template.find("}", i + 2)
            cand = template[i + 2 : close] if close > 0 else ""
            if close > 0 and cand and re.fullmatch(r"\w+", cand, re.ASCII):
                name, i = cand, close + 1
        else:
            mm = re.match(r"\w+", template[i + 1 :], re.ASCII)
            if mm:
                name, i = mm.group(), i + 1 + mm.end()
        if name is None:  # malformed: keep the '$'
            out.append("$")
            i += 1
            continue
        if name.isdigit():
            idx = int(name)
            val = m.group(idx) if idx <= m.re.groups else None
        else:
            val = m.group(name) if name in groupindex else None
        out.append(val or "")
    return "".join(out)


def _format_value(v: float) -> str:
    """Go strconv.FormatFloat(v, 'f', -1, 64), used by count_values."""
    if v != v:
        return "NaN"
    if v in (INF, -INF):
        return "+Inf" if v > 0 else "-Inf"
    s = format(Decimal(repr(v)), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _quantile(q: float, values: list[float]) -> float:
    if not values or q != q:
        return NAN
    if q < 0:
        return -INF
    if q > 1:
        return INF
    vs = sorted(values)
    n = len(vs)
    rank = q * (n - 1)
    lo = max(0, math.floor(rank))
    hi = min(n - 1, lo + 1)
    w = rank - math.floor(rank)
    return vs[lo] * (1 - w) + vs[hi] * w


def _drop_name(labels: dict) -> dict:
    if NAME in labels:
        labels = dict(labels)
        del labels[NAME]
    return labels


def _key(labels: dict) -> Labels:
    return tuple(sorted(labels.items()))


def _check_unique(vec: _Vec) -> _Vec:
    seen = set()
    for labels, _ in vec:
        k = _key(labels)
        if k in seen:
            raise EvaluationError("vector cannot contain metrics with the same labelset")
        seen.add(k)
    return vec


class _Evaluator:
    def __init__(self, samples: Iterable[Any]):
        rows = []
        for s in samples:
            labels = {k: v for k, v in dict(s.labels).items() if v != "" and k != NAME}
            labels[NAME] = s.name
            rows.append((labels, float(s.value)))
        self.rows = rows

    # ----------------------------------------------------------------- nodes
    def eval(self, node: Expr):
        if isinstance(node, NumberLiteral):
            return node.value
        if isinstance(node, StringLiteral):
            return node.value
        if isinstance(node, ParenExpr):
            return self.eval(node.expr)
        if isinstance(node, VectorSelector):
            return self.select(node)
        if isinstance(node, MatrixSelector):
            return _Matrix(self.select(node.vector))
        if isinstance(node, SubqueryExpr):
            return _Matrix(self.vector(node.expr, "subquery"))
        if isinstance(node, UnaryExpr):
            v = self.eval(node.expr)
            if node.op == "+":
                return v
            if isinstance(v, float):
                return -v
            if isinstance(v, list) and not isinstance(v, _Matrix):
                return _check_unique([(_drop_name(l), -x) for l, x in v])
            raise EvaluationError("unary minus expects a scalar or an instant vector")
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, BinaryExpr):
            return self.binary(node)
        if isinstance(node, Placeholder):
            raise EvaluationUnsupported(f"placeholder {node.text!r} has no value")
        raise EvaluationUnsupported(f"cannot evaluate {type(node).__name__}")

    def vector(self, node: Expr, what: str) -> _Vec:
        v = self.eval(node)
        if not isinstance(v, list) or isinstance(v, _Matrix):
            raise EvaluationError(f"{what} expects an instant vector")
        return v

    def scalar(self, node: Expr, what: str) -> float:
        v = self.eval(node)
        if not isinstance(v, float):
            raise EvaluationError(f"{what} expects a scalar")
        return v

    def string(self, node: Expr, what: str) -> str:
        v = self.eval(node)
        if not isinstance(v, str):
            raise EvaluationError(f"{what} expects a string")
        return v

    def matrix(self, node: Expr, what: str) -> _Matrix:
        v = self.eval(node)
        if not isinstance(v, _Matrix):
            raise EvaluationError(f"{what} expects a range vector")
        return v

    # ------------------------------------------------------------- selectors
    def select(self, node: VectorSelector) -> _Vec:
        if node.templated:
            raise EvaluationUnsupported(f"templated metric name {node.name!r}")
        tests = []
        for m in node.matchers:
            if contains_variable(m.value) or contains_variable(m.label):
                continue  # unknown value: matches everything
            if m.op in ("=~", "!~"):
                rx = _regex(m.value)
                pos = m.op == "=~"
                tests.append((m.label, lambda v, rx=rx, pos=pos: (rx.fullmatch(v) is not None) == pos))
            elif m.op == "=":
                tests.append((m.label, lambda v, want=m.value: v == want))
            else:
                tests.append((m.label, lambda v, want=m.value: v != want))
        out = []
        for labels, value in self.rows:
            if node.name is not None and labels[NAME] != node.name:
                continue
            if all(t(labels.get(label, "")) for label, t in tests):
                out.append((labels, value))
        return out

    # ------------------------------------------------------------- functions
    def call(self, node: Call):
        f = node.func
        args = node.args

        def nargs(lo: int, hi: int | None = None) -> None:
            hi = lo if hi is None else hi
            if not lo <= len(args) <= hi:
                raise EvaluationError(f"wrong number of arguments to {f}")

        if f in _RANGE_IDENTITY:
            nargs(1)
            return _check_unique([(_drop_name(l) if f not in _KEEP_NAME else l, v) for l, v in self.matrix(args[0], f)])
        if f == "quantile_over_time":
            nargs(2)
            self.scalar(args[0], f)
            return _check_unique([(_drop_name(l), v) for l, v in self.matrix(args[1], f)])
        if f == "present_over_time":
            nargs(1)
            return _check_unique([(_drop_name(l), 1.0) for l, _ in self.matrix(args[0], f)])
        if f in ("absent", "absent_over_time"):
            nargs(1)
            arg = args[0]
            v = self.matrix(arg, f) if f == "absent_over_time" else self.vector(arg, f)
            if v:
                return []
            return [(self._absent_labels(arg), 1.0)]
        if f in _MATH:
            nargs(1)
            fn = _MATH[f]
            return _check_unique([(_drop_name(l), float(fn(v))) for l, v in self.vector(args[0], f)])
        if f == "round":
            nargs(1, 2)
            vec = self.vector(args[0], f)
            to = self.scalar(args[1], f) if len(args) == 2 else 1.0
            inv = _div(1.0, to)
            out = []
            for l, v in vec:
                if math.isfinite(v) and math.isfinite(inv) and inv != 0:
                    v = math.floor(v * inv + 0.5) / inv
                out.append((_drop_name(l), v))
            return _check_unique(out)
        if f in ("clamp_min", "clamp_max"):
            nargs(2)
            vec = self.vector(args[0], f)
            s = self.scalar(args[1], f)
            g = _go_max if f == "clamp_min" else _go_min
            return _check_unique([(_drop_name(l), g(s, v)) for l, v in vec])
        if f == "clamp":
            nargs(3)
            vec = self.vector(args[0], f)
            lo, hi = self.scalar(args[1], f), self.scalar(args[2], f)
            if hi < lo:
                return []
            return _check_unique([(_drop_name(l), _go_max(lo, _go_min(hi, v))) for l, v in vec])
        if f == "scalar":
            nargs(1)
            vec = self.vector(args[0], f)
            return vec[0][1] if len(vec) == 1 else NAN
        if f == "vector":
            nargs(1)
            return [({}, self.scalar(args[0], f))]
        if f == "pi":
            nargs(0)
            return math.pi
        if f in ("sort", "sort_desc"):
            nargs(1)
            return self.vector(args[0], f)
        if f in ("sort_by_label", "sort_by_label_desc"):
            nargs(1, len(args) or 1)
            for a in args[1:]:
                self.string(a, f)
            return self.vector(args[0], f)
        if f == "label_replace":
            nargs(5)
            return self._label_replace(args)
        if f == "label_join":
            if len(args) < 3:
                raise EvaluationError("wrong number of arguments to label_join")
            return self._label_join(args)
        raise EvaluationUnsupported(f"function {f!r} is not supported by the oracle")

    def _absent_labels(self, arg: Expr) -> dict:
        sel = arg.vector if isinstance(arg, MatrixSelector) else arg
        if not isinstance(sel, VectorSelector):
            return {}
        labels: dict = {}
        dup = set()
        for m in sel.matchers:
            if m.op != "=" or m.label == NAME:
                continue
            if m.label in labels:
                dup.add(m.label)
            labels[m.label] = m.value
        for d in dup:
            del labels[d]
        return labels

    def _label_replace(self, args) -> _Vec:
        vec = self.vector(args[0], "label_replace")
        dst, repl, src, rx = (self.string(a, "label_replace") for a in args[1:])
        if not _LABEL_NAME_RE.fullmatch(dst) and dst != NAME:
            raise EvaluationError(f"invalid destination label name in label_replace(): {dst}")
        pattern = _regex(f"^(?:{rx})$")
        out = []
        for labels, v in vec:
            m = pattern.match(labels.get(src, ""))
            if m is not None:
                new = _expand(repl, m)
                labels = dict(labels)
                if new:
                    labels[dst] = new
                else:
                    labels.pop(dst, None)
            out.append((labels, v))
        return _check_unique(out)

    def _label_join(self, args) -> _Vec:
        vec = self.vector(args[0], "label_join")
        dst, sep = self.string(args[1], "label_join"), self.string(args[2], "label_join")
        srcs = [self.string(a, "label_join") for a in args[3:]]
        out = []
        for labels, v in vec:
            new = sep.join(labels.get(s, "") for s in srcs)
            labels = dict(labels)
            if new:
                labels[dst] = new
            else:
                labels.pop(dst, None)
            out.append((labels, v))
        return _check_unique(out)

    # ---------------------------------------------------------- aggregations
    def aggregate(self, node: AggregateExpr) -> _Vec:
        op = node.op
        if contains_variable(op):
            raise EvaluationUnsupported(f"templated aggregation {op!r}")
        for g in node.grouping:
            if contains_variable(g):
                raise EvaluationUnsupported(f"templated grouping label {g!r}")
        vec = self.vector(node.expr, op)
        param = None
        if node.param is not None:
            param = self.string(node.param, op) if op == "count_values" else self.scalar(node.param, op)
        grouping = set(node.grouping)

        def group_key(labels: dict) -> dict:
            if node.without:
                return {k: v for k, v in labels.items() if k not in grouping and k != NAME}
            return {k: v for k, v in labels.items() if k in grouping}

        if op == "count_values":
            if not _LABEL_NAME_RE.fullmatch(param):
                raise EvaluationError(f"invalid label name {param!r}")
            counts: dict[Labels, list] = {}
            for labels, v in vec:
                gk = group_key(labels)
                gk[param] = _format_value(v)
                k = _key(gk)
                counts.setdefault(k, [gk, 0.0])[1] += 1
            return [(gk, n) for gk, n in counts.values()]

        groups: dict[Labels, tuple[dict, list]] = {}
        for labels, v in vec:
            gk = group_key(labels)
            groups.setdefault(_key(gk), (gk, []))[1].append((labels, v))

        if op in ("topk", "bottomk"):
            if param != param:
                raise EvaluationError(f"parameter of {op} is NaN")
            k = int(param) if math.isfinite(param) else (len(vec) if param > 0 else 0)
            if k < 1:
                return []
            sign = -1.0 if op == "topk" else 1.0

            def order(item):
                v = item[1]
                return (v != v, sign * v if v == v else 0.0, _key(item[0]))

            out = []
            for _, members in groups.values():
                out.extend(sorted(members, key=order)[:k])
            return out
        if op == "limitk" or op == "limit_ratio":
            raise EvaluationUnsupported(f"{op} is not deterministic")

        out = []
        for gk, members in groups.values():
            vals = [v for _, v in members]
            if op == "sum":
                r = math.fsum(vals) if all(math.isfinite(x) for x in vals) else sum(vals)
            elif op == "avg":
                r = (math.fsum(vals) if all(math.isfinite(x) for x in vals) else sum(vals)) / len(vals)
            elif op == "count":
                r = float(len(vals))
            elif op == "group":
                r = 1.0
            elif op in ("min", "max"):
                finite = [x for x in vals if x == x]
                r = (min(finite) if op == "min" else max(finite)) if finite else NAN
            elif op in ("stddev", "stdvar"):
                mean = sum(vals) / len(vals)
                var = sum((x - mean) ** 2 for x in vals) / len(vals)
                r = math.sqrt(var) if op == "stddev" else var
            elif op == "quantile":
                r = _quantile(param, vals)
            else:
                raise EvaluationUnsupported(f"aggregation {op!r} is not supported")
            out.append((gk, float(r)))
        return out

    # -------------------------------------------------------------- binaries
    def binary(self, node: BinaryExpr):
        op = node.op
        matching = node.matching
        if matching is not None:
            for lbl in matching.labels + matching.include:
                if contains_variable(lbl):
                    raise EvaluationUnsupported(f"templated matching label {lbl!r}")
        lhs = self.eval(node.lhs)
        rhs = self.eval(node.rhs)
        for side in (lhs, rhs):
            if isinstance(side, (_Matrix, str)):
                raise EvaluationError("binary expression must contain only scalar and instant vector types")
        l_scalar, r_scalar = isinstance(lhs, float), isinstance(rhs, float)
        if op in SET_OPS and (l_scalar or r_scalar):
            raise EvaluationError(f"set operator {op!r} not allowed in binary scalar expression")
        if l_scalar and r_scalar:
            if op in COMPARISON_OPS:
                if not node.return_bool:
                    raise EvaluationError("comparisons between scalars must use BOOL modifier")
                return 1.0 if _CMP[op](lhs, rhs) else 0.0
            return float(_ARITH[op](lhs, rhs))
        if l_scalar or r_scalar:
            return self._vector_scalar(op, rhs if l_scalar else lhs, lhs if l_scalar else rhs, l_scalar, node.return_bool)
        if op in SET_OPS:
            return self._set_op(op, lhs, rhs, matching)
        return self._vector_vector(op, lhs, rhs, matching, node.return_bool)

    @staticmethod
    def _vector_scalar(op, vec, s, swap, return_bool) -> _Vec:
        out = []
        is_cmp = op in COMPARISON_OPS
        for labels, v in vec:
            a, b = (s, v) if swap else (v, s)
            value, keep = _elem_binop(op, a, b)
            if is_cmp and swap:
                value = v
            if return_bool:
                value, keep = (1.0 if keep else 0.0), True
            if keep:
                if not is_cmp or return_bool:
                    labels = _drop_name(labels)
                out.append((labels, value))
        return _check_unique(out)

    @staticmethod
    def _signature(matching):
        if matching is not None and matching.on:
            names = matching.labels
            return lambda labels: tuple(labels.get(n, "") for n in names)
        ignore = set(matching.labels) if matching is not None else set()
        ignore.add(NAME)
        return lambda labels: tuple(sorted((k, v) for k, v in labels.items() if k not in ignore))

    def _set_op(self, op, lhs, rhs, matching) -> _Vec:
        sig = self._signature(matching)
        if op == "and":
            rs = {sig(l) for l, _ in rhs}
            return [(l, v) for l, v in lhs if sig(l) in rs]
        if op == "unless":
            rs = {sig(l) for l, _ in rhs}
            return [(l, v) for l, v in lhs if sig(l) not in rs]
        ls = {sig(l) for l, _ in lhs}
        return list(lhs) + [(l, v) for l, v in rhs if sig(l) not in ls]

    def _vector_vector(self, op, lhs, rhs, matching, return_bool) -> _Vec:
        group = matching.group if matching is not None else None
        on = matching.on if matching is not None else False
        mlabels = matching.labels if matching is not None else ()
        include = matching.include if matching is not None else ()
        sig = self._signature(matching)
        if not lhs or not rhs:
            return []
        if group == "right":
            lhs, rhs = rhs, lhs  # iterate over the "many" side
        right: dict = {}
        for labels, v in rhs:
            k = sig(labels)
            if k in right:
                raise EvaluationError(
                    "many-to-many matching not allowed: matching labels must be unique on one side"
                )
            right[k] = (labels, v)
        drop = op in _ARITH
        out = []
        seen_sigs: dict = {}
        for labels, v in lhs:
            k = sig(labels)
            match = right.get(k)
            if match is None:
                continue
            rlabels, rv = match
            a, b = (rv, v) if group == "right" else (v, rv)
            value, keep = _elem_binop(op, a, b)
            if return_bool:
                value, keep = (1.0 if keep else 0.0), True
            if not keep:
                continue
            if group is None:
                if k in seen_sigs:
                    raise EvaluationError(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                    )
                seen_sigs[k] = None
            res = dict(labels)
            if drop or return_bool:
                res.pop(NAME, None)
            if group is None:
                if on:
                    res = {n: x for n, x in res.items() if n in mlabels}
                else:
                    for n in mlabels:
                        res.pop(n, None)
            for n in include:
                x = rlabels.get(n, "")
                if x:
                    res[n] = x
                else:
                    res.pop(n, None)
            if group is not None:
                inserted = seen_sigs.setdefault(k, set())
                rk = _key(res)
                if rk in inserted:
                    raise EvaluationError(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                    )
                inserted.add(rk)
            out.append((res, value))
        return _check_unique(out)


def evaluate(expr: Expr, samples: Iterable[Any]) -> Result:
    """Evaluate *expr* over *samples* (objects with ``name``, ``labels``, ``value``)."""
    r = _Evaluator(samples).eval(expr)
    if isinstance(r, _Matrix):
        raise EvaluationUnsupported("range vector results are not supported")
    if isinstance(r, list):
        return sorted(((_key(l), float(v)) for l, v in r), key=lambda x: x[0])
    return r


def _norm_labels(labels) -> Labels:
    if isinstance(labels, Mapping):
        items = labels.items()
    else:
        items = labels
    return tuple(sorted((str(k), str(v)) for k, v in items))


def _feq(x: float, y: float, rel_tol: float, abs_tol: float) -> bool:
    if x != x or y != y:
        return x != x and y != y
    if x == y:
        return True
    return math.isclose(x, y, rel_tol=rel_tol, abs_tol=abs_tol)


def same_result(a: Result, b: Result, rel_tol: float = 1e-9, abs_tol: float = 1e-12) -> bool:
    """Compare two :func:`evaluate` results; vectors are compared as label-set maps,
    NaN equals NaN, floats are compared with tolerances."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a_vec, b_vec = isinstance(a, list), isinstance(b, list)
    if a_vec != b_vec:
        return False
    if not a_vec:
        return _feq(float(a), float(b), rel_tol, abs_tol)
    if len(a) != len(b):
        return False
    def norm(vec):
        items = [(_norm_labels(l), float(v)) for l, v in vec]
        return sorted(items, key=lambda x: (x[0], x[1] != x[1], x[1] if x[1] == x[1] else 0.0))

    na, nb = norm(a), norm(b)
    for (la, va), (lb, vb) in zip(na, nb):
        if la != lb or not _feq(va, vb, rel_tol, abs_tol):
            return False
    return True
