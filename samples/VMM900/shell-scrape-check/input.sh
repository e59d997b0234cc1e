#!/usr/bin/env bash
# Smoke test run after every deploy: the engine must expose the prefix-cache counters.
set -euo pipefail
endpoint="${1:-http://localhost:8000/metrics}"
body=$(curl -fsS "$endpoint")
for metric in vllm:prompt_tokens_cached_total vllm_prompt_tokens_recomputed_total; do
  grep -q "^${metric}" <<<"$body" || { echo "missing ${metric}" >&2; exit 1; }
done
