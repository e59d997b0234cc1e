"""Read the KV-cache gauge from servers of any vLLM release.

Our fleet runs v0.8 and v0.12 side by side until the migration finishes: the older servers
only expose the old gauge, the newer ones only the new one, so both names stay here on purpose.
"""

KV_CACHE_METRICS = ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"]  # old servers

# Old name -> current name, used to merge both into one column of the report.
ALIASES = {"vllm:gpu_cache_usage_perc": "vllm:kv_cache_usage_perc"}


def kv_cache_usage(scrape: dict[str, float]) -> float | None:
    for name in KV_CACHE_METRICS:
        if name in scrape:
            return scrape[name]
    return None


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


# A switch between releases: renaming the old branch would break the v0.8 servers.
def kv_cache_metric(version: tuple[int, int, int]) -> str:
    return "vllm:kv_cache_usage_perc" if version >= (0, 9, 2) else "vllm:gpu_cache_usage_perc"


def itl_query(version: tuple[int, int, int]) -> str:
    return (
        "rate(vllm:time_per_output_token_seconds_sum[5m])"
        if version < (0, 10, 2)
        else "rate(vllm:inter_token_latency_seconds_sum[5m])"
    )


# Release switches through membership tests: the scrape says which release a server runs.
def kv_cache_usage_any_release(scrape: dict[str, float]) -> float:
    if "vllm:gpu_cache_usage_perc" in scrape:
        return scrape["vllm:gpu_cache_usage_perc"]
    return scrape["vllm:kv_cache_usage_perc"]
