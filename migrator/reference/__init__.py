"""Embedded reference for vLLM's prompt-token metrics (what was removed in v0.20.0 and why).

Linters import name recognition from here; the verifier and fixtures use the
simulation, so every part of the migrator shares one model of vLLM.
"""

from .catalogue import (
    CANONICAL_NAME,
    KNOWN_SPELLINGS,
    METRIC_CHANGES,
    PREFILTER_NEEDLE,
    PREFILTER_NEEDLES,
    PROMETHEUS_SPELLINGS,
    REMOVED_METRIC,
    SURVIVING_PROMPT_METRICS,
    VLLM_PREFIXES,
    MetricChange,
    MetricDef,
    NameMatch,
    RemovedMetric,
    TextMatch,
    change_for,
    classify_metric_name,
    find_removed_names,
    regex_matched_spellings,
    regex_matches_removed,
)
from .stats import (
    ALL_SOURCES,
    Counts,
    LegacyCounts,
    LegacyPromptTokenStats,
    PrefillStats,
    PromptTokenStats,
)

# render and simulate pull in prometheus_client; a lint run over files without references must
# not pay for that import, so they load on first attribute access (PEP 562).
_LAZY = {
    "reference_json": "render",
    "reference_text": "render",
    **dict.fromkeys(
        ("CANONICAL_CASES", "ERAS", "FIXED_CREATED_TIMESTAMP", "CanonicalCase", "LabelKey", "Request",
         "Sample", "counter_samples", "exposition_text", "random_workload", "simulate_era_a",
         "simulate_era_c", "standard_workloads"),
        "simulate",
    ),
}


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "ALL_SOURCES",
    "CANONICAL_CASES",
    "CANONICAL_NAME",
    "ERAS",
    "FIXED_CREATED_TIMESTAMP",
    "KNOWN_SPELLINGS",
    "METRIC_CHANGES",
    "PREFILTER_NEEDLE",
    "PREFILTER_NEEDLES",
    "PROMETHEUS_SPELLINGS",
    "REMOVED_METRIC",
    "SURVIVING_PROMPT_METRICS",
    "VLLM_PREFIXES",
    "CanonicalCase",
    "Counts",
    "LabelKey",
    "LegacyCounts",
    "LegacyPromptTokenStats",
    "MetricChange",
    "MetricDef",
    "NameMatch",
    "PrefillStats",
    "PromptTokenStats",
    "RemovedMetric",
    "Request",
    "Sample",
    "TextMatch",
    "change_for",
    "classify_metric_name",
    "counter_samples",
    "exposition_text",
    "find_removed_names",
    "random_workload",
    "reference_json",
    "reference_text",
    "regex_matched_spellings",
    "regex_matches_removed",
    "simulate_era_a",
    "simulate_era_c",
    "standard_workloads",
]
