from migrator.model import Applicability, Fix, Severity
from migrator.promql_findings import references, regex_live, regex_stale, rewrite_fix, rule_kind
from migrator.reference.catalogue import ChangeKind
from migrator.rule import Rule


class RemovedMetricRegexMatch(Rule):
    """A `__name__=~` regex that matches a removed metric among metrics that still exist.

    ## What it does
    Finds name regexes such as `{__name__=~"vllm:prompt_tokens_(cached|recomputed)_total"}`
    or `{__name__=~"vllm:prompt_tokens_cached_total|vllm:prompt_tokens_recomputed_total"}`
    that select a metric vLLM removed (here `vllm:prompt_tokens_recomputed`) together with
    series that still exist. (A regex that selects only removed metrics is VMM001; a wildcard
    such as `vllm:.*` means no metric in particular and is not reported.)

    ## Why is this bad?
    The query keeps working on v0.20+ but silently loses the removed series: stacked panels
    change shape, `count by (__name__)` loses a row, and an alert counting the matches fires.

    ## Example
    ```promql
    count by (model_name) ({__name__=~"vllm:prompt_tokens_cached_total|vllm:prompt_tokens_recomputed_total"}) < 2
    ```
    Use instead (and revisit the threshold, which counted the removed series):
    ```promql
    count by (model_name) ({__name__=~"vllm:prompt_tokens_cached_total"}) < 2
    ```

    ## Fix safety
    Unsafe when the regex is a plain alternation of names: the alternative is dropped, which
    is what v0.20+ returns anyway but changes what the query means. Any other regex is
    display-only.
    """

    code = "VMM006"
    name = "removed-metric-regex-match"
    severity = Severity.WARNING
    fix_availability = "unsafe"
    formats_label = "PromQL anywhere"
    needle_words = ("vllm",)

    def check(self, ctx):
        from migrator.promql.references import alternation_edit  # the parser loads only for files with PromQL

        kinds = (ChangeKind.REMOVED, ChangeKind.FORMULA)
        for site, _analysis, ref in references(ctx):
            if ref.kind != "regex" or rule_kind(site) == "record":
                continue  # VMM003 reports recording rules
            stale = [n for n in regex_stale(ref) if n.status.change.kind in kinds]
            if not stale or not regex_live(ref):
                continue  # nothing removed, or nothing else: VMM001
            names = ", ".join(dict.fromkeys(f"`{n.status.series.metric.name}`" for n in stale))
            first = stale[0].status.series.metric
            edit = alternation_edit(ref, {n.hit.text: None for n in stale})
            title = "Drop the removed names from the alternation"
            fix = (
                rewrite_fix(site, [edit], Applicability.UNSAFE,
                            f"{title}: `{edit.content}` (the regex no longer selects the removed series; "
                            "panels or rules built on the combined result change accordingly)",
                            kind="regex alternation", reason="the regex no longer selects the removed series")
                if edit is not None
                else Fix(Applicability.DISPLAY_ONLY, f"Make the regex exclude {names} by hand")
            )
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"the name regex `{ref.written}` also matches {names}, removed in vLLM "
                f"v{first.first_release_without}: the result silently loses that series on your target release",
                fix=fix,
            )
