"""Where a PromQL expression uses the removed metric, and how it could be rewritten.

One analysis per expression serves every PromQL rule (VMM001/2/3/4/6) in every format.
Positions are offsets into the expression string the caller passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from migrator.promql import ast
from migrator.promql.oracle import Verdict, cancellation_problem, judge
from migrator.promql.parser import PromQLSyntaxError, parse, parse_grafana_query
from migrator.promql.variables import is_valid_promql
from migrator.reference.catalogue import classify_metric_name, regex_matched_spellings

_ABSENT = frozenset({"absent", "absent_over_time"})
# Surviving names a `__name__=~` regex is tried against: matching one of them means the regex
# selects the removed metric "among others" (VMM006) rather than only it (VMM001).
_OTHER_NAMES = (
    "vllm:prompt_tokens_total", "vllm:prompt_tokens_cached_total", "vllm:prompt_tokens_by_source_total",
    "vllm:generation_tokens_total", "vllm:num_requests_running", "vllm:prefix_cache_hits_total",
    "vllm:prompt_tokens", "vllm:prompt_tokens_cached", "vllm:kv_cache_usage_perc",
)


@dataclass(frozen=True, slots=True)
class TextEdit:
    start: int
    end: int
    content: str


@dataclass(frozen=True, slots=True)
class Rewrite:
    edits: tuple[TextEdit, ...]
    text: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Reference:
    """One use of the removed metric (or of a series recorded from it)."""

    kind: str  # "selector" | "regex-only" | "regex-among-others" | "dead-series"
    start: int  # the name (or regex literal) to point at
    end: int
    name: str
    absent: bool = False  # wrapped in absent()/absent_over_time()
    elimination: Rewrite | None = None  # term elimination in a +/- expression
    regex_rewrite: Rewrite | None = None  # dropping the alternative from a simple alternation
    context: str = ""  # "standalone", "ratio", "comparison", ... for the message


@dataclass(slots=True)
class Analysis:
    text: str
    error: PromQLSyntaxError | None = None
    references: list[Reference] = field(default_factory=list)
    kind: str = "promql"  # or the Grafana query kind (label_values, query_result, ...)


def _parents(root: ast.Expr) -> dict[int, ast.Expr]:
    parents: dict[int, ast.Expr] = {}
    for node in ast.walk(root):
        for child in ast.children(node):
            parents[id(child)] = node
    return parents


def _term(node: ast.Expr, parents: dict[int, ast.Expr]) -> tuple[ast.Expr, ast.Expr | None]:
    """Climb wrappers (rate, sum, parentheses, subqueries…) to the outermost expression that is
    still only about this selector; return it and its parent."""
    current = node
    while True:
        parent = parents.get(id(current))
        if parent is None or isinstance(parent, ast.BinaryExpr):
            return current, parent
        if isinstance(parent, ast.Call) and sum(not isinstance(a, (ast.NumberLiteral, ast.StringLiteral)) for a in parent.args) > 1:
            return current, parent
        if isinstance(parent, ast.AggregateExpr) and parent.param is current:
            return current, parent
        current = parent


def _describe_context(term: ast.Expr, parent: ast.Expr | None) -> str:
    if parent is None:
        return "standalone"
    if isinstance(parent, ast.BinaryExpr):
        if parent.op in ("/", "*", "%", "^", "atan2"):
            return "ratio" if parent.op == "/" else "product"
        if parent.op in ast.COMPARISON_OPS:
            return "comparison"
        if parent.op in ast.SET_OPS:
            return "set operation"
        return "sum"
    if isinstance(parent, ast.AggregateExpr):
        return f"{parent.op}() parameter"
    if isinstance(parent, ast.Call):
        return f"{parent.func}() argument"
    return "expression"


_ATOMIC = (ast.Call, ast.AggregateExpr, ast.VectorSelector, ast.MatrixSelector, ast.ParenExpr, ast.NumberLiteral)


def _eliminate(text: str, term: ast.Expr, parent: ast.BinaryExpr, parents: dict[int, ast.Expr]) -> tuple[TextEdit, ...] | None:
    if parent.op not in ("+", "-"):
        return None
    if parent.rhs is term:
        edits = [TextEdit(parent.lhs.end, term.end, "")]
        survivor = parent.lhs
    elif parent.op == "+":
        edits = [TextEdit(term.start, parent.rhs.start, "")]
        survivor = parent.rhs
    else:
        return None  # `removed - x` has no term-eliminated equivalent
    # `(a + removed)` → `(a)`: drop parentheses that no longer group anything.
    grand = parents.get(id(parent))
    if isinstance(grand, ast.ParenExpr) and isinstance(survivor, _ATOMIC):
        above = parents.get(id(grand))
        if not isinstance(above, ast.SubqueryExpr) and not (
            isinstance(above, ast.BinaryExpr) and above.op in ("^",)
        ):
            edits.append(TextEdit(grand.start, grand.start + 1, ""))
            edits.append(TextEdit(grand.end - 1, grand.end, ""))
    return tuple(edits)


def apply_text_edits(text: str, edits: tuple[TextEdit, ...]) -> str:
    out, cursor = [], 0
    for e in sorted(edits, key=lambda e: e.start):
        out.append(text[cursor : e.start])
        out.append(e.content)
        cursor = e.end
    out.append(text[cursor:])
    return "".join(out)


def _valid(text: str, grafana: bool) -> bool:
    """Valid PromQL for the oracle; in a Grafana query only the PromQL inside
    `query_result(...)`/`label_values(...)` is PromQL."""
    if not grafana:
        return is_valid_promql(text)
    try:
        query = parse_grafana_query(text)
    except (PromQLSyntaxError, RecursionError):
        return False
    if query.kind == "promql":
        return is_valid_promql(text)
    return query.expr is None or is_valid_promql(text[query.expr.start : query.expr.end])


def _inner(text: str, grafana: bool) -> str:
    if grafana:
        query = parse_grafana_query(text)
        if query.kind != "promql" and query.expr is not None:
            return text[query.expr.start : query.expr.end]
    return text


def _rewrite(text: str, edits: tuple[TextEdit, ...] | None, grafana: bool = False, problem: str | None = None,
             prefixes: tuple[str, ...] = (), dead: frozenset[str] = frozenset()) -> Rewrite | None:
    if not edits:
        return None
    new = apply_text_edits(text, edits)
    if not new.strip() or not _valid(new, grafana):
        return None
    if _selects_removed(_inner(new, grafana), prefixes, dead):
        return None  # e.g. `R / (C + R)` → `R / C`: still reads the removed metric, so no fix at all
    if problem is not None:
        from migrator.model import Applicability

        return Rewrite(edits, new, Verdict(Applicability.UNSAFE, problem))
    return Rewrite(edits, new, judge(_inner(text, grafana), _inner(new, grafana)))


_SIMPLE_ALTERNATION = re.compile(r"[A-Za-z0-9_:.|]+")


def _regex_rewrite(text: str, matcher: ast.LabelMatcher, prefixes: tuple[str, ...], grafana: bool) -> Rewrite | None:
    """`{__name__=~"a|vllm:prompt_tokens_recomputed_total|b"}` → drop that alternative."""
    pattern = matcher.value
    if not _SIMPLE_ALTERNATION.fullmatch(pattern) or "|" not in pattern:
        return None
    kept = [alt for alt in pattern.split("|") if not regex_matched_spellings(re.escape(alt), prefixes)]
    if not kept or len(kept) == len(pattern.split("|")):
        return None
    quote = text[matcher.value_span[0]]
    literal = quote + "|".join(kept) + quote
    edits = (TextEdit(matcher.value_span[0], matcher.value_span[1], literal),)
    new = apply_text_edits(text, edits)
    if not _valid(new, grafana):
        return None
    from migrator.model import Applicability

    return Rewrite(edits, new, Verdict(Applicability.UNSAFE, "the regex no longer selects the removed series; "
                                       "panels or rules built on the combined result change accordingly"))


def _regex_only_removed(pattern: str) -> bool:
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    return not any(compiled.fullmatch(name) for name in _OTHER_NAMES)


def _name_match(
    selector: ast.VectorSelector, prefixes: tuple[str, ...], dead: frozenset[str],
) -> tuple[str, tuple[int, int], str, ast.LabelMatcher | None] | None:
    """(kind, span, name, regex matcher) when the selector reads the removed metric or a dead series."""
    if selector.name is not None and not selector.templated and selector.name_span is not None:
        if classify_metric_name(selector.name, prefixes) is not None and classify_metric_name(selector.name, prefixes).prefixed:
            return ("selector", selector.name_span, selector.name, None)
        elif selector.name in dead:
            return ("dead-series", selector.name_span, selector.name, None)
    for m in selector.matchers:
        if m.label != "__name__":
            continue
        if m.op == "=":
            found = classify_metric_name(m.value, prefixes)
            if found is not None and found.prefixed:
                return ("selector", m.value_span, m.value, None)
            elif m.value in dead:
                return ("dead-series", m.value_span, m.value, None)
        elif m.op == "=~" and regex_matched_spellings(m.value, prefixes):
            kind = "regex-only" if _regex_only_removed(m.value) else "regex-among-others"
            return (kind, m.value_span, m.value, m)
    return None


def _selects_removed(text: str, prefixes: tuple[str, ...], dead: frozenset[str]) -> bool:
    try:
        tree = parse(text)
    except (PromQLSyntaxError, RecursionError):
        return True
    return any(isinstance(n, ast.VectorSelector) and _name_match(n, prefixes, dead) is not None for n in ast.walk(tree))


def _selector_reference(
    text: str, selector: ast.VectorSelector, parents: dict[int, ast.Expr], prefixes: tuple[str, ...],
    dead: frozenset[str], grafana: bool,
) -> Reference | None:
    name_match = _name_match(selector, prefixes, dead)
    if name_match is None:
        return None
    kind, (start, end), name, matcher = name_match
    term, parent = _term(selector, parents)
    absent = any(
        isinstance(n, ast.Call) and n.func in _ABSENT
        for n in _ancestors(selector, parents)
    )
    elimination = None
    if kind in ("selector", "regex-only", "dead-series") and isinstance(parent, ast.BinaryExpr) and not absent:
        # Structural reasons first: a term that cannot cancel is unsafe whatever the data shows.
        problem = cancellation_problem(text, term, parent, parents) if parent.op in ("+", "-") else None
        elimination = _rewrite(text, _eliminate(text, term, parent, parents), grafana, problem, prefixes, dead)
    regex_rewrite = _regex_rewrite(text, matcher, prefixes, grafana) if kind == "regex-among-others" else None
    return Reference(
        kind=kind, start=start, end=end, name=name, absent=absent, elimination=elimination,
        regex_rewrite=regex_rewrite, context=_describe_context(term, parent),
    )


def _ancestors(node: ast.Expr, parents: dict[int, ast.Expr]):  # type: ignore[no-untyped-def]
    current = parents.get(id(node))
    while current is not None:
        yield current
        current = parents.get(id(current))


@lru_cache(maxsize=2048)
def analyse(text: str, prefixes: tuple[str, ...] = (), dead: frozenset[str] = frozenset(), grafana: bool = False) -> Analysis:
    """Analyse one expression (or Grafana templating query when `grafana`)."""
    analysis = Analysis(text)
    try:
        if grafana:
            query = parse_grafana_query(text)
            analysis.kind = query.kind
            root = query.expr
        else:
            root = parse(text)
    except (PromQLSyntaxError, RecursionError) as err:
        analysis.error = err if isinstance(err, PromQLSyntaxError) else PromQLSyntaxError("expression too deeply nested", 0)
        return analysis
    if root is None:
        return analysis
    parents = _parents(root)
    for node in ast.walk(root):
        if isinstance(node, ast.VectorSelector):
            ref = _selector_reference(text, node, parents, prefixes, dead, grafana)
            if ref is not None:
                analysis.references.append(ref)
    return analysis
