from migrator.model import Severity
from migrator.promql_findings import references
from migrator.rule import Rule


class MetricMeaningChanged(Rule):
    """A vLLM metric whose name stayed but whose meaning changed at a release before your target.

    ## What it does
    Reports PromQL selectors of metrics the vLLM metric catalogue lists with a change of
    meaning at or before your target release, e.g. `vllm:iteration_tokens_total`, which from
    v0.23.0 counts the prompt tokens actually computed (not those served from a cache) plus
    generation tokens per engine step. (The v0.20.0 change of the `prompt_tokens_by_source`
    split has its own rule, VMM201.)

    ## Why is this bad?
    Nothing breaks, but values shift at the upgrade: a panel shows a step, and a threshold tuned
    on older data fires more or less often.

    ## Example
    ```promql
    histogram_quantile(0.9, sum by (le) (rate(vllm:iteration_tokens_total_bucket[5m]))) > 4096
    ```
    After: the same query, with the threshold checked against data from the new release.

    ## Fix safety
    No fix; severity `info`, so it does not fail a check unless `fail-on = "info"`.
    """

    code = "VMM202"
    name = "metric-meaning-changed"
    severity = Severity.INFO
    formats_label = "PromQL anywhere"
    needle_words = ("vllm",)

    def check(self, ctx):
        for site, _analysis, ref in references(ctx):
            status = ref.status
            if ref.kind not in ("name", "matcher", "family") or status is None:
                continue
            for change in status.meaning:
                if change.label is not None:
                    continue  # label-specific changes: VMM201
                pr = f" (PR #{change.pr})" if change.pr else ""
                yield ctx.site_finding(
                    self, site, ref.start, ref.end,
                    f"`{ref.written}` {change.what} since vLLM v{change.since}{pr}: values before and after "
                    "the upgrade differ; check thresholds and panels against new data",
                )
