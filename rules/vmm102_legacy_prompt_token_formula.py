from migrator.model import Applicability, Fix, Severity
from migrator.reference.catalogue import REMOVED_METRIC
from migrator.rule import Rule

_ERA_A_PARAMS = ("num_cached_tokens", "num_external_computed_tokens", "prompt_len")


def _era_c_form(prompt="…", local="…", external="…", receiver="stats"):
    return (
        f"prefill = PrefillStats(); prefill.set(num_prompt_tokens={prompt}, "
        f"num_local_cached_tokens={local}, num_external_cached_tokens={external}); "
        f"{receiver}.update_from_output(prefill)"
    )


class LegacyPromptTokenFormula(Rule):
    """Python code that re-implements vLLM's era-(a) prompt-token accounting.

    ## What it does
    Reports copies of the v0.16-v0.19 formulas: the "recomputed" heuristic
    `recomputed = 1 if num_cached_tokens + 1 == prompt_len else 0` (also `int(... == ...)`),
    the local-cache-hit formula `cached + recomputed - external`, and calls of the era-(a)
    `update_from_output(num_cached_tokens, num_external_computed_tokens, prompt_len)`.

    ## Why is this bad?
    vLLM v0.20.0 replaced this accounting (PR #38709): the scheduler now reports a
    `PrefillStats` with local and external cache hits, a full hit counts N-1 cached tokens,
    and nothing is "recomputed". Simulators, exporters and tests that copy the old formula
    report numbers a v0.20+ server never produces, and the old `update_from_output`
    signature raises `TypeError`.

    ## Example
    ```python
    recomputed = 1 if num_cached_tokens + 1 == prompt_len else 0
    stats.update_from_output(num_cached_tokens, num_external_computed_tokens, prompt_len)
    ```
    Use instead:
    ```python
    prefill = PrefillStats()
    prefill.set(num_prompt_tokens=prompt_len,
                num_local_cached_tokens=num_cached_tokens - num_external_computed_tokens,
                num_external_cached_tokens=num_external_computed_tokens)
    stats.update_from_output(prefill)
    ```

    ## Fix safety
    Display-only: the era-(c) form needs values the era-(a) caller does not have (on a full
    hit the scheduler, not the stats layer, now trims the last token). The message shows the
    v0.20+ form filled in with the caller's own arguments.
    """

    code = "VMM102"
    name = "legacy-prompt-token-formula"
    severity = Severity.WARNING
    formats = frozenset({"python"})
    formats_label = "Python"
    fix_availability = "display-only"
    # An era-(a) `update_from_output` call always passes num_cached_tokens.
    needles = (b"num_cached_tokens", b"recomputed")

    def check(self, ctx):
        python = ctx.doc.extra.get("python")
        if not python:
            return
        info = python["info"]
        removed_in = REMOVED_METRIC.removed_in
        for ref in python["comparisons"]:
            span = _heuristic(info, ref)
            if span is not None:
                message = (
                    "re-implements the era-(a) `recomputed` heuristic (cached + 1 == prompt), dropped in "
                    f"vLLM v{removed_in}: nothing is counted as recomputed any more"
                )
                yield ctx.finding(self, span, message, fix=_suggest(), locator=ref.locator)
        for ref in python["additive_chains"]:
            if _local_hit_formula(ref.node):
                message = (
                    "era-(a) local-cache-hit formula `cached + recomputed - external`: v0.20+ reports "
                    "local hits directly and a full hit counts N-1 tokens"
                )
                yield ctx.finding(self, ref.span, message, fix=_suggest(), locator=ref.locator)
        for ref in python["update_calls"]:
            args = _era_a_args(info, ref.node)
            if args is None:
                continue
            message = (
                "era-(a) `update_from_output(num_cached_tokens, num_external_computed_tokens, prompt_len)` "
                f"call: since vLLM v{removed_in} it takes a `PrefillStats` (TypeError)"
            )
            yield ctx.finding(self, ref.span, message, fix=_suggest(info, ref.node, args), locator=ref.locator)


def _suggest(info=None, call=None, args=None):
    """The display-only fix: the era-(c) form, filled in with the call's own arguments."""
    if args is None:
        return Fix(Applicability.DISPLAY_ONLY, "v0.20+ form: " + _era_c_form(), ())
    import libcst as cst

    cached, external, prompt = args
    receiver = info.source(call.func.value) if isinstance(call.func, cst.Attribute) else "stats"
    local = cached if external == "0" else f"{cached} - {external}"
    return Fix(Applicability.DISPLAY_ONLY, "v0.20+ form: " + _era_c_form(prompt, local, external, receiver), ())


def _words(info, node):
    return info.source(node).lower()


def _heuristic(info, ref):
    """The span to report when the comparison is `cached + 1 == prompt` (or `cached == prompt - 1`)."""
    import libcst as cst

    node = ref.node
    operands = [node.left] + [t.comparator for t in node.comparisons]
    if len(operands) != 2 or not isinstance(node.comparisons[0].operator, cst.Equal):
        return None
    left, right = operands
    for side, other in ((left, right), (right, left)):
        if not isinstance(side, cst.BinaryOperation):
            continue
        one = lambda n: isinstance(n, cst.Integer) and n.value == "1"  # noqa: E731
        if isinstance(side.operator, cst.Add) and (one(side.left) or one(side.right)):
            cached = side.right if one(side.left) else side.left
            prompt = other
        elif isinstance(side.operator, cst.Subtract) and one(side.right):
            cached, prompt = other, side.left
        else:
            continue
        if "cached" in _words(info, cached) and any(w in _words(info, prompt) for w in ("prompt", "len", "total")):
            return _report_span(info, node, ref.ancestors)
    return None


def _report_span(info, node, ancestors):
    import libcst as cst

    parent = ancestors[-1] if ancestors else None
    if isinstance(parent, cst.IfExp) and parent.test is node:
        return info.span(parent)
    if isinstance(parent, cst.Arg) and len(ancestors) >= 2:
        call = ancestors[-2]
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "int":
            return info.span(call)
    return info.span(node)


def _local_hit_formula(chain):
    from migrator.formats.python_format import additive_terms

    import libcst as cst

    def last_name(term):
        if isinstance(term, cst.Attribute):
            return term.attr.value.lower()
        if isinstance(term, cst.Name):
            return term.value.lower()
        return ""

    terms = [(last_name(t), sign) for t, sign in additive_terms(chain)]
    has = lambda word, sign, *, without="": any(  # noqa: E731
        word in n and s == sign and not (without and without in n) for n, s in terms
    )
    return has("cached", 1, without="recomputed") and has("recomputed", 1) and has("external", -1)


def _era_a_args(info, call):
    """(cached, external, prompt) source texts for an era-(a) call, else None."""
    import libcst as cst

    keywords = {a.keyword.value: info.source(a.value) for a in call.args if a.keyword is not None}
    positional = [info.source(a.value) for a in call.args if a.keyword is None and not a.star]
    if set(_ERA_A_PARAMS) <= set(keywords):
        return tuple(keywords[p] for p in _ERA_A_PARAMS)
    if len(positional) == 3 and not keywords:
        func = call.func
        receiver = info.source(func.value) if isinstance(func, cst.Attribute) else ""
        if "stats" in receiver.lower():
            return tuple(positional)
    if positional and len(positional) + len(keywords) == 3 and set(keywords) <= set(_ERA_A_PARAMS):
        filled = dict(zip(_ERA_A_PARAMS, positional))
        if not set(filled) & set(keywords):
            filled.update(keywords)
            return tuple(filled[p] for p in _ERA_A_PARAMS)
    return None
