"""Arithmetic over libcst expressions, for the Python rules and their oracle.

The era-(a) identities are +/- chains of `PromptTokenStats` fields; VMM101 drops a term from
such a chain and `python_oracle` evaluates both versions on reference workloads. Nothing here
executes scanned code: expressions are evaluated node by node over known field values.
"""

from __future__ import annotations

from typing import Any

from migrator.formats.python_edits import REST_OF_LINE, line_start
from migrator.formats.python_tree import PythonInfo
from migrator.model import Edit, Span


class NotEvaluable(Exception):
    """The expression uses something other than known fields, numbers and + - * /.
    `args[0]` is the offending node, or the unknown field's name."""


def enclosing_arithmetic(node: Any, ancestors: tuple[Any, ...]) -> Any:
    """The largest arithmetic expression (+ - * / //, unary minus) that contains `node`."""
    import libcst as cst

    operators = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide)
    top = node
    for parent in reversed(ancestors):
        if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, operators):
            top = parent
        elif isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, (cst.Minus, cst.Plus)):
            top = parent
        else:
            break
    return top


def additive_terms(node: Any, sign: int = 1) -> list[tuple[Any, int]]:
    """Flatten a +/- chain (through parentheses) into (term, sign) pairs."""
    import libcst as cst

    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract)):
        right_sign = sign if isinstance(node.operator, cst.Add) else -sign
        return additive_terms(node.left, sign) + additive_terms(node.right, right_sign)
    return [(node, sign)]


def term_removal_edits(info: PythonInfo, node: Any, ancestors: tuple[Any, ...]) -> tuple[Edit, ...] | None:
    """Edits deleting `node` and its operator from the +/- operation it is an operand of,
    keeping every other byte; None when it is not such an operand (or is `node - x`)."""
    import libcst as cst

    if not ancestors:
        return None
    parent = ancestors[-1]
    if not (isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, (cst.Add, cst.Subtract))):
        return None
    text = info.text
    term = info.outer_span(node)
    if parent.right is node:
        keep_end = info.outer_span(parent.left).end
        operator = info.span(parent.operator)
        first_column = line_start(text, operator.start)
        rest = REST_OF_LINE.match(text, term.end)
        if text[first_column : operator.start].strip() == "" and rest is not None and rest.group().strip() == "":
            # `    - stats.field` on a line of its own: the line goes, and a comment ending the
            # previous line stays where it was.
            return (Edit(Span(first_column, rest.end()), ""),)
        return (Edit(Span(keep_end, term.end), ""),)
    if parent.left is node and isinstance(parent.operator, cst.Add):
        return (Edit(Span(term.start, info.outer_span(parent.right).start), ""),)
    return None


def evaluate(node: Any, values: dict[str, Any], removed: Any = None) -> Any:
    """Evaluate an arithmetic expression over `values` (field name -> number), with the
    operand `removed` taken out of its +/- operation. Never `eval`: only numbers, attribute
    reads of known fields, `get_by_source("...")` and + - * / // are understood.
    Returns a Fraction, or None for a division by zero."""
    import libcst as cst
    from fractions import Fraction

    def ev(n: Any) -> Any:
        if isinstance(n, cst.BinaryOperation):
            op = type(n.operator)
            if removed is not None and n.right is removed and op in (cst.Add, cst.Subtract):
                return ev(n.left)
            if removed is not None and n.left is removed and op is cst.Add:
                return ev(n.right)
            a, b = ev(n.left), ev(n.right)
            if a is None or b is None:
                return None
            if op is cst.Add:
                return a + b
            if op is cst.Subtract:
                return a - b
            if op is cst.Multiply:
                return a * b
            if op in (cst.Divide, cst.FloorDivide):
                if b == 0:
                    return None
                return a / b if op is cst.Divide else Fraction(a // b)
            raise NotEvaluable(f"operator {type(n.operator).__name__}")
        if isinstance(n, cst.UnaryOperation) and isinstance(n.operator, (cst.Minus, cst.Plus)):
            v = ev(n.expression)
            return None if v is None else (-v if isinstance(n.operator, cst.Minus) else v)
        if isinstance(n, (cst.Integer, cst.Float)):
            return Fraction(n.evaluated_value)
        if isinstance(n, cst.Attribute):
            return field(n.attr.value)
        if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "get_by_source":
            if len(n.args) == 1 and isinstance(n.args[0].value, cst.SimpleString):
                source = n.args[0].value.evaluated_value
                # vLLM's source label `local_compute` counts the field named `computed`.
                return field({"local_compute": "computed"}.get(source, source))
        raise NotEvaluable(n)

    def field(name: str) -> Any:
        if name not in values:
            raise NotEvaluable(name)
        return Fraction(values[name])

    return ev(node)
