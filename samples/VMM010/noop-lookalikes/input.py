"""Per-engine names of the load signals our gateway balances on.

Every engine spells "how full is the KV cache" and "how slow is decoding" differently; only
the vLLM rows use vLLM's own metrics.
"""

VLLM_IMAGE = "vllm/vllm-openai:v0.9.2"

ENGINE_SIGNALS = {
    "vllm": {
        "kv_cache": "vllm:kv_cache_usage_perc",
        "itl": "vllm:inter_token_latency_seconds_bucket",
        # Per-request average, a different histogram from the per-token one above.
        "tpot": "vllm:request_time_per_output_token_seconds_bucket",
        "queue": "vllm:num_requests_waiting",
    },
    "dynamo": {
        "kv_cache": "dynamo_component_kvstats_gpu_cache_usage_percent",
        "itl": "dynamo_frontend_inter_token_latency_seconds_bucket",
    },
    "sglang": {
        "kv_cache": "sglang:token_usage",
        "queue": "sglang:num_queue_reqs",
    },
    "tensorrt-llm": {
        "kv_cache": "trtllm_kv_cache_utilization",
    },
    # NIM republishes the engine gauge without a prefix.
    "nim": {
        "kv_cache": "gpu_cache_usage_perc",
        "queue": "num_requests_waiting",
    },
    # Our OpenTelemetry bridge renames everything to dotted vendor names.
    "otel-bridge": {
        "kv_cache": "vllm.gpu.cache.usage.perc",
    },
}

# Our benchmark harness normalises decode time by output length itself.
BENCH_ITL_METRIC = "normalized_time_per_output_token_seconds"


def kv_cache_query(engine: str, namespace: str) -> str:
    name = ENGINE_SIGNALS[engine]["kv_cache"]
    return f'max by (pod) ({name}{{namespace="{namespace}"}})'


ITL_P99 = (
    "histogram_quantile(0.99, sum by (le) "
    "(rate(vllm:inter_token_latency_seconds_bucket[5m])))"
)
