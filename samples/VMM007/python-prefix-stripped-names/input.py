"""Exports a daily CSV of vLLM counters; names are kept without their prefix for the columns."""

import csv

from prom_client import instant

COUNTERS = ("prompt_tokens", "prompt_tokens_cached", "prompt_tokens_recomputed")


def export(path: str, model: str) -> None:
    row = {}
    for name in COUNTERS:
        row[name] = instant(f'sum(increase(vllm:{name}_total{{model_name="{model}"}}[1d]))')
    with open(path, "a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=COUNTERS).writerow(row)
