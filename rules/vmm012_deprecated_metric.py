from migrator.model import Applicability, Fix, Severity
from migrator.name_findings import iter_data_hits, report, status_words, what_instead, written_as
from migrator.promql_findings import references
from migrator.reference.catalogue import ChangeKind, Status
from migrator.replacement_fixes import data_rename_fix, promql_formula_fix, promql_rename_fix
from migrator.rule import Rule

_STATUSES = {Status.DEPRECATED, Status.HIDDEN}
_KINDS = set(ChangeKind)


class DeprecatedMetric(Rule):
    """A vLLM metric that is deprecated or hidden at your target release.

    ## What it does
    Finds uses of metrics that the target release still defines but has deprecated, or
    registers only behind `--show-hidden-metrics-for-version` (the previous minor version, so
    the flag changes with every release), in PromQL and as data. The message names the
    release that removes the metric and its replacement. With `--target-version 0.11`,
    `vllm:gpu_cache_usage_perc` is hidden there and removed in v0.12.0.

    In a query, a name that a compatibility recording rule of the same run records again
    (`record:` the old name, `expr:` what replaces it) is reported as info that names the rule:
    the series exists while that rule is deployed (README: How it works → Compatibility
    recording rules). The rule itself is not reported.

    ## Why is this bad?
    A hidden metric has no data unless every server passes the right flag; a deprecated one
    disappears at the next upgrade, usually without anyone noticing the dashboard.

    ## Example
    ```yaml
    # --target-version 0.11
    - alert: KvCacheAlmostFull
      expr: max(vllm:gpu_cache_usage_perc) > 0.95
    ```
    Use instead: `max(vllm:kv_cache_usage_perc) > 0.95` (available from v0.9.2).

    ## Fix safety
    As for a gone metric: a rename is **safe** when the replacement exists at the target
    release (**unsafe** where the name turns into data or shows in a panel's legend), a formula is **unsafe**, anything else is **display-only** with the catalogue's
    advice.
    """

    code = "VMM012"
    name = "deprecated-metric"
    severity = Severity.WARNING
    reports_stale_name = True
    fix_availability = "sometimes"
    formats_label = "Grafana JSON, YAML, Python, embedded YAML/PromQL in other files"
    needle_words = ("vllm",)

    def check(self, ctx):
        target = ctx.settings.target
        for site, analysis, ref in references(ctx):
            status = ref.status
            if ref.kind not in ("name", "matcher", "family") or status is None or status.status not in _STATUSES:
                continue
            change = status.change
            if change is not None and change.kind is ChangeKind.RENAMED:
                fix = promql_rename_fix(ctx, site, analysis, ref, change)
            elif change is not None and change.kind is ChangeKind.FORMULA and not ref.absent:
                fix = promql_formula_fix(site, analysis, ref, change)
            else:
                fix = _advice(change)
            yield ctx.site_finding(
                self, site, ref.start, ref.end, _message(ref.written, status, target), fix=fix
            )
        for dh in iter_data_hits(ctx, _KINDS, _STATUSES):
            if dh.prose:
                continue
            change = dh.status.change
            fix = data_rename_fix(ctx, dh, change) if change.kind is ChangeKind.RENAMED else _advice(change)
            message = _message(dh.hit.text, dh.status, target)
            yield report(ctx, self, dh, message, fix=fix)


def _message(written, status, target):
    metric = status.series.metric
    return f"{written_as(written, metric)} is {status_words(status, target)}{what_instead(status.change)}"


def _advice(change):
    if change is None or not change.advice:
        return Fix(Applicability.DISPLAY_ONLY, "Move to the metric that replaces it before the upgrade")
    return Fix(Applicability.DISPLAY_ONLY, change.advice[:1].upper() + change.advice[1:])
