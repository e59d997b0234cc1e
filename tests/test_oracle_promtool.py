"""The fix-safety oracle against Prometheus' own engine (`promtool test rules`).

Property: every PromQL rewrite the lint labels **safe** gives, on Prometheus, the same values
on the v0.20+ counters as the original on the v0.16–v0.19 counters, at every evaluation time
of the reference timeline. Hypothesis draws expressions over the prompt-token metrics (ranges,
offsets, `@`, range functions, subqueries, aggregations, comparisons with and without `bool`,
`on`/`ignoring`/`group_left`), the lint analyses each one, and all the safe rewrites are then
evaluated in one promtool run per dataset. Rewrites whose values the oracle says change must
differ on Prometheus too, and the oracle's numbers must be Prometheus' numbers.

`VMM_PROPERTY_DRAWS` sets the number of drawn expressions (default 250, checked at every third
evaluation instant; with the variable set, at all of them). Under CI=true the draws are
derandomized (tests/conftest.py) and a missing promtool fails the test.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.model import Applicability
from migrator.promql.evaluate import evaluate
from migrator.promql.oracle import dataset_key, evaluation_times, judge, per_time, simulated_series, unfiltered
from migrator.promql.parser import parse
from promql_helpers import analyse, eliminations
from migrator import promtool_eval

DRAWS = int(os.environ.get("VMM_PROPERTY_DRAWS", "250"))
# The default run checks every third instant on promtool (60 spread over three hours) to stay
# quick; a run with VMM_PROPERTY_DRAWS set checks all of them.
STRIDE = 1 if "VMM_PROPERTY_DRAWS" in os.environ else 3

SELECTORS = {
    "L": 'vllm:prompt_tokens_by_source_total{source="local_cache_hit"%s}',
    "E": 'vllm:prompt_tokens_by_source_total{source="external_kv_transfer"%s}',
    "X": 'vllm:prompt_tokens_by_source_total{source="local_compute"%s}',
    "C": "vllm:prompt_tokens_cached_total{%s}",
    "T": "vllm:prompt_tokens_total{%s}",
    "R": "vllm:prompt_tokens_recomputed_total{%s}",
}
RANGES = ("2m", "5m", "10m", "30m", "1h")
# Mostly linear functions and aggregations (where eliminations can be safe), some that are not.
RANGE_FUNCTIONS = ("rate",) * 6 + ("increase",) * 3 + ("irate", "delta", "idelta", "deriv", "avg_over_time",
                   "sum_over_time", "last_over_time", "max_over_time", "min_over_time", "changes", "resets")
AGGREGATIONS = ("", "") + ("sum",) * 5 + ("sum by (model_name)",) * 3 + (
    "sum by (model_name, engine)", "sum without (source)", "avg", "max", "min", "count", "topk(2, %s)",
    "quantile(0.5, %s)", "stddev", "group")


@dataclass(frozen=True)
class Shape:
    function: str
    range: str
    offset: str | None
    at: str | None
    subquery: tuple[str, str, str] | None  # (outer function, range, step)
    aggregation: str

    def render(self, metric: str, matchers: str) -> str:
        selector = SELECTORS[metric] % ((", " + matchers) if matchers and "source" in SELECTORS[metric] else matchers)
        selector = selector.replace("{}", "")
        inner = f"{self.function}({selector}[{self.range}]"
        if self.subquery is None:
            inner += (f" offset {self.offset}" if self.offset else "") + (f" @ {self.at}" if self.at else "") + ")"
        else:
            outer, rng, step = self.subquery
            inner += ")"
            inner = f"{outer}({inner}[{rng}:{step}]" + (f" offset {self.offset}" if self.offset else "") + \
                (f" @ {self.at}" if self.at else "") + ")"
        if not self.aggregation:
            return inner
        if "%s" in self.aggregation:
            return self.aggregation % inner
        return f"{self.aggregation} ({inner})"

def _shapes(functions: tuple[str, ...], aggregations: tuple[str, ...], outer: tuple[str, ...]):  # type: ignore[no-untyped-def]
    return st.builds(
        Shape,
        function=st.sampled_from(functions),
        range=st.sampled_from(RANGES),
        offset=st.sampled_from((None, None, None, "5m", "1h", "-10m")),
        at=st.sampled_from((None, None, None, None, "3600", "7200", "end()")),
        subquery=st.one_of(st.none(), st.none(), st.none(), st.tuples(
            st.sampled_from(outer), st.sampled_from(("30m", "1h")), st.sampled_from(("1m", "5m", "")))),
        aggregation=st.sampled_from(aggregations),
    )


LINEAR_FUNCTIONS = ("rate", "rate", "increase", "irate", "delta", "idelta", "deriv", "avg_over_time",
                    "sum_over_time", "last_over_time")
LINEAR_AGGREGATIONS = ("", "sum", "sum", "sum by (model_name)", "sum by (model_name, engine)", "sum without (source)",
                       "avg")
shapes = _shapes(RANGE_FUNCTIONS, AGGREGATIONS, ("avg_over_time", "sum_over_time", "last_over_time", "max_over_time"))
linear_shapes = _shapes(LINEAR_FUNCTIONS, LINEAR_AGGREGATIONS, ("avg_over_time", "sum_over_time", "last_over_time"))


def _label_sets_differ(shape: Shape) -> bool:
    """Whether terms over different `source` children keep that label (and need matching)."""
    return shape.aggregation in ("", "topk(2, %s)")


WRAPPERS = (
    "%s", "%s", "%s", "(%s) / sum(rate(vllm:prompt_tokens_total[5m]))", "(%s) > 100", "(%s) < bool 400",
    "-(%s) > -(%s)", "(%s) * 2", "sum(%s)", "max_over_time((%s)[30m:5m])", "(%s) and on() vector(1)",
    "%s > rate(vllm:prompt_tokens_total[5m])", "(%s) / on(model_name) group_left sum by (model_name) "
    "(rate(vllm:prompt_tokens_total[5m]))",
)


def _wrap(draw, chain: str) -> str:  # type: ignore[no-untyped-def]
    wrapper = draw(st.sampled_from(WRAPPERS))
    if wrapper.count("%s") == 2:
        first = chain.split(" - ")[0] if " - " in chain else chain
        return wrapper % (first, chain)
    return wrapper % chain


@st.composite
def cancelling(draw) -> str:  # type: ignore[no-untyped-def]
    """`local + external - recomputed`, every term shaped alike: the eliminations that can be safe."""
    shape = draw(linear_shapes)
    matchers = draw(st.sampled_from(("", "", 'model_name=~"meta-llama/.*"', 'engine="0"')))
    matching = draw(st.sampled_from((" ignoring(source) ", " ignoring(source) ", " on(model_name, engine) "))) \
        if _label_sets_differ(shape) else draw(st.sampled_from((" ", " ", " ignoring(source) ")))
    terms = [shape.render(m, matchers) for m in ("L", "E", "R")]
    return _wrap(draw, f"{terms[0]} +{matching}{terms[1]} -{matching}{terms[2]}")


@st.composite
def anything(draw) -> str:  # type: ignore[no-untyped-def]
    """Sums with the removed metric in every other shape: mismatched terms, non-linear
    functions and aggregations, other metrics, other matchers."""
    metrics = draw(st.sampled_from((("L", "E", "R"),) * 5 + (("C", "R"), ("T", "X", "R"), ("L", "R"), ("R", "C"))))
    signs = ["+"] + [draw(st.sampled_from(("-",) * 5 + ("+",))) if m == "R" and metrics != ("C", "R") else "+"
                     for m in metrics[1:]]
    shared = draw(shapes)
    same = draw(st.integers(0, 4)) > 0
    matchers = draw(st.sampled_from(("", "", "", 'model_name=~"meta-llama/.*"', 'engine="0"')))
    own_matchers = draw(st.sampled_from(("same",) * 6 + ("none", 'engine="1"')))
    if _label_sets_differ(shared):  # terms over different `source` children match only with a modifier
        matching = draw(st.sampled_from((" ignoring(source) ", " ignoring(source) ", " on(model_name, engine) ", "")))
    else:
        matching = draw(st.sampled_from(("", "", "", " ignoring(source) ")))
    parts = []
    for metric, sign in zip(metrics, signs):
        shape = shared if same else draw(shapes)
        m = matchers
        if metric == "R" and own_matchers != "same":
            m = "" if own_matchers == "none" else own_matchers
        term = shape.render(metric, m)
        parts.append(term if not parts else f"{sign}{matching or ' '}{term}")
    chain = " ".join(parts) if not matching else "".join(parts)
    return _wrap(draw, chain)


expressions = st.one_of(cancelling(), anything())


@dataclass(frozen=True)
class Offered:
    original: str
    rewritten: str
    verdict: str


def _offered(expr: str) -> list[Offered]:
    analysis = analyse(expr)
    assert analysis.error is None, f"the generator drew invalid PromQL: {expr}"
    rewrites = eliminations(expr)
    return [Offered(expr, r.text, r.verdict.reason) for r in rewrites if r.verdict.applicability is Applicability.SAFE] + [
        Offered(expr, r.text, "changes: " + r.verdict.reason) for r in rewrites
        if r.verdict.reason.startswith("values change")]


def _collect(draws: int) -> tuple[list[Offered], int]:
    found: list[Offered] = []
    seen = [0]

    @settings(max_examples=draws, deadline=None, suppress_health_check=list(HealthCheck))
    @given(expressions)
    def draw(expr: str) -> None:
        seen[0] += 1
        found.extend(_offered(expr))

    draw()
    unique = {(o.original, o.rewritten): o for o in found}
    return list(unique.values()), seen[0]


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but promtool is missing: install Debian's `prometheus` package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def _same(a: dict, c: dict) -> bool:  # type: ignore[type-arg]
    return a.keys() == c.keys() and all(
        a[k] == c[k] or math.isclose(a[k], c[k], rel_tol=1e-9, abs_tol=1e-9) for k in a)


def test_safe_rewrites_hold_on_prometheus(tmp_path: Path) -> None:
    promtool = _promtool()
    offered, drawn = _collect(DRAWS)
    safe = [o for o in offered if not o.verdict.startswith("changes: ")]
    changed = [o for o in offered if o.verdict.startswith("changes: ")][:40]
    assert drawn >= min(DRAWS, 50)
    # Not a vacuous pass: the draws must reach the value-preserving eliminations.
    assert len(safe) >= max(3, DRAWS // 25), f"only {len(safe)} safe rewrites in {drawn} draws"

    batch = promtool_eval.Batch()
    plan = []
    for o in safe + changed:
        before, after = parse(o.original), parse(o.rewritten)
        all_times = evaluation_times(before, after)
        alias_items, extra_items = dataset_key(unfiltered(before), unfiltered(after))
        names = {}
        for era in ("a", "c"):
            name = f"{era}:{alias_items}:{extra_items}"
            batch.datasets[name] = simulated_series(era, alias_items, extra_items)
            names[era] = name
        expected = per_time(evaluate(before, batch.datasets[names["a"]], all_times), len(all_times))
        rewritten = per_time(evaluate(after, batch.datasets[names["c"]], all_times), len(all_times))
        if o in safe:
            picked = list(range(0, len(all_times), STRIDE))
        else:  # where the oracle sees the change: Prometheus must see it there too
            picked = [i for i, (a, c) in enumerate(zip(expected, rewritten)) if not _same(a, c)][:12]
        times = tuple(all_times[i] for i in picked)
        expected, rewritten = [expected[i] for i in picked], [rewritten[i] for i in picked]
        batch.queries.append(promtool_eval.Query(names["a"], o.original, times, tuple(expected)))
        batch.queries.append(promtool_eval.Query(names["c"], o.rewritten, times, tuple(rewritten)))
        plan.append((o, times, expected, rewritten))
    answers = promtool_eval.run(promtool, batch, tmp_path)
    print(f"{drawn} draws: {len(safe)} safe rewrites and {len(changed)} that change values, on promtool")

    problems = []
    for n, (o, times, expected, rewritten) in enumerate(plan):
        on_a, on_c = answers[2 * n], answers[2 * n + 1]
        errors = [x for x in on_a + on_c if isinstance(x, str)]
        if errors:
            problems.append(f"Prometheus refused it ({errors[0]}):\n  {o.original}\n  {o.rewritten}")
            continue
        oracle_wrong = [t for t, got, want in zip(times + times, on_a + on_c, expected + rewritten)
                        if not _same(got, want)]
        if oracle_wrong:
            problems.append(f"the oracle's values are not Prometheus' at {len(oracle_wrong)} instants:\n"
                            f"  {o.original}\n  {o.rewritten}")
        differ = [t for t, a, c in zip(times, on_a, on_c) if not _same(a, c)]
        if o in safe and differ:
            problems.append(f"labelled safe, but Prometheus' values differ at {len(differ)} instants:\n"
                            f"  {o.original}\n  {o.rewritten}")
        if o not in safe and not differ:
            problems.append(f"the oracle says values change, Prometheus gives the same values:\n"
                            f"  {o.original}\n  {o.rewritten}")
    assert not problems, f"{len(problems)} of {len(plan)} rewrites:\n" + "\n".join(problems[:10])


# ------------------------------------------------------- the expert's broken shapes


L = 'sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[5m]))'
E = 'sum(rate(vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}[5m]))'


@pytest.mark.parametrize("removed", [
    "sum(rate(vllm:prompt_tokens_recomputed_total[5m] offset 1h))",
    "sum(rate(vllm:prompt_tokens_recomputed_total[5m] @ 3600))",
    "sum(rate(vllm:prompt_tokens_recomputed_total[1h]))",
    "sum(increase(vllm:prompt_tokens_recomputed_total[5m]))",
    "sum(irate(vllm:prompt_tokens_recomputed_total[5m]))",
])
def test_a_term_shaped_differently_never_cancels(removed: str) -> None:
    expr = f"{L} + {E} - {removed}"
    (rewrite,) = eliminations(expr)
    verdict = rewrite.verdict
    assert verdict.applicability is Applicability.UNSAFE
    assert "not shaped like the other terms" in verdict.reason
    # Evaluated anyway, the values change: the structural rule is not hiding a safe rewrite.
    measured = judge(expr, f"{L} + {E}")
    assert measured.applicability is Applicability.UNSAFE and measured.reason.startswith("values change")


def test_the_same_shape_everywhere_cancels() -> None:
    for window, function, extra in (("5m", "rate", ""), ("1h", "increase", " offset 1h"), ("10m", "irate", " @ 3600")):
        terms = [f'sum({function}(vllm:prompt_tokens_by_source_total{{source="{s}"}}[{window}]{extra}))'
                 for s in ("local_cache_hit", "external_kv_transfer")]
        removed = f"sum({function}(vllm:prompt_tokens_recomputed_total[{window}]{extra}))"
        (rewrite,) = eliminations(f"{terms[0]} + {terms[1]} - {removed}")
        assert rewrite.verdict.applicability is Applicability.SAFE, rewrite.verdict.reason
