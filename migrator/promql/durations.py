"""Durations of ranges, subqueries and offsets, including Prometheus 3 duration expressions.

Prometheus 3 (behind ``--enable-feature=promql-duration-expr``) accepts arithmetic
where a duration goes: ``x[5m * 2]``, ``x[1h:step()]``, ``x offset (1h + 30m)``,
``x[max(5m, step())]``.  Inside ``[...]`` the whole bracket content is a duration
expression; after ``offset`` only a literal, ``step()``/``range()``/``min``/``max``
or a parenthesised expression is (``x offset 5m + 1`` stays ``(x offset 5m) + 1``).
Plain literals (``5m``, ``300``, ``$__rate_interval``) parse exactly as before.

The tree reuses the expression node classes (see :mod:`.ast`); a templated
duration is a :class:`~.ast.Placeholder`.
"""

from __future__ import annotations

from .ast import BINARY_PRECEDENCE, BinaryExpr, Call, Expr, NumberLiteral, ParenExpr, Placeholder, UnaryExpr
from .lexer import DURATION_RE, NUMBER_RE, PromQLSyntaxError, Token, duration_seconds, tokenize
from .literals import number_value

__all__ = ["TokenCursor", "DurationParser", "is_templated_text", "describe_token"]

# Binary operators of a duration expression (no comparisons, no set operators).
_DURATION_OPS = frozenset({"+", "-", "*", "/", "%", "^"})
_NULLARY = frozenset({"step", "range"})
_BINARY_FUNCS = frozenset({"min", "max", "min_of", "max_of"})
# Tokens that hold a literal (or templated) duration: DUR inside brackets, DURATION /
# NUMBER / template tokens after `offset`.
_LITERAL_KINDS = frozenset({"DUR", "DURATION", "NUMBER", "TVAR", "TEMPLATE"})
_UNARY_OPERAND_PREC = BINARY_PRECEDENCE["^"]


def is_templated_text(s: str) -> bool:
    return "$" in s or "[[" in s or "{{" in s or "{%" in s


def describe_token(t: Token) -> str:
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


class TokenCursor:
    """A position in the token list of ``text`` and positioned errors."""

    __slots__ = ("text", "toks", "i")

    def __init__(self, text: str, start: int = 0, end: int | None = None):
        self.text = text
        self.toks = tokenize(text, start, end)
        self.i = 0

    def error(self, message: str, offset: int) -> PromQLSyntaxError:
        return PromQLSyntaxError(message, offset, self.text)

    def unexpected(self, t: Token, expectation: str | None = None) -> PromQLSyntaxError:
        msg = f"unexpected {describe_token(t)}"
        if expectation:
            msg += f"; {expectation}"
        return self.error(msg, t.start)

    def peek(self) -> Token:
        return self.toks[self.i]

    def is_kw(self, t: Token, words: frozenset[str]) -> bool:
        return t.kind == "IDENT" and t.text.lower() in words


class DurationParser(TokenCursor):
    """Parses the duration parts of an expression; the expression parser builds on it."""

    __slots__ = ()

    def duration_literal(self, t: Token) -> Expr:
        s = t.text
        if is_templated_text(s):
            return Placeholder(text=s, start=t.start, end=t.end)
        if DURATION_RE.fullmatch(s):
            value = duration_seconds(s)
        elif NUMBER_RE.fullmatch(s):
            value = number_value(s)
        else:
            raise self.error(f"bad duration syntax {s!r}", t.start)
        return NumberLiteral(value=value, text=s, start=t.start, end=t.end)

    def duration_function(self, t: Token) -> Expr | None:
        """``step()``, ``range()``, ``min(a, b)``/``max(a, b)`` (and ``min_of``/``max_of``),
        or None when *t* does not start one."""
        toks = self.toks
        low = t.text.lower()
        i = self.i
        if toks[i + 1].kind != "(" or (low not in _NULLARY and low not in _BINARY_FUNCS):
            return None
        lp = toks[i + 1]
        self.i = i + 2
        args: tuple[Expr, ...] = ()
        if low in _BINARY_FUNCS:
            first = self.duration_expr(0)
            comma = toks[self.i]
            if comma.kind != ",":
                raise self.unexpected(comma, f"expected ',' in {low}()")
            self.i += 1
            args = (first, self.duration_expr(0))
        rp = toks[self.i]
        if rp.kind != ")":
            raise self.unexpected(rp, f"expected ')' to close {low}(")
        self.i += 1
        return Call(func=low, func_span=(t.start, t.end), args=args, lparen=lp.start, rparen=rp.start,
                    start=t.start, end=rp.end)

    def duration_operand(self) -> Expr:
        toks = self.toks
        t = toks[self.i]
        k = t.kind
        if k in ("-", "+"):
            self.i += 1
            operand = self.duration_expr(_UNARY_OPERAND_PREC)
            return UnaryExpr(op=k, expr=operand, start=t.start, end=operand.end)
        if k == "(":
            self.i += 1
            inner = self.duration_expr(0)
            rp = toks[self.i]
            if rp.kind != ")":
                raise self.unexpected(rp, "expected ')' in duration expression")
            self.i += 1
            return ParenExpr(expr=inner, start=t.start, end=rp.end)
        if k in ("DUR", "IDENT"):
            call = self.duration_function(t)
            if call is not None:
                return call
        if k in _LITERAL_KINDS:
            self.i += 1
            return self.duration_literal(t)
        raise self.unexpected(t, "expected a duration")

    def duration_expr(self, min_prec: int) -> Expr:
        """Precedence climbing over ``+ - * / % ^`` (``^`` right-associative)."""
        lhs = self.duration_operand()
        toks = self.toks
        while True:
            t = toks[self.i]
            if t.kind not in _DURATION_OPS:
                return lhs
            prec = BINARY_PRECEDENCE[t.kind]
            if prec < min_prec:
                return lhs
            self.i += 1
            rhs = self.duration_expr(prec if t.kind == "^" else prec + 1)
            lhs = BinaryExpr(op=t.kind, op_span=(t.start, t.end), lhs=lhs, rhs=rhs, start=lhs.start, end=rhs.end)

    def offset_duration(self) -> Expr:
        """What may follow ``offset``: an optionally signed literal, ``step()``/``range()``/
        ``min``/``max`` call or parenthesised duration expression."""
        toks = self.toks
        t = toks[self.i]
        if t.kind in ("-", "+"):
            self.i += 1
            operand = self._offset_operand()
            return UnaryExpr(op=t.kind, expr=operand, start=t.start, end=operand.end)
        return self._offset_operand()

    def _offset_operand(self) -> Expr:
        toks = self.toks
        t = toks[self.i]
        if t.kind == "(":
            return self.duration_operand()
        if t.kind == "IDENT":
            call = self.duration_function(t)
            if call is not None:
                return call
        if t.kind in ("DURATION", "NUMBER", "TVAR", "TEMPLATE"):
            self.i += 1
            return self.duration_literal(t)
        raise self.unexpected(t, "expected a duration after 'offset'")
