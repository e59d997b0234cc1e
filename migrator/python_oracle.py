"""Fix safety for Python arithmetic over `PromptTokenStats` fields (VMM101).

The Python counterpart of `migrator.promql.oracle`: an expression with the era-(a) stats field
term removed is safe when, evaluated on era-(c) fields, it equals the original on era-(a) fields
for vLLM's six canonical cases and simulated mixes. Expressions are evaluated by
`migrator.python_arithmetic.evaluate` over the syntax tree, never with `eval`.
"""

from __future__ import annotations

from functools import cache


@cache
def _workloads():
    """(label, canonical case or None, era-(a) fields, era-(c) fields) for the reference check."""
    import random

    from migrator.reference.simulate import CANONICAL_CASES, random_workload, simulate_era_a, simulate_era_c

    sets = [(f"case {c.number} ({c.name})", c, [c.request]) for c in CANONICAL_CASES]
    sets.append(("all canonical cases", None, [c.request for c in CANONICAL_CASES]))
    sets += [(f"simulated mix {seed}", None, random_workload(random.Random(seed), 200)) for seed in (1, 2, 3)]
    return tuple(
        (label, case, simulate_era_a(reqs).counts().as_dict(), simulate_era_c(reqs).counts().as_dict())
        for label, case, reqs in sets
    )


def verdict(info, expression, removed):
    """(safe, detail): does the expression without `removed` on era-(c) fields equal the
    original on era-(a) fields for every reference workload?"""
    from migrator.python_arithmetic import NotEvaluable, evaluate

    differences = []
    try:
        for label, case, old_fields, new_fields in _workloads():
            old = evaluate(expression, old_fields, info=info)
            new = evaluate(expression, new_fields, removed, info=info)
            if old != new:
                differences.append((label, case, old, new))
    except NotEvaluable as err:
        what = err.args[0]
        what = what if isinstance(what, str) else info.source(what)
        return False, f"not verified: `{what}` is not a PromptTokenStats field the reference model knows"
    if not differences:
        return True, ""
    canonical = [(c, o, n) for _, c, o, n in differences if c is not None]
    deltas = {n - o for c, o, n in canonical if o is not None and n is not None}
    if canonical and len(deltas) == 1 and all(c.request.full_hit for c, _, _ in canonical):
        delta = deltas.pop()
        cases = ", ".join(str(c.number) for c, _, _ in canonical)
        if delta.denominator == 1:
            return False, f"{_number(delta, signed=True)} per fully cached request (canonical cases {cases})"
        _, old, new = canonical[0]
        return False, f"differs on fully cached requests (canonical cases {cases}: {_number(old)} -> {_number(new)})"
    shown = "; ".join(f"{label}: {_number(o)} -> {_number(n)}" for label, _, o, n in differences[:2])
    return False, f"values differ ({shown})"


def _number(value, signed=False):
    if value is None:
        return "undefined (division by zero)"
    if value.denominator == 1:
        return f"{int(value):+d}" if signed else str(int(value))
    return f"{float(value):+.4g}" if signed else f"{float(value):.4g}"
