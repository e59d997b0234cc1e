"""Regression tests for our fork's prefix-cache accounting (ported from vLLM 0.17)."""

from vllm.v1.metrics.stats import PromptTokenStats


def test_full_local_hit_recomputes_last_token() -> None:
    stats = PromptTokenStats()
    stats.update_from_output(num_cached_tokens=999, num_external_computed_tokens=0, prompt_len=1000)
    assert stats.local_cache_hit == 1000
    assert stats.recomputed_tokens == 1
    assert stats.computed == 1


def test_partial_hit_recomputes_nothing(stats_after_partial_hit: PromptTokenStats) -> None:
    assert stats_after_partial_hit.recomputed_tokens == 0
