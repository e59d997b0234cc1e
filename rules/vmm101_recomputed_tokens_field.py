from migrator.model import Applicability, Fix, Severity
from migrator.reference.catalogue import REMOVED_METRIC
from migrator.rule import Rule

_REMOVED_IN = REMOVED_METRIC.removed_in
_STATS_CLASSES = frozenset({"PromptTokenStats", "LegacyPromptTokenStats"})
_INSTRUMENT_CALLS = frozenset({"inc", "add", "set", "observe", "record", "labels"})
_LOG_CALLS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print"})


class RecomputedTokensField(Rule):
    """Reads, writes and keyword arguments of the era-(a) `PromptTokenStats.recomputed_tokens` field.

    ## What it does
    Reports `.recomputed_tokens` attribute reads and writes, `recomputed_tokens=` keyword
    arguments (`PromptTokenStats(recomputed_tokens=...)`, also through import aliases),
    `getattr(stats, "recomputed_tokens")` and class fields of that name, in Python code.

    ## Why is this bad?
    vLLM v0.20.0 removed the field together with `vllm:prompt_tokens_recomputed` (PR #38709).
    On v0.20+ every read raises `AttributeError` and the keyword raises `TypeError`: custom
    stat loggers and tests written against v0.16-v0.19 break on upgrade.

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
    explains what to do instead.
    """

    code = "VMM101"
    name = "recomputed-tokens-field"
    severity = Severity.ERROR
    formats = frozenset({"python"})
    formats_label = "Python"
    fix_availability = "sometimes"
    needles = (b"recomputed_tokens",)

    def check(self, ctx):
        python = ctx.doc.extra.get("python")
        if not python:
            return
        info = python["info"]
        for ref in python["recomputed_refs"]:
            if ref.kind == "keyword":
                message, fix = _keyword(info, ref)
            elif ref.kind == "attribute":
                message, fix = _attribute(info, ref)
            else:
                message, fix = _other(ref)
            yield ctx.finding(self, ref.span, message, fix=fix, locator=ref.locator)


def _display(message: str, advice: str) -> tuple[str, Fix]:
    return message, Fix(Applicability.DISPLAY_ONLY, advice, ())


def _keyword(info, ref):
    from migrator.formats.python_format import element_removal_edits

    call = ref.ancestors[-1]
    names = info.qualified_names(call.func)
    callee = info.source(call.func)
    message = f"`recomputed_tokens=` is not a parameter of `PromptTokenStats` since vLLM v{_REMOVED_IN}"
    args = list(call.args)
    spans = [info.span(a) for a in args]
    open_paren = info.text.find("(", info.outer_span(call.func).end)
    close_paren = info.span(call).end - 1
    edits = element_removal_edits(
        info.text,
        [(s.start, s.end) for s in spans],
        args.index(ref.node),
        inside=(open_paren + 1, close_paren),
    )
    if edits is None:
        return _display(message, "remove the `recomputed_tokens=` argument by hand")
    local_classes = {n.name.value for n in info.module.body if type(n).__name__ == "ClassDef"}
    if names & local_classes:
        # The file defines its own class of that name: it may well still take the field.
        return message, Fix(
            Applicability.UNSAFE, f"Remove the argument (`{callee}` is defined in this file; check it first)", edits
        )
    if any(n.rsplit(".", 1)[-1] in _STATS_CLASSES or n.startswith("vllm.") for n in names):
        return message + " (TypeError)", Fix(Applicability.SAFE, "Remove the `recomputed_tokens=` argument", edits)
    return (
        f"`recomputed_tokens=` passed to `{callee}`: the era-(a) field is gone since vLLM v{_REMOVED_IN}",
        Fix(
            Applicability.UNSAFE,
            f"Remove the argument (check that `{callee}` no longer takes `recomputed_tokens`)",
            edits,
        ),
    )


def _attribute(info, ref):
    from migrator.formats.python_format import enclosing_arithmetic, term_removal_edits

    import libcst as cst

    node, ancestors = ref.node, ref.ancestors
    what = info.source(node)
    gone = f"`{what}`: `recomputed_tokens` was removed from `PromptTokenStats` in vLLM v{_REMOVED_IN}"
    parent = ancestors[-1] if ancestors else None
    if isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)) and parent.target is node:
        return _display(gone, "this writes the removed field (a copy of the era-(a) accounting?); delete it")
    if any(isinstance(a, cst.Arg) and a.keyword and a.keyword.value == "recomputed_tokens" for a in ancestors):
        return _display(gone, "goes away with the `recomputed_tokens=` argument it is passed to")
    expression = enclosing_arithmetic(node, ancestors)
    if _count_fields(expression) > 1:
        return _display(gone, "every `recomputed_tokens` term of this expression has to go; rewrite it by hand")
    edits = term_removal_edits(info, node, ancestors)
    if edits is None:
        return _display(gone, _advice(ancestors, info))
    removed = " ".join("".join(info.text[e.span.start : e.span.end] for e in edits).split())
    from migrator.python_oracle import verdict

    safe, detail = verdict(info, expression, node)
    if safe:
        message = gone + "; the expression without it gives the same values on v0.20+"
        advice = f"Remove `{removed}` (same values on every reference workload)"
        return message, Fix(Applicability.SAFE, advice, edits)
    if detail.startswith("not verified"):
        message = gone + f"; dropping the term is {detail}"
    else:
        message = gone + f"; dropping the term changes the value: {detail}"
    return message, Fix(Applicability.UNSAFE, f"Remove `{removed}` ({detail})", edits)


def _count_fields(expression):
    import libcst as cst
    import libcst.matchers as m

    if isinstance(expression, cst.Attribute):
        return 1
    return len(m.findall(expression, m.Attribute(attr=m.Name("recomputed_tokens"))))


def _advice(ancestors, info):
    """What to do instead, by the shape of the statement the read sits in (innermost first,
    but an assertion wins over the comparison inside it)."""
    import libcst as cst

    enclosing = []
    for parent in reversed(ancestors):
        if isinstance(parent, (cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef, cst.IndentedBlock)):
            break
        enclosing.append(parent)
    calls = [p for p in enclosing if isinstance(p, cst.Call)]
    methods = [(c, c.func.attr.value) for c in calls if isinstance(c.func, cst.Attribute)]
    if any(isinstance(p, cst.Assert) for p in enclosing) or any(m.startswith("assert") for _, m in methods):
        return (
            "the assertion fails with AttributeError on v0.20+; delete it (on a full prefix hit, "
            "local_cache_hit/external_kv_transfer now count N-1)"
        )
    for call, method in methods:
        if method in _INSTRUMENT_CALLS:
            return (
                f"`{info.source(call.func)}` re-exports vllm:prompt_tokens_recomputed, which has no "
                "v0.20+ equivalent; remove the instrument and this call"
            )
        if method in _LOG_CALLS:
            return "remove the field from this log message"
    if any(isinstance(c.func, cst.Name) and c.func.value == "print" for c in calls):
        return "remove the field from this output"
    if any(isinstance(p, cst.FormattedStringExpression) for p in enclosing):
        return "remove the field from this f-string"
    if any(isinstance(p, (cst.If, cst.IfExp, cst.While, cst.Comparison)) for p in enclosing):
        return "v0.20+ has no full-prefix-hit signal to branch on; remove the condition"
    return "nothing replaces it on v0.20+; delete this use (`cached_tokens` counts cached tokens in both eras)"


def _other(ref):
    if ref.kind == "field":
        return _display(
            f"a `recomputed_tokens` field mirrors era-(a) `PromptTokenStats`, which lost it in v{_REMOVED_IN}",
            "delete the field and the code that fills it",
        )
    return _display(
        f"`recomputed_tokens` read by name: the field was removed from `PromptTokenStats` in vLLM v{_REMOVED_IN}",
        "delete this lookup; nothing replaces it on v0.20+",
    )
