"""Glue between catalogue names written as data (lists, keys, constants, config values, prose)
and the rules that report them: one scan per file, the words every message shares, and the one
element-removal policy for every format."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from migrator.formats.base import Container, Site, SiteKind
from migrator.formats.templates import spans_in_value
from migrator.model import Applicability, Fix, JointRemoval, Span
from migrator.promql_findings import PROMQL_KINDS
from migrator.reference.catalogue import Change, ChangeKind, Metric, NameStatus, Status, Target, catalogue
from migrator.reference.spellings import NameHit, classify, find_names

if TYPE_CHECKING:
    from migrator.rule import RuleContext


@dataclass(frozen=True, slots=True)
class DataHit:
    """A catalogue name outside PromQL. `site` is None for text no site covers (a comment)."""

    site: Site | None
    hit: NameHit  # offsets into site.value, or into the file text when site is None
    status: NameStatus
    # Inside a Helm/Jinja template action (`{{ printf "vllm:…" }}`, `{{- $m := "vllm:…" }}`):
    # data the template writes out, which no fix may edit (see `report`).
    in_template: bool = False

    @property
    def prose(self) -> bool:
        """Text for people (VMM008's), not a name a program reads. A template action outside
        prose is code: what it renders is most likely a query."""
        if self.site is None:
            return not self.in_template
        return is_prose(self.site)

    @property
    def whole(self) -> bool:
        """The site's value is this name and nothing else (an element of a list of names)."""
        return self.site is not None and self.site.value.strip() == self.hit.text

    def span(self) -> Span:
        if self.site is None:
            return Span(self.hit.start, self.hit.end)
        return self.site.file_span(self.hit.start, self.hit.end)


def data_hits(ctx: "RuleContext") -> list[DataHit]:
    """Every catalogue name in the document's non-PromQL sites, then in text no site covers."""

    def compute() -> list[DataHit]:
        cat = catalogue()
        target = ctx.settings.target
        prefixes = tuple(ctx.settings.metric_prefixes)
        found: list[DataHit] = []
        covered: list[tuple[int, int]] = list(ctx.doc.labels)
        for site in ctx.doc.sites:
            covered.append((site.to_file(0), site.to_file(len(site.value))))
            if "vllm" not in site.value:
                continue
            templates = spans_in_value(site.value)
            in_template = Coverage.of_ranges(templates) if templates else None
            if site.kind in PROMQL_KINDS:
                # A query's names are PromQL references, except inside its template actions,
                # which the query parser never sees.
                if in_template is None:
                    continue
                for hit in find_names(site.value, prefixes):
                    if in_template(hit.start, hit.end):
                        status = cat.status_of(hit.candidates, target)
                        if status is not None:
                            found.append(DataHit(site, hit, status, in_template=True))
                continue
            for hit in find_names(site.value, prefixes):
                status = cat.status_of(hit.candidates, target)
                if status is not None:
                    templated = in_template is not None and in_template(hit.start, hit.end)
                    found.append(DataHit(site, hit, status, in_template=templated))
        # Text no site covers: comments, template actions and the like. In other text files
        # that is all of the text outside embedded documents, which VMM900 reports.
        if "vllm" in ctx.doc.text and ctx.doc.format != "text":
            inside = Coverage.of_ranges(covered)
            regions = Coverage.of_ranges(ctx.doc.template_regions) if ctx.doc.template_regions else None
            for hit in find_names(ctx.doc.text, prefixes):
                if inside(hit.start, hit.end):
                    continue
                status = cat.status_of(hit.candidates, target)
                if status is not None:
                    templated = regions is not None and regions(hit.start, hit.end)
                    found.append(DataHit(None, hit, status, in_template=templated))
        return found

    return ctx.memo("data-hits", compute)


class Coverage:
    """Whether [start, end) lies inside one of many spans, in O(log n) (a 20 MB dashboard has
    tens of thousands of sites)."""

    def __init__(self, spans: list[Span]) -> None:
        self._merge([(span.start, span.end) for span in spans])

    @classmethod
    def of_ranges(cls, ranges: list[tuple[int, int]]) -> "Coverage":
        """The same from (start, end) pairs (no Span made for each of thousands of sites)."""
        coverage = cls.__new__(cls)
        coverage._merge(ranges)
        return coverage

    def _merge(self, ranges: list[tuple[int, int]]) -> None:
        import bisect

        self._bisect = bisect.bisect_right
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def __call__(self, start: int, end: int) -> bool:
        i = self._bisect(self.starts, start) - 1
        return i >= 0 and end <= self.ends[i]


# --------------------------------------------------------------------------- words


def version(release: str) -> str:
    return f"v{release}"


def minor(release: str | None) -> str:
    """`v0.20` for 0.20.0: "no data on v0.20+" reads as every later release."""
    if not release:
        return "v?"
    return "v" + ".".join(release.split(".")[:2])


def written_as(written: str, metric: Metric) -> str:
    """`` `ray_vllm_x_total` (vllm:x) `` when the spelling differs from the metric's name."""
    return f"`{written}`" if written == metric.name else f"`{written}` ({metric.name})"


def gone_words(metric: Metric, change: Change | None) -> str:
    """`removed in vLLM v0.12.0 (deprecated in v0.9.2, hidden from v0.11.0)`, with the PR."""
    parts = [f"removed in vLLM {version(metric.first_release_without or '?')}"]
    extra = []
    if metric.deprecated_from:
        extra.append(f"deprecated in {version(metric.deprecated_from)}")
    if metric.hidden_from:
        extra.append(f"hidden from {version(metric.hidden_from)}")
    if change is not None and change.pr:
        extra.append(f"PR #{change.pr}")
    if extra:
        parts.append(f"({', '.join(extra)})")
    return " ".join(parts)


def hidden_flag(target: Target) -> str:
    """The `--show-hidden-metrics-for-version` value a release needs: its previous minor."""
    major, minor = target.release.split(".")[:2]
    return f"{major}.{int(minor) - 1}" if int(minor) > 0 else f"{major}.{minor}"


def status_words(status: NameStatus, target: Target) -> str:
    metric = status.series.metric
    if status.status is Status.HIDDEN:
        until = f", removed in {version(metric.first_release_without)}" if metric.first_release_without else ""
        return (
            f"hidden from vLLM {version(metric.hidden_from or '?')}: your target {version(target.release)} exposes it "
            f"only with `--show-hidden-metrics-for-version={hidden_flag(target)}`{until}"
        )
    if status.status is Status.DEPRECATED:
        until = (
            f" and removed in {version(metric.first_release_without)}"
            if metric.first_release_without
            else " (still defined in the newest release)"
        )
        return f"deprecated since vLLM {version(metric.deprecated_from or '?')}{until}"
    if status.status is Status.GONE:
        return gone_words(metric, status.change)
    if status.status is Status.NOT_YET:
        return f"first exposed in vLLM {version(metric.first_version)}, after your target {version(target.release)}"
    return "current"


def what_instead(change: Change | None) -> str:
    """`; use `new` (same values, from v0.9.2)` for a rename, the catalogue's advice otherwise."""
    if change is None:
        return ""
    if change.replacement is not None:  # only renames carry one: the values are the same
        return f"; use `{change.replacement.name}` (same values, from v{change.replacement.first_version})"
    return f"; {change.advice}" if change.advice else ""


def replacement_available(change: Change, target: Target) -> bool:
    """Whether the replacement of a rename exists at the target (a fix is offered only then)."""
    if change.replacement is None:
        return False
    return catalogue().metric_status(change.replacement, target) in (Status.CURRENT, Status.DEPRECATED)


def mentions_metric(text: str, metric: Metric, prefixes: tuple[str, ...]) -> bool:
    return any(any(s.metric is metric for s in h.candidates) for h in find_names(text, prefixes))


def side_by_side(ctx: "RuleContext", site: Site | None, metric: Metric) -> bool:
    """The old name sits beside `metric` (its replacement) in one collection or query:
    renaming would make a duplicate (or a double registration), so a person decides."""
    prefixes = tuple(ctx.settings.metric_prefixes)
    if site is None:
        return False
    container = site.context.container
    if container is not None:
        if id(metric) in _metrics_in_container(ctx, container, prefixes):
            return True
    return mentions_metric(site.value, metric, prefixes)


def _metrics_in_container(ctx: "RuleContext", container: Container, prefixes: tuple[str, ...]) -> frozenset[int]:
    """Ids of the metrics a collection's elements (or its source text) name, read once per
    collection: every element of a list of thousands asks."""
    span = container.span
    key = ("metrics-in-container", span.start, span.end) if span is not None else ("metrics-in-values", id(container.values))

    def compute() -> frozenset[int]:
        texts = [v for v in container.values if v is not None]
        if span is not None:
            texts.append(ctx.doc.text[span.start : span.end])
        return frozenset(id(s.metric) for text in texts for h in find_names(text, prefixes) for s in h.candidates)

    return ctx.memo(key, compute)


def in_alternatives(ctx: "RuleContext", site: Site, metric: Metric) -> bool:
    """The site is a branch of a conditional (`old if v < (0, 9) else new`), or a name compared
    in a conditional's test (`if old in scraped:`) in a function or module, that names `metric`
    too: the code picks a name per release on purpose, and renaming would change the old side."""
    span = site.context.alternatives
    if span is None:
        return False
    prefixes = tuple(ctx.settings.metric_prefixes)

    def compute() -> frozenset[int]:
        # Once per span: every comparison in a module asks about the whole module.
        text = ctx.doc.text[span.start : span.end]
        return frozenset(id(s.metric) for h in find_names(text, prefixes) for s in h.candidates)

    return id(metric) in ctx.memo(("metrics-in-span", span.start, span.end), compute)


def release_switch_fix(ctx: "RuleContext", site: Site, change: Change, what: str) -> Fix | None:
    """Display-only advice when the site switches between releases (see `in_alternatives`):
    renaming the old name would change what the program does on the servers still running it."""
    replacement = change.replacement
    later = f"v{change.metric.first_release_without}+"
    if replacement is not None and _guarded_by_switch(ctx, site, change):
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"Inside a release switch: this code runs when a test compares with the old name (the code names "
            f"`{replacement.name}` for newer servers nearby); renaming it here would break the old side — "
            f"remove this branch once every server runs {later}",
        )
    if replacement is None or not in_alternatives(ctx, site, replacement):
        return None
    if site.context.compared:
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"A release switch: the code compares with the old name to tell which vLLM release it talks to, "
            f"and names `{replacement.name}` nearby; not a stale reference, renaming it would break the test — "
            f"remove the old side once every server runs {later}",
        )
    return Fix(
        Applicability.DISPLAY_ONLY,
        f"The other branch of this conditional already uses `{replacement.name}` (the code picks {what} per "
        f"release); remove the old branch once every server runs {later}",
    )


def _guarded_by_switch(ctx: "RuleContext", site: Site, change: Change) -> bool:
    """The site's code runs under an `if`/`while` whose test is a release switch on the same
    old name (`if old in scraped: return scraped[old]`)."""
    guard = site.context.guard
    if guard is None or site.context.compared:
        return False
    import bisect

    starts, compared = ctx.memo("compared-sites", lambda: _compared_sites(ctx))
    prefixes = tuple(ctx.settings.metric_prefixes)
    replacement = change.replacement
    assert replacement is not None
    for other in compared[bisect.bisect_left(starts, guard.start) : bisect.bisect_left(starts, guard.end)]:
        if mentions_metric(other.value, change.metric, prefixes) and in_alternatives(ctx, other, replacement):
            return True
    return False


def _compared_sites(ctx: "RuleContext") -> tuple[list[int], list[Site]]:
    """The document's compared sites in file order, and where each starts."""
    found = sorted(((s.to_file(0), i, s) for i, s in enumerate(ctx.doc.sites) if s.context.compared))
    return [start for start, _i, _s in found], [s for _start, _i, s in found]


# Why renaming a compared name is not safe although the values are the same.
COMPARED_REASON = (
    "the program compares the name with data (scraped names, labels, a config); on servers older than the "
    "rename the renamed test stops matching — check where the data comes from"
)


# --------------------------------------------------------------------------- removal


def whole_stale_name(value: str | None, prefixes: tuple[str, ...], target: Target, kinds: set[ChangeKind]) -> bool:
    if value is None:
        return False
    hit = classify(value.strip(), prefixes)
    if hit is None:
        return False
    status = catalogue().status_of(hit.candidates, target)
    return (
        status is not None
        and status.status is Status.GONE
        and status.change is not None
        and status.change.kind in kinds
    )


# What the collection is called in a message, for the container kinds that name a part of it.
_COLLECTION_NOUNS = {"dict-key": "dict", "mapping-key": "mapping"}


def removal_fix(
    site: Site, is_removed: Callable[[str | None], bool], what: str
) -> Fix | None:
    """The one element-removal policy: remove an entry only while the collection keeps an entry
    that is not a removed name (never an empty or null collection); a collection of nothing
    but removed names is reported for a person. The fix is scoped to the collection, and joint:
    the fix loop removes every chosen entry of one collection in a single pass (the entries
    that stay are the live ones this check saw, so the collection keeps at least one), with
    edits the format computes for them together; where it cannot, one entry per pass."""
    container = site.context.container
    if container is None or container.removal is None:
        return None
    # Stops at the first entry that stays: no copy of a list of thousands per element.
    index = container.index
    if not any(not is_removed(v) for i, v in enumerate(container.values) if i != index):
        return None
    owner = f" `{container.owner}`" if container.owner else ""
    collection = _COLLECTION_NOUNS.get(container.kind, container.kind)
    if not site.editable:
        # A read-only place (a Markdown code block, a generated file): the removal is the
        # advice, and the finding says why it is not offered as a fix.
        if not site.readonly_reason:
            return None
        return Fix(Applicability.DISPLAY_ONLY,
                   f"Remove the entry from its {collection}{owner} ({what}) — not applied: {site.readonly_reason}")
    joint = None
    if container.removal_of is not None and container.span is not None:
        joint = JointRemoval((container.span.start, container.span.end), index, len(container.values), container.removal_of)
    return Fix(
        Applicability.UNSAFE,
        f"Remove the entry from its {collection}{owner} (code that indexes or counts the collection may change; {what})",
        tuple(container.removal),
        scope=container.span,
        joint=joint,
    )


#: What a finding inside a template action adds to its message.
TEMPLATE_ACTION_NOTE = "the name is inside a template action (`{{ … }}`), which the tool never edits: change it in the template"


def report(ctx: "RuleContext", rule, dh: DataHit, message: str, fix: Fix | None = None):  # type: ignore[no-untyped-def]
    """The finding for a name written as data: at its site, or in the raw text no site covers.
    Inside a template action it says so, and its fix is advice only: template regions are
    protected (the engine refuses edits there too)."""
    if dh.in_template:
        message = f"{message}; {TEMPLATE_ACTION_NOTE}"
        if fix is not None and fix.applicability is not Applicability.DISPLAY_ONLY:
            fix = Fix(Applicability.DISPLAY_ONLY, fix.message)
    if dh.site is None:
        return ctx.finding(rule, dh.span(), message, fix=fix)
    return ctx.site_finding(rule, dh.site, dh.hit.start, dh.hit.end, message, fix=fix)


def iter_data_hits(ctx: "RuleContext", kinds: set[ChangeKind], statuses: set[Status]) -> Iterator[DataHit]:
    for dh in data_hits(ctx):
        change = dh.status.change
        if dh.status.status in statuses and change is not None and change.kind in kinds:
            yield dh


def is_prose(site: Site | None) -> bool:
    """Text for people (a title, an annotation, a comment), not data a program reads."""
    return site is None or site.context.prose is not None


# Keys whose values people read: a name there is not a metric anything queries.
_TEXT_KEYS = frozenset({
    "title", "foldertitle", "folder", "description", "summary", "message", "content", "text",
    "tags", "help", "runbook", "runbook_url", "note", "notes",
})


def mention_kind(ctx: "RuleContext", site: Site | None) -> str:
    """How a name outside PromQL is used, for what a message may claim about it: "data" (a
    name a program reads: a list of metric names, a config value, a string in code), "query"
    (a query for a datasource that is not Prometheus: Loki, Elasticsearch…), or "text" (prose,
    a title, a tag, a sentence in a JSON or YAML value outside a dashboard's queries)."""
    if is_prose(site):
        return "text"
    assert site is not None
    if site.context.not_prometheus:
        return "query"
    ctx_ = site.context
    keys = (ctx_.field, ctx_.dict_key, ctx_.container.owner if ctx_.container else None)
    if any(k and k.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() in _TEXT_KEYS for k in keys):
        return "text"
    if site.kind is SiteKind.TEXT and ctx_.grafana is None and ctx.doc.format in ("json", "yaml"):
        return "text"  # a sentence in a value, not a query a dashboard runs (a Cloud Monitoring filter)
    return "data"


def gone_effect(ctx: "RuleContext", site: Site | None, gone: str | None, *, in_template: bool = False) -> str:
    """What a removed metric's name means where it is written: no data where a program reads
    it (a template action writes it out for one); elsewhere only that the words may mislead."""
    kind = "data" if in_template and (site is None or not is_prose(site)) else mention_kind(ctx, site)
    if kind == "query":
        return "this query is not for Prometheus, so it reads no metric by that name, but the old name may mislead"
    if kind == "text":
        return "this text still names the old metric and may mislead"
    return f"it has no data on {minor(gone)}+"


# Collections named for the names they keep on purpose: renaming an entry would defeat them.
_ON_PURPOSE = re.compile(r"(?i)forbid|deny|denied|block|banned|drop|exclud|ignor|deprecat|legacy|removed|obsolete|\bold\b|_old\b|^old_")


def kept_on_purpose(site: Site) -> str | None:
    """The owner name when the collection (or variable, key) says it holds old names on purpose
    (`forbidden_metrics`, `LEGACY_NAMES`, `drop:`), else None."""
    ctx = site.context
    for name in (ctx.container.owner if ctx.container else None, ctx.assigned_to, ctx.dict_key, ctx.field):
        if name and _ON_PURPOSE.search(name.rsplit("/", 1)[-1].rsplit(".", 1)[-1]):
            return name
    return None
