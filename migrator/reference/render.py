"""Render the embedded reference for the CLI (JSON for tools, text for people).

Case outputs are produced by running the stats classes at render time, so the
page can never drift from the model the linters and the oracle use.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from .catalogue import REMOVED_METRIC, SURVIVING_PROMPT_METRICS, MetricDef
from .simulate import CANONICAL_CASES, CanonicalCase
from .stats import Counts, LegacyCounts, LegacyPromptTokenStats, PrefillStats, PromptTokenStats

_ERA_A: Final[dict[str, Any]] = {
    "versions": "0.16.0 - 0.19.1",
    "inputs": ["num_cached_tokens", "num_external_computed_tokens", "prompt_len"],
    "formulas": [
        "recomputed = 1 if num_cached_tokens + 1 == prompt_len else 0",
        "computed += prompt_len - num_cached_tokens",
        "external_kv_transfer += num_external_computed_tokens",
        "local_cache_hit += num_cached_tokens + recomputed - num_external_computed_tokens",
        "cached_tokens += num_cached_tokens",
        "recomputed_tokens += recomputed",
        "total += prompt_len",
    ],
    "invariants": [
        "computed + local_cache_hit + external_kv_transfer - recomputed_tokens == total",
        "local_cache_hit + external_kv_transfer - recomputed_tokens == cached_tokens",
    ],
    "notes": [
        "v0.19.0 and v0.19.1 wrap the local_cache_hit increment in max(0, ...).",
        "On a full hit the scheduler recomputes the last token for logits and reports "
        "N-1 cached tokens; the legacy formula adds that token back to local_cache_hit.",
    ],
}

_ERA_B: Final[dict[str, Any]] = {
    "released": False,
    "notes": [
        "on vLLM main for about two days only, the recomputed term was deleted "
        "(local_cache_hit += num_cached_tokens - num_external_computed_tokens).",
    ],
}

_ERA_C: Final[dict[str, Any]] = {
    "versions": "0.20.0+",
    "inputs": ["num_prompt_tokens", "num_local_cached_tokens", "num_external_cached_tokens"],
    "formulas": [
        "num_cached_tokens = num_local_cached_tokens + num_external_cached_tokens  (<= prompt)",
        "num_computed_tokens = num_prompt_tokens - num_cached_tokens",
        "computed += num_computed_tokens",
        "local_cache_hit += num_local_cached_tokens",
        "external_kv_transfer += num_external_cached_tokens",
        "cached_tokens += num_cached_tokens",
        "total += num_prompt_tokens",
    ],
    "invariants": [
        "computed + local_cache_hit + external_kv_transfer == total",
        "local_cache_hit + external_kv_transfer == cached_tokens",
    ],
    "notes": [
        f"No recomputed field: {REMOVED_METRIC.metric.name} is gone.",
        "On full hits local_cache_hit / external_kv_transfer now count N-1 (tokens actually used).",
        "Cold NIXL decode (P/D): external_kv_transfer is the full prompt and local_compute is 0 "
        "(the N-1 trim happens after PrefillStats is set; vLLM PR #39808).",
    ],
}

_USER_IMPACT: Final[tuple[str, ...]] = (
    "local + external - recomputed (v0.16-v0.19) equals local + external (v0.20+): "
    "both are prompt_tokens_cached, which did not change.",
    "cached + recomputed (v0.16-v0.19) is one token per fully-cached request larger than "
    "cached (v0.20+).",
)


def _run_a(case: CanonicalCase) -> LegacyCounts:
    stats = LegacyPromptTokenStats()
    stats.update_from_output(*case.era_a_inputs)
    return stats.counts()


def _run_c(case: CanonicalCase) -> Counts:
    prefill = PrefillStats()
    prefill.set(*case.era_c_inputs)
    stats = PromptTokenStats()
    stats.update_from_output(prefill)
    return stats.counts()


def _changed(a: LegacyCounts, c: Counts) -> list[str]:
    shared = c.as_dict()
    return [k for k, v in a.as_dict().items() if k in shared and shared[k] != v]


def _metric_json(m: MetricDef) -> dict[str, Any]:
    return {
        "name": m.name,
        "type": m.type,
        "labels": list(m.labels),
        "help": m.help,
        "label_values": {k: list(v) for k, v in m.label_values},
    }


def reference_json() -> dict[str, Any]:
    cases = []
    for case in CANONICAL_CASES:
        a, c = _run_a(case), _run_c(case)
        cases.append(
            {
                "number": case.number,
                "name": case.name,
                "request": {
                    "prompt_len": case.request.prompt_len,
                    "local_hit": case.request.local_hit,
                    "external_hit": case.request.external_hit,
                },
                "era_a": {
                    "inputs": dict(zip(_ERA_A["inputs"], case.era_a_inputs)),
                    "outputs": a.as_dict(),
                },
                "era_c": {
                    "inputs": dict(zip(_ERA_C["inputs"], case.era_c_inputs)),
                    "outputs": c.as_dict(),
                },
                "changed": _changed(a, c),
            }
        )
    r = REMOVED_METRIC
    return {
        "removed_metric": {
            **_metric_json(r.metric),
            "added_pr": r.added_pr,
            "added_in": r.added_in,
            "last_version": r.last_version,
            "removed_in": r.removed_in,
            "removed_pr": r.removed_pr,
            "removed_pr_merged": r.removed_pr_merged,
            "reason": r.reason,
        },
        "surviving_metrics": [_metric_json(m) for m in SURVIVING_PROMPT_METRICS],
        # Deep copy: callers may mutate the result; the module tables must not change.
        "eras": copy.deepcopy({"a": _ERA_A, "b": _ERA_B, "c": _ERA_C}),
        "cases": cases,
        "user_impact": list(_USER_IMPACT),
    }


def _cell(value: int, highlight: bool) -> str:
    return f"**{value}**" if highlight else str(value)


def _case_table() -> list[str]:
    header = (
        "| case | a: in (cached, external, prompt) | a: computed/local/external/cached/recomputed "
        "| c: in (prompt, local, external) | c: computed/local/external/cached |"
    )
    rows = [header, "|---|---|---|---|---|"]
    for case in CANONICAL_CASES:
        a, c = _run_a(case), _run_c(case)
        changed = set(_changed(a, c))
        a_cells = [
            _cell(getattr(a, f), f in changed)
            for f in ("computed", "local_cache_hit", "external_kv_transfer", "cached_tokens")
        ]
        # A non-zero recomputed is exactly the series that disappears in v0.20.
        a_cells.append(_cell(a.recomputed_tokens, a.recomputed_tokens != 0))
        c_cells = [
            _cell(getattr(c, f), f in changed)
            for f in ("computed", "local_cache_hit", "external_kv_transfer", "cached_tokens")
        ]
        rows.append(
            f"| {case.number} {case.name} | {case.era_a_inputs} | {'/'.join(a_cells)} "
            f"| {case.era_c_inputs} | {'/'.join(c_cells)} |"
        )
    return rows


def reference_text() -> str:
    r = REMOVED_METRIC
    lines = [
        f"{r.metric.name} ({r.metric.type}; labels {', '.join(r.metric.labels)})",
        f"  added in v{r.added_in} (PR #{r.added_pr}), last in v{r.last_version}, "
        f"removed in v{r.removed_in} (PR #{r.removed_pr}, merged {r.removed_pr_merged})",
        f"  {r.reason}",
        "",
        f"Era (c) - current definitions, v{_ERA_C['versions']}",
    ]
    for key in ("formulas", "invariants", "notes"):
        lines += [f"  {key}:"] + [f"    {x}" for x in _ERA_C[key]]
    lines += ["", f"Era (a) - legacy definitions, v{_ERA_A['versions']}"]
    for key in ("formulas", "invariants", "notes"):
        lines += [f"  {key}:"] + [f"    {x}" for x in _ERA_A[key]]
    lines += ["", "Era (b) (never released): " + _ERA_B["notes"][0], ""]
    lines += ["Canonical cases (total = 1000 in every row; **x** = differs between eras or"
              " is a recomputed token)", ""]
    lines += _case_table()
    lines += ["", "What changed for users:"] + [f"  - {x}" for x in _USER_IMPACT]
    lines += ["", "Still shipping:"]
    lines += [f"  {m.name} ({m.type}): {m.help}" for m in SURVIVING_PROMPT_METRICS]
    return "\n".join(lines) + "\n"
