from migrator.model import Severity
from migrator.promql_findings import references, reference_fix, rule_kind
from migrator.reference.catalogue import CANONICAL_NAME
from migrator.rule import Rule


class RecordingRuleOfRemovedMetric(Rule):
    """A recording rule whose `expr` uses the removed metric.

    ## What it does
    Finds `record:` rules in Prometheus rule files (plain, PrometheusRule, ConfigMap-embedded,
    multi-document) whose expression selects `vllm:prompt_tokens_recomputed` in any spelling.
    The recorded series is added to the run's set of dead series, so every use of it, in any
    file of the run, is reported as VMM004.

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
    fix_availability = "sometimes"
    formats_label = "rules YAML"
    needles = (b"prompt_tokens_recomputed",)

    def check(self, ctx):
        for site, analysis, ref in references(ctx, ("selector", "regex-only", "regex-among-others")):
            if rule_kind(site) != "record":
                continue
            record = site.context["rule"].get("name") or ""
            if record:
                ctx.doc.extra.setdefault("dead_series", set()).add(record)
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"recording rule `{record}` is computed from `{CANONICAL_NAME}`, removed in vLLM "
                "v0.20.0: the recorded series stops too, and so does everything that uses it",
                fix=reference_fix(site, analysis, ref) if ref.kind != "regex-among-others" else None,
            )
