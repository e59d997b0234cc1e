from migrator.formats.base import SiteKind
from migrator.model import Severity
from migrator.promql_findings import references, reference_fix, removed_message, rule_kind
from migrator.rule import Rule


class RemovedMetricInPromql(Rule):
    """A PromQL selector of `vllm:prompt_tokens_recomputed`, in any spelling, anywhere PromQL lives.

    ## What it does
    Finds the removed counter in dashboard targets, templating queries (`label_values(...)`,
    `query_result(...)`), annotations, alerting rule `expr`s, unified-alerting
    `data[].model.expr`, PromQL in Python strings and in other YAML: by name
    (`vllm:…_total`, `vllm_…`, `ray_vllm…`, no suffix), by `__name__="…"`, and by a
    `__name__=~` regex that selects only it.

    ## Why is this bad?
    vLLM v0.20.0 removed the counter outright (PR #38709). The selector matches nothing on a
    v0.20+ server: panels go blank, sums silently lose a term, alerts never fire.

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
    Term elimination (the removed series is an operand of `+`/`-`) is **safe** when the
    embedded reference stats give the same value on v0.20+ counters as the original on
    v0.16–v0.19 counters for vLLM's six canonical cases and simulated mixes
    (`local + external - recomputed` → `local + external`), and **unsafe** otherwise, with the
    measured difference (`cached + recomputed` → `cached` is one token less per fully cached
    request). A Grafana target that is only the removed metric is removed (**unsafe**) when
    its panel keeps another target; `label_values()` over it can take its values from
    `vllm:prompt_tokens_cached_total` (**unsafe**). Anything else (a standalone alert, a ratio
    of recomputed tokens, `topk` of it) is **display-only**: no v0.20+ expression gives the old
    value. Grafana legends, titles and descriptions of such panels that mention recomputed
    tokens are reported with severity info and never edited.
    """

    code = "VMM001"
    name = "removed-metric-in-promql"
    severity = Severity.ERROR
    fix_availability = "sometimes"
    formats_label = "Grafana JSON, rules YAML, Python, other YAML"
    needles = (b"prompt_tokens_recomputed",)

    def check(self, ctx):
        affected_panels = set()
        for site, analysis, ref in references(ctx, ("selector", "regex-only")):
            if ref.absent or rule_kind(site) == "record":
                continue  # VMM002 and VMM003 report these
            grafana = site.context.get("grafana")
            if grafana:
                affected_panels.add(_panel_key(grafana))
            yield ctx.site_finding(
                self, site, ref.start, ref.end, removed_message(ref), fix=reference_fix(site, analysis, ref)
            )
        if affected_panels:
            yield from self._prose(ctx, affected_panels)

    def _prose(self, ctx, panels):
        for site in ctx.doc.sites:
            grafana = site.context.get("grafana")
            if site.kind is not SiteKind.TEXT or "prose" not in site.context or grafana is None:
                continue
            if _panel_key(grafana) not in panels:
                continue
            lowered = site.value.lower()
            at = lowered.find("recomput")
            if at == -1:
                continue
            end = at
            while end < len(lowered) and lowered[end].isalpha():
                end += 1
            yield ctx.site_finding(
                self, site, at, end,
                f"the panel's {site.context['prose']} mentions recomputed tokens, which v0.20+ no "
                "longer reports; reword it when you change the panel",
                severity=Severity.INFO,
            )


def _panel_key(grafana):
    return (grafana.get("uid"), grafana.get("panel_id"), grafana.get("panel_title"))
