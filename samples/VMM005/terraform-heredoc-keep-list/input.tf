resource "helm_release" "scrape" {
  name = "vllm-scrape"
  values = [<<-YAML
    keep:
      - vllm:num_requests_running
      - vllm:prompt_tokens_recomputed_total
      - vllm:kv_cache_usage_perc
    YAML
  ]
}
