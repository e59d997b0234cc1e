from migrator.formats.base import SiteKind
from migrator.model import Severity
from migrator.name_findings import data_hits, mentions_metric, minor, status_words, written_as
from migrator.promql_findings import references
from migrator.reference.catalogue import Status, catalogue
from migrator.reference.spellings import find_names
from migrator.rule import Rule

_STALE = {Status.GONE, Status.DEPRECATED, Status.HIDDEN}


class StaleMetricInProse(Rule):
    """Prose that names a vLLM metric that is gone or going: titles, legends, descriptions, comments.

    ## What it does
    Reports, as information, Grafana panel titles, descriptions and legends, alert annotations,
    comments, Python docstrings and other prose that mention a metric gone (or deprecated, or
    hidden) at your target release, and the titles and legends of panels whose queries use the removed
    prompt-token counter when they speak of "recomputed" tokens. Prose that documents a
    rename — the old and the new name side by side ("V0 named it `vllm:gpu_cache_usage_perc`,
    now `vllm:kv_cache_usage_perc`") — is not reported.

    ## Why is this bad?
    After the queries are migrated, a legend that still says "recomputed" or a runbook that
    still names the old metric sends the reader looking for data that does not exist.

    ## Example
    ```json
    {"title": "Cached vs Recomputed prompt tokens", "targets": [...]}
    ```
    Reword the title when you change the panel's queries.

    ## Fix safety
    No fix: prose is never edited. Severity `info`, so it does not fail a check unless
    `fail-on = "info"`.
    """

    code = "VMM008"
    name = "stale-metric-in-prose"
    severity = Severity.INFO
    formats_label = "Grafana JSON, YAML, Python, embedded YAML in other files"

    needle_words = ("vllm",)  # every finding is about a vLLM metric the file names

    def site_needles(self, settings):
        # Prose that speaks of recomputed tokens is read in files that name the metric anyway.
        # Needles are case-sensitive; titles say "Recomputed".
        word = catalogue().flagship.prose_word
        return ("vllm", word, word.capitalize(), word.upper())

    def check(self, ctx):
        yield from self._flagship_panels(ctx)
        prefixes = tuple(ctx.settings.metric_prefixes)
        target = ctx.settings.target
        for dh in data_hits(ctx):
            if not dh.prose or dh.status.status not in _STALE:
                continue
            change = dh.status.change
            if change is not None and change.replacement is not None:
                context = dh.site.value if dh.site is not None else _line(ctx.doc.text, dh.hit.start)
                if mentions_metric(context, change.replacement, prefixes):
                    continue  # documents the rename
            metric = dh.status.series.metric
            message = f"{written_as(dh.hit.text, metric)} is {status_words(dh.status, target)}; reword this text when you migrate"
            if dh.site is None:
                yield ctx.finding(self, dh.span(), message)
            else:
                yield ctx.site_finding(self, dh.site, dh.hit.start, dh.hit.end, message)

    def _flagship_panels(self, ctx):
        flagship = catalogue().flagship
        panels = set()
        for site, _analysis, ref in references(ctx):
            grafana = site.context.grafana
            status = ref.status
            if grafana is None or status is None or status.status is not Status.GONE:
                continue
            if status.series.metric is flagship.removed:
                panels.add(grafana.panel_key)
        if not panels:
            return
        word = flagship.prose_word
        for site in ctx.doc.sites:
            grafana = site.context.grafana
            if site.kind is not SiteKind.TEXT or site.context.prose is None or grafana is None:
                continue
            if grafana.panel_key not in panels:
                continue
            lowered = site.value.lower()
            at = lowered.find(word)
            if at == -1:
                continue  # the usual case: no need to look for the names it might sit in
            names = [(h.start, h.end) for h in find_names(site.value, tuple(ctx.settings.metric_prefixes))]
            while at != -1 and any(s <= at < e for s, e in names):
                at = lowered.find(word, at + 1)  # inside a metric name: reported as a name
            if at == -1:
                continue
            end = at
            while end < len(lowered) and lowered[end].isalpha():
                end += 1
            yield ctx.site_finding(
                self, site, at, end,
                f"the panel's {site.context.prose} mentions {lowered[at:end]} tokens, which "
                f"{minor(flagship.removed_in)}+ no longer reports; reword it when you change the panel",
            )


def _line(text, offset):
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return text[start : end if end != -1 else len(text)]
