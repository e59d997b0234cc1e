from migrator.model import Applicability, Fix, Severity
from migrator.promql_findings import references
from migrator.reference.catalogue import CANONICAL_NAME
from migrator.rule import Rule


class AbsentRemovedMetric(Rule):
    """`absent(...)` or `absent_over_time(...)` over the removed metric.

    ## What it does
    Finds absence checks of `vllm:prompt_tokens_recomputed` in any spelling, in alert rules,
    dashboards and PromQL strings.

    ## Why is this bad?
    After the upgrade to vLLM v0.20.0 the series never exists again, so
    `absent(vllm:prompt_tokens_recomputed_total)` is true forever: the alert fires on every
    evaluation and pages someone for a metric that was removed on purpose.

    ## Example
    ```yaml
    - alert: VllmMetricsMissing
      expr: absent(vllm:prompt_tokens_recomputed_total{job="vllm"})
    ```
    Use instead: an absence check of a counter that still ships, e.g.
    `absent(vllm:prompt_tokens_total{job="vllm"})`.

    ## Fix safety
    Display-only: which surviving counter proves the exporter is alive is a choice for a
    person; the finding suggests `vllm:prompt_tokens_total`.
    """

    code = "VMM002"
    name = "absent-removed-metric"
    severity = Severity.ERROR
    fix_availability = "display-only"
    formats_label = "Grafana JSON, rules YAML, Python, other YAML"
    needles = (b"prompt_tokens_recomputed",)

    def check(self, ctx):
        for site, _analysis, ref in references(ctx, ("selector", "regex-only")):
            if not ref.absent:
                continue
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"absent() over `{ref.name}` is always true on vLLM v0.20+ ({CANONICAL_NAME} was "
                "removed): this fires forever after the upgrade",
                fix=Fix(
                    Applicability.DISPLAY_ONLY,
                    "Check a counter that still ships instead, e.g. `absent(vllm:prompt_tokens_total{…})`, "
                    "or delete the alert",
                ),
            )
