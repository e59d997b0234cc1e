resource "datadog_monitor" "vllm_recompute_spike" {
  name    = "vLLM recomputed prompt tokens spiking"
  type    = "query alert"
  query   = "sum(last_10m):sum:prompt_tokens_recomputed.count{service:vllm}.as_rate() > 500"
  message = "Prefix cache is recomputing many tokens. @slack-inference-oncall"
}
