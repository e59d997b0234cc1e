from migrator.model import Applicability, Fix, Severity
from migrator.name_findings import gone_words, iter_data_hits, report
from migrator.promql_findings import gone_message, references, removed, rule_kind
from migrator.reference.catalogue import ChangeKind, Status
from migrator.replacement_fixes import promql_formula_fix
from migrator.rule import Rule


class RemovedMetricWithFormula(Rule):
    """A removed vLLM metric that an expression over surviving metrics replaces.

    ## What it does
    Finds uses of metrics the vLLM metric catalogue lists as removed with a replacement
    formula — the V0 gauges `vllm:gpu_prefix_cache_hit_rate` (now the ratio of the prefix-cache
    hit and query counters), `vllm:avg_prompt_throughput_toks_per_s` and
    `vllm:avg_generation_throughput_toks_per_s` (now `rate()` of the token counters),
    `vllm:spec_decode_draft_acceptance_rate` — in PromQL and as data, in every spelling.

    In a query, a name that a compatibility recording rule of the same run records again
    (`record:` the old name, `expr:` what replaces it) is reported as info that names the rule:
    the series exists while that rule is deployed (README: How it works → Compatibility
    recording rules). The rule itself is not reported.

    ## Why is this bad?
    The gauge is gone at your target release: the panel is blank and the alert never fires.

    ## Example
    ```promql
    avg by (model_name) (vllm:avg_generation_throughput_toks_per_s{model_name=~"$model"})
    ```
    Use instead:
    ```promql
    avg by (model_name) (rate(vllm:generation_tokens_total{model_name=~"$model"}[$__rate_interval]))
    ```

    ## Fix safety
    **Unsafe** in PromQL: vLLM computed the gauge over its own logging interval, so the rate
    over a window you choose gives close, not equal, values (`$__rate_interval` in Grafana,
    `5m` elsewhere); the selector's matchers are carried to every counter of the formula. A
    selector with a range, `offset` or `@` of its own is not rewritten. Grafana's
    `label_values()`/`label_names()` (and the variable editor's `metric`) take a series
    selector, not an expression: there the gauge
    becomes the first counter of its formula (**unsafe**: other servers may expose it). **Display-only**
    elsewhere (a name in a list or a config value cannot become an expression).
    """

    code = "VMM011"
    name = "removed-metric-with-formula"
    severity = Severity.ERROR
    reports_stale_name = True
    fix_availability = "sometimes"
    formats_label = "Grafana JSON, YAML, Python, embedded YAML/PromQL in other files"
    needle_words = ("vllm",)

    def check(self, ctx):
        for site, analysis, ref in references(ctx):
            if ref.absent or rule_kind(site) == "record" or ref.kind not in ("name", "matcher", "family"):
                continue  # VMM002 and VMM003 report these
            if not removed(ref.status, ChangeKind.FORMULA):
                continue
            yield ctx.site_finding(
                self, site, ref.start, ref.end, gone_message(ref),
                fix=promql_formula_fix(site, analysis, ref, ref.change),
            )
        for dh in iter_data_hits(ctx, {ChangeKind.FORMULA}, {Status.GONE}):
            if dh.prose:
                continue
            change = dh.status.change
            metric = change.metric
            fix = Fix(Applicability.DISPLAY_ONLY, change.advice[:1].upper() + change.advice[1:])
            verb = "defines an instrument named after" if dh.site is not None and dh.site.context.definition else "names"
            message = f"`{dh.hit.text}` {verb} `{metric.name}`, {gone_words(metric, change)}"
            yield report(ctx, self, dh, message, fix=fix)
