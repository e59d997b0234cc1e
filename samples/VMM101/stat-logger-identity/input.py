"""Exports the prompt-cache savings of each engine to our own Prometheus gauge."""

from prometheus_client import Gauge
from vllm.v1.metrics.loggers import StatLoggerBase

CACHED_TOKENS = Gauge(
    "team_vllm_cached_prompt_tokens",
    "Prompt tokens served from the prefix cache or a KV transfer, per engine.",
    ["engine"],
)


class CacheSavingsLogger(StatLoggerBase):
    def __init__(self, vllm_config, engine_index: int = 0) -> None:
        self.engine_index = engine_index
        self.cached = 0

    def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx: int = 0) -> None:
        if iteration_stats is None:
            return
        stats = iteration_stats.prompt_token_stats
        # Tokens we did not have to compute: local hits plus transfers, minus the one
        # token the scheduler recomputes on a full hit.
        self.cached += stats.local_cache_hit + stats.external_kv_transfer - stats.recomputed_tokens
        CACHED_TOKENS.labels(engine=str(engine_idx)).set(self.cached)

    def log_engine_initialized(self) -> None:
        pass
