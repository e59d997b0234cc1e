from migrator.model import Applicability, Fix, Severity
from migrator.name_findings import gone_words
from migrator.promql_findings import references, regex_stale, removed, removed_metric_fix, rule_kind
from migrator.reference.catalogue import ChangeKind
from migrator.rule import Rule


class RecordingRuleOfRemovedMetric(Rule):
    """A recording rule whose `expr` uses a metric vLLM removed.

    ## What it does
    Finds `record:` rules in Prometheus rule files (plain, PrometheusRule, ConfigMap-embedded,
    multi-document) whose expression selects a metric the vLLM metric catalogue lists as
    removed at your target release (`vllm:prompt_tokens_recomputed` and the others), in any
    spelling.
    The recorded series is added to the run's set of dead series, so every use of it, in any
    file of the run, is reported as VMM004 (unless the rule records a vLLM metric's own name:
    uses of that name are reported as the metric they name, once).

    When a compatibility recording rule of the same run records the removed name again (`record:`
    the exact name this rule reads), the finding is info naming that rule, and the recorded
    series does not die (README: How it works → Compatibility recording rules).

    ## Why is this bad?
    The recorded series dies with its input: on vLLM v0.20+ the rule records nothing, and
    everything built on the recorded name (alerts, dashboards, other recording rules) goes
    blank too, far from the line that caused it.

    ## Example
    ```yaml
    - record: vllm:prompt_tokens_recomputed:rate5m
      expr: sum by (model_name) (rate(vllm:prompt_tokens_recomputed_total[5m]))
    ```
    Use instead: delete the rule and its users; a rule that records an era-(a) identity keeps
    working after term elimination:
    ```yaml
    - record: model:vllm_prompt_tokens_served_from_cache:rate5m
      expr: sum by (model_name) (rate(vllm:prompt_tokens_by_source_total{source=~"local_cache_hit|external_kv_transfer"}[5m]))
    ```

    ## Fix safety
    As VMM001 for the expression: term elimination is safe or unsafe by the reference
    module's verdict; a rule that records only the removed series is display-only (delete the
    rule and its users).
    """

    code = "VMM003"
    name = "recording-rule-of-removed-metric"
    severity = Severity.ERROR
    reports_stale_name = True
    fix_availability = "sometimes"
    formats_label = "rules YAML"
    needle_words = ("vllm",)

    def check(self, ctx):
        kinds = (ChangeKind.REMOVED, ChangeKind.FORMULA)
        for site, analysis, ref in references(ctx):
            if rule_kind(site) != "record":
                continue
            if ref.kind in ("name", "matcher", "family") and any(removed(ref.status, k) for k in kinds):
                metric = ref.status.series.metric
                killed_by = ref.written
                fix = (
                    removed_metric_fix(ctx, site, analysis, ref)
                    if ref.change.kind is ChangeKind.REMOVED
                    else Fix(Applicability.DISPLAY_ONLY, ref.change.advice[:1].upper() + ref.change.advice[1:])
                )
            elif ref.kind == "regex" and regex_stale(ref):
                stale = [n for n in regex_stale(ref) if n.status.change.kind in kinds]
                if not stale:
                    continue
                metric = stale[0].status.series.metric
                killed_by = None  # a regex: no single name a compatibility rule could record
                fix = None
            else:
                continue
            record = site.context.rule.name or ""
            if record:
                ctx.declare_dead_series(record, killed_by)
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"recording rule `{record}` is computed from `{metric.name}`, {gone_words(metric, ref.change)}: "
                "the recorded series stops too, and so does everything that uses it",
                fix=fix,
            )
