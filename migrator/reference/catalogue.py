"""The metric catalogue as data, plus recognition of the removed metric's spellings.

Everything a linter needs to decide "is this token the removed metric?" lives
here so that every scanner (Python, PromQL, YAML, JSON, Markdown) agrees on the
same boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Iterable, Iterator

from .stats import ALL_SOURCES

# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class MetricDef:
    """A metric as vLLM declares it (base name, before prometheus_client adds ``_total``)."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str
    # Extra label -> allowed values, e.g. source -> ALL_SOURCES.
    label_values: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class RemovedMetric:
    metric: MetricDef
    added_pr: int
    added_in: str
    last_version: str
    removed_in: str
    removed_pr: int
    removed_pr_merged: str
    reason: str


REMOVED_METRIC: Final[RemovedMetric] = RemovedMetric(
    metric=MetricDef(
        name="vllm:prompt_tokens_recomputed",
        type="counter",
        labels=("model_name", "engine"),
        help="Number of cached tokens recomputed for forward pass.",
    ),
    added_pr=33290,
    added_in="0.16.0",
    last_version="0.19.1",
    removed_in="0.20.0",
    removed_pr=38709,
    removed_pr_merged="2026-04-12",
    reason="removed outright, no deprecation cycle: no user demand; the metric was misguided",
)

CANONICAL_NAME: Final[str] = REMOVED_METRIC.metric.name
_CORE: Final[str] = "prompt_tokens_recomputed"

# The prompt-token metrics that still ship in v0.20+ and replace the removed one.
SURVIVING_PROMPT_METRICS: Final[tuple[MetricDef, ...]] = (
    MetricDef(
        name="vllm:prompt_tokens",
        type="counter",
        labels=("model_name", "engine"),
        help="Number of prefill tokens processed.",
    ),
    MetricDef(
        name="vllm:prompt_tokens_by_source",
        type="counter",
        labels=("model_name", "engine", "source"),
        help="Number of prompt tokens by source.",
        label_values=(("source", ALL_SOURCES),),
    ),
    MetricDef(
        name="vllm:prompt_tokens_cached",
        type="counter",
        labels=("model_name", "engine"),
        help="Number of cached prompt tokens (local + external).",
    ),
)

# ---------------------------------------------------------------- spellings

# Order matters only for documentation/enumeration; the regex sorts by length.
VLLM_PREFIXES: Final[tuple[str, ...]] = ("vllm:", "vllm_", "ray_vllm:", "ray_vllm_", "vllm.")
SUFFIXES: Final[tuple[str, ...]] = ("", "_total", "_created", ".count")

# Concrete spellings a Prometheus server can hold (no dots: not legal there).
PROMETHEUS_SPELLINGS: Final[tuple[str, ...]] = tuple(
    p + _CORE + s for p in VLLM_PREFIXES if not p.endswith(".") for s in ("", "_total", "_created")
)

#: Every spelling listed in the facts file (prefixed and bare).
KNOWN_SPELLINGS: Final[tuple[str, ...]] = PROMETHEUS_SPELLINGS + (
    "vllm.prompt_tokens_recomputed",
    "prompt_tokens_recomputed",
    "prompt_tokens_recomputed_total",
    "prompt_tokens_recomputed_created",
    "prompt_tokens_recomputed.count",
)

#: Bytes every textual reference contains; lets scanners skip files without decoding.
PREFILTER_NEEDLE: Final[bytes] = b"prompt_tokens_recomputed"
#: ``recomputed_tokens`` is the era-(a) PromptTokenStats field that fed the counter;
#: Python code touching it (``stats.recomputed_tokens``, ``recomputed_tokens=``)
#: never spells the metric name, so scanners need it as a second needle.
PREFILTER_NEEDLES: Final[tuple[bytes, ...]] = (PREFILTER_NEEDLE, b"recomputed_tokens")


@dataclass(frozen=True)
class NameMatch:
    name: str
    prefixed: bool
    suffix: str
    canonical: str = CANONICAL_NAME
    # The exact prefix text ('' for bare forms), so fixers can keep the user's style.
    prefix: str = ""


@dataclass(frozen=True)
class TextMatch:
    start: int
    end: int
    text: str
    prefixed: bool
    suffix: str
    prefix: str = ""


_NAME_CHARS: Final[str] = "A-Za-z0-9_:"
_EXTRA_PREFIX_RE: Final[re.Pattern[str]] = re.compile(rf"[{_NAME_CHARS}.\-/]+")


def _normalise_prefixes(extra_prefixes: Iterable[str]) -> tuple[str, ...]:
    if isinstance(extra_prefixes, str):
        # A bare string would otherwise be split into one-letter prefixes.
        extra_prefixes = (extra_prefixes,)
    for p in extra_prefixes:
        if not isinstance(p, str) or not _EXTRA_PREFIX_RE.fullmatch(p):
            raise ValueError(f"invalid extra metric prefix {p!r}")
    # Sorted and de-duplicated so equivalent configurations share one cache entry.
    return tuple(sorted(set(extra_prefixes)))


def _alternation(options: Iterable[str]) -> str:
    # Longest first: Python's alternation is ordered, not longest-match.
    return "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True))


@lru_cache(maxsize=64)
def _core_pattern(extra_prefixes: tuple[str, ...]) -> str:
    vllm = _alternation(VLLM_PREFIXES)
    extra = f"(?:{_alternation(extra_prefixes)})?" if extra_prefixes else ""
    return (
        rf"(?P<prefix>{extra}(?:{vllm}))?"
        rf"{_CORE}"
        rf"(?P<suffix>{_alternation(s for s in SUFFIXES if s)})?"
    )


@lru_cache(maxsize=64)
def _fullmatch_re(extra_prefixes: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(_core_pattern(extra_prefixes))


@lru_cache(maxsize=64)
def _scan_re(extra_prefixes: tuple[str, ...]) -> re.Pattern[str]:
    # Left boundary: not glued to a name character. A '.' before is fine, so
    # `x.prompt_tokens_recomputed` (attribute access) is the bare form. JSON
    # escapes (`\n`, `\u003e` from Go's HTML-safe encoder in Grafana exports)
    # end in a name character but are boundaries too.
    # Datadog queries glue the aggregation on with a colon: `sum:prompt_tokens_recomputed.count`.
    left = (
        rf"(?:(?<![{_NAME_CHARS}])|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{{4}})"
        rf"|(?<=[a-z]:)(?={_CORE}\.count))"
    )
    # Right boundary: no name character follows, so `_ratio`, `_totalx` reject. A colon ends
    # the token only when no name follows it (`field: u64`, not `x:prompt_tokens_recomputed:rate5m`).
    right = rf"(?![A-Za-z0-9_]|:[{_NAME_CHARS}])"
    return re.compile(left + _core_pattern(extra_prefixes) + right)


def classify_metric_name(name: str, extra_prefixes: tuple[str, ...] = ()) -> NameMatch | None:
    """Classify a complete metric name / identifier token; None if it is not the removed metric."""
    if _CORE not in name:
        return None
    m = _fullmatch_re(_normalise_prefixes(extra_prefixes)).fullmatch(name)
    if m is None:
        return None
    prefix = m.group("prefix") or ""
    return NameMatch(
        name=name, prefixed=bool(prefix), suffix=m.group("suffix") or "", prefix=prefix
    )


@lru_cache(maxsize=64)
def _full_prefixes(extra_prefixes: tuple[str, ...]) -> tuple[str, ...]:
    return VLLM_PREFIXES + tuple(e + v for e in extra_prefixes for v in VLLM_PREFIXES)


def find_removed_names(text: str, extra_prefixes: tuple[str, ...] = ()) -> Iterator[TextMatch]:
    """Yield whole-token occurrences of the removed metric in arbitrary text.

    Equivalent to ``finditer`` with the boundary regex, but anchored on
    ``str.find`` hits: an unanchored regex scan tries every offset and is ~20x
    slower on large files, while the prefix can only end exactly at a hit.
    """
    extras = _normalise_prefixes(extra_prefixes)
    regex = _scan_re(extras)
    prefixes = _full_prefixes(extras)
    last_end = 0
    i = text.find(_CORE)
    while i != -1:
        # Ascending start = longest prefix first, i.e. finditer's leftmost match.
        starts = sorted(
            {i - len(p) for p in prefixes if len(p) <= i and text.startswith(p, i - len(p))}
        )
        starts.append(i)
        for start in starts:
            m = regex.match(text, start) if start >= last_end else None
            if m is not None:
                prefix = m.group("prefix") or ""
                last_end = m.end()
                yield TextMatch(
                    start=m.start(),
                    end=m.end(),
                    text=m.group(0),
                    prefixed=bool(prefix),
                    suffix=m.group("suffix") or "",
                    prefix=prefix,
                )
                break
        i = text.find(_CORE, i + 1)


def regex_matched_spellings(pattern: str, extra_prefixes: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The prefixed spellings a PromQL ``__name__=~`` regex selects (Prometheus anchors fully)."""
    try:
        compiled = re.compile(pattern)
    except (re.error, TypeError, RecursionError):
        return ()
    candidates = PROMETHEUS_SPELLINGS + tuple(
        e + s for e in _normalise_prefixes(extra_prefixes) for s in PROMETHEUS_SPELLINGS
    )
    return tuple(s for s in candidates if compiled.fullmatch(s))


def regex_matches_removed(pattern: str, extra_prefixes: tuple[str, ...] = ()) -> bool:
    """Whether a ``__name__=~`` regex selects any prefixed spelling of the removed metric.

    Python ``re`` stands in for RE2; the syntax both accept covers real matchers.
    An invalid pattern is treated as matching nothing (Prometheus would reject it).
    """
    return bool(regex_matched_spellings(pattern, extra_prefixes))


# ------------------------------------------------------------ other changes


@dataclass(frozen=True)
class MetricChange:
    old_names: tuple[str, ...]
    change: str  # "removed" | "renamed" | "meaning_changed"
    replacement: str | None  # a metric name, a PromQL expression, or None
    versions: str
    removed_in: str | None  # first release without the old name; None if it still exists


METRIC_CHANGES: Final[tuple[MetricChange, ...]] = (
    MetricChange(
        ("vllm:avg_prompt_throughput_toks_per_s",),
        "removed",
        "rate(vllm:prompt_tokens_total[5m])",
        "gone in 0.7.0",
        "0.7.0",
    ),
    MetricChange(
        ("vllm:avg_generation_throughput_toks_per_s",),
        "removed",
        "rate(vllm:generation_tokens_total[5m])",
        "gone in 0.7.0",
        "0.7.0",
    ),
    MetricChange(("vllm:tokens_total",), "removed", None, "never implemented; gone in 0.8.0", "0.8.0"),
    MetricChange(
        ("vllm:num_requests_swapped", "vllm:cpu_cache_usage_perc", "vllm:cpu_prefix_cache_hit_rate"),
        "removed",
        None,  # nothing equivalent; vllm:num_preemptions_total is the closest signal
        "gone in 0.9.1",
        "0.9.1",
    ),
    MetricChange(
        ("vllm:gpu_prefix_cache_hit_rate",),
        "removed",
        "rate(vllm:prefix_cache_hits_total[5m]) / rate(vllm:prefix_cache_queries_total[5m])",
        "gone in 0.9.1",
        "0.9.1",
    ),
    MetricChange(
        ("vllm:time_in_queue_requests",),
        "removed",
        "vllm:request_queue_time_seconds",
        "gone in 0.9.1",
        "0.9.1",
    ),
    MetricChange(
        ("vllm:model_forward_time_milliseconds", "vllm:model_execute_time_milliseconds"),
        "removed",
        "vllm:request_prefill_time_seconds / vllm:request_decode_time_seconds / "
        "vllm:request_inference_time_seconds",
        "gone in 0.9.1",
        "0.9.1",
    ),
    MetricChange(
        ("vllm:gpu_cache_usage_perc",),
        "renamed",
        "vllm:kv_cache_usage_perc",
        "new name 0.9.2, old hidden 0.11, gone 0.12.0",
        "0.12.0",
    ),
    MetricChange(
        ("vllm:gpu_prefix_cache_queries",),
        "renamed",
        "vllm:prefix_cache_queries",
        "new name 0.9.2, old hidden 0.11, gone 0.12.0",
        "0.12.0",
    ),
    MetricChange(
        ("vllm:gpu_prefix_cache_hits",),
        "renamed",
        "vllm:prefix_cache_hits",
        "new name 0.9.2, old hidden 0.11, gone 0.12.0",
        "0.12.0",
    ),
    MetricChange(
        ("vllm:time_per_output_token_seconds",),
        "renamed",
        "vllm:inter_token_latency_seconds",
        "new 0.11, hidden 0.12, gone 0.15.0 (same buckets)",
        "0.15.0",
    ),
    MetricChange(
        (CANONICAL_NAME,),
        "removed",
        None,
        "added 0.16.0, gone in 0.20.0 (see PromptTokenStats era notes)",
        "0.20.0",
    ),
    MetricChange(
        ("vllm:iteration_tokens_total",),
        "meaning_changed",
        None,
        "from 0.23.0 counts computed prompt + generation tokens",
        None,
    ),
)

_SAMPLE_SUFFIXES: Final[tuple[str, ...]] = ("_total", "_bucket", "_sum", "_count", "_created")
# Exporters rewrite `vllm:`; map their forms back so one table serves all.
_PREFIX_ALIASES: Final[tuple[str, ...]] = ("ray_vllm:", "ray_vllm_", "vllm_")


@lru_cache(maxsize=1)
def _changes_by_name() -> dict[str, MetricChange]:
    return {old: c for c in METRIC_CHANGES for old in c.old_names}


def change_for(name: str) -> MetricChange | None:
    """The catalogued change for a metric or sample name (any exposition suffix/prefix form)."""
    table = _changes_by_name()
    bases = [name]
    for alias in _PREFIX_ALIASES:
        if name.startswith(alias):
            bases.append("vllm:" + name[len(alias):])
            break
    for base in bases:
        # Exact first: some old names (vllm:iteration_tokens_total) end in a suffix.
        if base in table:
            return table[base]
        for suffix in _SAMPLE_SUFFIXES:
            if base.endswith(suffix) and base[: -len(suffix)] in table:
                return table[base[: -len(suffix)]]
    return None
