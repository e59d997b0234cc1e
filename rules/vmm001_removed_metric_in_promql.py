from migrator.model import Applicability, Fix, Severity
from migrator.promql_findings import gone_message, only_stale, references, regex_stale, removed, removed_metric_fix, rule_kind
from migrator.reference.catalogue import ChangeKind
from migrator.rule import Rule

class RemovedMetricInPromql(Rule):
    """A PromQL selector of a vLLM metric that was removed with nothing to replace it.

    ## What it does
    Finds, anywhere PromQL lives — dashboard targets, templating queries (`label_values(...)`,
    `query_result(...)`), annotations, alerting rule `expr`s, unified-alerting
    `data[].model.expr`, PromQL in Python strings and in other YAML — every selector of a
    metric the vLLM metric catalogue lists as removed without a replacement at your target
    release: `vllm:prompt_tokens_recomputed` (v0.20.0, PR #38709), `vllm:num_requests_swapped`,
    `vllm:cpu_cache_usage_perc`, `vllm:cpu_prefix_cache_hit_rate`,
    `vllm:model_forward_time_milliseconds`, `vllm:model_execute_time_milliseconds`,
    `vllm:tokens_total`, ... It matches every spelling: by name (`vllm:…_total`, `vllm_…`,
    `ray_vllm…`, a bare family name), by `__name__="…"`, and by a `__name__=~` regex that selects
    only removed metrics.

    In a query, a name that a compatibility recording rule of the same run records again
    (`record:` the old name, `expr:` what replaces it) is reported as info that names the rule:
    the series exists while that rule is deployed (README: How it works → Compatibility
    recording rules). The rule itself is not reported.

    ## Why is this bad?
    The selector matches nothing on a server running the target release: panels go blank, sums
    silently lose a term, alerts never fire.

    ## Example
    ```promql
    sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[5m]))
      + sum(rate(vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}[5m]))
      - sum(rate(vllm:prompt_tokens_recomputed_total[5m]))
    ```
    Use instead (v0.20+ counts full hits as N-1 tokens, so the term is no longer needed):
    ```promql
    sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[5m]))
      + sum(rate(vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}[5m]))
    ```

    ## Fix safety
    Term elimination (the removed series is an operand of `+`/`-`) is **safe** only when the
    embedded reference model proves the rewritten expression on v0.20+ counters equals the
    original on v0.16–v0.19 counters (`local + external - recomputed` → `local + external`),
    and **unsafe** otherwise, with the measured difference (`cached + recomputed` → `cached` is
    one token less per fully cached request); the model covers the prompt-token counters only,
    so dropping any other removed metric's term is unsafe. A Grafana target that is only the
    removed metric is removed (**unsafe**) when its panel keeps another visible target and no
    server-side expression of the panel (`$A / $B`) reads it;
    `label_values()` over the removed counter can take its values from
    `vllm:prompt_tokens_cached_total` (**unsafe**). Anything else (a standalone alert, a ratio,
    `topk` of it) is **display-only**, with the nearest advice from the catalogue.
    """

    code = "VMM001"
    name = "removed-metric-in-promql"
    severity = Severity.ERROR
    reports_stale_name = True
    fix_availability = "sometimes"
    formats_label = "Grafana JSON, YAML, Python, embedded YAML/PromQL in other files"
    needle_words = ("vllm",)

    def check(self, ctx):
        for site, analysis, ref in references(ctx):
            if ref.absent or rule_kind(site) == "record":
                continue  # VMM002 and VMM003 report these
            if ref.kind in ("name", "matcher", "family") and removed(ref.status, ChangeKind.REMOVED):
                yield ctx.site_finding(
                    self, site, ref.start, ref.end, gone_message(ref), fix=removed_metric_fix(ctx, site, analysis, ref)
                )
            elif ref.kind == "regex" and only_stale(ref, {ChangeKind.REMOVED, ChangeKind.FORMULA}):
                names = ", ".join(dict.fromkeys(f"`{h.status.series.metric.name}`" for h in regex_stale(ref)))
                yield ctx.site_finding(
                    self, site, ref.start, ref.end,
                    f"the name regex `{ref.written}` selects only metrics vLLM removed ({names}): this "
                    "query gets no data on your target release",
                    fix=Fix(Applicability.DISPLAY_ONLY, "Delete the query, or point the regex at metrics that still ship"),
                )
