import re
from functools import lru_cache

from migrator.model import Applicability, Fix, Severity, Span
from migrator.promql_findings import dead_series_sites, rule_kind
from migrator.rule import Rule


class DependentOfDeadSeries(Rule):
    """A use of a series recorded from a removed metric (by a VMM003 rule), in any file.

    ## What it does
    After the whole run has found the recording rules that depend on a metric vLLM removed
    (VMM003), reports every PromQL selector of their recorded
    names — in other rule files, dashboards and Python strings — and every other mention of
    those names in the run (runbooks, constants). Chains of recording rules are followed until
    nothing new dies.

    A series computed only from names that a compatibility recording rule of the run records
    again is not dead, and its uses are not reported.

    ## Why is this bad?
    The recorded series stops with its input on vLLM v0.20+, so this alert, panel or query
    silently loses its data even though it never names the removed metric.

    ## Example
    ```yaml
    # recording.yaml
    - record: job:vllm_recomputed_tokens:rate5m
      expr: sum(rate(vllm:prompt_tokens_recomputed_total[5m])) by (job)
    # alerts.yaml
    - alert: RecomputeSpike
      expr: job:vllm_recomputed_tokens:rate5m > 100
    ```
    Use instead: delete the alert together with the recording rule, or point it at a series
    that survives (e.g. one recorded from `vllm:prompt_tokens_cached_total`).

    ## Fix safety
    Display-only: the fix belongs at the recording rule (VMM003); once that rule no longer
    depends on the removed metric, this finding goes away.
    """

    code = "VMM004"
    name = "dependent-of-dead-series"
    severity = Severity.ERROR
    fix_availability = "display-only"
    formats_label = "all"

    def needles(self, settings):
        # The runner knows the dead series only after a first pass over every file.
        return tuple(settings.dead_series)

    def check(self, ctx):
        if not ctx.settings.dead_series:
            return
        fix = Fix(Applicability.DISPLAY_ONLY, "Fix or delete the recording rule first, then this use")
        explained = []
        for site, analysis in dead_series_sites(ctx):
            for ref in analysis.references:
                if ref.kind == "dead-series":
                    yield self._use(ctx, site, ref, fix, explained)
        # Outside PromQL the tool understands (a runbook, a Python constant, a panel link), the
        # name is still a reference to a series that stops.
        records = {r.name for r in ctx.doc.rules if r.kind == "record"}
        for match in _mentions(ctx.settings.dead_series).finditer(ctx.doc.text):
            span = Span(match.start(), match.end())
            if match.group() in records or any(e.start <= span.start and span.end <= e.end for e in explained):
                continue  # the recording rule's own `record:` name, or reported above
            yield ctx.finding(
                self, span,
                f"`{match.group()}` names a series recorded from a metric vLLM removed: it has no data on your "
                "target release",
                fix=fix,
            )

    def _use(self, ctx, site, ref, fix, explained):
        finding = ctx.site_finding(
            self, site, ref.start, ref.end,
            f"`{ref.written}` is recorded from a metric vLLM removed (see the recording rule's VMM003 "
            "finding): it has no data on your target release",
            fix=fix,
        )
        explained.append(finding.span)
        if rule_kind(site) == "record" and site.context.rule.name:
            ctx.declare_dead_series(site.context.rule.name, ref.written)  # a record of a record dies too
        return finding


@lru_cache(maxsize=8)
def _mentions(dead: frozenset[str]) -> "re.Pattern[str]":
    """One search for every dead name (the run may know hundreds), longest first."""
    names = sorted(dead, key=lambda n: (-len(n), n))
    return re.compile(r"(?<![\w:])(?:" + "|".join(map(re.escape, names)) + r")(?![\w:])")
