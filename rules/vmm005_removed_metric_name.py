from migrator.formats.base import SiteKind
from migrator.model import Applicability, Fix, Severity
from migrator.name_findings import gone_words, iter_data_hits, minor, removal_fix, report, whole_stale_name
from migrator.reference.catalogue import ChangeKind, Status, catalogue
from migrator.rule import Rule

_DEFINITIONS = {
    "prometheus_client": "defines a prometheus_client instrument named after",
    "opentelemetry": "defines an OpenTelemetry instrument named after",
}


class RemovedMetricName(Rule):
    """The name of a metric vLLM removed, as data rather than PromQL.

    ## What it does
    Reports every prefixed spelling of a metric the vLLM metric catalogue lists as removed
    without a replacement at your target release (`vllm:prompt_tokens_recomputed`,
    `vllm:num_requests_swapped`, ...) where it is a value, not a query: elements of lists, sets and tuples of metric names, dict keys, `Counter(...)` and
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
    may index the collection or expect the entry. It is offered only while the collection keeps
    an entry that still exists, in every format: a collection that held nothing but removed
    names is reported, never emptied (a YAML `allow:` list never becomes null). One fix run
    removes every removable entry of a collection at once, however long the list (a suppressed
    entry stays); a second run has nothing left to do. In a place the tool never edits (a
    ```yaml code block in Markdown, which is documentation; a generated file) the removal is
    shown as **display-only** advice that says why. A program that
    defines an instrument under the old name is reported, not changed. Everything else is
    **display-only**. If the
    name is kept on purpose (an allowlist of "must not be exposed" metrics), suppress the line
    with `# vllm-metrics-migrator: ignore[VMM005]`.
    """

    code = "VMM005"
    name = "removed-metric-name"
    severity = Severity.WARNING
    fix_availability = "sometimes"
    formats_label = "Grafana JSON, YAML, Python, embedded YAML in other files"
    needle_words = ("vllm",)

    def check(self, ctx):
        prefixes = tuple(ctx.settings.metric_prefixes)
        target = ctx.settings.target
        for dh in iter_data_hits(ctx, {ChangeKind.REMOVED}, {Status.GONE}):
            if dh.prose:
                continue  # VMM008 reports prose
            metric = dh.status.series.metric
            site = dh.site
            definition = site.context.definition if site is not None else None
            removed_in = metric.first_release_without
            if definition in _DEFINITIONS:
                message = f"`{dh.hit.text}`: {_DEFINITIONS[definition]} {metric.name}, {gone_words(metric, dh.status.change)}; nothing will read it"
                fix = Fix(Applicability.DISPLAY_ONLY, "Delete the instrument and whatever increments it, "
                          "unless this program is meant to publish that name itself")
            else:
                if site is not None and site.kind is SiteKind.NAME:
                    message = (f"`{dh.hit.text}` names `{metric.name}`, {gone_words(metric, dh.status.change)}: "
                               f"a lookup of it finds nothing on {minor(removed_in)}+")
                else:
                    message = f"`{dh.hit.text}` mentions `{metric.name}`, {gone_words(metric, dh.status.change)}"
                fix = None
                if site is not None and dh.whole:
                    fix = removal_fix(
                        site,
                        lambda v: whole_stale_name(v, prefixes, target, {ChangeKind.REMOVED}),
                        f"{metric.name} has no series on {minor(removed_in)}+",
                    )
                if fix is None:
                    fix = Fix(Applicability.DISPLAY_ONLY, _advice(dh.status.change))
            yield report(ctx, self, dh, message, fix)


def _advice(change):
    flagship = catalogue().flagship
    if change.metric is flagship.removed:
        return "Delete the reference, or use `" + flagship.prompt_tokens_cached.base + "_total` if the cached-token count is what it is for"
    return "Delete the reference; " + change.advice
