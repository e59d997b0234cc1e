"""Recursive-descent / precedence-climbing PromQL parser with exact positions.

``parse(text)`` returns an :mod:`~migrator.promql.ast` tree whose offsets index
into *text*.  The parser is structural: it does not type-check (``sum(1)`` is
accepted) and it accepts unknown function names, but it follows Prometheus'
grammar for precedence, associativity, modifiers and selectors.

``parse_grafana_query(text)`` additionally recognises Grafana's templating
query functions (``label_values``, ``query_result``, ``metrics``,
``label_names``) which are not PromQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

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
    LabelMatcher,
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
from .lexer import (
    DURATION_RE,
    GRAFANA_VARIABLE_RE,
    NUMBER_RE,
    PromQLSyntaxError,
    Token,
    duration_seconds,
    tokenize,
)

__all__ = ["parse", "parse_grafana_query", "GrafanaQuery", "PromQLSyntaxError", "decode_string"]

_KEYWORD_BINOPS = frozenset({"and", "or", "unless", "atan2"})
_NOT_METRIC_NAMES = frozenset({"bool", "on", "ignoring", "group_left", "group_right"})
_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})
_GROUP_KW = frozenset({"by", "without"})
_SELECTOR_TYPES = (VectorSelector, MatrixSelector, SubqueryExpr)
_UNARY_OPERAND_PREC = BINARY_PRECEDENCE["^"]

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_HEX = frozenset("0123456789abcdefABCDEF")


def decode_string(literal: str, offset: int = 0, text: str | None = None) -> str:
    """Decode a quoted PromQL string literal (with its quotes), Go-style escapes.

    *offset* is the literal's position, used for error offsets.
    """
    quote = literal[0]
    body = literal[1:-1]
    if quote == "`" or "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            j = body.find("\\", i)
            if j < 0:
                j = n
            out.append(body[i:j])
            i = j
            continue
        pos = offset + 1 + i
        if i + 1 >= n:
            raise PromQLSyntaxError("escape sequence not terminated", pos, text)
        e = body[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e == quote:
            out.append(quote)
            i += 2
        elif e in "xuU" or e in "01234567":
            if e in "01234567":
                digits, base, width, start = body[i + 1 : i + 4], 8, 3, i + 1
            else:
                width = {"x": 2, "u": 4, "U": 8}[e]
                digits, base, start = body[i + 2 : i + 2 + width], 16, i + 2
            valid = len(digits) == width and all(
                (ch in _HEX) if base == 16 else ("0" <= ch <= "7") for ch in digits
            )
            if not valid:
                raise PromQLSyntaxError("invalid escape sequence", pos, text)
            cp = int(digits, base)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF or (base == 8 and cp > 255):
                raise PromQLSyntaxError("escape sequence is an invalid Unicode code point", pos, text)
            out.append(chr(cp))
            i = start + width
        else:
            raise PromQLSyntaxError(f"unknown escape sequence {e!r}", pos, text)
    return "".join(out)


def _number_value(text: str) -> float:
    if text[:2] in ("0x", "0X"):
        return float(int(text, 16))
    return float(text)


def _describe(t: Token) -> str:
    k = t.kind
    if k == "EOF":
        return "end of input"
    if k == "IDENT":
        return f"identifier {t.text!r}"
    if k == "TVAR":
        return f"template variable {t.text!r}"
    if k == "TEMPLATE":
        return "template region"
    if k == "STRING":
        return f"string {t.text!r}"
    if k in ("NUMBER", "DURATION", "DUR"):
        return f"{'number' if k == 'NUMBER' else 'duration'} {t.text!r}"
    return f"{t.text!r}"


def _is_templated_text(s: str) -> bool:
    return "$" in s or "[[" in s or "{{" in s or "{%" in s


def _matches_empty(m: LabelMatcher) -> bool:
    """Whether matcher *m* matches the empty label value (for the
    'at least one non-empty matcher' rule)."""
    if _is_templated_text(m.value):
        return False
    if m.op == "=":
        return m.value == ""
    if m.op == "!=":
        return m.value != ""
    try:
        hit = re.fullmatch(m.value, "") is not None
    except re.error:
        return False
    return hit if m.op == "=~" else not hit


class _Parser:
    __slots__ = ("text", "toks", "i")

    def __init__(self, text: str, start: int = 0, end: int | None = None):
        self.text = text
        self.toks = tokenize(text, start, end)
        self.i = 0

    # ----------------------------------------------------------------- helpers
    def error(self, message: str, offset: int) -> PromQLSyntaxError:
        return PromQLSyntaxError(message, offset, self.text)

    def unexpected(self, t: Token, expectation: str | None = None) -> PromQLSyntaxError:
        msg = f"unexpected {_describe(t)}"
        if expectation:
            msg += f"; {expectation}"
        return self.error(msg, t.start)

    def peek(self) -> Token:
        return self.toks[self.i]

    def is_kw(self, t: Token, words: frozenset[str]) -> bool:
        return t.kind == "IDENT" and t.text.lower() in words

    # ------------------------------------------------------------- expressions
    def parse_top(self) -> Expr:
        t = self.peek()
        if t.kind == "EOF":
            raise self.error("empty expression", t.start)
        expr = self.parse_expr(0)
        t = self.peek()
        if t.kind != "EOF":
            if t.kind == ")":
                raise self.error("unexpected right parenthesis ')'", t.start)
            raise self.unexpected(t, "expected an operator or end of expression")
        return expr

    def parse_expr(self, min_prec: int) -> Expr:
        lhs = self.parse_unary()
        toks = self.toks
        while True:
            t = toks[self.i]
            k = t.kind
            if k == "IDENT":
                op = t.text.lower()
                if op not in _KEYWORD_BINOPS:
                    break
            elif k in BINARY_PRECEDENCE:
                op = k
            else:
                break
            prec = BINARY_PRECEDENCE[op]
            if prec < min_prec:
                break
            self.i += 1
            return_bool, matching = self.parse_bin_modifiers(op)
            rhs = self.parse_expr(prec if op == "^" else prec + 1)
            lhs = BinaryExpr(
                op=op,
                op_span=(t.start, t.end),
                lhs=lhs,
                rhs=rhs,
                return_bool=return_bool,
                matching=matching,
                start=lhs.start,
                end=rhs.end,
            )
        return lhs

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

    def parse_label_list(self, what: str) -> tuple[tuple[str, ...], tuple[Span, ...], int, int]:
        lp = self.peek()
        if lp.kind != "(":
            raise self.unexpected(lp, f"expected '(' after {what}")
        self.i += 1
        labels: list[str] = []
        spans: list[Span] = []
        while True:
            t = self.peek()
            k = t.kind
            if k == ")":
                break
            if k in ("IDENT", "TVAR", "TEMPLATE"):
                labels.append(t.text)
            elif k == "STRING":
                labels.append(decode_string(t.text, t.start, self.text))
            elif k == "EOF":
                raise self.error("unclosed left parenthesis", lp.start)
            else:
                raise self.unexpected(t, f"expected label name in {what} list")
            spans.append((t.start, t.end))
            self.i += 1
            t = self.peek()
            if t.kind == ",":
                self.i += 1
                continue
            if t.kind == ")":
                break
            if t.kind == "EOF":
                raise self.error("unclosed left parenthesis", lp.start)
            raise self.unexpected(t, f"expected ',' or ')' in {what} list")
        rp = self.peek()
        self.i += 1
        return tuple(labels), tuple(spans), lp.start, rp.start

    def parse_unary(self) -> Expr:
        t = self.toks[self.i]
        if t.kind == "-" or t.kind == "+":
            self.i += 1
            operand = self.parse_expr(_UNARY_OPERAND_PREC)
            return UnaryExpr(op=t.kind, expr=operand, start=t.start, end=operand.end)
        return self.parse_postfix(self.parse_primary())

    def parse_primary(self) -> Expr:
        toks = self.toks
        t = toks[self.i]
        k = t.kind
        if k == "IDENT":
            self.i += 1
            low = t.text.lower()
            nxt = toks[self.i]
            if low in AGGREGATE_OPS and (nxt.kind == "(" or self.is_kw(nxt, _GROUP_KW)):
                return self.parse_aggregate(t, low)
            if nxt.kind == "(":
                return self.parse_call(t)
            if low in ("inf", "nan"):
                return NumberLiteral(value=float(low), text=t.text, start=t.start, end=t.end)
            if low in _NOT_METRIC_NAMES:
                raise self.error(f"unexpected keyword {t.text!r}", t.start)
            return self.parse_selector(t, templated=False)
        if k == "NUMBER":
            self.i += 1
            return NumberLiteral(value=_number_value(t.text), text=t.text, start=t.start, end=t.end)
        if k == "STRING":
            self.i += 1
            return StringLiteral(value=decode_string(t.text, t.start, self.text), start=t.start, end=t.end)
        if k == "(":
            self.i += 1
            inner = self.parse_expr(0)
            rp = toks[self.i]
            if rp.kind != ")":
                if rp.kind == "EOF":
                    raise self.error("unclosed left parenthesis", t.start)
                raise self.unexpected(rp, "expected ')'")
            self.i += 1
            return ParenExpr(expr=inner, start=t.start, end=rp.end)
        if k == "{":
            return self.parse_selector(None, templated=False)
        if k == "TVAR" or k == "TEMPLATE":
            self.i += 1
            nxt = toks[self.i]
            if nxt.kind == "(":
                call = self.parse_call(t)
                if self.is_kw(self.peek(), _GROUP_KW) and len(call.args) in (1, 2):
                    return self.finish_templated_aggregate(call)
                return call
            if self.is_kw(nxt, _GROUP_KW):
                return self.parse_aggregate(t, t.text)
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

    def parse_args(self, lp: Token) -> tuple[list[Expr], int]:
        """Arguments after an already consumed '('; returns (args, offset of ')')."""
        args: list[Expr] = []
        toks = self.toks
        if toks[self.i].kind == ")":
            rp = toks[self.i]
            self.i += 1
            return args, rp.start
        while True:
            args.append(self.parse_expr(0))
            t = toks[self.i]
            if t.kind == ",":
                self.i += 1
                if toks[self.i].kind == ")":
                    raise self.error("trailing commas not allowed in function call args", t.start)
                continue
            if t.kind == ")":
                self.i += 1
                return args, t.start
            if t.kind == "EOF":
                raise self.error("unclosed left parenthesis", lp.start)
            raise self.unexpected(t, "expected ',' or ')'")

    def parse_call(self, func: Token) -> Call:
        lp = self.toks[self.i]
        self.i += 1
        args, rp = self.parse_args(lp)
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

    def parse_aggregate(self, op_tok: Token, op: str) -> AggregateExpr:
        grouping = None
        if self.is_kw(self.peek(), _GROUP_KW):
            grouping = self.parse_grouping()
        lp = self.peek()
        if lp.kind != "(":
            raise self.unexpected(lp, f"expected '(' after aggregation {op_tok.text!r}")
        self.i += 1
        args, rp = self.parse_args(lp)
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
        return self._make_aggregate(op, (op_tok.start, op_tok.end), args, grouping, lp.start, rp, end)

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

    # --------------------------------------------------------------- selectors
    def _absorb_templates(self, end: int, spans: list[Span]) -> int:
        toks = self.toks
        while True:
            t = toks[self.i]
            if t.kind != "TEMPLATE" or t.start != end:
                return end
            spans.append((t.start, t.end))
            end = t.end
            self.i += 1

    def parse_selector(self, name_tok: Token | None, templated: bool) -> VectorSelector:
        toks = self.toks
        template_spans: list[Span] = []
        if name_tok is not None:
            name: str | None = name_tok.text
            name_span: Span | None = (name_tok.start, name_tok.end)
            start = name_tok.start
            end = self._absorb_templates(name_tok.end, template_spans)
        else:
            name = name_span = None
            start = end = toks[self.i].start
        matchers: tuple[LabelMatcher, ...] = ()
        braces: Span | None = None
        if toks[self.i].kind == "{":
            qname, qspan, matchers, braces, tspans = self.parse_braces()
            if qname is not None:
                if name is not None:
                    raise self.error("metric name must not be set twice", qspan[0])
                name, name_span = qname, qspan
            template_spans.extend(tspans)
            end = self._absorb_templates(braces[1], template_spans)
        if name is None and not template_spans and all(_matches_empty(m) for m in matchers):
            raise self.error("vector selector must contain at least one non-empty matcher", start)
        return VectorSelector(
            name=name,
            name_span=name_span,
            matchers=matchers,
            braces_span=braces,
            templated=templated,
            template_spans=tuple(template_spans),
            start=start,
            end=end,
        )

    def parse_braces(self):
        toks = self.toks
        text = self.text
        lb = toks[self.i]
        self.i += 1
        matchers: list[LabelMatcher] = []
        tspans: list[Span] = []
        qname = qspan = None
        last = "start"
        while True:
            t = toks[self.i]
            k = t.kind
            if k == "}":
                self.i += 1
                break
            if k == "EOF":
                raise self.error("unclosed left brace", lb.start)
            if k == "TEMPLATE":
                tspans.append((t.start, t.end))
                self.i += 1
                last = "template"
                continue
            if k == ",":
                if last not in ("matcher", "template"):
                    raise self.unexpected(t, "expected a label matcher")
                self.i += 1
                last = "comma"
                continue
            if last == "matcher":
                raise self.unexpected(t, "expected ',' or '}' in label matchers")
            if k == "IDENT" or k == "TVAR":
                label = t.text
            elif k == "STRING":
                if toks[self.i + 1].kind not in _MATCH_OPS:
                    if qname is not None:
                        raise self.error("metric name must not be set twice", t.start)
                    qname = decode_string(t.text, t.start, text)
                    qspan = (t.start, t.end)
                    self.i += 1
                    last = "matcher"
                    continue
                label = decode_string(t.text, t.start, text)
            else:
                raise self.unexpected(t, "expected a label name")
            self.i += 1
            op = toks[self.i]
            if op.kind not in _MATCH_OPS:
                raise self.unexpected(op, "expected a label matching operator (=, !=, =~, !~)")
            self.i += 1
            v = toks[self.i]
            if v.kind != "STRING":
                raise self.unexpected(v, "expected a quoted label value")
            self.i += 1
            matchers.append(
                LabelMatcher(
                    label=label,
                    op=op.kind,
                    value=decode_string(v.text, v.start, text),
                    label_span=(t.start, t.end),
                    op_span=(op.start, op.end),
                    value_span=(v.start, v.end),
                    start=t.start,
                    end=v.end,
                )
            )
            last = "matcher"
        return qname, qspan, tuple(matchers), (lb.start, t.end), tuple(tspans)

    # --------------------------------------------------------------- modifiers
    def parse_postfix(self, node: Expr) -> Expr:
        toks = self.toks
        while True:
            t = toks[self.i]
            k = t.kind
            if k == "[":
                node = self.parse_brackets(node)
            elif k == "@":
                node = self.parse_at(node)
            elif k == "IDENT" and t.text.lower() == "offset":
                node = self.parse_offset(node)
            else:
                return node

    def check_duration(self, t: Token) -> None:
        s = t.text
        if DURATION_RE.fullmatch(s) or NUMBER_RE.fullmatch(s) or _is_templated_text(s):
            return
        raise self.error(f"bad duration syntax {s!r}", t.start)

    def parse_brackets(self, node: Expr) -> Expr:
        toks = self.toks
        lb = toks[self.i]
        self.i += 1
        r = toks[self.i]
        if r.kind != "DUR":
            if r.kind == "EOF":
                raise self.error("unclosed left bracket", lb.start)
            raise self.unexpected(r, "expected a duration")
        self.check_duration(r)
        self.i += 1
        step = None
        colon = toks[self.i]
        if colon.kind == ":":
            self.i += 1
            if toks[self.i].kind == "DUR":
                step = toks[self.i]
                self.check_duration(step)
                self.i += 1
        rb = toks[self.i]
        if rb.kind != "]":
            if rb.kind == "EOF":
                raise self.error("unclosed left bracket", lb.start)
            raise self.unexpected(rb, "expected ']'")
        self.i += 1
        if colon.kind == ":":
            if isinstance(node, (MatrixSelector, SubqueryExpr)):
                raise self.error("subquery is only allowed on instant vector expressions", lb.start)
            return SubqueryExpr(
                expr=node,
                range=r.text,
                step=step.text if step else None,
                range_span=(r.start, r.end),
                step_span=(step.start, step.end) if step else None,
                brackets_span=(lb.start, rb.end),
                start=node.start,
                end=rb.end,
            )
        if not isinstance(node, VectorSelector):
            raise self.error("ranges only allowed for vector selectors", lb.start)
        if node.offset is not None or node.at is not None:
            raise self.error("no offset or @ modifiers allowed before range", lb.start)
        return MatrixSelector(
            vector=node,
            range=r.text,
            range_span=(r.start, r.end),
            brackets_span=(lb.start, rb.end),
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
        t = self.peek()
        sign = None
        if t.kind in ("-", "+"):
            sign = t
            self.i += 1
            t = self.peek()
        if t.kind not in ("DURATION", "NUMBER", "TVAR", "TEMPLATE"):
            raise self.unexpected(t, "expected a duration after 'offset'")
        self.i += 1
        text = ("-" if sign is not None and sign.kind == "-" else "") + t.text
        span = (sign.start if sign is not None else t.start, t.end)
        return replace(node, offset=text, offset_span=span, end=t.end)

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
    try:
        return _Parser(text, start, end).parse_top()
    except RecursionError:
        raise PromQLSyntaxError("expression nested too deeply", start, text) from None


# ------------------------------------------------------------------ Grafana
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
