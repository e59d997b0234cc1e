from migrator.model import Severity
from migrator.promql_findings import references, rule_kind
from migrator.rule import Rule


class ChangedCacheHitSemantics(Rule):
    """A ratio or alert over `prompt_tokens_by_source{source="local_cache_hit"|"external_kv_transfer"}`.

    ## What it does
    Reports uses of the `local_cache_hit` and `external_kv_transfer` sources of
    `vllm:prompt_tokens_by_source` in ratios (`/`), comparisons and alerting rules.

    ## Why is this bad?
    vLLM v0.20.0 corrected the split: on a fully cached request, the sources now count the N-1
    tokens actually used instead of N (with one "recomputed" token on the side). Hit-rate
    ratios read slightly lower and thresholds tuned on v0.16–v0.19 data may need a nudge; on
    prefill/decode deployments the external share can move more.

    ## Example
    ```promql
    sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[5m]))
      / sum(rate(vllm:prompt_tokens_total[5m])) < 0.5
    ```
    After: the same query, with the threshold checked against a week of v0.20+ data.

    ## Fix safety
    No fix; severity info, so it does not fail a check unless `fail-on = "info"`. Review the
    threshold against v0.20+ data (`vllm-metrics-migrator reference` shows the six cases).
    """

    code = "VMM201"
    name = "changed-cache-hit-semantics"
    severity = Severity.INFO
    formats_label = "all"
    needle_words = ("vllm",)

    def check(self, ctx):
        from migrator.promql import ast

        for site, analysis, ref in references(ctx):
            status = ref.status
            if ref.kind not in ("name", "matcher") or status is None or analysis.root is None:
                continue
            changes = [m for m in status.meaning if m.label is not None]
            if not changes:
                continue
            alert = rule_kind(site) == "alert"
            ratio_or_comparison = any(
                isinstance(n, ast.BinaryExpr) and (n.op == "/" or n.op in ast.COMPARISON_OPS)
                for n in ast.walk(analysis.root)
            )
            if not (alert or ratio_or_comparison):
                continue
            for change in changes:
                for m in ref.selector.matchers:
                    if m.label == change.label and any(v in m.value for v in change.values):
                        pr = f", PR #{change.pr}" if change.pr else ""
                        yield ctx.site_finding(
                            self, site, m.start, m.end,
                            f"`{m.value}` {change.what} since vLLM v{change.since}{pr}: ratios and "
                            "thresholds shift slightly",
                        )
