"""Scrape a vLLM server's /metrics during a benchmark run and build the Ray dashboard panels."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

# Series the benchmark report summarises.
SCRAPED_METRICS = [
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
]

# Human-readable column headers, keyed by series name.
REPORT_COLUMNS = {
    "vllm:kv_cache_usage_perc": "KV cache usage",
    "vllm:prefix_cache_hits_total": "Prefix cache hits (tokens)",
    "vllm:prefix_cache_queries_total": "Prefix cache queries (tokens)",
    "vllm:e2e_request_latency_seconds_sum": "E2E latency (sum, s)",
}


def fetch_metrics(url: str) -> dict[str, float]:
    """Sum each series over its label sets."""
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode("utf-8")
    totals: dict[str, float] = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def mean_itl(metrics_text: str) -> float | None:
    """Mean inter-token latency from the histogram's _sum and _count samples."""
    total = count = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(("vllm:inter_token_latency_seconds_sum{", "vllm:inter_token_latency_seconds_count{")):
            labels, value = line.rsplit(" ", 1)
            if labels.startswith("vllm:inter_token_latency_seconds_sum{"):
                total += float(value)
            else:
                count += float(value)
    return total / count if count else None


@dataclass
class Snapshot:
    kv_cache_usage: float
    waiting: float


def snapshot(url: str) -> Snapshot:
    scrape = fetch_metrics(url)
    return Snapshot(
        kv_cache_usage=scrape.get("vllm:kv_cache_usage_perc", 0.0),
        waiting=scrape.get("vllm:num_requests_waiting", 0.0),
    )


# Panels for Ray's Grafana dashboard; `global_filters` is filled in when the dashboard is built.
KV_CACHE_PANEL_EXPR = 'max by (model_name, WorkerId) (ray_vllm:kv_cache_usage_perc{{{global_filters}}})'
RUNNING_PANEL_EXPR = 'sum by (model_name) (ray_vllm:num_requests_running{{{global_filters}}})'


def panel_exprs(global_filters: str) -> list[str]:
    return [
        KV_CACHE_PANEL_EXPR.format(global_filters=global_filters),
        RUNNING_PANEL_EXPR.format(global_filters=global_filters),
    ]
