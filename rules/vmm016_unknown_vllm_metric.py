from migrator.model import Severity
from migrator.promql_findings import unknown_names
from migrator.reference.catalogue import catalogue
from migrator.rule import Rule


class UnknownVllmMetric(Rule):
    """A `vllm:` name in PromQL that no vLLM release exposed and nothing in the catalogue resembles.

    ## What it does
    Reports, as information, metric names with a vLLM prefix that the vLLM metric catalogue
    (every release from 0.2.0 on) does not know and that are not a near miss of a known name
    (those are VMM013). Programs around vLLM publish their own `vllm:` metrics (routers,
    simulators, exporters); the ones the catalogue knows are never reported.

    ## Why is this bad?
    It may be fine — another program's metric — or a name from a vLLM fork or a custom build
    that a stock server will not expose.

    ## Example
    ```promql
    sum(rate(vllm:request_retries_total[5m]))
    ```
    If no program you run publishes it, the panel stays blank.

    ## Fix safety
    No fix; severity `info`, so it does not fail a check unless `fail-on = "info"`. Suppress
    it where the metric is yours (`# vllm-metrics-migrator: ignore[VMM016]`).
    """

    code = "VMM016"
    name = "unknown-vllm-metric"
    severity = Severity.INFO
    formats_label = "PromQL anywhere"
    needle_words = ("vllm:",)

    def check(self, ctx):
        cat = catalogue()
        first, newest = cat.releases[0], cat.newest
        for site, ref, _prefix, close in unknown_names(ctx):
            if close:
                continue  # VMM013: a near miss of a real name
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"`{ref.written}` is not a metric any vLLM release exposed (v{first}–v{newest}); "
                "fine if another program publishes it",
            )
