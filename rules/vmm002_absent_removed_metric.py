from migrator.model import Applicability, Fix, Severity
from migrator.name_findings import gone_words, minor
from migrator.promql_findings import references, removed
from migrator.reference.catalogue import ChangeKind, catalogue
from migrator.rule import Rule


class AbsentRemovedMetric(Rule):
    """`absent(...)` or `absent_over_time(...)` over a metric vLLM removed.

    ## What it does
    Finds absence checks of any metric the vLLM metric catalogue lists as removed at your
    target release (with or without a replacement formula), in any spelling, in alert rules,
    dashboards and PromQL strings. (A renamed metric is VMM010's: renaming it inside
    `absent()` keeps the check meaningful.)

    In a query, a name that a compatibility recording rule of the same run records again
    (`record:` the old name, `expr:` what replaces it) is reported as info that names the rule:
    the series exists while that rule is deployed (README: How it works → Compatibility
    recording rules). The rule itself is not reported.

    ## Why is this bad?
    After the upgrade the series never exists again, so
    `absent(vllm:prompt_tokens_recomputed_total)` is true forever on v0.20+: the alert fires on every
    evaluation and pages someone for a metric that was removed on purpose.

    ## Example
    ```yaml
    - alert: VllmMetricsMissing
      expr: absent(vllm:prompt_tokens_recomputed_total{job="vllm"})
    ```
    Use instead: an absence check of a counter that still ships, e.g.
    `absent(vllm:prompt_tokens_total{job="vllm"})`.

    ## Fix safety
    Display-only: which surviving metric proves the exporter is alive is a choice for a
    person; for the prompt-token counter the finding suggests `vllm:prompt_tokens_total`.
    """

    code = "VMM002"
    name = "absent-removed-metric"
    severity = Severity.ERROR
    reports_stale_name = True
    fix_availability = "display-only"
    formats_label = "Grafana JSON, YAML, Python, embedded YAML/PromQL in other files"
    needle_words = ("vllm",)

    def check(self, ctx):
        flagship = catalogue().flagship
        kinds = (ChangeKind.REMOVED, ChangeKind.FORMULA)
        for site, _analysis, ref in references(ctx):
            if not ref.absent or ref.kind not in ("name", "matcher", "family"):
                continue
            if not any(removed(ref.status, kind) for kind in kinds):
                continue
            metric = ref.status.series.metric
            advice = flagship.absent_advice if metric is flagship.removed else (
                "check a metric that still ships instead, or delete the alert"
            )
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"absent() over `{ref.written}` is always true on vLLM {minor(metric.first_release_without)}+: "
                f"`{metric.name}` was {gone_words(metric, ref.change)}, so this fires forever after the upgrade",
                fix=Fix(Applicability.DISPLAY_ONLY, advice[:1].upper() + advice[1:]),
            )
