from migrator.model import Applicability, Fix, Severity
from migrator.promql_findings import references, rewrite_fix
from migrator.reference.catalogue import Status, catalogue
from migrator.rule import Rule

# The sample a family's bare name most likely meant, by metric type.
_SERIES_SUFFIX = {"Counter": "_total", "Info": "_info"}


class MetricFamilyWithoutSuffix(Rule):
    """A vLLM counter, histogram or info family name used in PromQL without its sample suffix.

    ## What it does
    Finds selectors of a family name that no scrape returns: prometheus_client exposes a
    counter `vllm:prompt_tokens` as `vllm:prompt_tokens_total` (and `_created`), a histogram
    `vllm:e2e_request_latency_seconds` as `_bucket`, `_sum` and `_count`, an info metric with
    `_info`. Only metrics the target release exposes are checked (gone ones are VMM001/VMM010).

    ## Why is this bad?
    The selector matches nothing in Prometheus: the panel is blank and `rate()` of it returns
    no data, which looks exactly like an idle server.

    ## Example
    ```promql
    sum(rate(vllm:prompt_tokens[5m]))
    ```
    Use instead: `sum(rate(vllm:prompt_tokens_total[5m]))`.

    ## Fix safety
    **Unsafe** for a counter (`_total`) or an info metric (`_info`): the query starts returning
    data, which is the point but changes every result. **Display-only** for a histogram: which
    of `_bucket`, `_sum` and `_count` the query meant is for a person.
    """

    code = "VMM014"
    name = "metric-family-without-suffix"
    severity = Severity.WARNING
    fix_availability = "sometimes"
    formats_label = "PromQL anywhere"
    needle_words = ("vllm",)

    def check(self, ctx):
        from migrator.promql.references import rename_edit  # the parser loads only for files with PromQL

        cat = catalogue()
        for site, _analysis, ref in references(ctx):
            status = ref.status
            if ref.kind != "family" or status is None or status.status is Status.GONE:
                continue
            metric = status.series.metric
            suffix = _SERIES_SUFFIX.get(metric.type)
            queried = [s for s in metric.exposed if not s.endswith("_created")]  # a timestamp, not data
            fix = Fix(Applicability.DISPLAY_ONLY, f"Select one of {', '.join(f'`{s}`' for s in queried)}")
            if suffix is not None:
                wanted = [s for s in cat.lookup((metric.base + suffix).split(":", 1)[1]) if s.metric is metric]
                edit = rename_edit(ref, wanted[0]) if wanted else None
                if edit is not None:
                    fix = rewrite_fix(
                        site, [edit], Applicability.UNSAFE,
                        f"Select the exposed series `{edit.content}` (the query starts returning data)",
                        scoped=False,
                    )
            yield ctx.site_finding(
                self, site, ref.start, ref.end,
                f"`{ref.written}` is the {metric.type.lower()} family name; Prometheus stores its samples as "
                f"{', '.join(f'`{s}`' for s in queried)}: this selector matches nothing",
                fix=fix,
            )
