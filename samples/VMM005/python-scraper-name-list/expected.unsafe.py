"""Scrapes vLLM engines directly and forwards selected counters to the metrics pipeline."""

from prometheus_client.parser import text_string_to_metric_families

# Every spelling we have seen across exporters, newest first.
RECOMPUTED_ALIASES = (
    "vllm:prompt_tokens_recomputed",
    "vllm:prompt_tokens_recomputed_total",
    "vllm_prompt_tokens_recomputed_total",
    "ray_vllm:prompt_tokens_recomputed_total",
)

FORWARDED = [
    "vllm:prompt_tokens_total",
    "vllm:prompt_tokens_cached_total",
    "vllm:generation_tokens_total",
]

RENAMES = {
    "vllm_prompt_tokens_cached_total": "prompt_tokens_cached",
}


def first_value(body: str, *names: str) -> float | None:
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name in names:
                return sample.value
    return None


def recomputed(body: str) -> float | None:
    return first_value(body, *RECOMPUTED_ALIASES)
