from migrator.reference.catalogue import CANONICAL_NAME, REMOVED_METRIC, find_removed_names
from migrator.model import Severity, Span
from migrator.rule import Rule


class BareRemovedMetricName(Rule):
    """The removed metric's name without a vLLM prefix, as a whole identifier or string.

    ## What it does
    Reports `prompt_tokens_recomputed`, `prompt_tokens_recomputed_total`, the Datadog form
    `prompt_tokens_recomputed.count`, and fields or report keys named exactly after the metric,
    in every file type.

    ## Why is this bad?
    Such a name is usually a prefix-stripped lookup rebuilt at run time (`f"vllm:{name}"`) or a
    copy of the metric's value. After vLLM v0.20.0 the lookup finds nothing, and a field that
    mirrored the counter stays at zero.

    ## Example
    ```python
    COUNTERS = {"prompt_tokens_cached", "prompt_tokens_recomputed"}
    ```
    Use instead: `COUNTERS = {"prompt_tokens_cached"}` (and drop whatever read the other one).

    ## Fix safety
    No fix; severity `info`. Whether the name is still meaningful (a historical report column,
    say) is for a person to decide. It does not fail a check unless `fail-on = "info"`.
    """

    code = "VMM007"
    name = "bare-removed-metric-name"
    severity = Severity.INFO
    formats_label = "all"
    needles = (b"prompt_tokens_recomputed",)

    def check(self, ctx):
        for match in find_removed_names(ctx.doc.text, ctx.settings.metric_prefixes):
            if not match.prefixed:
                yield ctx.finding(
                    self,
                    Span(match.start, match.end),
                    f"`{match.text}` is the name of `{CANONICAL_NAME}` without its prefix; "
                    "if it is used to look up or mirror the metric, that metric is gone since "
                    f"vLLM v{REMOVED_METRIC.removed_in}",
                )
