"""Fixtures for the dashboard exporter tests."""

import pytest
from vllm.v1.metrics.stats import PromptTokenStats


@pytest.fixture
def warm_cache_stats() -> PromptTokenStats:
    return PromptTokenStats(
        computed=400,
        local_cache_hit=400,
        external_kv_transfer=200,
        cached_tokens=600,
        total=1000,
    )


@pytest.fixture
def cold_stats() -> PromptTokenStats:
    return PromptTokenStats(computed=1000, cached_tokens=0, total=1000)
