"""Term elimination: dropping a removed metric's term from a `+`/`-` expression, judged by
the reference oracle (the original on era-(a) counters against the rewrite on era-(c)
counters). Which terms are references of removed metrics is `references.analyse`'s business.
Positions are offsets into the expression string the caller passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrator.promql import ast
from migrator.promql.oracle import Verdict, cancellation_problem, judge
from migrator.promql.parser import PromQLSyntaxError, parse_grafana_query
from migrator.promql.references import Analysis, Reference, TextEdit, apply_text_edits, term_of
from migrator.promql.variables import is_valid_promql

@dataclass(frozen=True, slots=True)
class Rewrite:
    edits: tuple[TextEdit, ...]
    text: str
    verdict: Verdict


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


def _rewrite(
    text: str, edits: tuple[TextEdit, ...] | None, grafana: bool = False, problem: str | None = None,
    still_stale=None,  # type: ignore[no-untyped-def]
) -> Rewrite | None:
    if not edits:
        return None
    new = apply_text_edits(text, edits)
    if not new.strip() or not _valid(new, grafana):
        return None
    if still_stale is not None and still_stale(_inner(new, grafana)):
        return None  # e.g. `R / (C + R)` → `R / C`: still reads the removed metric, so no fix at all
    if problem is not None:
        from migrator.model import Applicability

        return Rewrite(edits, new, Verdict(Applicability.UNSAFE, problem))
    return Rewrite(edits, new, judge(_inner(text, grafana), _inner(new, grafana)))


def elimination(analysis: Analysis, ref: Reference, grafana: bool, prefixes: tuple[str, ...] = (),
                target=None) -> Rewrite | None:  # type: ignore[no-untyped-def]
    """Drop the term holding `ref` from the `+`/`-` expression it is an operand of, with the
    oracle's verdict; None when the term is not such an operand, the result is not PromQL, or
    the result still reads the removed metric."""
    from migrator.promql.references import stale

    if ref.absent or not stale(ref.status):
        return None  # only a metric that is gone at the target has a term to drop
    term, parent = term_of(ref.selector, analysis.parents)
    if not isinstance(parent, ast.BinaryExpr):
        return None
    edits = _eliminate(analysis.text, term, parent, analysis.parents)
    if not edits or not _valid(apply_text_edits(analysis.text, edits), grafana):
        return None  # also: too large for promql-parser to validate, so no rewrite at all
    # Structural reasons first: a term that cannot cancel is unsafe whatever the data shows.
    try:
        problem = cancellation_problem(analysis.text, term, parent, analysis.parents)
    except RecursionError:
        problem = "could not be verified: the expression is nested too deeply to analyse"

    def still_stale(new: str) -> bool:
        # Judged one term at a time, a rewrite that keeps another use of the same metric
        # (`R / (C + R)` → `R / C`, or a second `R` term) would be compared against data
        # that metric no longer has: no fix at all.
        from migrator.promql.references import analyse, stale

        after = analyse(new, prefixes, frozenset(), False, target)
        return after.error is not None or any(
            stale(other.status) and other.change is ref.change for other in after.references
        )

    return _rewrite(analysis.text, edits, grafana, problem, still_stale)
