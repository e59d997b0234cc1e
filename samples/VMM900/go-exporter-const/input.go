package collector

// Metric names scraped from the vLLM engine's /metrics endpoint.
const (
	promptTokensMetric     = "vllm:prompt_tokens_total"
	promptCachedMetric     = "vllm:prompt_tokens_cached_total"
	promptRecomputedMetric = "vllm:prompt_tokens_recomputed_total"
	// Counters created by prometheus_client also expose a _created sample.
	promptRecomputedCreated = "vllm:prompt_tokens_recomputed_created"
)

var rayAliases = map[string]string{
	"ray_vllm:prompt_tokens_recomputed_total": promptRecomputedMetric,
}
