import re

from migrator.model import Severity
from migrator.promql_findings import PROMQL_KINDS, rule_kind
from migrator.rule import Rule

_SHIFTED_SOURCES = ("local_cache_hit", "external_kv_transfer")
_BY_SOURCE = re.compile(r"(?:^|[:_.])prompt_tokens_by_source(?:_total)?$")


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
    needles = (b"prompt_tokens_by_source",)

    def check(self, ctx):
        from migrator.promql import ast
        from migrator.promql.parser import PromQLSyntaxError, parse

        for site in ctx.doc.sites:
            if site.kind not in PROMQL_KINDS or "prompt_tokens_by_source" not in site.value:
                continue
            try:
                root = parse(site.value)
            except (PromQLSyntaxError, RecursionError):
                continue
            alert = rule_kind(site) == "alert"
            ratio_or_comparison = any(
                isinstance(n, ast.BinaryExpr) and (n.op == "/" or n.op in ast.COMPARISON_OPS) for n in ast.walk(root)
            )
            if not (alert or ratio_or_comparison):
                continue
            for node in ast.walk(root):
                if isinstance(node, ast.VectorSelector) and node.name and _BY_SOURCE.search(node.name):
                    for m in node.matchers:
                        if m.label == "source" and any(s in m.value for s in _SHIFTED_SOURCES):
                            yield ctx.site_finding(
                                self, site, m.start, m.end,
                                f"`{m.value}` counts N-1 tokens on fully cached requests since vLLM v0.20.0 "
                                "(N before, with one recomputed token): ratios and thresholds shift slightly",
                            )
