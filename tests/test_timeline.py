"""The reference timeline the fix-safety oracle evaluates on (reference.simulate.timeline_series)."""

from __future__ import annotations

from collections import Counter, defaultdict

from migrator.promql import parse
from migrator.promql.evaluate import evaluate
from migrator.reference.simulate import (
    EVALUATION_TIMES_MS,
    SCRAPE_INTERVAL_MS,
    TIMELINE_ENGINES,
    engine_minutes,
    simulate_era_a,
    simulate_era_c,
    timeline_series,
)

REMOVED = "vllm:prompt_tokens_recomputed_total"


def _by(era: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]:
    return {(s.name, s.label_pairs): list(s.values) for s in timeline_series(era)}


def test_hours_of_one_minute_scrapes_for_several_models_and_engines() -> None:
    a, c = timeline_series("a"), timeline_series("c")
    times = a[0].times_ms
    assert all(s.times_ms == times for s in a + c)
    assert times[0] == 0 and all(t2 - t1 == SCRAPE_INTERVAL_MS for t1, t2 in zip(times, times[1:]))
    assert times[-1] >= 3 * 3_600_000
    assert EVALUATION_TIMES_MS[0] >= 3_600_000 and EVALUATION_TIMES_MS[-1] <= times[-1]
    assert EVALUATION_TIMES_MS[-1] - EVALUATION_TIMES_MS[0] >= 3 * 3_600_000 - SCRAPE_INTERVAL_MS
    engines = {(s.labels["model_name"], s.labels["engine"]) for s in a}
    assert len(engines) >= 5 and len({m for m, _ in engines}) >= 3
    # Era (a) has one more counter per engine: the removed one.
    assert len(a) == len(c) + len(engines)
    assert {s.name for s in a} - {s.name for s in c} == {REMOVED}
    assert timeline_series("a") is a  # computed once per process


def test_the_inlined_era_formulas_are_the_stats_classes() -> None:
    for profile in TIMELINE_ENGINES:
        minutes = engine_minutes(profile)
        since_restart = [r for m, reqs in enumerate(minutes) if profile.restart_minute is None or m >= profile.restart_minute
                         for r in reqs]
        labels = (("model_name", profile.model_name), ("engine", profile.engine))
        for era, stats in (("a", simulate_era_a(since_restart)), ("c", simulate_era_c(since_restart))):
            last = {name: values[-1] for (name, pairs), values in _by(era).items() if pairs[:2] == labels
                    and "source" not in dict(pairs)}
            assert last["vllm:prompt_tokens_total"] == stats.total
            assert last["vllm:prompt_tokens_cached_total"] == stats.cached_tokens
            if era == "a":
                assert last[REMOVED] == stats.recomputed_tokens


def test_the_identity_holds_at_every_scrape_and_full_hits_change_the_sources() -> None:
    a, c = _by("a"), _by("c")
    changed = 0
    for profile in TIMELINE_ENGINES:
        base = (("model_name", profile.model_name), ("engine", profile.engine))
        src = "vllm:prompt_tokens_by_source_total"
        la, ea = a[(src, base + (("source", "local_cache_hit"),))], a[(src, base + (("source", "external_kv_transfer"),))]
        lc, ec = c[(src, base + (("source", "local_cache_hit"),))], c[(src, base + (("source", "external_kv_transfer"),))]
        r = a[(REMOVED, base)]
        assert [x + y - z for x, y, z in zip(la, ea, r)] == [x + y for x, y in zip(lc, ec)]
        assert a[("vllm:prompt_tokens_cached_total", base)] == c[("vllm:prompt_tokens_cached_total", base)]
        changed += la != lc
    assert changed >= 3


def test_at_least_one_counter_reset() -> None:
    resets = {(s.name, s.label_pairs) for s in timeline_series("a")
              if any(b < a for a, b in zip(s.values, s.values[1:]))}
    engines = {dict(pairs)["engine"] + dict(pairs)["model_name"] for _, pairs in resets}
    assert resets and len(engines) == 1  # a restart resets every counter of that engine
    assert all(any(n == REMOVED for n, _ in resets) for _ in engines)


def test_bursts_of_full_hits_differ_by_engine_and_hour() -> None:
    quarters: dict[str, list[float]] = {}
    for s in timeline_series("a"):
        if s.name == REMOVED:
            v = s.values  # recomputed tokens per quarter hour (0 across the restart)
            quarters[s.labels["model_name"] + "/" + s.labels["engine"]] = [
                max(v[q * 15 + 15] - v[q * 15], 0) for q in range(16)]
    busiest = [max(quarters, key=lambda k: quarters[k][q]) for q in range(16)]
    assert len(set(busiest)) >= 5, busiest
    for per_quarter in quarters.values():  # bursts: some quarters far above the engine's usual
        ordered = sorted(per_quarter)
        assert ordered[-1] >= 3 * max(ordered[len(ordered) // 2], 1)


def test_different_engines_lead_each_counter() -> None:
    """What makes max(a) + max(b) - max(c) differ from max(a + b - c) on this data."""
    leaders: dict[str, Counter[str]] = defaultdict(Counter)
    for source, selector in (("local", 'vllm:prompt_tokens_by_source_total{source="local_cache_hit"}'),
                             ("external", 'vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}'),
                             ("recomputed", REMOVED)):
        result = evaluate(parse(f"topk(1, rate({selector}[5m]))"), timeline_series("a"), EVALUATION_TIMES_MS)
        for column in result:
            leaders[source][column.labels["model_name"] + "/" + column.labels["engine"]] += sum(
                v is not None for v in column.values)
    assert len(leaders["recomputed"]) >= 3
    top = {k: v.most_common(1)[0][0] for k, v in leaders.items()}
    assert len(set(top.values())) >= 2, top


def test_rate_extrapolation_is_linear_on_this_data() -> None:
    """No window starts at a counter value below one minute of its increase, so Prometheus'
    "extrapolate to the counter's zero point" never applies and `rate(a) - rate(b)` is the rate
    of `a - b` (what lets a value-preserving elimination stay exactly equal)."""
    worst = float("inf")
    for era in ("a", "c"):
        for s in timeline_series(era):
            v, t = s.values, s.times_ms
            for i in range(len(v) - 1):
                for j in range(i + 1, len(v)):
                    if v[j] < v[j - 1]:
                        break  # a reset: later windows start after it
                    increase = v[j] - v[i]
                    if increase > 0:
                        worst = min(worst, (t[j] - t[i]) / 1000 * v[i] / increase)
    assert worst > SCRAPE_INTERVAL_MS / 1000
