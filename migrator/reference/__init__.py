"""Embedded reference for vLLM's prompt-token metrics (what was removed in v0.20.0 and why).

Linters import name recognition from here; the verifier and fixtures use the
simulation, so every part of the migrator shares one model of vLLM.
"""

# Everything loads on first attribute access (PEP 562): the catalogue when a rule asks for it,
# render and simulate only for `reference`, `verify` and the oracle, exposition (prometheus_client)
# only for fixtures and `verify`.
_LAZY = {
    **dict.fromkeys(
        ("REMOVED_METRIC", "SURVIVING_PROMPT_METRICS", "CANONICAL_NAME", "Catalogue", "Change", "ChangeKind",
         "MetricDef", "RemovedMetric", "Status", "catalogue"),
        "catalogue",
    ),
    **dict.fromkeys(
        ("ALL_SOURCES", "Counts", "LegacyCounts", "LegacyPromptTokenStats", "PrefillStats", "PromptTokenStats"),
        "stats",
    ),
    "reference_json": "render",
    "reference_text": "render",
    **dict.fromkeys(
        ("CANONICAL_CASES", "ERAS", "CanonicalCase", "LabelKey", "Request", "Sample", "counter_samples",
         "random_workload", "simulate_era_a", "simulate_era_c", "standard_workloads"),
        "simulate",
    ),
    **dict.fromkeys(("FIXED_CREATED_TIMESTAMP", "exposition_text"), "exposition"),
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
    "REMOVED_METRIC",
    "SURVIVING_PROMPT_METRICS",
    "CanonicalCase",
    "Catalogue",
    "Change",
    "ChangeKind",
    "Counts",
    "LabelKey",
    "LegacyCounts",
    "LegacyPromptTokenStats",
    "MetricDef",
    "PrefillStats",
    "PromptTokenStats",
    "RemovedMetric",
    "Request",
    "Sample",
    "Status",
    "catalogue",
    "counter_samples",
    "exposition_text",
    "random_workload",
    "reference_json",
    "reference_text",
    "simulate_era_a",
    "simulate_era_c",
    "standard_workloads",
]
