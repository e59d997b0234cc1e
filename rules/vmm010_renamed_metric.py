from migrator.model import Severity
from migrator.name_findings import is_prose, iter_data_hits, minor, report
from migrator.promql_findings import references
from migrator.reference.catalogue import ChangeKind, Status
from migrator.replacement_fixes import data_rename_fix, promql_rename_fix
from migrator.rule import Rule


class RenamedMetric(Rule):
    """A metric vLLM renamed: the old name has no data at your target release.

    ## What it does
    Finds every use of a metric the vLLM metric catalogue lists as renamed and gone at your
    target release — `vllm:gpu_cache_usage_perc` (now `vllm:kv_cache_usage_perc`),
    `vllm:gpu_prefix_cache_queries`/`_hits` (now `vllm:prefix_cache_queries`/`_hits`),
    `vllm:time_per_output_token_seconds` (now `vllm:inter_token_latency_seconds`),
    `vllm:time_in_queue_requests` (now `vllm:request_queue_time_seconds`) — in PromQL
    (selectors, `__name__` matchers and regexes) and as data: lists, dict keys and values,
    constants, YAML values, Helm flags, Google Cloud Monitoring filters
    (`prometheus.googleapis.com/<name>/<kind>`), the Stackdriver adapter's
    `prometheus.googleapis.com|<name>|<kind>`, `startswith("<name>{")`. Every spelling counts:
    `_bucket`/`_sum`/`_count`/`_total` suffixes, `vllm_`, `ray_vllm:`/`ray_vllm_`, `vllm.`.

    In a query, a name that a compatibility recording rule of the same run records again
    (`record:` the old name, `expr:` what replaces it) is reported as info that names the rule:
    the series exists while that rule is deployed (README: How it works → Compatibility
    recording rules). The rule itself is not reported.

    ## Why is this bad?
    Once the old name is gone (e.g. `vllm:gpu_cache_usage_perc` in v0.12.0), the panel is
    blank, the alert never fires and the autoscaler reads nothing — with no error anywhere.

    ## Example
    ```promql
    avg(vllm:gpu_cache_usage_perc{model_name="$model"}) > 0.9
    ```
    Use instead:
    ```promql
    avg(vllm:kv_cache_usage_perc{model_name="$model"}) > 0.9
    ```

    ## Fix safety
    **Safe**: the replacement carries the same values under the new name; the fix swaps the
    name only, keeping its suffix, prefix form, quoting and whatever wraps it. It is not offered
    (display-only, with the reason) where a person must decide: the old and the new name side
    by side in one list, dict, registry or query (renaming makes a duplicate or a double
    registration), a program that *defines* a metric under the old name, a generated file
    (fix its source), prose, a name inside a template region, or a target release that lacks
    the new name.
    """

    code = "VMM010"
    name = "renamed-metric"
    severity = Severity.ERROR
    reports_stale_name = True
    fix_availability = "safe"
    formats_label = "Grafana JSON, YAML, Python, embedded YAML/PromQL in other files"
    needle_words = ("vllm",)

    def check(self, ctx):
        target = ctx.settings.target
        for site, analysis, ref in references(ctx):
            change = _renamed_gone(ref.status)
            if change is not None and ref.kind in ("name", "matcher", "family"):
                yield ctx.site_finding(
                    self, site, ref.start, ref.end, _message(ref.written, change, ref.status, target),
                    fix=promql_rename_fix(ctx, site, analysis, ref, change),
                )
            elif ref.kind == "regex":
                for hit, status in ref.regex_hits:
                    change = _renamed_gone(status)
                    if change is not None and not analysis.selects(change.replacement.name):
                        yield ctx.site_finding(
                            self, site, ref.start, ref.end,
                            f"the name regex `{ref.written}` selects `{hit.text}`: "
                            + _message(hit.text, change, status, target, subject=False),
                            fix=promql_rename_fix(ctx, site, analysis, ref, change),
                        )
                        break
        for dh in iter_data_hits(ctx, {ChangeKind.RENAMED}, {Status.GONE}):
            if is_prose(dh.site):
                continue  # VMM008 reports prose
            fix = data_rename_fix(ctx, dh, dh.status.change)
            message = _message(dh.hit.text, dh.status.change, dh.status, target)
            yield report(ctx, self, dh, message, fix=fix)


def _renamed_gone(status):
    if status is None or status.status is not Status.GONE or status.change is None:
        return None
    return status.change if status.change.kind is ChangeKind.RENAMED else None


def _message(written, change, status, target, subject=True):
    replacement = change.replacement
    head = f"`{written}` " if subject else ""
    gone = status.series.metric.first_release_without
    return (
        f"{head}was renamed `{replacement.name}` in vLLM v{replacement.first_version} and removed in "
        f"v{gone}: it has no data on {minor(gone)}+"
    )
