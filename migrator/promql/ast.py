"""PromQL syntax tree with exact source positions.

Every node is a frozen, slotted dataclass with ``start``/``end``: half-open
character offsets into the string that was parsed, so ``text[node.start:node.end]``
is exactly the node's source.  Other ``*_span`` fields are ``(start, end)`` pairs
into the same string.  All constructors are keyword-only.

Prometheus 3 additions are extra fields with defaults, so older consumers keep
working: quoted (UTF-8) metric names (``quoted_name_span``), duration
expressions (``range_expr``/``step_expr``/``offset_expr``) and the ``anchored``/
``smoothed`` selector modifiers.  A duration expression is built from the same
node classes as any expression (``NumberLiteral``, ``BinaryExpr``, ``UnaryExpr``,
``ParenExpr``, ``Call`` for ``step()``/``range()``/``min(a, b)``, ``Placeholder``
for a templated duration) but is never a child: :func:`walk` does not visit it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union

__all__ = [
    "Span",
    "Node",
    "Expr",
    "LabelMatcher",
    "VectorSelector",
    "MatrixSelector",
    "SubqueryExpr",
    "Call",
    "AggregateExpr",
    "VectorMatching",
    "BinaryExpr",
    "UnaryExpr",
    "ParenExpr",
    "NumberLiteral",
    "StringLiteral",
    "Placeholder",
    "children",
    "walk",
    "depth",
    "AGGREGATE_OPS",
    "PARAM_AGGREGATE_OPS",
    "BINARY_PRECEDENCE",
    "COMPARISON_OPS",
    "SET_OPS",
]

Span = tuple[int, int]

AGGREGATE_OPS = frozenset(
    {
        "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar",
        "topk", "bottomk", "count_values", "quantile", "limitk", "limit_ratio",
    }
)
PARAM_AGGREGATE_OPS = frozenset({"topk", "bottomk", "count_values", "quantile", "limitk", "limit_ratio"})
# Higher binds tighter.  ``^`` is right-associative, all others left-associative.
BINARY_PRECEDENCE = {
    "or": 1,
    "and": 2, "unless": 2,
    "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3,
    "+": 4, "-": 4,
    "*": 5, "/": 5, "%": 5, "atan2": 5,
    "^": 6,
}
COMPARISON_OPS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
SET_OPS = frozenset({"and", "or", "unless"})

_DC = dict(frozen=True, slots=True, kw_only=True)


class _SpanMixin:
    __slots__ = ()

    @property
    def span(self) -> Span:
        return (self.start, self.end)  # type: ignore[attr-defined]


@dataclass(**_DC)
class LabelMatcher(_SpanMixin):
    """``label op "value"``.  ``value`` is decoded; ``value_span`` includes the quotes."""

    label: str
    op: str  # '=', '!=', '=~', '!~'
    value: str
    label_span: Span
    op_span: Span
    value_span: Span
    start: int
    end: int


@dataclass(**_DC)
class VectorSelector(_SpanMixin):
    """``name{matchers} offset X @ Y``.

    ``name`` is None for ``{__name__=...}``-only selectors.  A quoted metric name
    inside the braces (Prometheus 3: ``{"my.metric"}``) sets ``name`` (decoded)
    exactly like an unquoted one; ``name_span`` then covers the characters
    between the quotes (so replacing it renames the metric and keeps the quotes)
    and ``quoted_name_span`` the whole literal.  ``templated`` is True when the
    name contains a Grafana variable or a Helm/Jinja region (``name`` then holds
    the raw text).  ``template_spans`` are opaque template regions glued to the
    selector or used as items of its matcher list (``up{a="b", {{ .Values.extra }}}``).
    ``offset`` is the offset's source text without blanks; ``offset_expr`` its
    parsed duration expression.  ``anchored_span``/``smoothed_span`` locate the
    Prometheus 3 ``anchored``/``smoothed`` keywords when present.
    """

    name: str | None
    name_span: Span | None
    matchers: tuple[LabelMatcher, ...]
    offset: str | None = None
    offset_span: Span | None = None
    at: str | None = None
    at_span: Span | None = None
    braces_span: Span | None = None
    templated: bool = False
    template_spans: tuple[Span, ...] = ()
    quoted_name_span: Span | None = None
    offset_expr: "Expr | None" = None
    anchored_span: Span | None = None
    smoothed_span: Span | None = None
    start: int
    end: int

    @property
    def anchored(self) -> bool:
        return self.anchored_span is not None

    @property
    def smoothed(self) -> bool:
        return self.smoothed_span is not None


@dataclass(**_DC)
class MatrixSelector(_SpanMixin):
    """``vector[range] offset X @ Y``.  ``range_span`` covers the duration text only
    (``range`` is that text, ``range_expr`` its parsed duration expression: ``5m``
    or, in Prometheus 3, ``5m * 2``); ``brackets_span`` covers ``[...]``.
    Offset/@/``anchored``/``smoothed`` written after the range are stored here
    (the inner ``vector`` never has them)."""

    vector: VectorSelector
    range: str
    range_span: Span
    brackets_span: Span
    offset: str | None = None
    offset_span: Span | None = None
    at: str | None = None
    at_span: Span | None = None
    range_expr: "Expr | None" = None
    offset_expr: "Expr | None" = None
    anchored_span: Span | None = None
    smoothed_span: Span | None = None
    start: int
    end: int

    @property
    def anchored(self) -> bool:
        return self.anchored_span is not None

    @property
    def smoothed(self) -> bool:
        return self.smoothed_span is not None


@dataclass(**_DC)
class SubqueryExpr(_SpanMixin):
    """``expr[range:step] offset X @ Y``; ``step`` is None for ``[range:]``.
    ``range_expr``/``step_expr``/``offset_expr`` are the parsed duration expressions."""

    expr: "Expr"
    range: str
    step: str | None
    range_span: Span
    step_span: Span | None
    brackets_span: Span
    offset: str | None = None
    offset_span: Span | None = None
    at: str | None = None
    at_span: Span | None = None
    range_expr: "Expr | None" = None
    step_expr: "Expr | None" = None
    offset_expr: "Expr | None" = None
    start: int
    end: int


@dataclass(**_DC)
class Call(_SpanMixin):
    """``func(args...)``; ``lparen``/``rparen`` are offsets of the parentheses."""

    func: str
    func_span: Span
    args: tuple["Expr", ...]
    lparen: int
    rparen: int
    start: int
    end: int


@dataclass(**_DC)
class AggregateExpr(_SpanMixin):
    """``op [by|without (labels)] ([param,] expr) [by|without (labels)]``.

    ``op`` is lower-cased (PromQL keywords are case-insensitive); a templated
    operator (``$agg``) is kept raw.  ``grouping_span`` runs from the ``by``/
    ``without`` keyword to its ``)``; ``grouping_spans`` are the label spans.
    """

    op: str
    op_span: Span
    expr: "Expr"
    param: "Expr | None"
    grouping: tuple[str, ...]
    without: bool
    grouping_span: Span | None
    grouping_spans: tuple[Span, ...] = ()
    lparen: int
    rparen: int
    start: int
    end: int


@dataclass(**_DC)
class VectorMatching(_SpanMixin):
    """``on|ignoring (labels) [group_left|group_right [(include)]]``."""

    on: bool
    labels: tuple[str, ...]
    group: str | None  # 'left' | 'right' | None
    include: tuple[str, ...]
    label_spans: tuple[Span, ...] = ()
    include_spans: tuple[Span, ...] = ()
    start: int
    end: int


@dataclass(**_DC)
class BinaryExpr(_SpanMixin):
    op: str  # lower-cased for keyword operators ('and', 'or', 'unless', 'atan2')
    op_span: Span
    lhs: "Expr"
    rhs: "Expr"
    return_bool: bool = False
    matching: VectorMatching | None = None
    start: int
    end: int


@dataclass(**_DC)
class UnaryExpr(_SpanMixin):
    op: str  # '-' or '+'
    expr: "Expr"
    start: int
    end: int


@dataclass(**_DC)
class ParenExpr(_SpanMixin):
    expr: "Expr"
    start: int
    end: int


@dataclass(**_DC)
class NumberLiteral(_SpanMixin):
    """A number (``1``, ``0x1f``, ``1e3``, ``Inf``, ``NaN``) or a duration used as a
    number (``5m`` -> 300.0)."""

    value: float
    text: str
    start: int
    end: int


@dataclass(**_DC)
class StringLiteral(_SpanMixin):
    value: str  # decoded
    start: int
    end: int


@dataclass(**_DC)
class Placeholder(_SpanMixin):
    """An opaque Grafana variable or Helm/Jinja region used as an operand."""

    text: str
    start: int
    end: int


Expr = Union[
    VectorSelector,
    MatrixSelector,
    SubqueryExpr,
    Call,
    AggregateExpr,
    BinaryExpr,
    UnaryExpr,
    ParenExpr,
    NumberLiteral,
    StringLiteral,
    Placeholder,
]
Node = Union[Expr, LabelMatcher, VectorMatching]


def children(node: Node) -> tuple[Expr, ...]:
    """Direct sub-expressions of *node* in source order (matchers are not included)."""
    if isinstance(node, BinaryExpr):
        return (node.lhs, node.rhs)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, AggregateExpr):
        return (node.param, node.expr) if node.param is not None else (node.expr,)
    if isinstance(node, MatrixSelector):
        return (node.vector,)
    if isinstance(node, (SubqueryExpr, ParenExpr, UnaryExpr)):
        return (node.expr,)
    return ()


def walk(node: Node) -> Iterator[Expr]:
    """Pre-order traversal of *node* and all its sub-expressions (iterative: trees
    thousands of levels deep are fine)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n  # type: ignore[misc]
        stack.extend(reversed(children(n)))


def depth(node: Node) -> int:
    """Number of nodes on the longest root-to-leaf path (``x`` is 1, ``x + y`` is 2)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        n, d = stack.pop()
        if d > deepest:
            deepest = d
        stack.extend((c, d + 1) for c in children(n))
    return deepest
