"""Replays recorded scheduler outputs through vLLM's v0.20+ stats classes."""

from vllm.v1.metrics.stats import PrefillStats, PromptTokenStats


def replay(records: list[dict[str, int]]) -> PromptTokenStats:
    stats = PromptTokenStats()
    prefill = PrefillStats()
    for rec in records:
        prefill.set(
            num_prompt_tokens=rec["prompt_len"],
            num_local_cached_tokens=rec["num_cached_tokens"] - rec["num_external_computed_tokens"],
            num_external_cached_tokens=rec["num_external_computed_tokens"],
        )
        stats.update_from_output(prefill)
    return stats
