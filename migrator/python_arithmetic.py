"""Arithmetic over Python expressions (the interpreter's `ast`), for the Python rules and their
oracle.

The era-(a) identities are +/- chains of `PromptTokenStats` fields; VMM101 drops a term from
such a chain and `python_oracle` evaluates both versions on reference workloads. Nothing here
executes scanned code: expressions are evaluated node by node over known field values.
"""

from __future__ import annotations

import ast
from typing import Any

from migrator.formats.python_edits import REST_OF_LINE, line_start
from migrator.formats.python_tree import PythonInfo
from migrator.model import Edit, Span


class NotEvaluable(Exception):
    """The expression uses something other than known fields, numbers and + - * /.
    `args[0]` is the offending node, or the unknown field's name."""


_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv)


def enclosing_arithmetic(node: Any, ancestors: tuple[Any, ...]) -> Any:
    """The largest arithmetic expression (+ - * / //, unary minus) that contains `node`."""
    top = node
    for parent in reversed(ancestors):
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, _ARITHMETIC):
            top = parent
        elif isinstance(parent, ast.UnaryOp) and isinstance(parent.op, (ast.USub, ast.UAdd)):
            top = parent
        else:
            break
    return top


def additive_terms(node: Any, sign: int = 1) -> list[tuple[Any, int]]:
    """Flatten a +/- chain (through parentheses) into (term, sign) pairs."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right_sign = sign if isinstance(node.op, ast.Add) else -sign
        return additive_terms(node.left, sign) + additive_terms(node.right, right_sign)
    return [(node, sign)]


def term_removal_edits(info: PythonInfo, node: Any, ancestors: tuple[Any, ...]) -> tuple[Edit, ...] | None:
    """Edits deleting `node` and its operator from the +/- operation it is an operand of,
    keeping every other byte; None when it is not such an operand (or is `node - x`)."""
    if not ancestors:
        return None
    parent = ancestors[-1]
    if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Sub))):
        return None
    text = info.text
    term = info.outer_span(node)
    if parent.right is node:
        keep_end = info.outer_span(parent.left).end
        operator = info.operator_span(parent)
        first_column = line_start(text, operator.start)
        rest = REST_OF_LINE.match(text, term.end)
        if text[first_column : operator.start].strip() == "" and rest is not None and rest.group().strip() == "":
            # `    - stats.field` on a line of its own: the line goes, and a comment ending the
            # previous line stays where it was.
            return (Edit(Span(first_column, rest.end()), ""),)
        return (Edit(Span(keep_end, term.end), ""),)
    if parent.left is node and isinstance(parent.op, ast.Add):
        return (Edit(Span(term.start, info.outer_span(parent.right).start), ""),)
    return None


def count_attributes(expression: Any, name: str) -> int:
    """How many `.name` attribute reads the expression holds."""
    return sum(1 for n in ast.walk(expression) if isinstance(n, ast.Attribute) and n.attr == name)


def evaluate(node: Any, values: dict[str, Any], removed: Any = None, info: PythonInfo | None = None) -> Any:
    """Evaluate an arithmetic expression over `values` (field name -> number), with the
    operand `removed` taken out of its +/- operation. Never `eval`: only numbers, attribute
    reads of known fields, `get_by_source("...")` and + - * / // are understood.
    Returns a Fraction, or None for a division by zero."""
    from fractions import Fraction

    def ev(n: Any) -> Any:
        if isinstance(n, ast.BinOp):
            op = type(n.op)
            if removed is not None and n.right is removed and op in (ast.Add, ast.Sub):
                return ev(n.left)
            if removed is not None and n.left is removed and op is ast.Add:
                return ev(n.right)
            a, b = ev(n.left), ev(n.right)
            if a is None or b is None:
                return None
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op in (ast.Div, ast.FloorDiv):
                if b == 0:
                    return None
                return a / b if op is ast.Div else Fraction(a // b)
            raise NotEvaluable(f"operator {_OPERATOR_NAMES.get(op, op.__name__)}")
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            v = ev(n.operand)
            return None if v is None else (-v if isinstance(n.op, ast.USub) else v)
        if isinstance(n, ast.Constant) and type(n.value) in (int, float):
            return Fraction(n.value)
        if isinstance(n, ast.Attribute):
            return field(n.attr)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get_by_source":
            arguments = [*n.args, *(k.value for k in n.keywords)]
            if len(arguments) == 1 and _simple_string(arguments[0], info):
                source = arguments[0].value
                # vLLM's source label `local_compute` counts the field named `computed`.
                return field({"local_compute": "computed"}.get(source, source))
        raise NotEvaluable(n)

    def field(name: str) -> Any:
        if name not in values:
            raise NotEvaluable(name)
        return Fraction(values[name])

    return ev(node)


# libcst's names for the operators, which the messages have always used.
_OPERATOR_NAMES = {ast.Mod: "Modulo", ast.Pow: "Power", ast.MatMult: "MatrixMultiply", ast.LShift: "LeftShift",
                   ast.RShift: "RightShift", ast.BitOr: "BitOr", ast.BitXor: "BitXor", ast.BitAnd: "BitAnd"}


def _simple_string(node: Any, info: PythonInfo | None) -> bool:
    """A str literal written as one piece (not a concatenation, not an f-string)."""
    if not (isinstance(node, ast.Constant) and type(node.value) is str):
        return False
    if info is None:
        return True
    from migrator.formats.python_literals import single_literal

    span = info.span(node)
    return single_literal(info.text, span.start, span.end)
