"""Tests for migrator.reference: the executable model of vLLM's prompt-token metrics.

Expected numbers are literals from the facts table (the spec), never recomputed
from the code under test.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from migrator.reference import (
    ALL_SOURCES,
    CANONICAL_CASES,
    REMOVED_METRIC,
    SURVIVING_PROMPT_METRICS,
    LegacyPromptTokenStats,
    PrefillStats,
    PromptTokenStats,
    Request,
    counter_samples,
    exposition_text,
    random_workload,
    reference_json,
    reference_text,
    simulate_era_a,
    simulate_era_c,
    standard_workloads,
)
from migrator.reference.catalogue import ChangeKind, Status, catalogue
from migrator.reference.spellings import bytes_mention, classify, find_bare, find_names, regex_matches

FLAGSHIP = "vllm:prompt_tokens_recomputed"
STEM = "prompt_tokens_recomputed"


def classify_removed(name, extras=()):  # type: ignore[no-untyped-def]
    """The hit when `name` is wholly a prefixed spelling of the removed counter."""
    hit = classify(name, extras)
    if hit is None or not any(c.metric.name == FLAGSHIP for c in hit.candidates):
        return None
    return hit


def removed_hits(text, extras=()):  # type: ignore[no-untyped-def]
    return [h for h in find_names(text, extras) if any(c.metric.name == FLAGSHIP for c in h.candidates)]

FAST = settings(max_examples=60, deadline=None, database=None)

# (era-a inputs, era-a computed/local/external/cached/recomputed,
#  era-c inputs, era-c computed/local/external/cached) - copied from the facts table.
SPEC = {
    1: ((0, 0, 1000), (1000, 0, 0, 0, 0), (1000, 0, 0), (1000, 0, 0, 0)),
    2: ((300, 0, 1000), (700, 300, 0, 300, 0), (1000, 300, 0), (700, 300, 0, 300)),
    3: ((500, 500, 1000), (500, 0, 500, 500, 0), (1000, 0, 500), (500, 0, 500, 500)),
    4: ((600, 200, 1000), (400, 400, 200, 600, 0), (1000, 400, 200), (400, 400, 200, 600)),
    5: ((999, 0, 1000), (1, 1000, 0, 999, 1), (1000, 999, 0), (1, 999, 0, 999)),
    6: ((999, 1000, 1000), (1, 0, 1000, 999, 1), (1000, 0, 999), (1, 0, 999, 999)),
}


def _a_tuple(s: LegacyPromptTokenStats) -> tuple[int, ...]:
    return (s.computed, s.local_cache_hit, s.external_kv_transfer, s.cached_tokens,
            s.recomputed_tokens)


def _c_tuple(s: PromptTokenStats) -> tuple[int, ...]:
    return (s.computed, s.local_cache_hit, s.external_kv_transfer, s.cached_tokens)


# ------------------------------------------------------------ canonical cases


@pytest.mark.parametrize("number", sorted(SPEC))
def test_era_a_canonical_case(number: int) -> None:
    a_in, a_out, _, _ = SPEC[number]
    for clamp in (False, True):
        stats = LegacyPromptTokenStats(clamp_local=clamp)
        stats.update_from_output(*a_in)
        assert _a_tuple(stats) == a_out
        assert stats.total == 1000


@pytest.mark.parametrize("number", sorted(SPEC))
def test_era_c_canonical_case(number: int) -> None:
    _, _, c_in, c_out = SPEC[number]
    prefill = PrefillStats()
    prefill.set(*c_in)
    stats = PromptTokenStats()
    stats.update_from_output(prefill)
    assert _c_tuple(stats) == c_out
    assert stats.total == 1000


@pytest.mark.parametrize("case", CANONICAL_CASES, ids=lambda c: c.name)
def test_canonical_case_data_and_request_mapping(case) -> None:
    a_in, a_out, c_in, c_out = SPEC[case.number]
    assert case.era_a_inputs == a_in
    assert case.era_c_inputs == c_in
    assert case.request.to_era_a_inputs() == a_in
    assert case.request.to_era_c_inputs() == c_in
    assert _a_tuple(simulate_era_a([case.request])) == a_out
    assert _c_tuple(simulate_era_c([case.request])) == c_out
    assert case.era_a_expected.as_dict() == dict(
        zip(("computed", "local_cache_hit", "external_kv_transfer", "cached_tokens",
             "recomputed_tokens"), a_out), total=1000)
    assert case.era_c_expected.as_dict() == dict(
        zip(("computed", "local_cache_hit", "external_kv_transfer", "cached_tokens"), c_out),
        total=1000)


def test_six_cases_exactly() -> None:
    assert [c.number for c in CANONICAL_CASES] == [1, 2, 3, 4, 5, 6]


def test_pd_full_external_cold_decode() -> None:
    r = Request(1000, 0, 1000)
    assert r.to_era_c_inputs(pd_full_external=True) == (1000, 0, 1000)
    s = simulate_era_c([r], pd_full_external=True)
    assert (s.computed, s.external_kv_transfer, s.cached_tokens) == (0, 1000, 1000)


# ------------------------------------------------------------ invariants

requests_st = st.integers(1, 5000).flatmap(
    lambda p: st.integers(0, p).flatmap(
        lambda local: st.integers(0, p - local).map(lambda ext: Request(p, local, ext))
    )
)
# Bias towards full and near-full hits, where the eras differ.
full_st = st.integers(1, 5000).flatmap(
    lambda p: st.integers(0, p).flatmap(
        lambda local: st.sampled_from([p - local, max(0, p - local - 1)]).map(
            lambda ext: Request(p, local, ext)
        )
    )
)
workload_st = st.lists(st.one_of(requests_st, full_st), max_size=30)


@FAST
@given(workload_st)
def test_era_a_invariants(reqs: list[Request]) -> None:
    s = simulate_era_a(reqs)
    assert s.computed + s.local_cache_hit + s.external_kv_transfer - s.recomputed_tokens == s.total
    assert s.local_cache_hit + s.external_kv_transfer - s.recomputed_tokens == s.cached_tokens
    assert s.total == sum(r.prompt_len for r in reqs)


@FAST
@given(workload_st)
def test_era_c_invariants(reqs: list[Request]) -> None:
    s = simulate_era_c(reqs)
    assert s.computed + s.local_cache_hit + s.external_kv_transfer == s.total
    assert s.local_cache_hit + s.external_kv_transfer == s.cached_tokens
    assert min(s.computed, s.local_cache_hit, s.external_kv_transfer) >= 0


@FAST
@given(workload_st)
def test_cross_era_identities(reqs: list[Request]) -> None:
    a, c = simulate_era_a(reqs), simulate_era_c(reqs)
    a_cached = a.local_cache_hit + a.external_kv_transfer - a.recomputed_tokens
    assert a_cached == c.local_cache_hit + c.external_kv_transfer == a.cached_tokens == c.cached_tokens
    assert a.total == c.total
    assert a.computed == c.computed


def test_invariants_on_random_workload_helper() -> None:
    reqs = random_workload(random.Random(7), 500)
    a, c = simulate_era_a(reqs), simulate_era_c(reqs)
    assert a.computed + a.local_cache_hit + a.external_kv_transfer - a.recomputed_tokens == a.total
    assert c.computed + c.local_cache_hit + c.external_kv_transfer == c.total
    assert a.cached_tokens == c.cached_tokens
    # The mix must actually exercise the full-hit path.
    assert a.recomputed_tokens > 0
    assert random_workload(random.Random(7), 20) == random_workload(random.Random(7), 20)


def test_clamp_local_only_changes_negative_increments() -> None:
    # An impossible-in-practice input (external > cached + recomputed) shows the clamp.
    plain, clamped = LegacyPromptTokenStats(), LegacyPromptTokenStats(clamp_local=True)
    plain.update_from_output(500, 700, 1000)
    clamped.update_from_output(500, 700, 1000)
    assert plain.local_cache_hit == -200
    assert clamped.local_cache_hit == 0


# ------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "args", [(-1, 0, 10), (0, -1, 10), (0, 0, -1), (11, 0, 10), (0, 11, 10), (1.0, 0, 10)]
)
def test_legacy_validation(args) -> None:
    with pytest.raises(ValueError):
        LegacyPromptTokenStats().update_from_output(*args)


def test_prefill_validation_messages_name_values() -> None:
    with pytest.raises(ValueError, match="num_local_cached_tokens"):
        PrefillStats().set(100, -1, 0)
    with pytest.raises(ValueError, match=r"60.*50.*110.*100"):
        PrefillStats().set(100, 60, 50)
    with pytest.raises(ValueError, match="num_prompt_tokens"):
        PrefillStats().set(-5, 0, 0)


def test_prefill_set_computes_derived_fields() -> None:
    p = PrefillStats()
    p.set(1000, 400, 200)
    assert (p.num_cached_tokens, p.num_computed_tokens) == (600, 400)


@pytest.mark.parametrize("args", [(10, 6, 5), (0, 0, 0), (10, -1, 0), (10, 0, True)])
def test_request_validation(args) -> None:
    with pytest.raises(ValueError):
        Request(*args)


def test_get_by_source() -> None:
    c = simulate_era_c([Request(1000, 400, 200)])
    a = simulate_era_a([Request(1000, 400, 200)])
    assert [c.get_by_source(s) for s in ALL_SOURCES] == [400, 400, 200]
    assert [a.get_by_source(s) for s in ALL_SOURCES] == [400, 400, 200]
    for stats in (a, c):
        with pytest.raises(ValueError, match="recomputed"):
            stats.get_by_source("recomputed")


# ------------------------------------------------------------ name recognition

PREFIXED = [
    ("vllm:prompt_tokens_recomputed", ""),
    ("vllm:prompt_tokens_recomputed_total", "_total"),
    ("vllm:prompt_tokens_recomputed_created", "_created"),
    ("vllm_prompt_tokens_recomputed", ""),
    ("vllm_prompt_tokens_recomputed_total", "_total"),
    ("ray_vllm_prompt_tokens_recomputed_total", "_total"),
    ("ray_vllm:prompt_tokens_recomputed_total", "_total"),
    ("vllm.prompt_tokens_recomputed", ""),
]
BARE = [
    ("prompt_tokens_recomputed", ""),
    ("prompt_tokens_recomputed_total", "_total"),
    ("prompt_tokens_recomputed_created", "_created"),
    ("prompt_tokens_recomputed.count", ".count"),
]
LOOKALIKES = [
    "modelplane_tokens_recomputed_total",
    "vllm:recomputed_token_executions_total",
    "my_prompt_tokens_recomputed_ratio",
    "prompt_tokens_recomputed_ratio",
    "vllm:prompt_tokens_recomputed_totals",
    "vllm:prompt_tokens_recomputed_total_rate",
    "xvllm:prompt_tokens_recomputed",
    "myteam_vllm:prompt_tokens_recomputed_total",  # unless myteam_ is configured
    "vllm:prompt_tokens_cached_total",
    "recomputed_tokens",
    "Prompt_Tokens_Recomputed",
]


@pytest.mark.parametrize("name,suffix", PREFIXED)
def test_classify_prefixed(name: str, suffix: str) -> None:
    m = classify_removed(name)
    assert m is not None and m.text == name
    assert m.stem == STEM + suffix


@pytest.mark.parametrize("name,suffix", BARE)
def test_bare_names(name: str, suffix: str) -> None:
    assert classify_removed(name) is None
    assert [t for _, _, t in find_bare(name, STEM)] == [name]


@pytest.mark.parametrize("name", LOOKALIKES)
def test_classify_lookalikes(name: str) -> None:
    assert classify_removed(name) is None
    assert removed_hits(name) == []


def test_extra_prefixes() -> None:
    name = "myteam_vllm:prompt_tokens_recomputed_total"
    m = classify_removed(name, ("myteam_",))
    assert m is not None and m.prefix == "myteam_vllm:"
    m = classify_removed("myteam_ray_vllm_prompt_tokens_recomputed", ("myteam_", "other:"))
    assert m is not None and m.stem == STEM
    # An extra prefix alone is not a vLLM prefix.
    assert classify_removed("myteam_prompt_tokens_recomputed", ("myteam_",)) is None
    (tm,) = removed_hits(f"rate({name}[5m])", ("myteam_",))
    assert tm.text == name
    with pytest.raises(ValueError):
        classify("vllm:prompt_tokens_recomputed", ("bad prefix",))


def test_find_in_promql_regex_matcher() -> None:
    text = 'foo{__name__=~"vllm:prompt_tokens_recomputed(_total)?"}'
    (m,) = removed_hits(text)
    assert m.text == "vllm:prompt_tokens_recomputed"
    assert text[m.start:m.end] == m.text


@pytest.mark.parametrize(
    "text,prefixed,bare",
    [
        ("x.prompt_tokens_recomputed", [], ["prompt_tokens_recomputed"]),
        ("modelplane_tokens_recomputed_total", [], []),
        ("my_prompt_tokens_recomputed_ratio", [], []),
        ("vllm_prompt_tokens_recomputed_total", ["vllm_prompt_tokens_recomputed_total"], []),
        ("ray_vllm:prompt_tokens_recomputed_total", ["ray_vllm:prompt_tokens_recomputed_total"], []),
        ("sum(rate(vllm:prompt_tokens_recomputed_total{model_name=\"m\"}[5m])) / "
         "sum(rate(vllm:prompt_tokens_total[5m]))", ["vllm:prompt_tokens_recomputed_total"], []),
        ('{"expr": "rate(vllm:prompt_tokens_recomputed_total[1m]) \\u003e 0"}',
         ["vllm:prompt_tokens_recomputed_total"], []),
        ('"a\\nvllm:prompt_tokens_recomputed\\n"', ["vllm:prompt_tokens_recomputed"], []),
        ("See `vllm:prompt_tokens_recomputed`.", ["vllm:prompt_tokens_recomputed"], []),
        ("otel: vllm.prompt_tokens_recomputed and dd: prompt_tokens_recomputed.count",
         ["vllm.prompt_tokens_recomputed"], ["prompt_tokens_recomputed.count"]),
        ("vllm:recomputed_token_executions_total", [], []),
    ],
)
def test_find_removed_names(text: str, prefixed, bare) -> None:  # type: ignore[no-untyped-def]
    found = removed_hits(text)
    assert [m.text for m in found] == prefixed
    for m in found:
        assert text[m.start:m.end] == m.text
    assert [t for _, _, t in find_bare(text, STEM)] == bare


_FRAGMENTS = ["vllm", ":", "_", ".", "ray_", "prompt_tokens_recomputed", "_total", "_created",
              ".count", "x", " ", "\\n", "\\u003e", "myteam_", "(", "\\", "n", "count"]


@FAST
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join),
       st.sampled_from([(), ("myteam_",)]))
def test_every_hit_is_a_whole_name(text: str, extras: tuple[str, ...]) -> None:
    # What the scanner finds in a text is a name on its own too, and nothing overlaps.
    end = 0
    for m in find_names(text, extras):
        assert m.start >= end
        end = m.end
        assert text[m.start:m.end] == m.text
        again = classify(m.text, extras)
        assert again is not None and again.stem == m.stem


def test_prefilter_sees_every_spelling() -> None:
    for name, _ in PREFIXED:
        assert bytes_mention(name.encode()), name


@pytest.mark.parametrize(
    "pattern,expected",
    [
        ("vllm:prompt_tokens_recomputed(_total)?", True),
        ("vllm:prompt_tokens_.*", True),
        ("vllm:prompt_tokens_cached_total", False),
        ("vllm:prompt_tokens_recomputed", True),
        ("vllm:prompt_tokens_recomputed_tot", False),  # anchored, as Prometheus does
        ("vllm:prompt_tokens_recomputed(", False),  # invalid
        ("vllm_.*recomputed_total", True),
    ],
)
def test_regex_matches_removed(pattern: str, expected: bool) -> None:
    assert any(any(c.metric.name == FLAGSHIP for c in h.candidates) for h in regex_matches(pattern)) is expected


# ------------------------------------------------------------ catalogue


def test_catalogue_metadata() -> None:
    m = REMOVED_METRIC
    assert m.metric.name == "vllm:prompt_tokens_recomputed"
    assert m.metric.type == "counter" and m.metric.labels == ("model_name", "engine")
    assert m.metric.help == "Number of cached tokens recomputed for forward pass."
    assert (m.added_pr, m.added_in, m.last_version, m.removed_in, m.removed_pr) == (
        33290, "0.16.0", "0.19.1", "0.20.0", 38709)
    by_name = {d.name: d for d in SURVIVING_PROMPT_METRICS}
    assert set(by_name) == {
        "vllm:prompt_tokens", "vllm:prompt_tokens_by_source", "vllm:prompt_tokens_cached"}
    assert by_name["vllm:prompt_tokens_cached"].help == (
        "Number of cached prompt tokens (local + external).")
    assert dict(by_name["vllm:prompt_tokens_by_source"].label_values)["source"] == ALL_SOURCES


def _status(name: str):  # type: ignore[no-untyped-def]
    return catalogue().status_of(classify(name).candidates, catalogue().target())


def test_status_and_change_of_names() -> None:
    s = _status("vllm:gpu_cache_usage_perc")
    assert s.status is Status.GONE and s.change.kind is ChangeKind.RENAMED
    assert s.change.replacement.name == "vllm:kv_cache_usage_perc" and s.series.metric.first_release_without == "0.12.0"
    s = _status("vllm:time_per_output_token_seconds_bucket")
    assert s.change.replacement.name == "vllm:inter_token_latency_seconds"
    assert s.series.metric.first_release_without == "0.15.0"
    assert _status("vllm:prompt_tokens_recomputed_total").series.metric.first_release_without == "0.20.0"
    assert _status("vllm_gpu_prefix_cache_hits_total").change.replacement.name == "vllm:prefix_cache_hits"
    assert _status("vllm:iteration_tokens_total_bucket").meaning
    assert _status("vllm:tokens_total").series.metric.first_release_without == "0.8.0"
    assert _status("vllm:kv_cache_usage_perc").status is Status.CURRENT
    assert _status("vllm:prompt_tokens_total").status is Status.CURRENT


# ------------------------------------------------------------ samples / exposition


def test_counter_samples_era_a_and_c() -> None:
    wl = {("m", "0"): [Request(1000, 0, 1000)], ("m", "1"): []}
    a = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in counter_samples("a", wl)}
    c = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in counter_samples("c", wl)}
    lab = (("engine", "0"), ("model_name", "m"))
    assert a[("vllm:prompt_tokens_recomputed_total", lab)] == 1.0
    assert a[("vllm:prompt_tokens_by_source_total", lab + (("source", "external_kv_transfer"),))] == 1000.0
    assert c[("vllm:prompt_tokens_by_source_total", lab + (("source", "external_kv_transfer"),))] == 999.0
    assert a[("vllm:prompt_tokens_cached_total", lab)] == c[("vllm:prompt_tokens_cached_total", lab)] == 999.0
    assert not any(name.startswith("vllm:prompt_tokens_recomputed") for name, _ in c)
    # The idle engine still exposes all three source children at 0.
    idle = (("engine", "1"), ("model_name", "m"))
    for src in ALL_SOURCES:
        assert c[("vllm:prompt_tokens_by_source_total", idle + (("source", src),))] == 0.0
    with pytest.raises(ValueError, match="never released"):
        counter_samples("b", wl)


def test_standard_workloads_deterministic_and_complete() -> None:
    wl = standard_workloads()
    assert wl == standard_workloads()
    singles = [reqs for reqs in wl.values() if len(reqs) == 1]
    assert {r[0] for r in singles} == {c.request for c in CANONICAL_CASES}
    assert len(wl) >= 9 and [] in wl.values()
    a, c = counter_samples("a", wl), counter_samples("c", wl)
    assert len(a) == len(c) + len(wl)


@pytest.mark.parametrize("era", ["a", "c"])
def test_exposition_text_parses(era: str) -> None:
    wl = standard_workloads()
    text = exposition_text(era, wl)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"vllm:prompt_tokens", "vllm:prompt_tokens_by_source",
            "vllm:prompt_tokens_cached"} <= set(families)
    assert ("vllm:prompt_tokens_recomputed" in families) is (era == "a")
    parsed = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values() for s in f.samples if s.name.endswith("_total")
    }
    expected = {(s.name, tuple(sorted(s.labels.items()))): s.value
                for s in counter_samples(era, wl)}
    assert parsed == expected
    assert "_created{" in text
    assert exposition_text(era, wl) == text  # pinned _created keeps fixtures reproducible


# ------------------------------------------------------------ render


def test_reference_json_runs_stats() -> None:
    data = reference_json()
    json.dumps(data)
    by_number = {c["number"]: c for c in data["cases"]}
    for number, (a_in, a_out, c_in, c_out) in SPEC.items():
        case = by_number[number]
        a, c = case["era_a"]["outputs"], case["era_c"]["outputs"]
        assert tuple(case["era_a"]["inputs"].values()) == a_in
        assert tuple(case["era_c"]["inputs"].values()) == c_in
        assert (a["computed"], a["local_cache_hit"], a["external_kv_transfer"],
                a["cached_tokens"], a["recomputed_tokens"]) == a_out
        assert (c["computed"], c["local_cache_hit"], c["external_kv_transfer"],
                c["cached_tokens"]) == c_out
    assert by_number[5]["changed"] == ["local_cache_hit"]
    assert by_number[6]["changed"] == ["external_kv_transfer"]
    assert by_number[1]["changed"] == []
    assert data["eras"]["b"]["released"] is False
    data["eras"]["a"]["formulas"].clear()
    assert reference_json()["eras"]["a"]["formulas"]


def test_reference_text() -> None:
    text = reference_text()
    assert text.index("Era (c)") < text.index("Era (a)")
    assert "1/**1000**/0/999/**1**" in text
    assert "1/0/**999**/999" in text
    assert "vllm:prompt_tokens_recomputed" in text
