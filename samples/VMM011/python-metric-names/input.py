"""Columns of the nightly capacity report, read from the engines' /metrics pages."""

# Gauges the V0 engine computed itself over its logging interval.
V0_ENGINE_GAUGES = [
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:avg_prompt_throughput_toks_per_s",
    "vllm:avg_generation_throughput_toks_per_s",
]

UNITS = {
    "vllm:num_requests_running": "requests",
    "vllm:num_requests_waiting": "requests",
    "vllm:avg_prompt_throughput_toks_per_s": "tokens/s",
    "vllm:avg_generation_throughput_toks_per_s": "tokens/s",
}


def report_row(scrape: dict[str, float]) -> list[str]:
    return [f"{scrape.get(name, float('nan')):.1f} {UNITS[name]}" for name in V0_ENGINE_GAUGES]
