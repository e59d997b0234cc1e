"""Benchmark client: after each run, pull the engine's prefix-cache counters from Prometheus."""

import time

import requests

PROM = "http://prometheus.monitoring:9090"
CACHE_QUERIES = {
    # Any exporter spelling of the recompute counter, with or without the _total suffix.
    "recomputed": 'sum(increase({__name__=~"vllm:prompt_tokens_recomputed(_total)?"}[10m]))',
    "cached": "sum(increase(vllm:prompt_tokens_cached_total[10m]))",
}


def cache_summary() -> dict[str, float]:
    now = time.time()
    summary = {}
    for key, query in CACHE_QUERIES.items():
        body = requests.get(f"{PROM}/api/v1/query", params={"query": query, "time": now}, timeout=10).json()
        result = body["data"]["result"]
        summary[key] = float(result[0]["value"][1]) if result else 0.0
    return summary
