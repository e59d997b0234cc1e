"""A tiny stand-in for vLLM's prompt-token accounting, used by our load-test harness."""

from dataclasses import dataclass


@dataclass
class FakePromptTokenStats:
    computed: int = 0
    local_cache_hit: int = 0
    external_kv_transfer: int = 0
    cached_tokens: int = 0
    total: int = 0

    def observe(self, num_cached_tokens: int, num_external_computed_tokens: int, prompt_len: int) -> None:
        recomputed = 1 if num_cached_tokens + 1 == prompt_len else 0
        self.computed += prompt_len - num_cached_tokens
        self.external_kv_transfer += num_external_computed_tokens
        self.local_cache_hit += num_cached_tokens + recomputed - num_external_computed_tokens
        self.cached_tokens += num_cached_tokens
        self.total += prompt_len


def is_full_hit(num_cached_tokens: int, prompt_len: int) -> bool:
    return bool(int(num_cached_tokens == prompt_len - 1))
