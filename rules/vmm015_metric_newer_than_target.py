from migrator.model import Severity
from migrator.name_findings import report, status_words
from migrator.promql_findings import references
from migrator.reference.catalogue import Status, catalogue
from migrator.rule import Rule


class MetricNewerThanTarget(Rule):
    """A vLLM metric that your target release does not expose yet.

    ## What it does
    With `--target-version` (or `target-version` in the configuration) set to a release older
    than the newest, finds uses of metrics first exposed after that release, in PromQL and as
    data: `vllm:kv_cache_usage_perc` with `--target-version 0.9.0` (it appears in v0.9.2).

    ## Why is this bad?
    Servers running the target release have no such series: the panel is blank until they
    are upgraded, and an alert on it never fires.

    ## Example
    ```promql
    # --target-version 0.9.0
    max(vllm:kv_cache_usage_perc) > 0.95
    ```
    Use instead, while servers run v0.9.0: `max(vllm:gpu_cache_usage_perc) > 0.95`.

    ## Fix safety
    No fix: upgrading the servers, or keeping both names in the query until then, is a
    decision for a person.
    """

    code = "VMM015"
    name = "metric-newer-than-target"
    severity = Severity.WARNING
    formats_label = "Grafana JSON, YAML, Python, embedded YAML/PromQL in other files"
    needle_words = ("vllm",)

    def check(self, ctx):
        target = ctx.settings.target
        if target.release == catalogue().newest:
            return
        for site, _analysis, ref in references(ctx):
            if ref.kind in ("name", "matcher") and ref.status is not None and ref.status.status is Status.NOT_YET:
                yield ctx.site_finding(
                    self, site, ref.start, ref.end, _message(ref.written, ref.status, target)
                )
        for dh in _not_yet(ctx):
            if dh.prose:
                continue
            message = _message(dh.hit.text, dh.status, target)
            yield report(ctx, self, dh, message)


def _not_yet(ctx):
    from migrator.name_findings import data_hits

    return [dh for dh in data_hits(ctx) if dh.status.status is Status.NOT_YET]


def _message(written, status, target):
    return f"`{written}` is {status_words(status, target)}: servers on the target have no such series"
