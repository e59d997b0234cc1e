"""Workload simulation: the single source of truth for tests, verification and fixtures.

A ``Request`` describes what the scheduler *found* in the caches; the era
adapters turn that into the inputs each vLLM era actually saw, including the
"recompute the last token" rule. Driving both eras from one ``Request`` is what
lets the migrator compare a legacy query with its rewrite on identical traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Final, Iterable, Mapping, Sequence

from .catalogue import REMOVED_METRIC, SURVIVING_PROMPT_METRICS
from .stats import (
    ALL_SOURCES,
    Counts,
    LegacyCounts,
    LegacyPromptTokenStats,
    PrefillStats,
    PromptTokenStats,
)

ERAS: Final[tuple[str, str]] = ("a", "c")

#: Workload key: the (model_name, engine) label values of one vLLM engine.
LabelKey = tuple[str, str]


def _check_era(era: str) -> None:
    if era not in ERAS:
        hint = " (era b was never released)" if era == "b" else ""
        raise ValueError(f"unknown era {era!r}{hint}; expected one of {', '.join(ERAS)}")


@dataclass(frozen=True)
class Request:
    """One prefill, with cache hits as the scheduler finds them (may cover the whole prompt)."""

    prompt_len: int
    local_hit: int = 0
    external_hit: int = 0

    def __post_init__(self) -> None:
        for field in ("prompt_len", "local_hit", "external_hit"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Request.{field} must be a non-negative int, got {value!r}")
        # A zero-token prompt has no "last token" to recompute; vLLM rejects it too.
        if self.prompt_len < 1:
            raise ValueError(f"Request.prompt_len must be >= 1, got {self.prompt_len}")
        if self.local_hit + self.external_hit > self.prompt_len:
            raise ValueError(
                f"cache hits exceed the prompt: local_hit ({self.local_hit}) + external_hit "
                f"({self.external_hit}) > prompt_len ({self.prompt_len})"
            )

    @property
    def full_hit(self) -> bool:
        return self.local_hit + self.external_hit == self.prompt_len

    def to_era_a_inputs(self) -> tuple[int, int, int]:
        """(num_cached_tokens, num_external_computed_tokens, prompt_len) as v0.16-v0.19 saw them."""
        cached = self.local_hit + self.external_hit
        # The legacy scheduler trimmed the last token off the cached count but
        # left the connector's external count as found (case 6: 999 vs 1000).
        if self.full_hit:
            cached = self.prompt_len - 1
        return (cached, self.external_hit, self.prompt_len)

    def to_era_c_inputs(self, pd_full_external: bool = False) -> tuple[int, int, int]:
        """(num_prompt_tokens, num_local_cached, num_external_cached) as v0.20+ sees them.

        ``pd_full_external`` models a cold NIXL decode: PrefillStats is set
        before the N-1 trim (vLLM PR #39808), so external stays the full prompt.
        """
        local, external = self.local_hit, self.external_hit
        if self.full_hit and not (pd_full_external and external > 0):
            # The recomputed token is taken from the external share when there
            # is one, so local_cache_hit stays "tokens actually read locally".
            if external > 0:
                external -= 1
            else:
                local -= 1
        return (self.prompt_len, local, external)


@dataclass(frozen=True)
class CanonicalCase:
    number: int
    name: str
    era_a_inputs: tuple[int, int, int]
    era_a_expected: LegacyCounts
    era_c_inputs: tuple[int, int, int]
    era_c_expected: Counts
    request: Request


def _case(
    number: int,
    name: str,
    a_in: tuple[int, int, int],
    a_out: tuple[int, int, int, int, int],
    c_in: tuple[int, int, int],
    c_out: tuple[int, int, int, int],
    request: Request,
) -> CanonicalCase:
    # Tuples in the facts-table column order keep this table diffable against it.
    total = a_in[2]
    return CanonicalCase(
        number,
        name,
        a_in,
        LegacyCounts(*a_out, total=total),
        c_in,
        Counts(*c_out, total=total),
        request,
    )


#: vLLM's own unit-test vectors (facts file §2). Outputs are computed/local/external/cached[/recomputed].
CANONICAL_CASES: Final[tuple[CanonicalCase, ...]] = (
    _case(1, "no cache", (0, 0, 1000), (1000, 0, 0, 0, 0), (1000, 0, 0), (1000, 0, 0, 0),
          Request(1000, 0, 0)),
    _case(2, "partial local", (300, 0, 1000), (700, 300, 0, 300, 0), (1000, 300, 0),
          (700, 300, 0, 300), Request(1000, 300, 0)),
    _case(3, "partial external", (500, 500, 1000), (500, 0, 500, 500, 0), (1000, 0, 500),
          (500, 0, 500, 500), Request(1000, 0, 500)),
    _case(4, "mixed", (600, 200, 1000), (400, 400, 200, 600, 0), (1000, 400, 200),
          (400, 400, 200, 600), Request(1000, 400, 200)),
    _case(5, "full local hit", (999, 0, 1000), (1, 1000, 0, 999, 1), (1000, 999, 0),
          (1, 999, 0, 999), Request(1000, 1000, 0)),
    _case(6, "full external", (999, 1000, 1000), (1, 0, 1000, 999, 1), (1000, 0, 999),
          (1, 0, 999, 999), Request(1000, 0, 1000)),
)


def simulate_era_a(requests: Iterable[Request], clamp_local: bool = False) -> LegacyPromptTokenStats:
    stats = LegacyPromptTokenStats(clamp_local=clamp_local)
    for r in requests:
        stats.update_from_output(*r.to_era_a_inputs())
    return stats


def simulate_era_c(requests: Iterable[Request], pd_full_external: bool = False) -> PromptTokenStats:
    stats = PromptTokenStats()
    prefill = PrefillStats()
    for r in requests:
        prefill.set(*r.to_era_c_inputs(pd_full_external))
        stats.update_from_output(prefill)
    return stats


# ------------------------------------------------------------------ samples


@dataclass(frozen=True)
class Sample:
    name: str
    label_pairs: tuple[tuple[str, str], ...]
    value: float

    @property
    def labels(self) -> dict[str, str]:
        # A fresh dict each time so callers cannot mutate the frozen sample.
        return dict(self.label_pairs)


def _era_values(
    era: str, requests: Sequence[Request], pd_full_external: bool
) -> list[tuple[str, tuple[tuple[str, str], ...], int]]:
    """(base metric name, extra labels, value) for one engine, in exposition order."""
    stats: LegacyPromptTokenStats | PromptTokenStats
    stats = simulate_era_a(requests) if era == "a" else simulate_era_c(requests, pd_full_external)
    return _stats_values(stats)


def _stats_values(
    stats: LegacyPromptTokenStats | PromptTokenStats,
) -> list[tuple[str, tuple[tuple[str, str], ...], int]]:
    prompt, by_source, cached = (m.name for m in SURVIVING_PROMPT_METRICS)
    out = [(prompt, (), stats.total)]
    out += [(by_source, (("source", s),), stats.get_by_source(s)) for s in ALL_SOURCES]
    out.append((cached, (), stats.cached_tokens))
    if isinstance(stats, LegacyPromptTokenStats):
        out.append((REMOVED_METRIC.metric.name, (), stats.recomputed_tokens))
    return out


def counter_samples(
    era: str, workloads: Mapping[LabelKey, Sequence[Request]], *, pd_full_external: bool = False
) -> list[Sample]:
    """The ``*_total`` counter samples an engine of ``era`` exposes after serving ``workloads``."""
    _check_era(era)
    samples: list[Sample] = []
    for (model_name, engine), requests in workloads.items():
        base = (("model_name", model_name), ("engine", engine))
        for name, extra, value in _era_values(era, requests, pd_full_external):
            samples.append(Sample(name + "_total", base + extra, float(value)))
    return samples


_CATEGORIES: Final[tuple[str, ...]] = (
    "no_hit",
    "partial_local",
    "partial_external",
    "partial_mixed",
    "near_full",
    "full_local",
    "full_external",
    "mixed_full",
)


def _random_request(rng: random.Random) -> Request:
    # Mostly realistic lengths, with very short prompts where off-by-one bugs live.
    p = rng.choice((1, 2, 3, 16)) if rng.random() < 0.15 else rng.randint(4, 4096)
    kind = rng.choice(_CATEGORIES)
    if p == 1 and kind not in ("no_hit", "full_local", "full_external"):
        kind = "no_hit"
    return Request(*_hits_of_kind(rng.randint, p, kind))


def _hits_of_kind(randint: Callable[[int, int], int], p: int, kind: str) -> tuple[int, int, int]:
    """(prompt_len, local_hit, external_hit) of a request of category ``kind``."""
    if p == 1 and kind not in ("no_hit", "full_local", "full_external"):
        kind = "no_hit"  # one token: nothing between no hit and a full hit
    if kind == "no_hit":
        return (p, 0, 0)
    if kind == "partial_local":
        return (p, randint(1, p - 1), 0)
    if kind == "partial_external":
        return (p, 0, randint(1, p - 1))
    if kind == "partial_mixed":
        hit = randint(0, p - 1)
        local = randint(0, hit)
        return (p, local, hit - local)
    if kind == "near_full":
        # Exactly N-1 found: era (a) cannot tell this from a full hit.
        local = randint(0, p - 1)
        return (p, local, p - 1 - local)
    if kind == "full_local":
        return (p, p, 0)
    if kind == "full_external":
        return (p, 0, p)
    local = randint(1, p - 1)
    return (p, local, p - local)


def random_workload(rng: random.Random, n: int) -> list[Request]:
    """``n`` requests mixing no-hit, partial, near-full and full (local/external/mixed) hits."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [_random_request(rng) for _ in range(n)]


def standard_workloads() -> dict[LabelKey, list[Request]]:
    """Deterministic label sets for fixtures and the fake exporter: each canonical case alone,
    random mixes, and an idle engine (all counters 0). The safety oracle uses the time series of
    `timeline_series` instead."""
    workloads: dict[LabelKey, list[Request]] = {
        (f"case{c.number}-{c.name.replace(' ', '-')}", "0"): [c.request] for c in CANONICAL_CASES
    }
    workloads[("meta-llama/Llama-3.1-8B-Instruct", "0")] = random_workload(random.Random(16), 50)
    workloads[("meta-llama/Llama-3.1-8B-Instruct", "1")] = random_workload(random.Random(19), 50)
    workloads[("Qwen/Qwen3-32B", "0")] = random_workload(random.Random(20), 200)
    workloads[("idle-model", "0")] = []
    return workloads


# --------------------------------------------------------------- time series
#
# The fix-safety oracle compares expressions the way Prometheus evaluates them, so it needs
# counters that move: rate windows, offsets, `@` and subqueries only mean something over time.
# Four hours of 1-minute scrapes for six engines of four models. Traffic is steady partial
# hits plus *bursts* of full hits whose kind (local, external, mixed) differs by engine and
# hour, so the removed counter rises in steps and a different engine leads each counter at
# different times (what makes `max(a) + max(b) - max(c)` visibly non-linear). One engine
# restarts mid-run: every counter of it resets to 0.
#
# The counters are well conditioned for Prometheus' rate extrapolation: each starts from a day
# of earlier traffic and the restarted engine comes back to a retry storm, so no window sees a
# counter sitting near zero (rate()'s "extrapolate to the zero point" rule is not linear and
# would shift terms differently; vLLM counters behave like this a minute after start-up too).

SCRAPE_INTERVAL_MS: Final[int] = 60_000
TIMELINE_MINUTES: Final[int] = 240
#: Where the oracle evaluates: every minute of the last three hours, half-way between
#: scrapes (so no range boundary falls on a sample, whichever way an engine counts it).
EVALUATION_TIMES_MS: Final[tuple[int, ...]] = tuple(
    3_600_000 + SCRAPE_INTERVAL_MS // 2 + SCRAPE_INTERVAL_MS * k for k in range(180)
)


@dataclass(frozen=True)
class Burst:
    """Minutes in which a share of an engine's requests are full hits of one kind."""

    start_minute: int
    minutes: int
    kind: str  # "full_local" | "full_external" | "mixed_full"
    share: float


@dataclass(frozen=True)
class EngineProfile:
    model_name: str
    engine: str
    requests_per_minute: tuple[int, int]
    prompt_len: tuple[int, int]
    mix: tuple[tuple[str, float], ...]  # the everyday request categories and their weights
    bursts: tuple[Burst, ...] = ()
    restart_minute: int | None = None  # the engine restarts just before this scrape

    @property
    def key(self) -> LabelKey:
        return (self.model_name, self.engine)


_CHAT = (("no_hit", 3), ("partial_local", 5), ("partial_external", 1), ("partial_mixed", 2),
         ("near_full", 0.3), ("full_local", 0.15))
_DISAGGREGATED = (("no_hit", 1), ("partial_local", 1), ("partial_external", 5), ("partial_mixed", 3),
                  ("near_full", 0.3), ("full_external", 0.15))
_AGENTIC = (("no_hit", 1), ("partial_local", 3), ("partial_external", 2), ("partial_mixed", 4),
            ("near_full", 1), ("mixed_full", 0.2))

TIMELINE_ENGINES: Final[tuple[EngineProfile, ...]] = (
    EngineProfile("meta-llama/Llama-3.1-8B-Instruct", "0", (8, 14), (200, 3000), _CHAT,
                  (Burst(20, 25, "full_local", 0.6), Burst(130, 15, "mixed_full", 0.5), Burst(200, 30, "full_local", 0.3))),
    EngineProfile("meta-llama/Llama-3.1-8B-Instruct", "1", (6, 12), (200, 3000), _CHAT,
                  (Burst(70, 20, "full_external", 0.5), Burst(185, 25, "full_local", 0.7)), restart_minute=151),
    EngineProfile("Qwen/Qwen3-32B", "0", (4, 9), (1000, 8000), _DISAGGREGATED,
                  (Burst(5, 30, "full_external", 0.5), Burst(95, 35, "full_external", 0.4), Burst(215, 10, "mixed_full", 0.8))),
    EngineProfile("Qwen/Qwen3-32B", "1", (4, 9), (1000, 8000), _DISAGGREGATED,
                  (Burst(60, 20, "mixed_full", 0.6), Burst(160, 40, "full_local", 0.4))),
    EngineProfile("mistralai/Mistral-Small-24B-Instruct-2501", "0", (2, 6), (50, 1200), _AGENTIC,
                  (Burst(40, 10, "full_local", 0.9), Burst(110, 20, "mixed_full", 0.7), Burst(225, 15, "full_external", 0.6))),
    EngineProfile("google/gemma-3-27b-it", "0", (3, 7), (300, 4000), _AGENTIC,
                  (Burst(85, 15, "full_external", 0.8), Burst(170, 25, "mixed_full", 0.5))),
)


@dataclass(frozen=True)
class TimeSeries:
    """One counter over the timeline: ``values[i]`` was scraped at ``times_ms[i]``."""

    name: str
    label_pairs: tuple[tuple[str, str], ...]
    times_ms: tuple[int, ...]
    values: tuple[float, ...]

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.label_pairs)


def _weighted(rng: "_Draw", mix: tuple[tuple[str, float], ...]) -> str:
    total = sum(w for _, w in mix)
    x = rng.random() * total
    for kind, weight in mix:
        x -= weight
        if x < 0:
            return kind
    return mix[-1][0]


class _Draw:
    """Uniform integers from one `random.Random` without `randint`'s overhead (the timeline
    draws tens of thousands of them)."""

    def __init__(self, seed: str) -> None:
        self.random = random.Random(seed).random

    def randint(self, lo: int, hi: int) -> int:
        return lo + int(self.random() * (hi - lo + 1))


def _minute_hits(rng: _Draw, profile: EngineProfile, minute: int) -> list[tuple[int, int, int]]:
    randint = rng.randint
    n = randint(*profile.requests_per_minute)
    burst = next((b for b in profile.bursts if b.start_minute <= minute < b.start_minute + b.minutes), None)
    if minute == profile.restart_minute:
        # Clients retry what failed during the restart; the remote KV store still holds it.
        n, burst = 3 * n, Burst(minute, 1, "full_external", 0.5)
    hits = []
    for _ in range(n):
        p = randint(*profile.prompt_len)
        kind = burst.kind if burst is not None and rng.random() < burst.share else _weighted(rng, profile.mix)
        hits.append(_hits_of_kind(randint, p, kind))
    return hits


def _warm_up(rng: _Draw, profile: EngineProfile) -> list[tuple[int, int, int]]:
    """Earlier traffic, folded into the first scrape (full hits of every kind included), so no
    counter starts the timeline near zero."""
    randint = rng.randint
    hits = [_hits_of_kind(randint, randint(*profile.prompt_len), _weighted(rng, profile.mix))
            for _ in range(20 * profile.requests_per_minute[1])]
    for kind in ("full_local", "full_external", "mixed_full"):
        hits += [_hits_of_kind(randint, randint(*profile.prompt_len), kind) for _ in range(10)]
    return hits


@lru_cache(maxsize=None)
def _engine_hits(profile: EngineProfile) -> tuple[tuple[tuple[int, int, int], ...], ...]:
    rng = _Draw(f"{profile.model_name}/{profile.engine}")
    minutes = [_warm_up(rng, profile)] + [_minute_hits(rng, profile, m) for m in range(1, TIMELINE_MINUTES + 1)]
    return tuple(tuple(m) for m in minutes)


def engine_minutes(profile: EngineProfile) -> list[list[Request]]:
    """The requests one engine serves: index 0 is the warm-up, index m the minute before scrape m."""
    return [[Request(*h) for h in minute] for minute in _engine_hits(profile)]


def _minute_increments(era: str, hits: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int, int, int, int]:
    """(computed, local, external, cached, recomputed, total) added by one minute's requests:
    the era formulas of `Request.to_era_*_inputs` and `reference.stats`, inlined because the
    timeline runs them for every request (tests hold this to the stats classes)."""
    computed = local = external = cached = recomputed = total = 0
    for p, lo, ex in hits:
        full = lo + ex == p
        if era == "a":
            c = p - 1 if full else lo + ex
            r = 1 if c + 1 == p else 0
            local += c + r - ex
            external += ex
            recomputed += r
        else:
            if full:
                if ex > 0:
                    ex -= 1
                else:
                    lo -= 1
            c = lo + ex
            local += lo
            external += ex
        computed += p - c
        cached += c
        total += p
    return computed, local, external, cached, recomputed, total


@lru_cache(maxsize=2)
def timeline_series(era: str) -> tuple[TimeSeries, ...]:
    """The counters every engine of `TIMELINE_ENGINES` exposes over the timeline, in ``era``."""
    _check_era(era)
    times = tuple(SCRAPE_INTERVAL_MS * i for i in range(TIMELINE_MINUTES + 1))
    out: list[TimeSeries] = []
    for profile in TIMELINE_ENGINES:
        running = [0, 0, 0, 0, 0, 0]
        columns: list[list[float]] = [[] for _ in running]
        for minute, hits in enumerate(_engine_hits(profile)):
            if minute == profile.restart_minute:
                running = [0, 0, 0, 0, 0, 0]  # a restart: every counter starts again from 0
            for i, inc in enumerate(_minute_increments(era, hits)):
                running[i] += inc
                columns[i].append(float(running[i]))
        computed, local, external, cached, recomputed, total = columns
        values = {"computed": computed, "local_cache_hit": local, "external_kv_transfer": external,
                  "cached_tokens": cached, "recomputed_tokens": recomputed, "total": total}
        base = (("model_name", profile.model_name), ("engine", profile.engine))
        for name, extra, field_name in _series_fields(era):
            out.append(TimeSeries(name + "_total", base + extra, times, tuple(values[field_name])))
    return tuple(out)


def _series_fields(era: str) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
    """(base metric name, extra labels, stats field) in exposition order, from `_stats_values`."""
    probe = LegacyPromptTokenStats(computed=1, local_cache_hit=2, external_kv_transfer=3, cached_tokens=4,
                                   recomputed_tokens=5, total=6)
    field_of = {1: "computed", 2: "local_cache_hit", 3: "external_kv_transfer", 4: "cached_tokens",
                5: "recomputed_tokens", 6: "total"}
    fields = [(name, extra, field_of[value]) for name, extra, value in _stats_values(probe)]
    return fields if era == "a" else [f for f in fields if f[2] != "recomputed_tokens"]
