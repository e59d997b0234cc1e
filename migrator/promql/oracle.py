"""Fix safety, decided by the embedded reference stats rather than by taste.

A rewrite is *safe* when, on every canonical workload and simulated mix, the rewritten
expression evaluated on era-(c) counters (v0.20+) equals the original evaluated on era-(a)
counters (v0.16–v0.19). Otherwise it is *unsafe*, and the verdict says by how much.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from migrator.model import Applicability
from migrator.promql import ast
from migrator.promql.evaluate import EvaluationError, EvaluationUnsupported, Sample, evaluate, same_result
from migrator.promql.parser import PromQLSyntaxError, parse

# The labels the simulation already sets; matchers on any other label get a matching value.
_SIMULATED_LABELS = frozenset({"__name__", "model_name", "engine", "source"})
_PROMPT_METRICS = ("prompt_tokens_by_source", "prompt_tokens_recomputed", "prompt_tokens_cached", "prompt_tokens")
_SPELLING = re.compile(
    r"^(?P<prefix>.*?)(?P<base>" + "|".join(_PROMPT_METRICS) + r")(?P<suffix>_total)?$"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    applicability: Applicability
    reason: str


def _selectors(expr: ast.Expr) -> list[ast.VectorSelector]:
    return [n for n in ast.walk(expr) if isinstance(n, ast.VectorSelector)]


def aliases(exprs: list[ast.Expr]) -> dict[str, str]:
    """Map each prompt-token metric name spelled in the expressions (`vllm_…`, `ray_vllm:…`,
    no `_total`) to the simulation's canonical sample name."""
    aliases: dict[str, str] = {}
    for expr in exprs:
        for selector in _selectors(expr):
            names = [selector.name] if selector.name and not selector.templated else []
            names += [m.value for m in selector.matchers if m.label == "__name__" and m.op == "="]
            for name in names:
                match = _SPELLING.match(name)
                if match and match["prefix"].rstrip(":_.").endswith("vllm"):
                    aliases[name] = f"vllm:{match['base']}_total"
    return aliases


def extra_labels(expr: ast.Expr) -> dict[str, str]:
    """Equality matchers on labels the simulation lacks (`role="prefill"`): give every series
    that value, so the expression selects data instead of trivially comparing empty results."""
    extra: dict[str, str] = {}
    for selector in _selectors(expr):
        for m in selector.matchers:
            if m.op == "=" and m.label not in _SIMULATED_LABELS and "$" not in m.value:
                extra.setdefault(m.label, m.value)
    return extra


def simulated_samples(era: str, workloads, aliases: dict[str, str], extra: dict[str, str]) -> list[Sample]:  # type: ignore[no-untyped-def]
    from migrator.reference.simulate import counter_samples

    base = counter_samples(era, workloads)
    samples: list[Sample] = []
    wanted = set(aliases.values())
    for s in base:
        labels = {**s.labels, **extra}
        samples.append(Sample(s.name, labels, s.value))
        if s.name in wanted:
            for alias, canonical in aliases.items():
                if canonical == s.name and alias != s.name:
                    samples.append(Sample(alias, labels, s.value))
    return samples


def _scalarish(result) -> list[tuple[object, float]]:  # type: ignore[no-untyped-def]
    if isinstance(result, list):
        return [(labels, value) for labels, value in result]
    return [((), float(result))]


def _describe(result) -> str:  # type: ignore[no-untyped-def]
    values = [v for _, v in _scalarish(result)]
    if not values:
        return "no data"
    return ", ".join(f"{v:g}" for v in values[:3]) + (" …" if len(values) > 3 else "")


def unfiltered(expr: ast.Expr) -> ast.Expr:
    """`X > 100` filters X; comparing the filtered results would call two different X equal
    whenever both happen to fall on the same side of the threshold, so compare X itself."""
    while isinstance(expr, ast.ParenExpr):
        expr = expr.expr
    if (
        isinstance(expr, ast.BinaryExpr)
        and expr.op in ast.COMPARISON_OPS
        and not expr.return_bool
        and isinstance(expr.rhs, (ast.NumberLiteral, ast.Placeholder, ast.UnaryExpr))
    ):
        return expr.lhs
    return expr


@lru_cache(maxsize=4096)
def judge(original: str, rewritten: str) -> Verdict:
    """Compare `original` on era-(a) counters with `rewritten` on era-(c) counters."""
    from migrator.reference.simulate import CANONICAL_CASES, standard_workloads

    try:
        before, after = parse(original), parse(rewritten)
    except PromQLSyntaxError as err:
        return Verdict(Applicability.UNSAFE, f"could not be verified: {err}")
    before, after = unfiltered(before), unfiltered(after)
    names = aliases([before, after])
    extra = extra_labels(before)
    workloads = standard_workloads()
    case_names = {f"case{c.number}": f"case {c.number} ({c.name})" for c in CANONICAL_CASES}
    differences: list[str] = []
    informative = False
    try:
        # Each workload alone (per-case numbers survive aggregation), then all of them together
        # (vector matching across label sets).
        groups = [({key: reqs}, key) for key, reqs in workloads.items()] + [(workloads, None)]
        for group, key in groups:
            a = evaluate(before, simulated_samples("a", group, names, extra))
            c = evaluate(after, simulated_samples("c", group, names, extra))
            if _scalarish(a) and any(v == v for _, v in _scalarish(a)):
                informative = True
            if not same_result(a, c):
                label = "all workloads together"
                if key is not None:
                    label = case_names.get(key[0].split("-", 1)[0], f"simulated mix {key[0]} engine {key[1]}")
                differences.append(f"{label}: {_describe(a)} → {_describe(c)}")
    except (EvaluationUnsupported, EvaluationError, ZeroDivisionError, OverflowError) as err:
        return Verdict(Applicability.UNSAFE, f"could not be verified on the reference workloads ({err})")
    if not informative:
        return Verdict(Applicability.UNSAFE, "could not be verified: the expression selects no simulated series")
    if not differences:
        return Verdict(
            Applicability.SAFE,
            "same values on v0.20+ as the original on v0.16–v0.19 for all six canonical cases and simulated mixes",
        )
    shown = "; ".join(differences[:3]) + ("; …" if len(differences) > 3 else "")
    return Verdict(Applicability.UNSAFE, f"values change ({shown})")
