import ast
from functools import cache

from migrator.model import Applicability, Fix, Severity
from migrator.reference.catalogue import Status, catalogue
from migrator.rule import Rule

_STATS_CLASSES = frozenset({"PromptTokenStats", "LegacyPromptTokenStats"})
_INSTRUMENT_CALLS = frozenset({"inc", "add", "set", "observe", "record", "labels"})
_LOG_CALLS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print"})
_NAME_LOOKUPS = frozenset({"getattr", "setattr", "hasattr", "delattr"})


@cache
def _facts():
    """(stats field, removed metric name, first release without it, `vX.Y+`, PR) from the catalogue."""
    flagship = catalogue().flagship
    major, minor = flagship.removed_in.split(".")[:2]
    return flagship.stats_field, flagship.removed.name, flagship.removed_in, f"v{major}.{minor}+", flagship.removed_pr


class RecomputedTokensField(Rule):
    """Reads, writes and keyword arguments of the era-(a) `PromptTokenStats.recomputed_tokens` field.

    ## What it does
    Reports `.recomputed_tokens` attribute reads and writes, `recomputed_tokens=` keyword
    arguments (`PromptTokenStats(recomputed_tokens=...)`, also through import aliases),
    `getattr(stats, "recomputed_tokens")` and class fields of that name, in Python code.

    ## Why is this bad?
    vLLM v0.20.0 removed the field together with `vllm:prompt_tokens_recomputed` (PR #38709).
    On v0.20+ every read raises `AttributeError` and the keyword raises `TypeError`: custom
    stat loggers and tests written against v0.16-v0.19 break on upgrade. Nothing is reported
    when the configured `target-version` still has the field.

    ## Example
    ```python
    cached = stats.local_cache_hit + stats.external_kv_transfer - stats.recomputed_tokens
    ```
    Use instead:
    ```python
    cached = stats.local_cache_hit + stats.external_kv_transfer
    ```

    ## Fix safety
    Dropping the term from a +/- expression is offered when the expression is arithmetic
    over stats fields. The reference model decides: the rewritten expression on v0.20+
    counters is compared with the original on v0.16-v0.19 counters over vLLM's six canonical
    cases and simulated mixes. Equal everywhere (the identity `local + external - recomputed`,
    which equals `cached` in both eras) is safe; otherwise the fix is unsafe and the message
    gives the difference (`cached + recomputed` -> `cached` is -1 per fully cached request).
    Removing a `recomputed_tokens=` argument from vLLM's `PromptTokenStats(...)` is safe (it
    is unsafe for other callees, which may still take the parameter). Other uses (assertions,
    counters fed from the field, logging, branches) have no v0.20+ equivalent: the finding
    explains what to do instead. In a generated file every fix is display-only.
    """

    code = "VMM101"
    name = "recomputed-tokens-field"
    severity = Severity.ERROR
    formats = frozenset({"python"})
    formats_label = "Python"
    fix_availability = "sometimes"
    python_nodes = {
        "Attribute": "collect_attribute",
        "keyword": "collect_keyword",
        "Call": "collect_lookup",
        "AnnAssign": "collect_class_field",
    }

    def needles(self, settings):
        return (_facts()[0],)

    # -- callbacks of the Python handler's walk: (node, python info, ancestors) -> kind ----

    def collect_attribute(self, node, info, ancestors):
        return "attribute" if node.attr == _facts()[0] else None

    def collect_keyword(self, node, info, ancestors):
        return "keyword" if node.arg == _facts()[0] else None

    def collect_lookup(self, node, info, ancestors):
        """`getattr(stats, "recomputed_tokens")` and its siblings."""
        func = node.func
        if not (isinstance(func, ast.Name) and func.id in _NAME_LOOKUPS):
            return None
        arguments = info.arguments(node)
        if len(arguments) < 2:
            return None
        name = _argument_value(arguments[1])
        if _simple_string(info, name) and name.value == _facts()[0] and _facts()[0] in info.source(name):
            return "getattr"
        return None

    def collect_class_field(self, node, info, ancestors):
        target = node.target
        if isinstance(target, ast.Name) and target.id == _facts()[0]:
            if any(isinstance(a, ast.ClassDef) for a in ancestors):
                return "field"
        return None

    # -- findings ----------------------------------------------------------------------

    def check(self, ctx):
        refs = ctx.collected(self)
        if not refs:
            return
        if catalogue().metric_status(catalogue().flagship.removed, ctx.settings.target) is not Status.GONE:
            return  # the target release still has the field
        info = ctx.doc.python
        for ref in refs:
            span = ref.span
            if ref.kind == "keyword":
                message, fix = _keyword(info, ref)
            elif ref.kind == "attribute":
                message, fix = _attribute(info, ref)
            else:
                message, fix = _other(ref)
                span = info.span(
                    _argument_value(info.arguments(ref.node)[1]) if ref.kind == "getattr" else ref.node.target
                )
            if ctx.doc.generated is not None and fix.edits:
                fix = Fix(Applicability.DISPLAY_ONLY, f"{fix.message}; not applied: {ctx.doc.generated}", ())
            yield ctx.finding(self, span, message, fix=fix, locator=ref.locator)


def _display(message: str, advice: str) -> tuple[str, Fix]:
    return message, Fix(Applicability.DISPLAY_ONLY, advice, ())


def _argument_value(argument):
    """The expression an argument passes (`x` of `x`, `key=x`, `*x`)."""
    return argument.value if isinstance(argument, (ast.keyword, ast.Starred)) else argument


def _simple_string(info, node):
    """A str literal written as one piece (what a name lookup spells)."""
    from migrator.formats.python_literals import single_literal

    if not (isinstance(node, ast.Constant) and type(node.value) is str):
        return False
    span = info.span(node)
    return single_literal(info.text, span.start, span.end)


def _keyword(info, ref):
    field, _, removed_in, _, _ = _facts()
    call = ref.ancestors[-1]
    message = f"`{field}=` is not a parameter of `PromptTokenStats` since vLLM v{removed_in}"
    if not isinstance(call, ast.Call):  # a class keyword (`class C(Base, recomputed_tokens=0)`)
        return _display(message, f"remove the `{field}=` argument by hand")
    names = info.qualified_names(call.func)
    callee = info.source(call.func)
    edits = info.argument_removal(call, info.arguments(call).index(ref.node))
    if edits is None:
        return _display(message, f"remove the `{field}=` argument by hand")
    local_classes = {n.name for n in info.module.body if isinstance(n, ast.ClassDef)}
    if names & local_classes:
        # The file defines its own class of that name: it may well still take the field.
        return message, Fix(
            Applicability.UNSAFE, f"Remove the argument (`{callee}` is defined in this file; check it first)", edits
        )
    if any(n.rsplit(".", 1)[-1] in _STATS_CLASSES or n.startswith("vllm.") for n in names):
        return message + " (TypeError)", Fix(Applicability.SAFE, f"Remove the `{field}=` argument", edits)
    return (
        f"`{field}=` passed to `{callee}`: the era-(a) field is gone since vLLM v{removed_in}",
        Fix(Applicability.UNSAFE, f"Remove the argument (check that `{callee}` no longer takes `{field}`)", edits),
    )


def _attribute(info, ref):
    from migrator.python_arithmetic import count_attributes, enclosing_arithmetic, term_removal_edits
    from migrator.python_oracle import verdict

    field, _, removed_in, since, _ = _facts()
    node, ancestors = ref.node, ref.ancestors
    what = info.source(node)
    gone = f"`{what}`: `{field}` was removed from `PromptTokenStats` in vLLM v{removed_in}"
    parent = ancestors[-1] if ancestors else None
    if _written(parent, node):
        return _display(gone, "this writes the removed field (a copy of the era-(a) accounting?); delete it")
    if any(isinstance(a, ast.keyword) and a.arg == field for a in ancestors):
        return _display(gone, f"goes away with the `{field}=` argument it is passed to")
    expression = enclosing_arithmetic(node, ancestors)
    if count_attributes(expression, field) > 1:
        return _display(gone, f"every `{field}` term of this expression has to go; rewrite it by hand")
    edits = term_removal_edits(info, node, ancestors)
    if edits is None:
        return _display(gone, _advice(ancestors, info))
    removed = " ".join("".join(info.text[e.span.start : e.span.end] for e in edits).split())
    safe, detail = verdict(info, expression, node)
    if safe:
        message = gone + f"; the expression without it gives the same values on {since}"
        advice = f"Remove `{removed}` (same values on every reference workload)"
        return message, Fix(Applicability.SAFE, advice, edits)
    if detail.startswith("not verified"):
        message = gone + f"; dropping the term is {detail}"
    else:
        message = gone + f"; dropping the term changes the value: {detail}"
    return message, Fix(Applicability.UNSAFE, f"Remove `{removed}` ({detail})", edits)


def _written(parent, node):
    """Whether `node` is the target of an assignment (`stats.field = 0`, `+=`, annotated)."""
    if isinstance(parent, ast.Assign):
        return any(t is node for t in parent.targets)
    return isinstance(parent, (ast.AugAssign, ast.AnnAssign)) and parent.target is node


def _advice(ancestors, info):
    """What to do instead, by the shape of the statement the read sits in (innermost first,
    but an assertion wins over the comparison inside it)."""
    _, metric, _, since, pr = _facts()
    enclosing = []
    for parent in reversed(ancestors):
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            break
        enclosing.append(parent)
        if isinstance(parent, ast.stmt):
            break  # the statement the read is part of
    calls = [p for p in enclosing if isinstance(p, ast.Call)]
    methods = [(c, c.func.attr) for c in calls if isinstance(c.func, ast.Attribute)]
    if any(isinstance(p, ast.Assert) for p in enclosing) or any(m.startswith("assert") for _, m in methods):
        return (
            f"the assertion fails with AttributeError on {since}; delete it (on a full prefix hit, "
            "local_cache_hit/external_kv_transfer now count N-1)"
        )
    for call, method in methods:
        if method in _INSTRUMENT_CALLS:
            return (
                f"`{info.source(call.func)}` re-exports {metric}, which has no {since} equivalent "
                f"(removed by PR #{pr}); remove the instrument and this call"
            )
        if method in _LOG_CALLS:
            return "remove the field from this log message"
    if any(isinstance(c.func, ast.Name) and c.func.id == "print" for c in calls):
        return "remove the field from this output"
    if any(isinstance(p, ast.FormattedValue) for p in enclosing):
        return "remove the field from this f-string"
    if any(isinstance(p, (ast.If, ast.IfExp, ast.While, ast.Compare)) for p in enclosing):
        return f"{since} has no full-prefix-hit signal to branch on; remove the condition"
    return f"nothing replaces it on {since}; delete this use (`cached_tokens` counts cached tokens in both eras)"


def _other(ref):
    field, _, removed_in, since, _ = _facts()
    if ref.kind == "field":
        return _display(
            f"a `{field}` field mirrors era-(a) `PromptTokenStats`, which lost it in v{removed_in}",
            "delete the field and the code that fills it",
        )
    return _display(
        f"`{field}` read by name: the field was removed from `PromptTokenStats` in vLLM v{removed_in}",
        f"delete this lookup; nothing replaces it on {since}",
    )
