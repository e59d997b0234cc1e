import bisect

from migrator.formats.base import SiteKind
from migrator.model import Applicability, Fix, Severity, Span
from migrator.promql_findings import PROMQL_KINDS
from migrator.reference.catalogue import CANONICAL_NAME, find_removed_names
from migrator.rule import Rule

_DEFINITIONS = {
    "prometheus_client": "defines a prometheus_client instrument with the removed name",
    "opentelemetry": "defines an OpenTelemetry instrument with the removed name",
}


class RemovedMetricName(Rule):
    """The removed metric's name as data rather than PromQL.

    ## What it does
    Reports `vllm:prompt_tokens_recomputed` (any prefixed spelling) where it is a value, not a
    query: elements of lists, sets and tuples of metric names, dict keys, `Counter(...)` and
    OpenTelemetry instrument definitions, exposition fixtures (`# HELP`/`# TYPE` lines),
    allowlists in configuration, and any other mention in JSON, YAML or Python that no more
    specific rule explains.

    ## Why is this bad?
    A scraper that looks the name up finds nothing on vLLM v0.20+, a test fixture describes a
    server that no longer exists, and an allowlist keeps a dead entry.

    ## Example
    ```python
    SCRAPED = [
        "vllm:prompt_tokens_total",
        "vllm:prompt_tokens_recomputed_total",
    ]
    ```
    Use instead:
    ```python
    SCRAPED = [
        "vllm:prompt_tokens_total",
    ]
    ```

    ## Fix safety
    Removing the element from a literal list, set, tuple, sequence or dict is **unsafe**: code
    may index the collection or expect the entry. Everything else is **display-only**. If the
    name is kept on purpose (an allowlist of "must not be exposed" metrics), suppress the line
    with `# vllm-metrics-migrator: ignore[VMM005]`.
    """

    code = "VMM005"
    name = "removed-metric-name"
    severity = Severity.WARNING
    fix_availability = "sometimes"
    formats_label = "all structured formats"
    formats = frozenset({"json", "yaml", "python"})
    needles = (b"prompt_tokens_recomputed",)

    def check(self, ctx):
        prefixes = tuple(ctx.settings.metric_prefixes)
        covered: list[Span] = []
        for site in ctx.doc.sites:
            if site.kind in PROMQL_KINDS:
                covered.append(site.file_span(0, len(site.value)))
                continue
            for match in find_removed_names(site.value, prefixes):
                span = site.file_span(match.start, match.end)
                covered.append(span)
                if not match.prefixed:
                    continue  # VMM007 reports bare names
                yield ctx.site_finding(self, site, match.start, match.end, self._message(site, match.text),
                                       fix=self._fix(site, match))
        yield from self._uncovered(ctx, prefixes, covered)

    def _message(self, site, name):
        definition = site.context.get("definition")
        if definition in _DEFINITIONS:
            return f"`{name}`: {_DEFINITIONS[definition]}, removed in vLLM v0.20.0; nothing will read it"
        if site.kind is SiteKind.NAME:
            return f"`{name}` names `{CANONICAL_NAME}`, removed in vLLM v0.20.0: a lookup of it finds nothing on v0.20+"
        return f"`{name}` mentions `{CANONICAL_NAME}`, removed in vLLM v0.20.0"

    def _fix(self, site, match):
        removal = site.context.get("element_removal")
        whole = site.value.strip() == match.text
        if site.kind is SiteKind.NAME and removal and whole and site.editable:
            scope = site.context.get("container_span")
            return Fix(Applicability.UNSAFE, f"Remove the entry from its {site.context.get('container', 'container')} "
                       "(code that indexes or counts the collection may change)", tuple(removal),
                       scope=scope if isinstance(scope, Span) else _as_span(scope))
        if site.context.get("definition"):
            return Fix(Applicability.DISPLAY_ONLY, "Delete the instrument and whatever increments it")
        return Fix(Applicability.DISPLAY_ONLY, "Delete the reference, or use `vllm:prompt_tokens_cached_total` "
                   "if the cached-token count is what it is for")

    def _uncovered(self, ctx, prefixes, covered):
        """A safety net: every prefixed spelling in the raw file that no site explained."""
        inside = _Coverage(covered)
        for match in find_removed_names(ctx.doc.text, prefixes):
            if not match.prefixed:
                continue
            if inside(match.start, match.end):
                continue
            yield ctx.finding(
                self, Span(match.start, match.end),
                f"`{match.text}` mentions `{CANONICAL_NAME}`, removed in vLLM v0.20.0",
                fix=Fix(Applicability.DISPLAY_ONLY, "Delete or update the reference by hand"),
            )


class _Coverage:
    """Whether [start, end) lies inside one of many spans, in O(log n) (a 20 MB dashboard has
    tens of thousands of sites)."""

    def __init__(self, spans):
        merged = []
        for span in sorted(spans, key=lambda sp: sp.start):
            if merged and span.start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], span.end)
            else:
                merged.append([span.start, span.end])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def __call__(self, start, end):
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and end <= self.ends[i]


def _as_span(value):
    """Handlers give the container's extent as a Span or a (start, end) pair; one element is
    removed per pass so the last element of a collection is never removed with the others."""
    if isinstance(value, tuple) and len(value) == 2:
        return Span(*value)
    return None
