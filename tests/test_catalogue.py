"""The vLLM metric catalogue: its data agrees with the shared reference, every change is
classified, names resolve in every spelling, and no metric name lives outside it."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from migrator.reference.catalogue import ChangeKind, Status, UnknownRelease, catalogue
from migrator.reference.spellings import bytes_mention, classify, find_bare, find_names, regex_matches, split_prefix

REPO = Path(__file__).resolve().parent.parent
SHARED_TSV = REPO.parent / "shared" / "reference" / "vllm_metric_catalogue.tsv"
CAT = catalogue()


@pytest.mark.skipif(not SHARED_TSV.is_file(), reason="the shared reference folder is not next to this checkout")
def test_shipped_catalogue_is_the_shared_reference():
    shipped = REPO / "migrator" / "reference" / "data" / "vllm_metric_catalogue.tsv"
    assert shipped.read_bytes() == SHARED_TSV.read_bytes()


def test_every_release_in_the_tsv_is_in_the_release_list():
    for metric in CAT.metrics.values():
        for release in (metric.first_version, metric.last_version, metric.hidden_from, metric.deprecated_from,
                        metric.first_release_without):
            assert release is None or release in CAT.releases, (metric.name, release)


def test_every_gone_metric_is_classified_or_keeps_its_series():
    """A metric missing from the newest release either has a migration entry, or every series
    it exposed is still exposed by a current metric (code-name-only changes: never reported)."""
    newest = CAT.target()
    for metric in CAT.metrics.values():
        if metric.last_version is None:
            continue
        if metric.name in CAT.changes:
            continue
        for series in metric.exposed:
            status = CAT.status_of(CAT.lookup(series.split(":", 1)[1]), newest)
            assert status is not None and status.status is Status.CURRENT, (metric.name, series)


def test_every_deprecated_or_hidden_metric_has_a_migration_entry():
    for metric in CAT.metrics.values():
        if metric.deprecated_from or metric.hidden_from:
            assert metric.name in CAT.changes, metric.name


def test_code_name_only_changes_are_never_stale():
    for name in ("prompt_tokens_total", "generation_tokens_total", "request_success_total",
                 "num_preemptions_total", "spec_decode_num_accepted_tokens_total", "cache_config_info"):
        for release in ("0.9", "0.11", None):
            status = CAT.status_of(CAT.lookup(name), CAT.target(release))
            assert status.status is Status.CURRENT, (name, release)


def test_every_name_in_the_migration_table_resolves_to_a_current_metric():
    texts = [c.formula or "" for c in CAT.changes.values()]
    texts += [c.advice for c in CAT.changes.values()]
    texts += list(CAT.flagship.suggestions.values()) + [CAT.flagship.advice, CAT.flagship.absent_advice]
    newest = CAT.target()
    for text in texts:
        for hit in find_names(text):
            status = CAT.status_of(hit.candidates, newest)
            assert status.status in (Status.CURRENT, Status.DEPRECATED), (hit.text, text)
        # `vllm:kv_offload_*` is a wildcard in prose, not a name.
        for raw in re.findall(r"`(vllm:[a-z_]+)`", text):
            assert classify(raw) is not None, raw


def test_renames_keep_every_suffix():
    for change in CAT.changes.values():
        if change.kind is not ChangeKind.RENAMED:
            continue
        for exposed in change.metric.exposed:
            series = next(s for s in CAT.lookup(exposed.split(":", 1)[1]) if s.metric is change.metric)
            new = CAT.renamed_series(series, change)
            assert new is not None and new.metric is change.replacement, exposed
            assert new.suffix == series.suffix


@pytest.mark.parametrize(
    ("given", "release"),
    [("0.11", "0.11.2"), ("0.19", "0.19.1"), ("0.20.0", "0.20.0"), ("v0.9", "0.9.2"), (None, "0.33.0")],
)
def test_target_versions(given, release):
    assert CAT.target(given).release == release


def test_unknown_target_version():
    with pytest.raises(UnknownRelease, match="0.99"):
        CAT.target("0.99")


def _status(name, target):
    return CAT.status_of(CAT.lookup(name), CAT.target(target)).status


def test_statuses_across_targets():
    assert _status("gpu_cache_usage_perc", "0.19") is Status.GONE
    assert _status("prompt_tokens_recomputed_total", "0.19") is Status.CURRENT
    assert _status("gpu_cache_usage_perc", "0.11") is Status.HIDDEN
    assert _status("gpu_cache_usage_perc", "0.10") is Status.DEPRECATED
    assert _status("gpu_cache_usage_perc", None) is Status.GONE
    assert _status("prompt_tokens_recomputed_total", None) is Status.GONE
    assert _status("kv_cache_usage_perc", "0.9.0") is Status.NOT_YET
    assert _status("kv_cache_usage_perc", "0.9") is Status.CURRENT


# --------------------------------------------------------------------------- spellings


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("vllm:gpu_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        ("vllm_gpu_cache_usage_perc", "vllm_gpu_cache_usage_perc"),
        ("ray_vllm:gpu_cache_usage_perc{{{global_filters}}}", "ray_vllm:gpu_cache_usage_perc"),
        ("ray_vllm_time_per_output_token_seconds_bucket", "ray_vllm_time_per_output_token_seconds_bucket"),
        ("vllm.prompt_tokens_recomputed", "vllm.prompt_tokens_recomputed"),
        ("sum:vllm.prompt_tokens_recomputed.count{*}", "vllm.prompt_tokens_recomputed.count"),
        ('metric.type="prometheus.googleapis.com/vllm:gpu_cache_usage_perc/gauge"', "vllm:gpu_cache_usage_perc"),
        ("prometheus.googleapis.com|vllm:gpu_cache_usage_perc|gauge", "vllm:gpu_cache_usage_perc"),
        ('{__name__="vllm:gpu_prefix_cache_hits_total"}', "vllm:gpu_prefix_cache_hits_total"),
        ('startswith("vllm:time_per_output_token_seconds_sum{")', "vllm:time_per_output_token_seconds_sum"),
        ("\\nvllm:gpu_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    ],
)
def test_spellings_are_found(text, found):
    assert [h.text for h in find_names(text)] == [found]


@pytest.mark.parametrize(
    "text",
    [
        "vllm:request_time_per_output_token_seconds_bucket",
        "normalized_time_per_output_token_seconds",
        "dynamo_component_kvstats_gpu_cache_usage_percent",
        "sglang:gpu_cache_usage_perc",
        "trtllm_gpu_cache_usage_perc",
        "gpu_cache_usage_perc",
        "vllm.gpu.cache.usage.perc",
        "image: vllm/vllm-openai:latest",
        "vllm:latest",
        "markers = vllm: tests that need a GPU",
        "vllm:gpu_cache_usage_perc:avg5m",
        "my_vllm_gpu_cache_usage_perc",
    ],
)
def test_lookalikes_never_match(text):
    newest = CAT.target()
    stale = [h.text for h in find_names(text) if CAT.status_of(h.candidates, newest).status is not Status.CURRENT]
    assert not stale


def test_extra_prefixes():
    assert [h.prefix for h in find_names("myteam_vllm:gpu_cache_usage_perc", ("myteam_",))] == ["myteam_vllm:"]
    assert [h.prefix for h in find_names("myteam_vllm:gpu_cache_usage_perc")] == []


def test_respelled_keeps_the_form():
    hit = classify("ray_vllm_time_per_output_token_seconds_bucket")
    change = CAT.changes["vllm:time_per_output_token_seconds"]
    new = CAT.renamed_series(hit.candidates[0], change)
    assert hit.respelled(new) == "ray_vllm_inter_token_latency_seconds_bucket"


def test_bare_flagship_name():
    text = "x.prompt_tokens_recomputed vllm:prompt_tokens_recomputed vllm.prompt_tokens_recomputed sum:prompt_tokens_recomputed.count"
    found = [t for _, _, t in find_bare(text, CAT.flagship.removed.stem)]
    assert found == ["prompt_tokens_recomputed", "prompt_tokens_recomputed.count"]


def test_regex_matches():
    names = {h.text for h in regex_matches("vllm:prompt_tokens_(cached|recomputed)_total")}
    assert names == {"vllm:prompt_tokens_cached_total", "vllm:prompt_tokens_recomputed_total"}
    assert regex_matches("vllm:(") == ()


def test_split_prefix_sees_unknown_names():
    assert split_prefix("vllm:current_qps") == ("vllm:", "current_qps")
    assert split_prefix("up") is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"import vllm.engine\nfrom vllm_config import x", False),
        (b"image: vllm/vllm-openai:latest", False),
        (b'expr: rate(vllm:anything[5m])', True),
        (b"vllm_gpu_cache_usage_perc", True),
        (b"vllm.prompt_tokens_recomputed.count", True),
        (b"nothing here", False),
        # Current, unchanged series cannot hold a finding: a dashboard of them is not read.
        (b'sum(vllm:num_requests_running) / sum(rate(vllm:prompt_tokens_total[5m]))', False),
        (b"rate(vllm:prompt_tokens[5m])", True),  # a family name: VMM014
        (b'vllm:prompt_tokens_by_source_total{source="local_cache_hit"}', True),  # meaning changed (VMM201)
        # Name regexes select names no plain run spells: the parser decides.
        (b'count({__name__=~"vllm:(gpu|time)_.*"})', True),
        (b'{__name__=~"vllm:[a-z_]+"}', True),
        (b'{__name__=~"vllm:num_requests_running.*"}', True),
        (b'{__name__=~"vllm_(gpu|time)_.*"}', True),
        # A range or matchers after a current name do not widen it.
        (b'rate(vllm:prompt_tokens_total[5m]) + vllm:num_requests_running{pod="a"}', False),
    ],
)
def test_prefilter_bytes(data, expected):
    assert bytes_mention(data) is expected


def test_prefilter_follows_the_target():
    assert bytes_mention(b"vllm:gpu_cache_usage_perc", CAT.target("0.9.0")) is False  # current there
    assert bytes_mention(b"vllm:gpu_cache_usage_perc", CAT.target("0.11")) is True  # hidden there
    assert bytes_mention(b"vllm:kv_cache_usage_perc", CAT.target("0.9.0")) is True  # not yet there


# --------------------------------------------------------------------------- one source


def _code_strings_and_comments(path: Path):
    """String literals that are not docstrings, and comments: what code says, not its docs."""
    source = path.read_text(encoding="utf-8")
    previous = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string
        elif tok.type == tokenize.STRING:
            docstring = previous in (None, tokenize.INDENT, tokenize.NEWLINE, tokenize.DEDENT)
            if not docstring:
                yield tok.start[0], tok.string
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            previous = tok.type


def test_no_vllm_metric_name_outside_the_catalogue():
    # Multi-word stems only: `tokens` (from `vllm:tokens_total`) is also an English word.
    stems = sorted((s for s in CAT.by_stem if "_" in s), key=len, reverse=True)
    bare = re.compile(r"(?<![A-Za-z0-9_])(?:" + "|".join(map(re.escape, stems)) + r")(?![A-Za-z0-9_])")
    allowed = {REPO / "migrator" / "reference" / "catalogue.py"}
    offenders = []
    for folder in ("migrator", "rules"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path in allowed:
                continue
            for line, text in _code_strings_and_comments(path):
                names = [h.text for h in find_names(text)]
                # Bare stems of changed metrics too (`gpu_cache_usage_perc` in a needle list).
                changed = [m.group() for m in bare.finditer(text) if CAT.lookup(m.group())
                           and any(s.metric.name in CAT.changes for s in CAT.lookup(m.group()))]
                if names or changed:
                    offenders.append(f"{path.relative_to(REPO)}:{line}: {names or changed}")
    assert not offenders, "metric names outside the catalogue:\n" + "\n".join(offenders)
