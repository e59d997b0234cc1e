package vllmstats

import "github.com/prometheus/client_golang/prometheus"

// Series read from each engine's /metrics page.
const (
	MetricRunning         = "vllm:num_requests_running"
	MetricWaiting         = "vllm:num_requests_waiting"
	MetricKVCacheUsage    = "vllm:kv_cache_usage_perc"
	MetricPrefixHits      = "vllm:prefix_cache_hits_total"
	MetricPrefixQueries   = "vllm:prefix_cache_queries_total"
	MetricITLBucket       = "vllm:inter_token_latency_seconds_bucket"
	MetricPromptTokens    = "vllm:prompt_tokens_total"
	MetricGenerationToken = "vllm:generation_tokens_total"
)

// kvCacheUsage re-exports the busiest engine's KV-cache usage for the gateway's own dashboard.
var kvCacheUsage = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm:gpu_cache_usage_perc", Help: "Highest GPU KV-cache usage among the engines."})

func init() {
	prometheus.MustRegister(kvCacheUsage)
}

// EngineLoad is the gateway's view of one engine after a scrape.
type EngineLoad struct {
	Running      float64
	Waiting      float64
	KVCacheUsage float64
}

// FromScrape picks the load signals out of a parsed scrape (series name -> summed value).
func FromScrape(samples map[string]float64) EngineLoad {
	return EngineLoad{
		Running:      samples[MetricRunning],
		Waiting:      samples[MetricWaiting],
		KVCacheUsage: samples[MetricKVCacheUsage],
	}
}
