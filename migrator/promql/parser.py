"""PromQL parser with exact positions: an operator-precedence parser on an explicit stack.

``parse(text)`` returns an :mod:`~migrator.promql.ast` tree whose offsets index
into *text*.  The parser is structural: it does not type-check (``sum(1)`` is
accepted) and it accepts unknown function names, but it follows Prometheus'
grammar for precedence, associativity, modifiers and selectors, including the
Prometheus 3 additions (quoted UTF-8 names, duration expressions, digit
separators, ``anchored``/``smoothed``).

No Python recursion follows the nesting of the input: parentheses, calls,
aggregations and operators are kept on explicit stacks, so a 20,000-level
parenthesis nest or a 5,000-term sum parses like any other expression (the
tree is built bottom-up, and every helper in this package walks it iteratively).

``parse_grafana_query(text)`` (from :mod:`.grafana`) additionally recognises
Grafana's templating query functions, which are not PromQL.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from .ast import (
    AGGREGATE_OPS,
    BINARY_PRECEDENCE,
    COMPARISON_OPS,
    PARAM_AGGREGATE_OPS,
    SET_OPS,
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    Placeholder,
    Span,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)
from .functions import FUNCTIONS
from .lexer import GRAFANA_VARIABLE_RE, PromQLSyntaxError, Token, duration_seconds
from .literals import decode_string, number_value
from .selectors import SelectorParser

__all__ = ["parse", "parse_grafana_query", "GrafanaQuery", "PromQLSyntaxError", "decode_string"]

_KEYWORD_BINOPS = frozenset({"and", "or", "unless", "atan2"})
_NOT_METRIC_NAMES = frozenset({"bool", "on", "ignoring", "group_left", "group_right"})
_GROUP_KW = frozenset({"by", "without"})
_SELECTOR_TYPES = (VectorSelector, MatrixSelector, SubqueryExpr)
_RANGE_MODIFIER_TYPES = (VectorSelector, MatrixSelector)
# A unary operator binds like `^`'s left operand: `-a ^ b` is `-(a ^ b)`, `-a * b` is `(-a) * b`.
_UNARY_PREC = BINARY_PRECEDENCE["^"]
_BLANKS = re.compile(r"\s+")
_POSTFIX_KINDS = frozenset({"[", "@", "IDENT"})
_DURATION_END = frozenset({"]", ":"})


class _Frame:
    """One open parenthesis level: the top level, `( … )`, or the arguments of a call or
    aggregation.  ``values``/``ops`` are the operand and operator stacks of the
    expression being read inside it."""

    __slots__ = ("kind", "head", "lp", "grouping", "args", "values", "ops")

    def __init__(self, kind: str, head: Token | None = None, lp: Token | None = None, grouping: tuple | None = None):
        self.kind = kind  # "top" | "paren" | "call" | "tcall" (templated function) | "agg"
        self.head = head  # function / aggregation token
        self.lp = lp
        self.grouping = grouping  # aggregation: `by (...)` written before the arguments
        self.args: list[Expr] = []
        self.values: list[Expr] = []
        self.ops: list[tuple] = []  # ("u", token) | ("b", token, op, prec, return_bool, matching)


class _Parser(SelectorParser):
    __slots__ = ()

    # ------------------------------------------------------------- expressions
    def parse_top(self) -> Expr:
        t = self.peek()
        if t.kind == "EOF":
            raise self.error("empty expression", t.start)
        return self.parse_expression()

    def parse_expression(self) -> Expr:
        """The whole token stream as one expression (shunting-yard with a frame per
        open parenthesis)."""
        toks = self.toks
        frames = [_Frame("top")]
        frame = frames[0]
        while True:
            # ---- an operand (prefix operators first)
            t = toks[self.i]
            k = t.kind
            if k == "-" or k == "+":
                self.i += 1
                frame.ops.append(("u", t))
                continue
            opened = self.open_group(t)
            if opened is not None:
                frames.append(opened)
                frame = opened
                if toks[self.i].kind != ")" or opened.kind == "paren":
                    continue
                operand = None  # `f()`: no argument to read
            else:
                operand = self.parse_postfix(self.parse_primary())
            # ---- operators after the operand; closing groups
            while True:
                if operand is not None:
                    frame.values.append(operand)
                    operand = None
                t = toks[self.i]
                k = t.kind
                if k in BINARY_PRECEDENCE:
                    self.push_binary(frame, t, k)
                    break
                if k == "IDENT":
                    low = t.text.lower()
                    if low in _KEYWORD_BINOPS:
                        self.push_binary(frame, t, low)
                        break
                values = frame.values
                if frame.ops:
                    self.reduce(frame, 0)
                value = values.pop() if values else None  # None: an empty argument list
                if frame.kind == "top":
                    self.expect_end(t)
                    return value  # type: ignore[return-value]
                operand = self.close_group(frame, value)
                if operand is None:  # `,`: the next argument follows
                    break
                frames.pop()
                frame = frames[-1]
                operand = self.parse_postfix(operand)

    def push_binary(self, frame: _Frame, t: Token, op: str) -> None:
        prec = BINARY_PRECEDENCE[op]
        if frame.ops:
            # `^` is right-associative: an equal-precedence operator on the stack stays.
            self.reduce(frame, prec + 1 if op == "^" else prec)
        self.i += 1
        return_bool, matching = self.parse_bin_modifiers(op)
        frame.ops.append(("b", t, op, prec, return_bool, matching))

    @staticmethod
    def reduce(frame: _Frame, min_prec: int) -> None:
        """Apply stacked operators that bind at least as tightly as *min_prec*."""
        ops, values = frame.ops, frame.values
        while ops:
            top = ops[-1]
            if (_UNARY_PREC if top[0] == "u" else top[3]) < min_prec:
                return
            ops.pop()
            if top[0] == "u":
                operand = values.pop()
                t = top[1]
                values.append(UnaryExpr(op=t.kind, expr=operand, start=t.start, end=operand.end))
                continue
            _, t, op, _, return_bool, matching = top
            rhs = values.pop()
            lhs = values.pop()
            values.append(BinaryExpr(
                op=op, op_span=(t.start, t.end), lhs=lhs, rhs=rhs, return_bool=return_bool,
                matching=matching, start=lhs.start, end=rhs.end,
            ))

    def expect_end(self, t: Token) -> None:
        if t.kind != "EOF":
            if t.kind == ")":
                raise self.error("unexpected right parenthesis ')'", t.start)
            raise self.unexpected(t, "expected an operator or end of expression")

    def open_group(self, t: Token) -> _Frame | None:
        """If *t* starts `( … )`, a call or an aggregation, consume up to and including
        the `(` and return the new frame."""
        k = t.kind
        if k == "EOF":
            return None
        nxt = self.toks[self.i + 1]
        if k == "(":
            self.i += 1
            return _Frame("paren", lp=t)
        if k == "IDENT":
            if nxt.kind == "(":
                low = t.text.lower()
                if low in AGGREGATE_OPS:
                    return self.open_aggregate(t, low)
                self.i += 2
                return _Frame("call", head=t, lp=nxt)
            if nxt.kind == "IDENT" and nxt.text.lower() in _GROUP_KW and t.text.lower() in AGGREGATE_OPS:
                return self.open_aggregate(t, t.text.lower())
            return None
        if k == "TVAR" or k == "TEMPLATE":
            if nxt.kind == "(":
                self.i += 2
                return _Frame("tcall", head=t, lp=nxt)
            if self.is_kw(nxt, _GROUP_KW):
                return self.open_aggregate(t, t.text)
        return None

    def open_aggregate(self, op_tok: Token, op: str) -> _Frame:
        self.i += 1
        grouping = self.parse_grouping() if self.is_kw(self.peek(), _GROUP_KW) else None
        lp = self.peek()
        if lp.kind != "(":
            raise self.unexpected(lp, f"expected '(' after aggregation {op_tok.text!r}")
        self.i += 1
        return _Frame("agg", head=op_tok, lp=lp, grouping=(op, grouping))

    def close_group(self, frame: _Frame, value: Expr | None) -> Expr | None:
        """At the end of an expression inside *frame*: `)` closes it (returns the node),
        `,` starts the next argument (returns None)."""
        t = self.toks[self.i]
        lp = frame.lp
        assert lp is not None
        if frame.kind == "paren":
            if t.kind != ")":
                if t.kind == "EOF":
                    raise self.error("unclosed left parenthesis", lp.start)
                raise self.unexpected(t, "expected ')'")
            self.i += 1
            return ParenExpr(expr=value, start=lp.start, end=t.end)  # type: ignore[arg-type]
        if value is not None:
            frame.args.append(value)
        if t.kind == "," and value is not None:
            self.i += 1
            if self.toks[self.i].kind == ")":
                raise self.error("trailing commas not allowed in function call args", t.start)
            return None
        if t.kind == ")":
            self.i += 1
            if frame.kind == "agg":
                return self.finish_aggregate(frame, t.start)
            call = self.finish_call(frame.head, lp, frame.args, t.start)  # type: ignore[arg-type]
            if frame.kind == "tcall" and self.is_kw(self.peek(), _GROUP_KW) and len(call.args) in (1, 2):
                return self.finish_templated_aggregate(call)
            return call
        if t.kind == "EOF":
            raise self.error("unclosed left parenthesis", lp.start)
        raise self.unexpected(t, "expected ',' or ')'")

    def parse_primary(self) -> Expr:
        """An operand that contains no sub-expression (groups are opened by the caller)."""
        toks = self.toks
        t = toks[self.i]
        k = t.kind
        if k == "IDENT":
            self.i += 1
            low = t.text.lower()
            if low in ("inf", "nan"):
                return NumberLiteral(value=float(low), text=t.text, start=t.start, end=t.end)
            if low in _NOT_METRIC_NAMES:
                raise self.error(f"unexpected keyword {t.text!r}", t.start)
            return self.parse_selector(t, templated=False)
        if k == "NUMBER":
            self.i += 1
            return NumberLiteral(value=number_value(t.text), text=t.text, start=t.start, end=t.end)
        if k == "STRING":
            self.i += 1
            return StringLiteral(value=decode_string(t.text, t.start, self.text), start=t.start, end=t.end)
        if k == "{":
            return self.parse_selector(None, templated=False)
        if k == "TVAR" or k == "TEMPLATE":
            self.i += 1
            nxt = toks[self.i]
            pure = k == "TEMPLATE" or GRAFANA_VARIABLE_RE.fullmatch(t.text) is not None
            if not pure or nxt.kind == "{" or nxt.kind == "[":
                return self.parse_selector(t, templated=True)
            return Placeholder(text=t.text, start=t.start, end=t.end)
        if k == "DURATION":
            self.i += 1
            return NumberLiteral(value=duration_seconds(t.text), text=t.text, start=t.start, end=t.end)
        if k == "EOF":
            raise self.error("unexpected end of input", t.start)
        raise self.unexpected(t, "expected an expression")

    def finish_call(self, func: Token, lp: Token, args: list[Expr], rp: int) -> Call:
        sig = FUNCTIONS.get(func.text)
        if sig is not None:
            n, lo = len(args), len(sig.args) - sig.optional
            if n < lo or (n > len(sig.args) and not sig.variadic):
                want = str(lo) if not sig.optional and not sig.variadic else f"{lo}+" if sig.variadic else f"{lo}-{len(sig.args)}"
                raise self.error(
                    f"expected {want} argument(s) in call to {func.text!r}, got {n}", func.start
                )
        return Call(
            func=func.text,
            func_span=(func.start, func.end),
            args=tuple(args),
            lparen=lp.start,
            rparen=rp,
            start=func.start,
            end=rp + 1,
        )

    def parse_grouping(self) -> tuple[bool, tuple[str, ...], tuple[Span, ...], Span]:
        kw = self.toks[self.i]
        self.i += 1
        low = kw.text.lower()
        labels, spans, _, rp = self.parse_label_list(low)
        return low == "without", labels, spans, (kw.start, rp + 1)

    def finish_aggregate(self, frame: _Frame, rp: int) -> AggregateExpr:
        op_tok = frame.head
        assert op_tok is not None and frame.lp is not None
        op, grouping = frame.grouping
        args = frame.args
        end = rp + 1
        if self.is_kw(self.peek(), _GROUP_KW):
            if grouping is not None:
                raise self.unexpected(self.peek(), "grouping already specified")
            grouping = self.parse_grouping()
        if op in PARAM_AGGREGATE_OPS:
            if len(args) != 2:
                raise self.error(
                    f"wrong number of arguments for aggregate expression provided, expected 2, got {len(args)}",
                    op_tok.start,
                )
        elif op in AGGREGATE_OPS:
            if len(args) != 1:
                raise self.error(
                    f"wrong number of arguments for aggregate expression provided, expected 1, got {len(args)}",
                    op_tok.start,
                )
        elif len(args) not in (1, 2):
            raise self.error("aggregation expects 1 or 2 arguments", op_tok.start)
        return self._make_aggregate(op, (op_tok.start, op_tok.end), args, grouping, frame.lp.start, rp, end)
    def parse_bin_modifiers(self, op: str) -> tuple[bool, VectorMatching | None]:
        t = self.peek()
        return_bool = False
        if t.kind == "IDENT" and t.text.lower() == "bool":
            if op not in COMPARISON_OPS:
                raise self.error("bool modifier can only be used on comparison operators", t.start)
            self.i += 1
            return_bool = True
            t = self.peek()
        if t.kind != "IDENT":
            return return_bool, None
        low = t.text.lower()
        if low in ("group_left", "group_right"):
            raise self.error(f"{low} must be preceded by on(...) or ignoring(...)", t.start)
        if low not in ("on", "ignoring"):
            return return_bool, None
        self.i += 1
        labels, spans, _, rp = self.parse_label_list("on" if low == "on" else "ignoring")
        end = rp + 1
        group = None
        include: tuple[str, ...] = ()
        include_spans: tuple[Span, ...] = ()
        g = self.peek()
        if g.kind == "IDENT" and g.text.lower() in ("group_left", "group_right"):
            if op in SET_OPS:
                raise self.error(f"no grouping allowed for '{op}' operation", g.start)
            self.i += 1
            group = "left" if g.text.lower() == "group_left" else "right"
            end = g.end
            if self.peek().kind == "(":
                include, include_spans, _, rp2 = self.parse_label_list(g.text.lower())
                end = rp2 + 1
        return return_bool, VectorMatching(
            on=low == "on",
            labels=labels,
            group=group,
            include=include,
            label_spans=spans,
            include_spans=include_spans,
            start=t.start,
            end=end,
        )

    @staticmethod
    def _make_aggregate(op, op_span, args, grouping, lparen, rparen, end) -> AggregateExpr:
        without, labels, spans, gspan = grouping if grouping else (False, (), (), None)
        if gspan is not None:
            end = max(end, gspan[1])
        return AggregateExpr(
            op=op,
            op_span=op_span,
            expr=args[-1],
            param=args[0] if len(args) == 2 else None,
            grouping=labels,
            without=without,
            grouping_span=gspan,
            grouping_spans=spans,
            lparen=lparen,
            rparen=rparen,
            start=op_span[0],
            end=end,
        )

    def finish_templated_aggregate(self, call: Call) -> AggregateExpr:
        grouping = self.parse_grouping()
        return self._make_aggregate(
            call.func, call.func_span, list(call.args), grouping, call.lparen, call.rparen, call.end
        )

    # --------------------------------------------------------------- modifiers
    def bracket_duration(self) -> Expr:
        """A range or subquery step: a duration expression; a literal must be positive."""
        toks = self.toks
        t = toks[self.i]
        if t.kind == "DUR" and toks[self.i + 1].kind in _DURATION_END:  # the usual `[5m]`
            self.i += 1
            expr = self.duration_literal(t)
        else:
            expr = self.duration_expr(0)
        # Prometheus folds signs and parentheses around a literal into the literal.
        literal, sign = expr, 1.0
        while isinstance(literal, (UnaryExpr, ParenExpr)):
            if isinstance(literal, UnaryExpr) and literal.op == "-":
                sign = -sign
            literal = literal.expr
        if isinstance(literal, NumberLiteral) and not sign * literal.value > 0:
            raise self.error("duration must be greater than 0", expr.start)
        return expr

    def parse_postfix(self, node: Expr) -> Expr:
        toks = self.toks
        while True:
            t = toks[self.i]
            k = t.kind
            if k not in _POSTFIX_KINDS:
                return node
            if k == "[":
                node = self.parse_brackets(node)
            elif k == "@":
                node = self.parse_at(node)
            elif k == "IDENT":
                low = t.text.lower()
                if low == "offset":
                    node = self.parse_offset(node)
                elif low in ("anchored", "smoothed") and isinstance(node, _RANGE_MODIFIER_TYPES):
                    node = self.parse_range_modifier(node, t, low)
                else:
                    return node
            else:
                return node

    def parse_brackets(self, node: Expr) -> Expr:
        """``[range]`` or ``[range:step]`` / ``[range:]``; each a duration expression."""
        toks = self.toks
        lb = toks[self.i]
        self.i += 1
        if toks[self.i].kind == "EOF":
            raise self.error("unclosed left bracket", lb.start)
        range_expr = self.bracket_duration()
        step_expr = None
        colon = toks[self.i]
        if colon.kind == ":":
            self.i += 1
            if toks[self.i].kind not in ("]", "EOF"):
                step_expr = self.bracket_duration()
        rb = toks[self.i]
        if rb.kind != "]":
            if rb.kind == "EOF":
                raise self.error("unclosed left bracket", lb.start)
            raise self.unexpected(rb, "expected ']'")
        self.i += 1
        range_text = self.text[range_expr.start : range_expr.end]
        if colon.kind == ":":
            if isinstance(node, (MatrixSelector, SubqueryExpr)):
                raise self.error("subquery is only allowed on instant vector expressions", lb.start)
            return SubqueryExpr(
                expr=node,
                range=range_text,
                step=self.text[step_expr.start : step_expr.end] if step_expr else None,
                range_span=(range_expr.start, range_expr.end),
                step_span=(step_expr.start, step_expr.end) if step_expr else None,
                brackets_span=(lb.start, rb.end),
                range_expr=range_expr,
                step_expr=step_expr,
                start=node.start,
                end=rb.end,
            )
        if not isinstance(node, VectorSelector):
            raise self.error("ranges only allowed for vector selectors", lb.start)
        if node.offset is not None or node.at is not None:
            raise self.error("no offset or @ modifiers allowed before range", lb.start)
        if node.anchored or node.smoothed:
            raise self.error("no anchored or smoothed modifiers allowed before range", lb.start)
        return MatrixSelector(
            vector=node,
            range=range_text,
            range_span=(range_expr.start, range_expr.end),
            brackets_span=(lb.start, rb.end),
            range_expr=range_expr,
            start=node.start,
            end=rb.end,
        )

    def parse_offset(self, node: Expr) -> Expr:
        kw = self.toks[self.i]
        if not isinstance(node, _SELECTOR_TYPES):
            raise self.error(
                "offset modifier must be preceded by an instant vector selector, "
                "range vector selector or subquery",
                kw.start,
            )
        if node.offset is not None:
            raise self.error("offset may not be set multiple times", kw.start)
        self.i += 1
        expr = self.offset_duration()
        inner = expr.expr if isinstance(expr, UnaryExpr) else expr
        if isinstance(inner, (NumberLiteral, Placeholder)):
            # A literal keeps its historic spelling: the sign glued on, `+` dropped.
            text = ("-" if expr is not inner and expr.op == "-" else "") + self.text[inner.start : inner.end]
        else:
            text = _BLANKS.sub("", self.text[expr.start : expr.end])
        return replace(node, offset=text, offset_span=(expr.start, expr.end), offset_expr=expr, end=expr.end)

    def parse_range_modifier(self, node: VectorSelector | MatrixSelector, kw: Token, which: str) -> Expr:
        """Prometheus 3 ``anchored`` / ``smoothed`` (experimental, feature flag
        ``promql-extended-range-selectors``) after a vector or range selector."""
        if node.anchored or node.smoothed:
            raise self.error("anchored and smoothed may be set only once per selector", kw.start)
        self.i += 1
        field = "anchored_span" if which == "anchored" else "smoothed_span"
        return replace(node, **{field: (kw.start, kw.end)}, end=kw.end)

    def parse_at(self, node: Expr) -> Expr:
        toks = self.toks
        at = toks[self.i]
        if not isinstance(node, _SELECTOR_TYPES):
            raise self.error(
                "@ modifier must be preceded by an instant vector selector, "
                "range vector selector or subquery",
                at.start,
            )
        if node.at is not None:
            raise self.error("@ <timestamp> may not be set multiple times", at.start)
        self.i += 1
        t = toks[self.i]
        first = t
        sign = ""
        if t.kind in ("-", "+"):
            sign = "-" if t.kind == "-" else ""
            self.i += 1
            t = toks[self.i]
            if t.kind != "NUMBER":
                raise self.unexpected(t, "expected a timestamp after '@'")
        if t.kind in ("NUMBER", "TVAR", "TEMPLATE"):
            self.i += 1
            text, end = sign + t.text, t.end
        elif self.is_kw(t, frozenset({"start", "end"})) and toks[self.i + 1].kind == "(":
            if toks[self.i + 2].kind != ")":
                raise self.unexpected(toks[self.i + 2], "expected ')'")
            text, end = t.text.lower() + "()", toks[self.i + 2].end
            self.i += 3
        else:
            raise self.unexpected(t, "expected a timestamp, start() or end() after '@'")
        return replace(node, at=text, at_span=(first.start, end), end=end)


def parse(text: str, start: int = 0, end: int | None = None) -> Expr:
    """Parse PromQL ``text[start:end]``; node offsets index into *text*.

    Raises :class:`PromQLSyntaxError` (a ``ValueError``) with a character offset.
    """
    if start == 0 and end is None:
        return _parse_whole(text)
    return _parse(text, start, end)


# A candidate rewrite is parsed where it is built, where it is validated, by the oracle that
# judges it and where it becomes a fix: the same text four or five times in a row. Trees are
# immutable, so one parse serves them all. (Syntax errors are not cached: they are rare.)
@lru_cache(maxsize=1024)
def _parse_whole(text: str) -> Expr:
    return _parse(text, 0, None)


def _parse(text: str, start: int, end: int | None) -> Expr:
    try:
        return _Parser(text, start, end).parse_top()
    except RecursionError:  # only a duration expression nests by recursion
        raise PromQLSyntaxError("duration expression nested too deeply", start, text) from None


# The Grafana templating layer on top of `parse` lives in its own module; importers have always
# found it here. (Imported last: grafana.py uses `parse`, which is defined by now.)
from .grafana import GrafanaQuery, parse_grafana_query  # noqa: E402
