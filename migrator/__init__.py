"""vllm-metrics-migrator: find and migrate references to metrics vLLM removed or changed."""

__version__ = "0.1.0"
