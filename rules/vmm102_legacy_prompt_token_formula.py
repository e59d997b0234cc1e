import ast
from functools import cache

from migrator.model import Applicability, Fix, Severity
from migrator.reference.catalogue import Status, catalogue
from migrator.rule import Rule

_ERA_A_PARAMS = ("num_cached_tokens", "num_external_computed_tokens", "prompt_len")
_UPDATE_CALL = "update_from_output"
# The era-(a) name of the per-request "recomputed" flag in copies of the accounting.
_RECOMPUTED_WORD = "recomputed"


@cache
def _facts():
    """(first release without the era-(a) accounting, `vX.Y+`) from the catalogue."""
    removed_in = catalogue().flagship.removed_in
    major, minor = removed_in.split(".")[:2]
    return removed_in, f"v{major}.{minor}+"


def _era_c_form(prompt="…", local="…", external="…", receiver="stats"):
    return (
        f"prefill = PrefillStats(); prefill.set(num_prompt_tokens={prompt}, "
        f"num_local_cached_tokens={local}, num_external_cached_tokens={external}); "
        f"{receiver}.{_UPDATE_CALL}(prefill)"
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
    signature raises `TypeError`. Nothing is reported when the configured `target-version`
    still uses the era-(a) accounting.

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
    # An era-(a) copy names the cached-token count or the recomputed flag, or calls the
    # era-(a) `update_from_output`.
    needle_words = (_ERA_A_PARAMS[0], _RECOMPUTED_WORD, _UPDATE_CALL)
    python_nodes = {
        "Compare": "collect_comparison",
        "BinOp": "collect_chain",
        "Call": "collect_update_call",
    }

    # -- callbacks of the Python handler's walk: (node, python info, ancestors) -> kind ----

    def collect_comparison(self, node, info, ancestors):
        """`a + 1 == b` shapes; `check` looks at the names."""
        if not any(isinstance(op, ast.Eq) for op in node.ops):
            return None
        operands = [node.left, *node.comparators]
        return "comparison" if any(_plus_minus_one(info, o) for o in operands) else None

    def collect_chain(self, node, info, ancestors):
        """The root of a +/- chain that adds a recomputed term."""
        add_sub = (ast.Add, ast.Sub)
        if not isinstance(node.op, add_sub):
            return None
        parent = ancestors[-1] if ancestors else None
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, add_sub):
            return None  # not the root of its chain
        return "local-hit-formula" if _local_hit_formula(node) else None

    def collect_update_call(self, node, info, ancestors):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == _UPDATE_CALL:
            return "update-call"
        if isinstance(func, ast.Name) and func.id == _UPDATE_CALL:
            return "update-call"
        return None

    # -- findings ----------------------------------------------------------------------

    def check(self, ctx):
        refs = ctx.collected(self)
        if not refs:
            return
        flagship = catalogue().flagship
        if catalogue().metric_status(flagship.removed, ctx.settings.target) is not Status.GONE:
            return  # the target release still uses the era-(a) accounting
        info = ctx.doc.python
        removed_in, since = _facts()
        for ref in refs:
            if ref.kind == "comparison":
                span = _heuristic(info, ref)
                if span is not None:
                    message = (
                        f"re-implements the era-(a) `{_RECOMPUTED_WORD}` heuristic (cached + 1 == prompt), "
                        f"dropped in vLLM v{removed_in}: nothing is counted as recomputed any more"
                    )
                    yield ctx.finding(self, span, message, fix=_suggest(), locator=ref.locator)
            elif ref.kind == "local-hit-formula":
                message = (
                    f"era-(a) local-cache-hit formula `cached + {_RECOMPUTED_WORD} - external`: {since} reports "
                    "local hits directly and a full hit counts N-1 tokens"
                )
                yield ctx.finding(self, ref.span, message, fix=_suggest(), locator=ref.locator)
            elif ref.kind == "update-call":
                args = _era_a_args(info, ref.node)
                if args is None:
                    continue
                message = (
                    f"era-(a) `{_UPDATE_CALL}({', '.join(_ERA_A_PARAMS)})` "
                    f"call: since vLLM v{removed_in} it takes a `PrefillStats` (TypeError)"
                )
                yield ctx.finding(self, ref.span, message, fix=_suggest(info, ref.node, args), locator=ref.locator)


def _suggest(info=None, call=None, args=None):
    """The display-only fix: the era-(c) form, filled in with the call's own arguments."""
    since = _facts()[1]
    if args is None:
        return Fix(Applicability.DISPLAY_ONLY, f"{since} form: " + _era_c_form(), ())
    cached, external, prompt = args
    receiver = info.source(call.func.value) if isinstance(call.func, ast.Attribute) else "stats"
    local = cached if external == "0" else f"{cached} - {external}"
    return Fix(Applicability.DISPLAY_ONLY, f"{since} form: " + _era_c_form(prompt, local, external, receiver), ())


def _words(info, node):
    return info.source(node).lower()


def _one(info, node):
    """The literal `1`, written so."""
    return isinstance(node, ast.Constant) and type(node.value) is int and info.source(node) == "1"


def _heuristic(info, ref):
    """The span to report when the comparison is `cached + 1 == prompt` (or `cached == prompt - 1`)."""
    node = ref.node
    operands = [node.left, *node.comparators]
    if len(operands) != 2 or not isinstance(node.ops[0], ast.Eq):
        return None
    left, right = operands
    for side, other in ((left, right), (right, left)):
        if not isinstance(side, ast.BinOp):
            continue
        if isinstance(side.op, ast.Add) and (_one(info, side.left) or _one(info, side.right)):
            cached = side.right if _one(info, side.left) else side.left
            prompt = other
        elif isinstance(side.op, ast.Sub) and _one(info, side.right):
            cached, prompt = other, side.left
        else:
            continue
        if "cached" in _words(info, cached) and any(w in _words(info, prompt) for w in ("prompt", "len", "total")):
            return _report_span(info, node, ref.ancestors)
    return None


def _report_span(info, node, ancestors):
    parent = ancestors[-1] if ancestors else None
    if isinstance(parent, ast.IfExp) and parent.test is node:
        return info.span(parent)
    # `int(cached + 1 == prompt)`: the argument of a call (positional or keyword) of `int`.
    call = parent if isinstance(parent, ast.Call) and node is not parent.func else None
    if isinstance(parent, (ast.keyword, ast.Starred)) and len(ancestors) >= 2:
        call = ancestors[-2] if isinstance(ancestors[-2], ast.Call) else None
    if call is not None and isinstance(call.func, ast.Name) and call.func.id == "int":
        return info.span(call)
    return info.span(node)


def _plus_minus_one(info, node):
    if not isinstance(node, ast.BinOp):
        return False
    if isinstance(node.op, ast.Add):
        return _one(info, node.left) or _one(info, node.right)
    return isinstance(node.op, ast.Sub) and _one(info, node.right)


def _local_hit_formula(chain):
    from migrator.python_arithmetic import additive_terms

    def last_name(term):
        if isinstance(term, ast.Attribute):
            return term.attr.lower()
        if isinstance(term, ast.Name):
            return term.id.lower()
        return ""

    terms = [(last_name(t), sign) for t, sign in additive_terms(chain)]
    has = lambda word, sign, *, without="": any(  # noqa: E731
        word in n and s == sign and not (without and without in n) for n, s in terms
    )
    return (
        has("cached", 1, without=_RECOMPUTED_WORD) and has(_RECOMPUTED_WORD, 1) and has("external", -1)
    )


def _era_a_args(info, call):
    """(cached, external, prompt) source texts for an era-(a) call, else None."""
    keywords = {k.arg: info.source(k.value) for k in call.keywords if k.arg is not None}
    positional = [info.source(a) for a in call.args if not isinstance(a, ast.Starred)]
    if set(_ERA_A_PARAMS) <= set(keywords):
        return tuple(keywords[p] for p in _ERA_A_PARAMS)
    if len(positional) == 3 and not keywords:
        func = call.func
        receiver = info.source(func.value) if isinstance(func, ast.Attribute) else ""
        if "stats" in receiver.lower():
            return tuple(positional)
    if positional and len(positional) + len(keywords) == 3 and set(keywords) <= set(_ERA_A_PARAMS):
        filled = dict(zip(_ERA_A_PARAMS, positional))
        if not set(filled) & set(keywords):
            filled.update(keywords)
            return tuple(filled[p] for p in _ERA_A_PARAMS)
    return None
