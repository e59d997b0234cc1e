"""Values of PromQL literals: quoted strings (Go escapes), numbers, durations.

``duration_expr_seconds`` evaluates a parsed Prometheus 3 duration expression
(``5m * 2``, ``(1h + 30m)``) when its value is known without a query context.
"""

from __future__ import annotations

import math

from .ast import BinaryExpr, Call, Expr, NumberLiteral, ParenExpr, UnaryExpr
from .lexer import PromQLSyntaxError

__all__ = ["decode_string", "number_value", "duration_expr_seconds"]

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


def number_value(text: str) -> float:
    """Value of a number literal (``0x1f``, ``1e3``, ``1_000``; no sign, no Inf/NaN)."""
    text = text.replace("_", "")
    if text[:2] in ("0x", "0X"):
        return float(int(text, 16))
    return float(text)


_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": math.fmod,
    "^": lambda a, b: a**b,
}


def duration_expr_seconds(expr: Expr | None) -> float | None:
    """Seconds a duration expression stands for, or None when that depends on the query
    (``step()``, ``range()``), on a template variable, or is not a number (``x / 0``)."""
    if expr is None:
        return None
    try:
        value = _seconds(expr)
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    return value if value is not None and math.isfinite(value) else None


def _seconds(expr: Expr) -> float | None:
    # Duration expressions are short (a handful of nodes): recursion is fine here.
    if isinstance(expr, NumberLiteral):
        return expr.value
    if isinstance(expr, ParenExpr):
        return _seconds(expr.expr)
    if isinstance(expr, UnaryExpr):
        inner = _seconds(expr.expr)
        return None if inner is None else (-inner if expr.op == "-" else inner)
    if isinstance(expr, BinaryExpr) and expr.op in _BINARY:
        lhs, rhs = _seconds(expr.lhs), _seconds(expr.rhs)
        return None if lhs is None or rhs is None else float(_BINARY[expr.op](lhs, rhs))
    if isinstance(expr, Call) and expr.func in ("min", "max", "min_of", "max_of") and len(expr.args) == 2:
        values = [_seconds(a) for a in expr.args]
        if None in values:
            return None
        return min(values) if expr.func.startswith("min") else max(values)  # type: ignore[type-var]
    return None
