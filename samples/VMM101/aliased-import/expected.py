"""Aggregates per-engine prompt-token stats before they are shipped to the warehouse."""

from functools import reduce

from vllm.v1.metrics.stats import PromptTokenStats as PTS


def empty() -> PTS:
    return PTS(computed=0, local_cache_hit=0, external_kv_transfer=0, cached_tokens=0, total=0)


def merge(a: PTS, b: PTS) -> PTS:
    return PTS(
        computed=a.computed + b.computed,
        local_cache_hit=a.local_cache_hit + b.local_cache_hit,
        external_kv_transfer=a.external_kv_transfer + b.external_kv_transfer,
        cached_tokens=a.cached_tokens + b.cached_tokens,
        total=a.total + b.total,
    )


def merge_all(stats: list[PTS]) -> PTS:
    return reduce(merge, stats, empty())
