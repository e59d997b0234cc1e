"""Which vLLM metrics a PromQL expression selects, and where each one stands at the target.

One analysis per expression serves every PromQL rule in every format: each selector's name,
`__name__` matcher and name regex is looked up in the metric catalogue and given its status
at the target release (current, deprecated, hidden, not yet exposed, gone) and the change that
explains it. Rules pick the references of the change kinds they own; the rewrites they offer
(renames, formulas, term eliminations) are built by the helpers at the bottom, each validated
by both parsers before a rule sees it. Positions are offsets into the expression string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from migrator.promql import ast
from migrator.promql.parser import PromQLSyntaxError, parse, parse_grafana_query
from migrator.reference.catalogue import NameStatus, Series, Status, Target, catalogue
from migrator.reference.spellings import NameHit, classify, regex_matches, split_prefix

_ABSENT = frozenset({"absent", "absent_over_time"})


@dataclass(frozen=True, slots=True)
class Reference:
    """One metric name an expression selects (or a name regex, or a dead recorded series)."""

    # "name" (the selector's metric name), "matcher" (`__name__="…"`), "regex" (`__name__=~`),
    # "dead-series" (a series recorded from a metric that is gone), "unknown" (a `vllm:` name no
    # release exposed), "family" (a family name without the suffix its samples carry).
    kind: str
    start: int  # the name (or the regex's text) inside the expression, without quotes
    end: int
    written: str
    selector: ast.VectorSelector
    hit: NameHit | None = None
    status: NameStatus | None = None
    # For regexes: every catalogue name the regex selects, with its status at the target.
    regex_hits: tuple[tuple[NameHit, NameStatus], ...] = ()
    absent: bool = False  # inside absent()/absent_over_time()
    in_range: bool = False  # the selector is the vector of a range selector `x[5m]`
    context: str = "standalone"  # how the value is used: "sum", "ratio", "comparison", ...
    # An edit replacing exactly `written` is exact (no escapes inside a quoted matcher value).
    exact: bool = True

    @property
    def change(self):  # type: ignore[no-untyped-def]
        return self.status.change if self.status is not None else None


@dataclass(slots=True)
class Analysis:
    text: str
    error: PromQLSyntaxError | None = None
    root: ast.Expr | None = None
    kind: str = "promql"  # or the Grafana query kind (label_values, query_result, ...)
    references: list[Reference] = field(default_factory=list)
    parents: dict[int, ast.Expr] = field(default_factory=dict)

    def selects(self, metric_name: str) -> bool:
        """Whether some selector of the expression is a name of `metric_name` (any form)."""
        for ref in self.references:
            if ref.hit is not None and any(s.metric.name == metric_name for s in ref.hit.candidates):
                return True
            if any(any(s.metric.name == metric_name for s in h.candidates) for h, _ in ref.regex_hits):
                return True
        return False


def _parents(root: ast.Expr) -> dict[int, ast.Expr]:
    parents: dict[int, ast.Expr] = {}
    for node in ast.walk(root):
        for child in ast.children(node):
            parents[id(child)] = node
    return parents


def ancestors(node: ast.Expr, parents: dict[int, ast.Expr]):  # type: ignore[no-untyped-def]
    current = parents.get(id(node))
    while current is not None:
        yield current
        current = parents.get(id(current))


def reads_metric_name(selector: ast.VectorSelector, parents: dict[int, ast.Expr]) -> str | None:
    """How an enclosing expression turns the selected series' metric name into other data
    (`label_replace(…, "__name__", …)` copies it into another label; `on (__name__)` matches
    series by it), or None. A rename keeps the values and renames the series (`by (__name__)`
    included), but not such a label or match. Functions that drop the name on the way are not
    followed: when in doubt, the name counts as read."""
    for node in ancestors(selector, parents):
        if isinstance(node, ast.Call) and node.func in ("label_replace", "label_join"):
            sources = node.args[3:] if node.func == "label_join" else node.args[3:4]
            if any(isinstance(a, ast.StringLiteral) and a.value == "__name__" for a in sources):
                return f'`{node.func}(…, "__name__", …)`'
        if isinstance(node, ast.BinaryExpr) and node.matching is not None:
            m = node.matching
            if (m.on and "__name__" in m.labels) or "__name__" in m.include:
                return "`on (__name__)` matching"
    return None


# Functions whose result keeps the input series' metric name (or that PromQL versions disagree
# on); every other known function drops it. An unknown function counts as keeping it.
_KEEP_NAME_FUNCTIONS = frozenset({
    "label_replace", "label_join", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc",
    "last_over_time", "first_over_time", "timestamp", "info",
})
# Aggregations that return input series as they are.
_SELECTING_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})


def result_keeps_name(selector: ast.VectorSelector, parents: dict[int, ast.Expr]) -> bool:
    """Whether the selected series' metric name can reach the expression's result (a bare
    selector, `x > 0.9`, `topk(3, x)`, `sum by (__name__) (x)`), so a dashboard that shows
    `__name__` shows it. False only where every path up is known to drop the name: a function
    such as `rate` or `abs`, an aggregation, arithmetic, a `bool` comparison."""
    current: ast.Expr = selector
    for node in ancestors(selector, parents):
        if isinstance(node, ast.Call):
            from migrator.promql.functions import FUNCTIONS

            if node.func in FUNCTIONS and node.func not in _KEEP_NAME_FUNCTIONS:
                return False
        elif isinstance(node, ast.AggregateExpr):
            if node.param is current:
                return False
            if node.op not in _SELECTING_AGGREGATIONS and (node.without or "__name__" not in node.grouping):
                return False
        elif isinstance(node, ast.BinaryExpr):
            if node.op not in ast.SET_OPS and (node.op not in ast.COMPARISON_OPS or node.return_bool):
                return False
        elif isinstance(node, ast.UnaryExpr) and node.op == "-":
            return False
        current = node
    return True


def term_of(node: ast.Expr, parents: dict[int, ast.Expr]) -> tuple[ast.Expr, ast.Expr | None]:
    """Climb wrappers (rate, sum, parentheses, subqueries…) to the outermost expression that is
    still only about this selector; return it and its parent."""
    current = node
    while True:
        parent = parents.get(id(current))
        if parent is None or isinstance(parent, ast.BinaryExpr):
            return current, parent
        if isinstance(parent, ast.Call) and sum(
            not isinstance(a, (ast.NumberLiteral, ast.StringLiteral)) for a in parent.args
        ) > 1:
            return current, parent
        if isinstance(parent, ast.AggregateExpr) and parent.param is current:
            return current, parent
        current = parent


def describe_context(parent: ast.Expr | None) -> str:
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


def _name_status(hit: NameHit, target: Target) -> NameStatus | None:
    return catalogue().status_of(hit.candidates, target)


def _selector_references(
    text: str,
    selector: ast.VectorSelector,
    parents: dict[int, ast.Expr],
    prefixes: tuple[str, ...],
    dead: frozenset[str],
    target: Target,
    local_records: frozenset[str],
) -> list[Reference]:
    found: list[tuple[str, int, int, str, bool, NameHit | None, tuple]] = []
    if selector.name is not None and not selector.templated and selector.name_span is not None:
        start, end = selector.name_span
        if text[start : start + 1] in "\"'`":
            start, end = start + 1, end - 1  # a quoted name (Prometheus 3): edit inside the quotes
        found.append(("name", start, end, selector.name, text[start:end] == selector.name, None, ()))
    elif selector.name is not None and selector.templated and selector.name_span is not None:
        # `{{ .Values.prefix }}vllm:old_name`: the literal part still names the metric. Reported,
        # never edited (what the template adds to the name is not known).
        found.extend(_templated_name_hits(text, selector.name_span, prefixes))
    for m in selector.matchers:
        if m.label != "__name__":
            continue
        start, end = m.value_span[0] + 1, m.value_span[1] - 1
        exact = text[start:end] == m.value
        if m.op == "=":
            found.append(("matcher", start, end, m.value, exact, None, ()))
        elif m.op == "=~":
            found.append(("regex", start, end, m.value, exact, None, ()))
    refs: list[Reference] = []
    for kind, start, end, written, exact, _hit, _ in found:
        absent = False
        in_range = isinstance(parents.get(id(selector)), ast.MatrixSelector)
        term, parent = term_of(selector, parents)
        absent = any(isinstance(n, ast.Call) and n.func in _ABSENT for n in ancestors(selector, parents))
        common = dict(
            start=start, end=end, written=written, selector=selector, absent=absent, in_range=in_range,
            context=describe_context(parent), exact=exact,
        )
        if kind == "regex":
            hits = regex_matches(written, prefixes)
            if hits:
                statuses = tuple((h, _name_status(h, target)) for h in hits)
                refs.append(Reference(kind="regex", regex_hits=statuses, **common))  # type: ignore[arg-type]
            continue
        if written in dead:
            refs.append(Reference(kind="dead-series", **common))  # type: ignore[arg-type]
            continue
        hit = _hit if _hit is not None else classify(written, prefixes)
        if hit is not None:
            status = _name_status(hit, target)
            family = status is not None and status.series.family and kind == "name"
            refs.append(Reference(kind="family" if family else kind, hit=hit, status=status, **common))  # type: ignore[arg-type]
            continue
        split = split_prefix(written, prefixes)
        if split is not None and split[0].endswith(":") and written not in local_records:
            refs.append(Reference(kind="unknown", **common))  # type: ignore[arg-type]
    return refs


def _templated_name_hits(text: str, span: tuple[int, int], prefixes: tuple[str, ...]) -> list[tuple]:
    from migrator.promql.variables import find_variables
    from migrator.reference.spellings import find_names

    start, end = span
    name = text[start:end]
    regions = [(s, e) for _raw, s, e in find_variables(name)]
    found: list[tuple] = []
    for hit in find_names(name, prefixes):
        if any(s < hit.end and hit.start < e for s, e in regions):
            continue  # inside a template or variable: not literal text
        found.append(("name", start + hit.start, start + hit.end, hit.text, False, hit, ()))
    return found


@lru_cache(maxsize=4096)
def analyse(
    text: str,
    prefixes: tuple[str, ...] = (),
    dead: frozenset[str] = frozenset(),
    grafana: bool = False,
    target: Target | None = None,
    local_records: frozenset[str] = frozenset(),
) -> Analysis:
    """Analyse one expression (or Grafana templating query when `grafana`)."""
    target = target or catalogue().target()
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
        analysis.references.extend(_unparsed_references(text, prefixes, target))
        return analysis
    if root is None:
        if grafana and query.regex_span is not None:
            # `metrics(regex)` lists the metric names the regex selects, as `{__name__=~"regex"}`
            # does (Grafana 11 sends exactly that; older releases matched it unanchored).
            analysis.references.extend(
                _selector_references(text, _name_regex_selector(text, query.regex_span), {}, prefixes, dead, target, local_records)
            )
        return analysis
    analysis.root = root
    analysis.parents = parents = _parents(root)
    for node in ast.walk(root):
        if isinstance(node, ast.VectorSelector):
            analysis.references.extend(
                _selector_references(text, node, parents, prefixes, dead, target, local_records)
            )
    return analysis


def _name_regex_selector(text: str, span: tuple[int, int]) -> ast.VectorSelector:
    """A selector `{__name__=~"…"}` standing for a bare name regex at `span` (its matcher's
    value span reaches one character either side, where a quoted value's quotes would be)."""
    start, end = span
    matcher = ast.LabelMatcher(
        label="__name__", op="=~", value=text[start:end], label_span=(start, start), op_span=(start, start),
        value_span=(start - 1, end + 1), start=start, end=end,
    )
    return ast.VectorSelector(name=None, name_span=None, matchers=(matcher,), start=start, end=end)


def _unparsed_references(text: str, prefixes: tuple[str, ...], target: Target) -> list[Reference]:
    """An expression neither parser accepts still names metrics: report them (without the
    structure, nothing can be rewritten, and `context` says why)."""
    from migrator.reference.spellings import find_names

    placeholder = ast.VectorSelector(name=None, name_span=None, matchers=(), start=0, end=0)
    refs = []
    for hit in find_names(text, prefixes):
        refs.append(
            Reference(
                kind="name", start=hit.start, end=hit.end, written=hit.text, selector=placeholder,
                hit=hit, status=_name_status(hit, target), context="unparsed expression",
            )
        )
    return refs


# --------------------------------------------------------------------------- rewrites


@dataclass(frozen=True, slots=True)
class TextEdit:
    """An edit of the expression string (offsets into it)."""

    start: int
    end: int
    content: str


def apply_text_edits(text: str, edits: tuple[TextEdit, ...] | list[TextEdit]) -> str:
    out, cursor = [], 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        out.append(text[cursor : e.start])
        out.append(e.content)
        cursor = e.end
    out.append(text[cursor:])
    return "".join(out)


_SELECTOR_ONLY = frozenset({"label_values", "label_names"})


def check_rewrite(text: str, grafana: bool) -> str | None:
    """None when `text` is valid for both parsers (in a Grafana query, the PromQL inside
    `query_result(...)`/`label_values(...)`), else why not."""
    syntax, note = _problems(text, grafana)
    if syntax is not None:
        return f"the result would not be valid PromQL ({syntax})"
    return note


def promql_problem(text: str, grafana: bool) -> str | None:
    """What keeps `text` from being valid PromQL (for both parsers), or None."""
    syntax, note = _problems(text, grafana)
    return syntax if syntax is not None else note


def _problems(text: str, grafana: bool) -> tuple[str | None, str | None]:
    """(this package's syntax error, the validator's note); both None when valid."""
    from migrator.promql.variables import validate_promql

    inner = text
    try:
        if grafana:
            query = parse_grafana_query(text)
            if query.kind != "promql":
                if query.expr is None:
                    return None, None
                if query.kind in _SELECTOR_ONLY and not isinstance(query.expr, ast.VectorSelector):
                    # Grafana sends it as `match[]`, which Prometheus rejects unless it is a selector.
                    return None, f"{query.kind}() takes a series selector, not an expression"
                inner = text[query.expr.start : query.expr.end]
        else:
            parse(text)
    except (PromQLSyntaxError, RecursionError) as err:
        return str(getattr(err, "message", err)), None
    verdict = validate_promql(inner)
    return None, (None if verdict.valid else (verdict.note or "the result would not be valid PromQL"))


def rename_edit(ref: Reference, series: Series) -> TextEdit | None:
    """Replace a name with `series`, written in the same prefix form and quoting."""
    if ref.hit is None or not ref.exact:
        return None
    new = ref.hit.respelled(series)
    return TextEdit(ref.start, ref.end, new)


_SIMPLE_ALTERNATION = re.compile(r"[A-Za-z0-9_:.|]+")


def alternation_edit(ref: Reference, replace: dict[str, str | None]) -> TextEdit | None:
    """A `__name__=~"a|b|c"` regex with alternatives renamed (str) or dropped (None)."""
    pattern = ref.written
    if not ref.exact or not _SIMPLE_ALTERNATION.fullmatch(pattern):
        return None
    out: list[str] = []
    changed = False
    for alt in pattern.split("|"):
        if alt in replace:
            changed = True
            if replace[alt] is not None:
                out.append(replace[alt])  # type: ignore[arg-type]
        else:
            out.append(alt)
    if not changed or not out:
        return None
    return TextEdit(ref.start, ref.end, "|".join(dict.fromkeys(out)))


def stale(status: NameStatus | None) -> bool:
    return status is not None and status.status is Status.GONE
