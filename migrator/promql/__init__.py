"""Position-preserving PromQL parsing, Grafana/Helm tolerance and a semantic oracle.

Public API::

    parse(text) -> Expr                      # raises PromQLSyntaxError(message, offset)
    parse_grafana_query(text) -> GrafanaQuery
    walk(node), children(node)
    substitute_for_oracle(text), is_valid_promql(text), validate_promql(text)
    evaluate(expr, series, steps_ms), evaluate_at(expr, samples), same_result(a, b)
"""

# Names load on first use (PEP 562): importing one submodule (the analysis needs the parser,
# not the evaluator) must not pay for the others.
_LAZY = {
    "AggregateExpr": "ast",
    "BinaryExpr": "ast",
    "Call": "ast",
    "EvaluationError": "evaluate",
    "EvaluationUnsupported": "evaluate",
    "Expr": "ast",
    "FUNCTIONS": "functions",
    "GrafanaQuery": "parser",
    "LabelMatcher": "ast",
    "MatrixSelector": "ast",
    "Node": "ast",
    "NumberLiteral": "ast",
    "ParenExpr": "ast",
    "Placeholder": "ast",
    "PromQLSyntaxError": "lexer",
    "PromQLValidation": "variables",
    "Sample": "evaluate",
    "Series": "evaluate",
    "StringLiteral": "ast",
    "SubqueryExpr": "ast",
    "Token": "lexer",
    "UnaryExpr": "ast",
    "VectorMatching": "ast",
    "VectorSelector": "ast",
    "children": "ast",
    "contains_variable": "variables",
    "decode_string": "parser",
    "depth": "ast",
    "evaluate": "evaluate",
    "evaluate_at": "evaluate",
    "find_variables": "variables",
    "is_valid_promql": "variables",
    "parse": "parser",
    "parse_grafana_query": "parser",
    "same_result": "evaluate",
    "static_type": "variables",
    "substitute_for_oracle": "variables",
    "tokenize": "lexer",
    "validate_promql": "variables",
    "variable_name": "variables",
    "walk": "ast",
}


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


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
