from migrator.model import Severity
from migrator.name_findings import gone_effect, iter_data_hits, minor, report
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
    `prometheus.googleapis.com|<name>|<kind>`, `startswith("<name>{")`, and inside Helm
    template actions (`{{ printf "<name>" }}`, reported, never edited). Every spelling counts:
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
    name only, keeping its suffix, prefix form, quoting and whatever wraps it. **Unsafe** where
    the query copies the name into another label (`label_replace`/`label_join` of `__name__`)
    or matches `on (__name__)`: that label or match changes with the name. **Unsafe** too in a
    dashboard panel whose query keeps the series' metric name (a bare selector, a filter such
    as `x > 0.9`, `topk`; not `rate`, `sum`, arithmetic or a `bool` comparison, which drop it)
    while the panel prints it on purpose: a `{{__name__}}` legend, a display name templating
    `__name__`, a table: that text changes (Grafana's default legend, `name{labels}`, simply
    shows the new name, and stays safe). **Unsafe** where Python compares the name with data in
    a test (`if name == "<old>":`, `if "<old>" in scraped:`): on servers older than the rename
    the renamed test stops matching. It is not offered
    (display-only, with the reason) where a person must decide: the old and the new name side
    by side in one list, dict, registry or query (renaming makes a duplicate or a double
    registration), a release switch — Python that picks a name per release (a branch of
    `new if ... else old`; a name compared in the test of an `if`/`elif`/`while`/`assert`/
    conditional expression whose function, or module, also names the replacement; the code that
    test guards) — a program that *defines* a metric under the old name, a generated file
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
                renamed = {}  # metric -> (the first name of it the regex selects, its status, change)
                for hit, status in ref.regex_hits:
                    change = _renamed_gone(status)
                    if change is not None and not analysis.selects(change.replacement.name):
                        renamed.setdefault(status.series.metric.name, (hit.text, status, change))
                if renamed:
                    first = next(iter(renamed.values()))[2]
                    yield ctx.site_finding(
                        self, site, ref.start, ref.end, _regex_message(ref.written, renamed, target),
                        fix=promql_rename_fix(ctx, site, analysis, ref, first),
                    )
        for dh in iter_data_hits(ctx, {ChangeKind.RENAMED}, {Status.GONE}):
            if dh.prose:
                continue  # VMM008 reports prose
            fix = data_rename_fix(ctx, dh, dh.status.change)
            effect = gone_effect(ctx, dh.site, dh.status.series.metric.first_release_without, in_template=dh.in_template)
            message = _message(dh.hit.text, dh.status.change, dh.status, target, effect=effect)
            yield report(ctx, self, dh, message, fix=fix)


def _renamed_gone(status):
    if status is None or status.status is not Status.GONE or status.change is None:
        return None
    return status.change if status.change.kind is ChangeKind.RENAMED else None


def _message(written, change, status, target, subject=True, effect=None):
    replacement = change.replacement
    head = f"`{written}` " if subject else ""
    gone = status.series.metric.first_release_without
    return (
        f"{head}was renamed `{replacement.name}` in vLLM v{replacement.first_version} and removed in "
        f"v{gone}: {effect or f'it has no data on {minor(gone)}+'}"
    )


_LISTED = 4  # names a regex message spells out; beyond, it counts the rest


def _regex_message(written, renamed, target):
    """What a name regex selects that vLLM renamed and removed: every such name with its
    replacement (the first few, then how many more)."""
    if len(renamed) == 1:
        (name, status, change), = renamed.values()
        return f"the name regex `{written}` selects `{name}`: " + _message(name, change, status, target, subject=False)
    releases = {(c.replacement.first_version, s.series.metric.first_release_without) for _n, s, c in renamed.values()}
    same = len(releases) == 1
    parts = []
    for name, (_written, status, change) in list(renamed.items())[:_LISTED]:
        gone = status.series.metric.first_release_without
        when = "" if same else f", renamed in v{change.replacement.first_version}, removed in v{gone}"
        parts.append(f"`{name}` (now `{change.replacement.name}`{when})")
    more = len(renamed) - _LISTED
    listed = ", ".join(parts) + (f" and {more} more" if more > 0 else "")
    head = f"the name regex `{written}` selects {len(renamed)} metrics vLLM renamed: {listed}"
    if same:
        (renamed_in, gone), = releases
        return f"{head}; renamed in vLLM v{renamed_in} and removed in v{gone}: they have no data on {minor(gone)}+"
    return f"{head}: none has data on your target release"
