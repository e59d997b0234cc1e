"""Nightly capacity report: instant queries against the fleet Prometheus."""

from __future__ import annotations

import requests

SCRAPE_EXPRS = {
    "prompt_tps": 'sum(rate(vllm:prompt_tokens_total{cluster="%(cluster)s"}[1h]))',
    # Tokens the cache actually saved: local + transferred, minus the recomputed last token.
    "cache_saved_tps": (
        'sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[1h]))'
        ' + sum(rate(vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}[1h]))'
    ),
    "recompute_tps": "sum(rate(vllm:prompt_tokens_recomputed_total[1h]))",
}


def run_report(base_url: str, cluster: str) -> dict[str, float]:
    out = {}
    for key, expr in SCRAPE_EXPRS.items():
        resp = requests.get(f"{base_url}/api/v1/query", params={"query": expr % {"cluster": cluster}}, timeout=30)
        resp.raise_for_status()
        result = resp.json()["data"]["result"]
        out[key] = float(result[0]["value"][1]) if result else 0.0
    return out
