from migrator.model import Applicability, Fix, Severity
from migrator.promql_findings import references, rewrite_fix, rule_kind
from migrator.reference.catalogue import CANONICAL_NAME
from migrator.rule import Rule


class RemovedMetricRegexMatch(Rule):
    """A `__name__=~` regex that matches the removed metric among other metrics.

    ## What it does
    Finds name regexes such as `{__name__=~"vllm:prompt_tokens_(cached|recomputed)_total"}`
    or `{__name__=~"vllm:prompt_tokens_cached_total|vllm:prompt_tokens_recomputed_total"}`
    that select `vllm:prompt_tokens_recomputed` together with series that still exist.
    (A regex that selects only the removed metric is VMM001.)

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
    # A name regex that matches the removed metric spells "recomputed" (`…(cached|recomputed)…`)
    # or ends in a wildcard after "prompt_tokens" (`vllm:prompt_tokens_.*`).
    needles = (b"recomputed", b"prompt_tokens_.*", b"prompt_tokens.*")

    def check(self, ctx):
        for site, _analysis, ref in references(ctx, ("regex-among-others",)):
            if rule_kind(site) == "record":
                continue  # VMM003 reports it
            fix = (
                rewrite_fix(site, ref.regex_rewrite, "Drop the removed name from the alternation")
                if ref.regex_rewrite is not None
                else Fix(Applicability.DISPLAY_ONLY, f"Make the regex exclude `{CANONICAL_NAME}` by hand")
            )
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"the name regex `{ref.name}` also matches `{CANONICAL_NAME}`, removed in vLLM v0.20.0: "
                "the result silently loses that series on v0.20+",
                fix=fix,
            )
