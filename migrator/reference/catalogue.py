"""The vLLM metric catalogue: the one place that knows vLLM's metric names.

Two data files, shipped with the package, hold every fact:
- `data/vllm_metric_catalogue.tsv`: every metric each vLLM release exposed (name, type,
  labels, first/last release, hidden/deprecated releases, replacement, exposed series),
  taken from vLLM's released sources;
- `data/metric_changes.toml`: how a user migrates each change (renamed, formula, removed,
  deprecated), the changes of meaning, the flagship change's reference metrics, the
  spellings exporters use, and names other programs publish under `vllm:`.

Everything else asks this module: rules, formats' needles, messages, versions and PR numbers.
Nothing here is computed per file; the catalogue loads once, on first use.
"""

from __future__ import annotations

import csv
import enum
import io
import os
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Iterable

# --------------------------------------------------------------------------- the model


class ChangeKind(enum.Enum):
    RENAMED = "renamed"  # same values under the replacement's name
    FORMULA = "formula"  # an expression over surviving metrics approximates it
    REMOVED = "removed"  # nothing replaces it
    DEPRECATED = "deprecated"  # still defined, announced as going


class Status(enum.IntEnum):
    """Where a name stands at the target release; ordered from best to worst."""

    CURRENT = 0
    DEPRECATED = 1  # defined, announced as going
    HIDDEN = 2  # defined only behind --show-hidden-metrics-for-version
    NOT_YET = 3  # first exposed after the target
    GONE = 4  # no longer defined at the target


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the TSV: a metric as vLLM's code defines it."""

    name: str
    type: str  # Counter | Gauge | Histogram | Info
    labels: tuple[str, ...]
    first_version: str
    last_version: str | None  # None: still defined in the newest release
    hidden_from: str | None
    deprecated_from: str | None
    replacement_text: str
    exposed: tuple[str, ...]
    help: str
    first_release_without: str | None
    condition: str
    notes: str

    @property
    def stem(self) -> str:
        return self.name.split(":", 1)[1]

    @property
    def base(self) -> str:
        """The family name prometheus_client uses: counters drop a trailing `_total`."""
        if self.type == "Counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name


@dataclass(frozen=True, slots=True)
class Series:
    """A name a query or a lookup can use: an exposed sample name, or a family/code name."""

    name: str  # canonical spelling, `vllm:…`
    metric: Metric
    suffix: str  # relative to the family base: "", "_total", "_bucket", "_info", ...
    family: bool  # a family or code name: a lookup key, but no data in PromQL


@dataclass(frozen=True, slots=True)
class Change:
    metric: Metric
    kind: ChangeKind
    replacement: Metric | None  # RENAMED: the metric carrying the same values
    formula: str | None  # FORMULA: PromQL over surviving metrics, `$window` for the range
    advice: str
    pr: int | None


@dataclass(frozen=True, slots=True)
class MeaningChange:
    metric: Metric
    since: str
    what: str
    pr: int | None = None
    label: str | None = None  # only these label values changed meaning
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Flagship:
    """vLLM v0.20.0's change: `removed` went away and the prompt-token split was corrected."""

    removed: Metric
    added_pr: int
    removed_pr: int
    removed_pr_merged: str
    reason: str
    prompt_tokens: Metric
    prompt_tokens_by_source: Metric
    prompt_tokens_cached: Metric
    stats_field: str
    prose_word: str
    report_bare_name: bool
    advice: str
    absent_advice: str
    suggestions: dict[str, str]

    @property
    def removed_in(self) -> str:
        assert self.removed.first_release_without is not None
        return self.removed.first_release_without

    @property
    def surviving(self) -> tuple[Metric, ...]:
        return (self.prompt_tokens, self.prompt_tokens_by_source, self.prompt_tokens_cached)


@dataclass(frozen=True, slots=True)
class Target:
    """The vLLM release the scanned repository must work with."""

    release: str
    index: int
    given: str  # as the user wrote it ("0.11" resolves to the newest 0.11.x)


@dataclass(frozen=True, slots=True)
class NameStatus:
    """What a written name is at a target: its series, and the change that explains it."""

    status: Status
    series: Series  # the candidate the status is about
    change: Change | None
    meaning: tuple[MeaningChange, ...] = ()


class UnknownRelease(ValueError):
    pass


# --------------------------------------------------------------------------- the catalogue


@dataclass
class Catalogue:
    releases: tuple[str, ...]
    metrics: dict[str, Metric]
    changes: dict[str, Change]
    meaning_changes: tuple[MeaningChange, ...]
    flagship: Flagship
    canonical_prefix: str
    other_prefixes: tuple[str, ...]
    datadog_suffixes: tuple[str, ...]
    ecosystem: frozenset[str]
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {r: i for i, r in enumerate(self.releases)}

    # -- versions ------------------------------------------------------------------------

    @property
    def newest(self) -> str:
        return self.releases[-1]

    def target(self, given: str | None = None) -> Target:
        """`0.11` means the newest 0.11.x; a full release names itself; None: the newest."""
        if given is None or not given.strip():
            return Target(self.newest, len(self.releases) - 1, self.newest)
        text = given.strip().lstrip("v")
        if text in self._index:
            return Target(text, self._index[text], given)
        series = [r for r in self.releases if r.startswith(text + ".")]
        if series:
            return Target(series[-1], self._index[series[-1]], given)
        raise UnknownRelease(
            f"unknown vLLM release {given!r}: the catalogue knows {self.releases[0]} to {self.newest} "
            "(give X.Y for the newest X.Y.z, or an exact release)"
        )

    def metric_status(self, metric: Metric, target: Target) -> Status:
        t = target.index
        if self._index[metric.first_version] > t:
            return Status.NOT_YET
        if metric.first_release_without is not None and self._index[metric.first_release_without] <= t:
            return Status.GONE
        if metric.hidden_from is not None and self._index[metric.hidden_from] <= t:
            return Status.HIDDEN
        if metric.deprecated_from is not None and self._index[metric.deprecated_from] <= t:
            return Status.DEPRECATED
        return Status.CURRENT

    # -- names ---------------------------------------------------------------------------

    @cached_property
    def by_stem(self) -> dict[str, tuple[Series, ...]]:
        """Every name a query or lookup can use, keyed by its stem (the part after `vllm:`)."""
        table: dict[str, list[Series]] = {}

        def add(series: Series) -> None:
            stem = series.name.split(":", 1)[1]
            bucket = table.setdefault(stem, [])
            if not any(s.metric is series.metric and s.family == series.family for s in bucket):
                bucket.append(series)

        for metric in self.metrics.values():
            base = metric.base
            for exposed in metric.exposed:
                suffix = exposed[len(base):] if exposed.startswith(base) else ""
                add(Series(exposed, metric, suffix, False))
            # The code name and the family name: what `Counter(...)` and parsed families use.
            add(Series(metric.name, metric, metric.name[len(base):], metric.name not in metric.exposed))
            if base != metric.name:
                add(Series(base, metric, "", base not in metric.exposed))
        return {stem: tuple(bucket) for stem, bucket in table.items()}

    def lookup(self, stem: str) -> tuple[Series, ...]:
        return self.by_stem.get(stem, ())

    def status_of(self, candidates: Iterable[Series], target: Target) -> NameStatus | None:
        """The status of a written name: CURRENT if any metric it may mean is defined at the
        target (code-name-only changes keep their series), else the worst news and its change."""
        best: NameStatus | None = None
        for series in candidates:
            status = self.metric_status(series.metric, target)
            meaning = tuple(
                m for m in self.meaning_changes
                if m.metric is series.metric and self._index[m.since] <= target.index
            )
            found = NameStatus(status, series, self.changes.get(series.metric.name), meaning)
            if best is None or _rank(found) < _rank(best):
                best = found
        return best

    def renamed_series(self, series: Series, change: Change) -> Series | None:
        """The replacement's name for `series`, keeping its suffix (`_bucket` stays `_bucket`)."""
        if change.replacement is None:
            return None
        new_base = change.replacement.base
        wanted = new_base + series.suffix
        for candidate in self.lookup(wanted.split(":", 1)[1]):
            if candidate.metric is change.replacement:
                return candidate
        return None

    def spelled(self, series: Series) -> str:
        return series.name

    @cached_property
    def all_prefixes(self) -> tuple[str, ...]:
        return (self.canonical_prefix, *self.other_prefixes)

    def close_names(self, stem: str, limit: int = 3) -> list[Series]:
        """Catalogue names a misspelled or truncated stem probably meant ("did you mean"): one
        per metric, the name a query would use (no `_created`)."""
        key = (stem, limit)
        if key not in self._close_cache:  # the catalogue never changes; a file repeats its names
            self._close_cache[key] = self._close_names(stem, limit)
        return list(self._close_cache[key])

    @cached_property
    def _close_cache(self) -> dict[tuple[str, int], list[Series]]:
        return {}

    def _close_names(self, stem: str, limit: int) -> list[Series]:
        import difflib

        stems = self._suggestable_stems
        found = difflib.get_close_matches(stem, stems, n=limit * 2, cutoff=0.85)
        # A truncation (`avg_generation_throughput`) is a prefix of the real stem.
        found += [c for c in stems if c.startswith(stem) and len(stem) >= 0.6 * len(c) and c not in found]
        result: list[Series] = []
        for s in found:
            series = next((x for x in self.by_stem[s] if not x.family), self.by_stem[s][0])
            if all(r.metric is not series.metric for r in result):
                result.append(series)
        return result[:limit]

    @cached_property
    def _suggestable_stems(self) -> list[str]:
        return [s for s, series in self.by_stem.items() if not s.endswith("_created")]

    # -- views ---------------------------------------------------------------------------

    def changes_in_order(self) -> list[Change]:
        def key(c: Change) -> tuple[int, str]:
            when = c.metric.first_release_without or c.metric.deprecated_from or self.newest
            return (self._index[when], c.metric.name)

        return sorted(self.changes.values(), key=key)


def _rank(found: NameStatus) -> tuple[int, int]:
    # Prefer a family/series of a current metric; among equals, prefer exposed series.
    return (int(found.status), int(found.series.family))


# --------------------------------------------------------------------------- loading


def _read_data(name: str) -> str:
    # Package data next to this module (a plain path: importlib.resources costs more to import
    # than the whole catalogue takes to read).
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", name), encoding="utf-8") as f:
        return f.read()


def _optional(value: str) -> str | None:
    value = value.strip()
    return value or None


def _parse_tsv(text: str) -> dict[str, Metric]:
    metrics: dict[str, Metric] = {}
    for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
        last = row["last_version"].strip()
        metric = Metric(
            name=row["name"].strip(),
            type=row["type"].strip(),
            labels=tuple(label.strip() for label in row["labels"].split(",") if label.strip()),
            first_version=row["first_version"].strip(),
            last_version=None if last == "current" else last,
            hidden_from=_optional(row["hidden_from"]),
            deprecated_from=_optional(row["deprecated_from"]),
            replacement_text=row["replacement"].strip(),
            exposed=tuple(s.strip() for s in row["exposed_series"].split(",") if s.strip()),
            help=row["help"].strip(),
            first_release_without=_optional(row["first_release_without"]),
            condition=row["condition"].strip(),
            notes=row["notes"].strip(),
        )
        metrics[metric.name] = metric
    return metrics


def _replacement_metric(metrics: dict[str, Metric], entry: dict, metric: Metric) -> Metric | None:
    name = entry.get("replacement") or metric.replacement_text
    return metrics.get(name.strip()) if name else None


@cache
def catalogue() -> Catalogue:
    import tomllib

    metrics = _parse_tsv(_read_data("vllm_metric_catalogue.tsv"))
    data = tomllib.loads(_read_data("metric_changes.toml"))
    changes: dict[str, Change] = {}
    for entry in data.get("change", []):
        metric = metrics[entry["metric"]]
        kind = ChangeKind(entry["kind"])
        replacement = _replacement_metric(metrics, entry, metric) if kind is ChangeKind.RENAMED else None
        if kind is ChangeKind.RENAMED and replacement is None:
            raise ValueError(f"catalogue: {metric.name} is marked renamed but names no catalogue metric")
        changes[metric.name] = Change(
            metric=metric,
            kind=kind,
            replacement=replacement,
            formula=entry.get("formula"),
            advice=entry.get("advice", ""),
            pr=entry.get("pr"),
        )
    meaning = tuple(
        MeaningChange(
            metric=metrics[m["metric"]],
            since=m["since"],
            what=m["what"],
            pr=m.get("pr"),
            label=m.get("label"),
            values=tuple(m.get("values", ())),
        )
        for m in data.get("meaning_change", [])
    )
    f = data["flagship"]
    flagship = Flagship(
        removed=metrics[f["removed"]],
        added_pr=f["added_pr"],
        removed_pr=f["removed_pr"],
        removed_pr_merged=f["removed_pr_merged"],
        reason=f["reason"],
        prompt_tokens=metrics[f["prompt_tokens"]],
        prompt_tokens_by_source=metrics[f["prompt_tokens_by_source"]],
        prompt_tokens_cached=metrics[f["prompt_tokens_cached"]],
        stats_field=f["stats_field"],
        prose_word=f["prose_word"],
        report_bare_name=f["report_bare_name"],
        advice=f["advice"],
        absent_advice=f["absent_advice"],
        suggestions=dict(f.get("suggestions", {})),
    )
    spellings = data["spellings"]
    return Catalogue(
        releases=tuple(data["releases"]),
        metrics=metrics,
        changes=changes,
        meaning_changes=meaning,
        flagship=flagship,
        canonical_prefix=spellings["canonical_prefix"],
        other_prefixes=tuple(spellings["other_prefixes"]),
        datadog_suffixes=tuple(spellings["datadog_suffixes"]),
        ecosystem=frozenset(data.get("ecosystem", {}).get("names", ())),
    )


# --------------------------------------------------------------------------- the flagship's
# reference metrics as the simulation and `reference` output use them (derived, never retyped)


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


def _definition(metric: Metric, **kwargs) -> MetricDef:  # type: ignore[no-untyped-def]
    # The reference model simulates V1 engines: `model_name,engine` (and the metric's own labels).
    return MetricDef(name=metric.name, type=metric.type.lower(), labels=metric.labels, help=metric.help, **kwargs)


@cache
def _flagship_definitions() -> tuple[RemovedMetric, tuple[MetricDef, ...]]:
    from .stats import ALL_SOURCES

    f = catalogue().flagship
    removed = RemovedMetric(
        metric=_definition(f.removed),
        added_pr=f.added_pr,
        added_in=f.removed.first_version,
        last_version=f.removed.last_version or "",
        removed_in=f.removed_in,
        removed_pr=f.removed_pr,
        removed_pr_merged=f.removed_pr_merged,
        reason=f.reason,
    )
    surviving = (
        _definition(f.prompt_tokens),
        _definition(f.prompt_tokens_by_source, label_values=(("source", ALL_SOURCES),)),
        _definition(f.prompt_tokens_cached),
    )
    return removed, surviving


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # Loaded on first use (PEP 562): importing this module reads no data file.
    if name == "REMOVED_METRIC":
        return _flagship_definitions()[0]
    if name == "SURVIVING_PROMPT_METRICS":
        return _flagship_definitions()[1]
    if name == "CANONICAL_NAME":
        return catalogue().flagship.removed.name
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
