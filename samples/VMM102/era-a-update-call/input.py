"""Replays recorded scheduler outputs through vLLM's stats classes for capacity planning."""

from vllm.v1.metrics.stats import PromptTokenStats


def replay(records: list[dict[str, int]]) -> PromptTokenStats:
    stats = PromptTokenStats()
    for rec in records:
        stats.update_from_output(
            num_cached_tokens=rec["num_cached_tokens"],
            num_external_computed_tokens=rec["num_external_computed_tokens"],
            prompt_len=rec["prompt_len"],
        )
    return stats


def replay_rows(stats: PromptTokenStats, rows: list[tuple[int, int, int]]) -> None:
    for cached, external, prompt_len in rows:
        stats.update_from_output(cached, external, prompt_len)
