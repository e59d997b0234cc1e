from migrator.model import Severity, Span
from migrator.reference.catalogue import Status, catalogue
from migrator.reference.spellings import find_bare
from migrator.rule import Rule


class BareRemovedMetricName(Rule):
    """The removed prompt-token counter's name without a vLLM prefix, as a whole identifier or string.

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

    def needles(self, settings):
        flagship = catalogue().flagship
        return (flagship.removed.stem,) if flagship.report_bare_name else ()

    def check(self, ctx):
        flagship = catalogue().flagship
        if not flagship.report_bare_name:
            return
        removed = flagship.removed
        if catalogue().metric_status(removed, ctx.settings.target) is not Status.GONE:
            return  # the metric still exists at the target
        for start, end, text in find_bare(ctx.doc.text, removed.stem):
            yield ctx.finding(
                self,
                Span(start, end),
                f"`{text}` is the name of `{removed.name}` without its prefix; "
                "if it is used to look up or mirror the metric, that metric is gone since "
                f"vLLM v{removed.first_release_without}",
            )
