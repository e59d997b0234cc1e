from opentelemetry import metrics as otel_metrics

meter = otel_metrics.get_meter("vllm.engine")

prompt_tokens = meter.create_counter(name="vllm.prompt_tokens", unit="tokens")
prompt_tokens_recomputed = meter.create_counter(
    name="vllm.prompt_tokens_recomputed",
    unit="tokens",
    description="Number of cached tokens recomputed for forward pass.",
)
