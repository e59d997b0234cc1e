"""Workload simulation: the single source of truth for tests, verification and fixtures.

A ``Request`` describes what the scheduler *found* in the caches; the era
adapters turn that into the inputs each vLLM era actually saw, including the
"recompute the last token" rule. Driving both eras from one ``Request`` is what
lets the migrator compare a legacy query with its rewrite on identical traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

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
    out = [("vllm:prompt_tokens", (), stats.total)]
    out += [
        ("vllm:prompt_tokens_by_source", (("source", s),), stats.get_by_source(s))
        for s in ALL_SOURCES
    ]
    out.append(("vllm:prompt_tokens_cached", (), stats.cached_tokens))
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
    if kind == "no_hit":
        return Request(p, 0, 0)
    if kind == "partial_local":
        return Request(p, rng.randint(1, p - 1), 0)
    if kind == "partial_external":
        return Request(p, 0, rng.randint(1, p - 1))
    if kind == "partial_mixed":
        hit = rng.randint(0, p - 1)
        local = rng.randint(0, hit)
        return Request(p, local, hit - local)
    if kind == "near_full":
        # Exactly N-1 found: era (a) cannot tell this from a full hit.
        local = rng.randint(0, p - 1)
        return Request(p, local, p - 1 - local)
    if kind == "full_local":
        return Request(p, p, 0)
    if kind == "full_external":
        return Request(p, 0, p)
    local = rng.randint(1, p - 1)
    return Request(p, local, p - local)


def random_workload(rng: random.Random, n: int) -> list[Request]:
    """``n`` requests mixing no-hit, partial, near-full and full (local/external/mixed) hits."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [_random_request(rng) for _ in range(n)]


def standard_workloads() -> dict[LabelKey, list[Request]]:
    """Deterministic label sets for the safety oracle: each canonical case alone, random mixes,
    and an idle engine (all counters 0, so ratios are 0/0 in both eras)."""
    workloads: dict[LabelKey, list[Request]] = {
        (f"case{c.number}-{c.name.replace(' ', '-')}", "0"): [c.request] for c in CANONICAL_CASES
    }
    workloads[("meta-llama/Llama-3.1-8B-Instruct", "0")] = random_workload(random.Random(16), 50)
    workloads[("meta-llama/Llama-3.1-8B-Instruct", "1")] = random_workload(random.Random(19), 50)
    workloads[("Qwen/Qwen3-32B", "0")] = random_workload(random.Random(20), 200)
    workloads[("idle-model", "0")] = []
    return workloads


# --------------------------------------------------------------- exposition

#: Fixed `_created` value (v0.20.0 release day, UTC) so generated fixtures are reproducible.
FIXED_CREATED_TIMESTAMP: Final[float] = 1777248000.0


class _Frozen(Collector):
    """A collector replaying already-collected families (used to pin `_created`)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def exposition_text(
    era: str,
    workloads: Mapping[LabelKey, Sequence[Request]],
    *,
    created_timestamp: float | None = FIXED_CREATED_TIMESTAMP,
    pd_full_external: bool = False,
) -> str:
    """Prometheus text exposition an engine of ``era`` serves, rendered by prometheus_client.

    ``created_timestamp=None`` keeps prometheus_client's wall-clock `_created`.
    """
    _check_era(era)
    registry = CollectorRegistry(auto_describe=True)
    defs = list(SURVIVING_PROMPT_METRICS)
    if era == "a":
        defs.append(REMOVED_METRIC.metric)
    counters = {
        d.name: Counter(d.name, d.help, list(d.labels), registry=registry) for d in defs
    }
    for (model_name, engine), requests in workloads.items():
        for name, extra, value in _era_values(era, requests, pd_full_external):
            labels = {"model_name": model_name, "engine": engine, **dict(extra)}
            # inc(0) still creates the child, matching vLLM's start-up children.
            counters[name].labels(**labels).inc(value)
    if created_timestamp is None:
        return generate_latest(registry).decode("utf-8")
    families = list(registry.collect())
    for family in families:
        family.samples = [
            s._replace(value=created_timestamp) if s.name.endswith("_created") else s
            for s in family.samples
        ]
    return generate_latest(_Frozen(families)).decode("utf-8")
