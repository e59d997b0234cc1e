"""Grafana variables / Helm templates: detection and substitution for validation.

:func:`substitute_for_oracle` turns a templated expression into plain PromQL of
the same shape so that an independent parser (the ``promql-parser`` package) can
validate it.  It is a validation aid only - the substituted values mean nothing:

* a variable or template used as a duration (range ``[...]``, subquery
  ``[a:b]``, ``offset``) becomes ``5m``; after ``@`` it becomes ``1``;
* variables inside quoted strings are left alone (already valid PromQL); template
  regions inside strings stay too, except inside regex matchers (-> ``.*``) or
  when they contain the string's quote character (-> ``tmpl``);
* an opaque operand (``$threshold``, ``{{ .Values.x }}``) becomes ``1`` - or
  ``vector(1)`` where an instant vector is required (aggregation body, set
  operator, vector function argument, scalar-vs-placeholder comparison);
* a templated metric / label name becomes an identifier (``$metric`` ->
  ``var_metric``, ``vllm:${name}_total`` -> ``vllm:var_name_total``);
* template regions inside a matcher list are dropped;
* a templated function / aggregation name becomes ``abs``/``rate``/``sum``/``topk``.

The substitution is tree-guided (it uses this package's parser for context);
if that parser rejects the text, a token-level fallback is used.
"""

from __future__ import annotations

from functools import lru_cache

import re

from .ast import (
    COMPARISON_OPS,
    walk,
    SET_OPS,
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    Placeholder,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from .functions import arg_type, return_type
from .lexer import GRAFANA_VARIABLE_RE, TEMPLATE_RE, PromQLSyntaxError, tokenize
from .parser import parse
from .validate import PromQLValidation, check_with_promql_parser

__all__ = [
    "substitute_for_oracle",
    "is_valid_promql",
    "validate_promql",
    "PromQLValidation",
    "static_types",
    "contains_variable",
    "find_variables",
    "variable_name",
    "static_type",
]

_ANY_TEMPLATE_RE = re.compile(f"{GRAFANA_VARIABLE_RE.pattern}|{TEMPLATE_RE.pattern}", re.ASCII)
_VAR_NAME_RE = re.compile(r"[\w]+", re.ASCII)


def contains_variable(text: str) -> bool:
    """True if *text* contains a Grafana variable or a Helm/Jinja template region."""
    return _ANY_TEMPLATE_RE.search(text) is not None


def find_variables(text: str) -> list[tuple[str, int, int]]:
    """All Grafana variables and template regions in *text* (also inside strings),
    as ``(raw_text, start, end)``."""
    return [(m.group(), m.start(), m.end()) for m in _ANY_TEMPLATE_RE.finditer(text)]


def variable_name(var: str) -> str | None:
    """``$x`` / ``${x:csv}`` / ``${x.y}`` / ``[[x:fmt]]`` -> ``x``; None for templates."""
    if var.startswith("{"):
        return None
    m = _VAR_NAME_RE.search(var)
    return m.group() if m else None


def _identifier(raw: str, allow_colon: bool = True) -> str:
    """Make a valid metric (or label) name out of a templated name."""

    def repl(m: re.Match) -> str:
        name = variable_name(m.group())
        return f"var_{name}" if name else "tmpl"

    s = _ANY_TEMPLATE_RE.sub(repl, raw)
    s = re.sub(r"[^A-Za-z0-9_:]" if allow_colon else r"[^A-Za-z0-9_]", "_", s)
    if not s or s[0].isdigit():
        s = "v" + s
    return s


def _own_type(node: Expr, types: dict[int, str | None]) -> str | None:
    """Type of *node* given the types of its children in *types*."""
    if isinstance(node, NumberLiteral):
        return "s"
    if isinstance(node, StringLiteral):
        return "str"
    if isinstance(node, VectorSelector):
        return "v"
    if isinstance(node, (MatrixSelector, SubqueryExpr)):
        return "m"
    if isinstance(node, Call):
        return return_type(node.func) or "v"
    if isinstance(node, AggregateExpr):
        return "v"
    if isinstance(node, BinaryExpr):
        lt, rt = types[id(node.lhs)], types[id(node.rhs)]
        if lt == "s" and rt == "s":
            return "s"
        if lt is None and rt is None:
            return None
        return "v" if "v" in (lt, rt) else None
    if isinstance(node, (ParenExpr, UnaryExpr)):
        return types[id(node.expr)]
    return None


def static_types(root: Expr) -> dict[int, str | None]:
    """``static_type`` of every node of *root*, keyed by ``id(node)``, in one bottom-up pass."""
    types: dict[int, str | None] = {}
    for node in reversed(list(walk(root))):  # children before parents
        types[id(node)] = _own_type(node, types)
    return types


def static_type(node: Expr) -> str | None:
    """Value type of *node*: 's', 'v', 'm', 'str', or None if unknown (placeholder)."""
    return static_types(node)[id(node)]


_PLACEHOLDER_FOR = {"v": "vector(1)", "m": "vector(1)[5m:]", "str": '"x"'}


class _Collector:
    def __init__(self, text: str):
        self.text = text
        self.edits: list[tuple[int, int, str]] = []

    def edit(self, span, new: str) -> None:
        self.edits.append((span[0], span[1], new))

    def templated(self, span) -> bool:
        return contains_variable(self.text[span[0] : span[1]])

    def modifiers(self, node) -> None:
        if node.offset_span is not None and self.templated(node.offset_span):
            self.edit(node.offset_span, "5m")
        if node.at_span is not None and self.templated(node.at_span):
            self.edit(node.at_span, "1")

    def literal(self, span, regex: bool = False) -> str:
        """Text of a quoted literal, with template regions that contain the quote
        character or a backslash (``"{{ default "x" .v }}"``) replaced by ``tmpl``;
        in a regex matcher every template region becomes ``.*`` (``{{`` is not a
        valid regex)."""
        raw = self.text[span[0] : span[1]]
        quote = raw[0]
        if "{" not in raw:
            return raw
        if regex:
            return TEMPLATE_RE.sub(".*", raw)
        if quote == "`":
            return raw
        return TEMPLATE_RE.sub(lambda m: "tmpl" if quote in m.group() or "\\" in m.group() else m.group(), raw)

    def fix_literal(self, span, regex: bool = False) -> None:
        new = self.literal(span, regex)
        if new != self.text[span[0] : span[1]]:
            self.edit(span, new)

    def labels(self, spans) -> None:
        for sp in spans:
            if self.templated(sp):
                self.edit(sp, _identifier(self.text[sp[0] : sp[1]], allow_colon=False))

    def selector(self, node: VectorSelector) -> None:
        text = self.text
        bad_labels = any(self.templated(m.label_span) for m in node.matchers)
        if node.template_spans or bad_labels:
            items = []
            prefix = ""
            if node.quoted_name_span is not None:
                items.append(text[node.quoted_name_span[0] : node.quoted_name_span[1]])
            elif node.name_span is not None:
                raw = text[node.name_span[0] : node.name_span[1]]
                prefix = _identifier(raw) if node.templated else raw
            for m in node.matchers:
                label = text[m.label_span[0] : m.label_span[1]]
                if self.templated(m.label_span):
                    label = _identifier(label, allow_colon=False)
                items.append(label + m.op + self.literal(m.value_span, m.op in ("=~", "!~")))
            ends = [s[1] for s in node.template_spans]
            if node.braces_span is not None:
                ends.append(node.braces_span[1])
            if node.name_span is not None and node.quoted_name_span is None:
                ends.append(node.name_span[1])
            core_end = max(ends)
            if not prefix and not items:
                items.append('__name__=~".+"')
            new = prefix + ("{" + ", ".join(items) + "}" if items else "")
            self.edit((node.start, core_end), new)
        else:
            if node.templated and node.name_span is not None:
                self.edit(node.name_span, _identifier(text[node.name_span[0] : node.name_span[1]]))
            for m in node.matchers:
                self.fix_literal(m.value_span, m.op in ("=~", "!~"))
        self.modifiers(node)

    def visit(self, root: Expr, expected: str | None) -> None:
        """Collect the edits for *root*; *expected* is the type its context requires.
        Iterative, so that trees thousands of levels deep are fine."""
        stack: list[tuple[Expr, str | None]] = [(root, expected)]
        types: dict[int, str | None] | None = None
        while stack:
            node, expected = stack.pop()
            if isinstance(node, Placeholder):
                self.edit(node.span, _PLACEHOLDER_FOR.get(expected, "1"))
            elif isinstance(node, VectorSelector):
                self.selector(node)
            elif isinstance(node, MatrixSelector):
                self.selector(node.vector)
                if self.templated(node.range_span):
                    self.edit(node.range_span, "5m")
                self.modifiers(node)
            elif isinstance(node, SubqueryExpr):
                stack.append((node.expr, "v"))
                if self.templated(node.range_span):
                    self.edit(node.range_span, "5m")
                if node.step_span is not None and self.templated(node.step_span):
                    self.edit(node.step_span, "5m")
                self.modifiers(node)
            elif isinstance(node, Call):
                func = node.func
                if self.templated(node.func_span):
                    first = node.args[0] if node.args else None
                    func = "rate" if isinstance(first, (MatrixSelector, SubqueryExpr)) else "abs"
                    self.edit(node.func_span, func)
                stack.extend((a, arg_type(func, i)) for i, a in enumerate(node.args))
            elif isinstance(node, AggregateExpr):
                op = node.op
                if self.templated(node.op_span):
                    op = "topk" if node.param is not None else "sum"
                    self.edit(node.op_span, op)
                self.labels(node.grouping_spans)
                if node.param is not None:
                    stack.append((node.param, "str" if op == "count_values" else "s"))
                stack.append((node.expr, "v"))
            elif isinstance(node, BinaryExpr):
                if node.matching is not None:
                    self.labels(node.matching.label_spans)
                    self.labels(node.matching.include_spans)
                comparison = node.op in COMPARISON_OPS and not node.return_bool
                if comparison and types is None:
                    types = static_types(root)
                for side, other in ((node.lhs, node.rhs), (node.rhs, node.lhs)):
                    exp = None
                    if node.op in SET_OPS:
                        exp = "v"
                    elif comparison and types is not None and types[id(other)] in ("s", None):
                        exp = "v"
                    stack.append((side, exp))
            elif isinstance(node, (ParenExpr, UnaryExpr)):
                stack.append((node.expr, expected))
            elif isinstance(node, StringLiteral):
                self.fix_literal(node.span)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    out = []
    pos = 0
    for s, e, new in sorted(edits):
        if s < pos:  # overlapping edit: keep the first one
            continue
        out.append(text[pos:s])
        out.append(new)
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _fallback(text: str) -> str:
    """Token-level substitution used when the text does not parse with our parser."""
    try:
        toks = tokenize(text)
    except PromQLSyntaxError:
        return text
    edits = []
    depth_braces = 0
    for i, t in enumerate(toks):
        prev = toks[i - 1] if i else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.kind == "{":
            depth_braces += 1
        elif t.kind == "}":
            depth_braces -= 1
        elif t.kind == "DUR" and contains_variable(t.text):
            edits.append((t.start, t.end, "5m"))
        elif t.kind in ("TVAR", "TEMPLATE"):
            after_offset = prev is not None and (
                (prev.kind == "IDENT" and prev.text.lower() == "offset")
                or (prev.kind in ("-", "+") and i >= 2 and toks[i - 2].text.lower() == "offset")
            )
            if after_offset:
                new = "5m"
            elif prev is not None and prev.kind == "@":
                new = "1"
            elif depth_braces > 0:
                new = "" if t.kind == "TEMPLATE" else _identifier(t.text, allow_colon=False)
            elif (
                t.kind == "TVAR" and GRAFANA_VARIABLE_RE.fullmatch(t.text) is None
            ) or (nxt is not None and nxt.kind in ("{", "[")):
                new = _identifier(t.text)
            else:
                new = "1"
            edits.append((t.start, t.end, new))
    return _apply(text, edits)


def substitute_for_oracle(text: str) -> str:
    """Replace Grafana variables / templates by plain PromQL of the same kind."""
    if not contains_variable(text):
        return text
    try:
        tree = parse(text)
    except PromQLSyntaxError:
        return _fallback(text)
    c = _Collector(text)
    c.visit(tree, None)
    return _apply(text, c.edits)


@lru_cache(maxsize=4096)
def validate_promql(text: str) -> PromQLValidation:
    """Substitute variables, then validate with this package's parser and the
    ``promql-parser`` package (see :mod:`.validate`: bounded size, Prometheus 3 syntax).
    Cached: a rewrite is validated where it is built and again where it becomes a fix."""
    return check_with_promql_parser(substitute_for_oracle(text))


def is_valid_promql(text: str) -> bool:
    """True when *text* (after substituting variables) is shown to be valid PromQL; False
    when it is not, or when it cannot be shown (too large for promql-parser)."""
    return validate_promql(text).valid
