"""Grafana templating queries: ``label_values``, ``query_result``, ``metrics``, ``label_names``.

These wrap PromQL (or a bare regex) in a function Grafana evaluates itself; the PromQL inside
is parsed with :func:`~.parser.parse`, with offsets into the whole query text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ast import Expr, Span, VectorSelector
from .lexer import PromQLSyntaxError, tokenize
from .parser import parse

__all__ = ["GrafanaQuery", "parse_grafana_query"]


_GRAFANA_FUNC = re.compile(r"\s*(label_values|query_result|metrics|label_names)\s*\(", re.ASCII)


@dataclass(frozen=True, slots=True, kw_only=True)
class GrafanaQuery:
    """A Grafana templating query.

    kind:
      * ``'promql'``        -- plain PromQL; ``expr`` is the tree.
      * ``'label_values'``  -- ``label_values([selector,] label)``; ``expr`` is the
        selector (None for ``label_values(label)``), ``label``/``label_span`` the label.
      * ``'query_result'``  -- ``query_result(<promql>)``; ``expr`` is the inner query.
      * ``'metrics'``       -- ``metrics(regex)``; ``regex``/``regex_span`` is the raw regex.
      * ``'label_names'``   -- ``label_names([selector])``; ``expr`` the optional selector.

    All spans/offsets index into the full text passed to :func:`parse_grafana_query`.
    """

    kind: str
    expr: Expr | None = None
    label: str | None = None
    label_span: Span | None = None
    regex: str | None = None
    regex_span: Span | None = None
    args_span: Span | None = None
    start: int
    end: int

    @property
    def metric_span(self) -> Span | None:
        """Span of the metric name the query is about, if any."""
        if self.kind == "metrics":
            return self.regex_span
        if isinstance(self.expr, VectorSelector):
            return self.expr.name_span
        return None


def _strip_span(text: str, lo: int, hi: int) -> Span:
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    return lo, hi


def parse_grafana_query(text: str) -> GrafanaQuery:
    """Classify and parse a Grafana variable/panel query (see :class:`GrafanaQuery`)."""
    start, end = _strip_span(text, 0, len(text))
    m = _GRAFANA_FUNC.match(text)
    if m is None:
        return GrafanaQuery(kind="promql", expr=parse(text), start=start, end=end)
    kind = m.group(1)
    if text[end - 1 : end] != ")":
        raise PromQLSyntaxError(f"expected ')' at the end of {kind}(...)", end, text)
    lo, hi = m.end(), end - 1
    args_span = (lo, hi)
    a, b = _strip_span(text, lo, hi)
    if kind == "metrics":
        return GrafanaQuery(
            kind=kind, regex=text[a:b], regex_span=(a, b), args_span=args_span, start=start, end=end
        )
    if kind == "query_result":
        return GrafanaQuery(kind=kind, expr=parse(text, lo, hi), args_span=args_span, start=start, end=end)
    if kind == "label_names":
        expr = parse(text, lo, hi) if a < b else None
        return GrafanaQuery(kind=kind, expr=expr, args_span=args_span, start=start, end=end)
    # label_values: split at the last top-level comma.
    comma = None
    depth = 0
    for t in tokenize(text, lo, hi):
        if t.kind in ("(", "{"):
            depth += 1
        elif t.kind in (")", "}"):
            depth -= 1
        elif t.kind == "," and depth == 0:
            comma = t
    if comma is None:
        expr = None
        la, lb = a, b
    else:
        expr = parse(text, lo, comma.start)
        la, lb = _strip_span(text, comma.end, hi)
    label = text[la:lb]
    if not label:
        raise PromQLSyntaxError("label_values() needs a label name", lb, text)
    return GrafanaQuery(
        kind=kind, expr=expr, label=label, label_span=(la, lb), args_span=args_span, start=start, end=end
    )
