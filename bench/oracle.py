"""Benchmark: what the fix-safety oracle costs.

    python bench/oracle.py [--repeat 3]

Reports the one-off cost of the reference timeline (both eras) and of the evaluators over it,
then the median time of one judged rewrite (original on era a + rewrite on era c at every
evaluation instant, compared), over the term eliminations the golden samples offer plus a few
heavier shapes (subqueries, `by` aggregations, ratios). Performance is checked here, never in
timed unit tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

L = 'vllm:prompt_tokens_by_source_total{source="local_cache_hit"}'
E = 'vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}'
R = "vllm:prompt_tokens_recomputed_total"
HEAVY = [
    (f"avg_over_time((sum(rate({L}[5m])) + sum(rate({E}[5m])) - sum(rate({R}[5m])))[1h:1m])",
     f"avg_over_time((sum(rate({L}[5m])) + sum(rate({E}[5m])))[1h:1m])"),
    (f"sum by (model_name, engine) (rate({L}[5m]) + ignoring(source) rate({E}[5m]) - ignoring(source) rate({R}[5m]))",
     f"sum by (model_name, engine) (rate({L}[5m]) + ignoring(source) rate({E}[5m]))"),
    (f"(sum by (model_name) (increase({L}[1h])) + sum by (model_name) (increase({E}[1h])) - sum by (model_name) "
     f"(increase({R}[1h]))) / sum by (model_name) (increase(vllm:prompt_tokens_total[1h]))",
     f"(sum by (model_name) (increase({L}[1h])) + sum by (model_name) (increase({E}[1h]))) / sum by (model_name) "
     f"(increase(vllm:prompt_tokens_total[1h]))"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from migrator.config import Settings
    from migrator.promql import oracle
    from migrator.reference import simulate
    from migrator.verify import collect_rewrites

    started = time.perf_counter()
    simulate.timeline_series("a"), simulate.timeline_series("c")
    timeline_s = time.perf_counter() - started
    started = time.perf_counter()
    oracle.simulated_evaluator("a"), oracle.simulated_evaluator("c")
    evaluators_s = time.perf_counter() - started

    cases, _report = collect_rewrites([str(ROOT / "samples")], Settings())
    pairs = sorted({(c.original, c.rewritten) for c in cases if c.kind == "term elimination"}) + HEAVY
    per_pair = []
    for original, rewritten in pairs:
        runs = []
        for _ in range(args.repeat):
            oracle.judge.cache_clear()
            started = time.perf_counter()
            oracle.judge(original, rewritten)
            runs.append(time.perf_counter() - started)
        per_pair.append(statistics.median(runs))
    n = len(oracle.evaluation_times())
    print(f"reference timeline (both eras): {timeline_s * 1000:.0f} ms once per process")
    print(f"evaluators over it:             {evaluators_s * 1000:.0f} ms once per process")
    print(f"judged rewrites:                {len(pairs)} ({n} instants each)")
    print(f"  median {statistics.median(per_pair) * 1000:.1f} ms, max {max(per_pair) * 1000:.1f} ms per judged rewrite")


if __name__ == "__main__":
    main()
