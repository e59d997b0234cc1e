"""Cache-hit ratio from the prompt-token stats that survive in vLLM v0.20+.

`recomputed_tokens` is deliberately not used: vLLM v0.20.0 removed it.
"""

from vllm.v1.metrics.stats import PromptTokenStats


def cache_hit_ratio(stats: PromptTokenStats) -> float:
    if stats.total == 0:
        return 0.0
    return (stats.local_cache_hit + stats.external_kv_transfer) / stats.total


def summary(stats: PromptTokenStats) -> dict[str, int]:
    recomputed_tokens = 0  # kept in the report for old readers; always zero now
    return {
        "cached": stats.cached_tokens,
        "computed": stats.computed,
        "recomputed_tokens": recomputed_tokens,
    }
