"""Position-preserving PromQL parsing, Grafana/Helm tolerance and a semantic oracle.

Public API::

    parse(text) -> Expr                      # raises PromQLSyntaxError(message, offset)
    parse_grafana_query(text) -> GrafanaQuery
    walk(node), children(node)
    substitute_for_oracle(text), is_valid_promql(text), validate_promql(text)
    evaluate(expr, series, steps_ms), evaluate_at(expr, samples), same_result(a, b)
"""

from .ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    LabelMatcher,
    MatrixSelector,
    Node,
    NumberLiteral,
    ParenExpr,
    Placeholder,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
    children,
    depth,
    walk,
)
from .evaluate import EvaluationError, EvaluationUnsupported, Sample, Series, evaluate, evaluate_at, same_result
from .functions import FUNCTIONS
from .lexer import PromQLSyntaxError, Token, tokenize
from .parser import GrafanaQuery, decode_string, parse, parse_grafana_query
from .variables import (
    contains_variable,
    find_variables,
    PromQLValidation,
    is_valid_promql,
    static_type,
    substitute_for_oracle,
    validate_promql,
    variable_name,
)

__all__ = [
    "AggregateExpr",
    "BinaryExpr",
    "Call",
    "EvaluationError",
    "EvaluationUnsupported",
    "Expr",
    "FUNCTIONS",
    "GrafanaQuery",
    "LabelMatcher",
    "MatrixSelector",
    "Node",
    "NumberLiteral",
    "ParenExpr",
    "PromQLValidation",
    "Placeholder",
    "PromQLSyntaxError",
    "Sample",
    "Series",
    "StringLiteral",
    "SubqueryExpr",
    "Token",
    "UnaryExpr",
    "VectorMatching",
    "VectorSelector",
    "children",
    "contains_variable",
    "decode_string",
    "depth",
    "evaluate",
    "evaluate_at",
    "find_variables",
    "is_valid_promql",
    "parse",
    "parse_grafana_query",
    "same_result",
    "static_type",
    "substitute_for_oracle",
    "tokenize",
    "validate_promql",
    "variable_name",
    "walk",
]
