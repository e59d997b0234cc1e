"""Router metrics: these only look like vLLM's."""

from prometheus_client import Counter

MODELPLANE_RECOMPUTED = Counter("modelplane_tokens_recomputed", "Tokens our router re-sent after failover.")
RATIO_RULE = "my_prompt_tokens_recomputed_ratio"
PROPOSED = "vllm:recomputed_token_executions_total"
