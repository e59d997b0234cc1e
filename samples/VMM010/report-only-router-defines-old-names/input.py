"""Prometheus metrics the request router publishes about the engines behind it.

The router exports these itself (they are computed from the engine scrapes and the router's
own request log), so their names are the router's contract with its dashboards.
"""

from prometheus_client import Gauge

current_qps = Gauge("vllm:current_qps", "Current queries per second", ["server"])
avg_latency = Gauge("vllm:avg_latency", "Average end-to-end request latency", ["server"])
num_prefill_requests = Gauge("vllm:num_prefill_requests", "Requests in prefill", ["server"])

# Engine-side state, re-published per backend for the router dashboard.
num_requests_swapped = Gauge("vllm:num_requests_swapped", "Number of swapped requests", ["server"])
gpu_prefix_cache_hit_rate = Gauge(
    "vllm:gpu_prefix_cache_hit_rate",
    "GPU prefix cache hit rate",
    ["server"],
)
gpu_cache_usage_perc = Gauge("vllm:gpu_cache_usage_perc", "GPU KV cache usage", ["server"])


def log_stats(server: str, stats) -> None:
    current_qps.labels(server=server).set(stats.qps)
    avg_latency.labels(server=server).set(stats.avg_latency)
    num_prefill_requests.labels(server=server).set(stats.in_prefill_requests)
    num_requests_swapped.labels(server=server).set(stats.num_swapped_requests)
    gpu_prefix_cache_hit_rate.labels(server=server).set(stats.gpu_prefix_cache_hit_rate)
    gpu_cache_usage_perc.labels(server=server).set(stats.gpu_cache_usage_perc)
