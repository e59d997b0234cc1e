"""Glue between PromQL sites and the PromQL rules: one catalogue analysis per site per file,
and rewrites of the expression turned into file-level fixes through the site's offset map."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from migrator.formats.base import Site, SiteKind
from migrator.model import Applicability, ExpressionRewrite, Fix, Span

if TYPE_CHECKING:
    from migrator.promql.references import Analysis, Reference, TextEdit

PROMQL_KINDS = (SiteKind.PROMQL, SiteKind.GRAFANA_QUERY)


def analysed_sites(ctx) -> list[tuple[Site, "Analysis"]]:  # type: ignore[no-untyped-def]
    """Every PromQL site of the document that may select a vLLM metric or a dead series."""

    def compute() -> list[tuple[Site, Analysis]]:
        from migrator.promql.references import analyse  # the parser loads only for files with PromQL

        settings = ctx.settings
        dead = settings.dead_series
        prefixes = tuple(settings.metric_prefixes)
        target = settings.target
        records = frozenset(r.name for r in ctx.doc.rules if r.kind == "record" and r.name)
        result = []
        for site in ctx.doc.sites:
            if site.kind not in PROMQL_KINDS:
                continue
            value = site.value
            if "vllm" not in value and "__name__" not in value and not (dead and any(d in value for d in dead)):
                continue
            analysis = analyse(value, prefixes, dead, site.kind is SiteKind.GRAFANA_QUERY, target, records)
            result.append((site, analysis))
        return result

    return ctx.memo("promql-analyses", compute)


def dead_series_sites(ctx) -> list[tuple[Site, "Analysis"]]:  # type: ignore[no-untyped-def]
    """The PromQL sites that name a series recorded from a removed metric, analysed exactly as
    `analysed_sites` would (the same cached analysis when both run). The cross-file pass runs
    only the dead-series rule, so it analyses these sites and not every vLLM query again."""

    def compute() -> list[tuple[Site, Analysis]]:
        dead = ctx.settings.dead_series
        if not dead:
            return []
        if "promql-analyses" in ctx.cache:  # another rule analysed every site already
            return [(site, a) for site, a in analysed_sites(ctx) if any(d in site.value for d in dead)]
        from migrator.promql.references import analyse

        settings = ctx.settings
        prefixes = tuple(settings.metric_prefixes)
        records = frozenset(r.name for r in ctx.doc.rules if r.kind == "record" and r.name)
        return [
            (site, analyse(site.value, prefixes, dead, site.kind is SiteKind.GRAFANA_QUERY, settings.target, records))
            for site in ctx.doc.sites
            if site.kind in PROMQL_KINDS and any(d in site.value for d in dead)
        ]

    return ctx.memo("promql-analyses-of-dead-series", compute)


def references(ctx) -> Iterator[tuple[Site, "Analysis", "Reference"]]:  # type: ignore[no-untyped-def]
    for site, analysis in analysed_sites(ctx):
        for ref in analysis.references:
            yield site, analysis, ref


def rule_kind(site: Site) -> str | None:
    rule = site.context.rule
    return rule.kind if rule is not None else None


def site_scope(site: Site) -> Span:
    return site.file_span(0, len(site.value))


def rewrite_fix(
    site: Site,
    edits: "tuple[TextEdit, ...] | list[TextEdit]",
    applicability: Applicability,
    message: str,
    *,
    grafana: bool | None = None,
    scoped: bool = True,
    kind: str | None = None,
    reason: str = "",
    renames: tuple[tuple[str, str], ...] = (),
    whole: "tuple[TextEdit, ...] | list[TextEdit] | None" = None,
) -> Fix:
    """A fix replacing parts of the expression, validated by both PromQL parsers, or a
    display-only one saying why it cannot be applied here. With `kind`, the fix records what it
    does to the whole expression (`whole`: every edit of that kind in it, when the fix is one of
    several) so `verify` can prove it on a real engine."""
    from migrator.promql.references import apply_text_edits, check_rewrite, promql_problem

    new = apply_text_edits(site.value, edits)
    is_grafana = site.kind is SiteKind.GRAFANA_QUERY if grafana is None else grafana
    problem = check_rewrite(new, is_grafana)
    if problem is None and selector_field(site) and not _is_selector(new):
        problem = f"the variable's `{site.context.field}` takes a series selector, not an expression"
    if problem is not None:
        original = promql_problem(site.value, is_grafana)
        if original is not None:  # not the rewrite's doing: say what is wrong with the original
            problem = f"the expression as written cannot be parsed, so the result cannot be checked ({original})"
        return Fix(Applicability.DISPLAY_ONLY, f"{message} — not applied: {problem}")
    rewrite = None
    if kind is not None:
        rewritten = apply_text_edits(site.value, whole) if whole is not None else new
        rewrite = ExpressionRewrite(kind, site.value, rewritten, applicability, reason, is_grafana, renames)
    refused = next((e for e in edits if not site.can_edit(e.start, e.end)), None)
    if refused is not None:
        why = site.refusal(
            refused.start, refused.end,
            "the expression is templated there (Helm/Jinja or code), so only literal text is edited",
        )
        return Fix(Applicability.DISPLAY_ONLY, f"{message} — not applied: {why}", rewrite=rewrite)
    try:
        file_edits = tuple(site.edit(e.start, e.end, e.content) for e in edits)
    except ValueError as err:  # e.g. an edit across two pieces of an implicit concatenation
        return Fix(Applicability.DISPLAY_ONLY, f"{message} — not applied: {err}", rewrite=rewrite)
    # Rewrites that restructure the expression (term elimination) are each valid alone, not
    # together: scoped to the site, one per pass. A rename swaps a name and combines freely.
    return Fix(applicability, message, file_edits, scope=site_scope(site) if scoped else None, rewrite=rewrite)


# Fields of Grafana's variable query object that hold a series selector, never an expression.
_SELECTOR_FIELDS = frozenset({"metric", "seriesQuery"})


def selector_field(site: Site) -> bool:
    """The site is a variable editor's `metric`/`seriesQuery`: Grafana sends it as `match[]`."""
    grafana = site.context.grafana
    return grafana is not None and grafana.kind == "templating" and site.context.field in _SELECTOR_FIELDS


def selector_only(site: Site, analysis: "Analysis") -> bool:
    """Whether the site takes a series selector where PromQL stands: `label_values(…)`,
    `label_names(…)`, or a variable editor's `metric`/`seriesQuery`."""
    return analysis.kind in ("label_values", "label_names") or selector_field(site)


def _is_selector(text: str) -> bool:
    from migrator.promql import ast
    from migrator.promql.parser import PromQLSyntaxError, parse

    try:
        return isinstance(parse(text), ast.VectorSelector)
    except (PromQLSyntaxError, RecursionError):
        return False


def replacement_text(site: Site, edits: "tuple[TextEdit, ...] | list[TextEdit]") -> str:
    from migrator.promql.references import apply_text_edits

    return apply_text_edits(site.value, edits)


# --------------------------------------------------------------------------- removed metrics


def gone_message(ref: "Reference") -> str:
    """`x` is `vllm:y`, removed in vLLM v0.20.0 (PR #38709): this query gets no data on v0.20+."""
    from migrator.name_findings import gone_words, minor

    status = ref.status
    assert status is not None
    metric = status.series.metric
    what = "query" if ref.context == "standalone" else ref.context
    subject = f"`{ref.written}` is `{metric.name}`," if ref.written != metric.name else f"`{metric.name}` was"
    return f"{subject} {gone_words(metric, status.change)}: this {what} gets no data on {minor(metric.first_release_without)}+"


def suggestion(ref: "Reference") -> str:
    """What to do instead, by how the expression uses the removed metric."""
    from migrator.reference.catalogue import catalogue

    flagship = catalogue().flagship
    change = ref.change
    if change is not None and change.metric is flagship.removed:
        return flagship.suggestions.get(ref.context, flagship.suggestions["standalone"])
    return f"nothing on a current server gives this value; delete it, or: {change.advice}" if change else ""


def removed_metric_fix(ctx, site: Site, analysis: "Analysis", ref: "Reference") -> Fix:  # type: ignore[no-untyped-def]
    """The best fix for a use of a removed metric (nothing replaces it) at a PromQL site:
    term elimination judged by the oracle, removing a Grafana target whose panel keeps another,
    switching a `label_values()` source, or advice."""
    from migrator.promql.removed import elimination
    from migrator.reference.catalogue import catalogue

    flagship = catalogue().flagship
    is_grafana_query = site.kind is SiteKind.GRAFANA_QUERY
    rewrite = elimination(analysis, ref, is_grafana_query, tuple(ctx.settings.metric_prefixes), ctx.settings.target)
    if rewrite is not None:
        verdict = rewrite.verdict
        return rewrite_fix(
            site, rewrite.edits, verdict.applicability,
            f"Remove the `{ref.written}` term: `{rewrite.text}` ({verdict.reason})",
            kind="term elimination", reason=verdict.reason,
        )
    grafana = site.context.grafana
    change = ref.change
    removed_in = change.metric.first_release_without if change is not None else "?"
    if grafana is not None and site.kind is SiteKind.PROMQL and grafana.kind == "target":
        if grafana.target_removal:
            ref_id = f" {grafana.ref_id}" if grafana.ref_id not in (None, "") else ""
            return Fix(
                Applicability.UNSAFE,
                f"Remove target{ref_id} from the panel; its other targets stay "
                f"(the panel loses this series; nothing on v{removed_in}+ replaces it)",
                tuple(grafana.target_removal),
                scope=site_scope(site),
            )
        why = (
            f"Not removed: {grafana.removal_blocked}" if grafana.removal_blocked
            else "The panel has no other target: delete the panel"
        )
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"{why}, or {_advice(ref)}; no v{removed_in}+ series gives the old value",
        )
    label_values = analysis.kind == "label_values" or (selector_field(site) and analysis.root is ref.selector)
    if label_values and ref.hit is not None and change is not None and change.metric is flagship.removed:
        cat = catalogue()
        cached = [s for s in cat.lookup(flagship.prompt_tokens_cached.base.split(":", 1)[1] + ref.status.series.suffix)  # type: ignore[union-attr]
                  if s.metric is flagship.prompt_tokens_cached]
        if cached and ref.exact:
            from migrator.promql.references import TextEdit

            replacement = ref.hit.respelled(cached[0])
            fix = rewrite_fix(
                site, [TextEdit(ref.start, ref.end, replacement)], Applicability.UNSAFE,
                f"Take the values from `{replacement}` instead: it carries the same model_name/engine "
                "labels, but only for servers that report cached tokens",
            )
            if fix.edits:
                return Fix(fix.applicability, fix.message, fix.edits)  # not scoped: one edit, nothing else in the query
    return Fix(Applicability.DISPLAY_ONLY, _capitalised(suggestion(ref)))


def _advice(ref: "Reference") -> str:
    from migrator.reference.catalogue import catalogue

    flagship = catalogue().flagship
    change = ref.change
    if change is not None and change.metric is flagship.removed:
        return flagship.advice
    return change.advice if change is not None else "remove it"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- statuses


def removed(status, kind) -> bool:  # type: ignore[no-untyped-def]
    """The name is gone at the target and its change is of `kind`."""
    from migrator.reference.catalogue import Status

    return (
        status is not None
        and status.status is Status.GONE
        and status.change is not None
        and status.change.kind is kind
    )


class RegexName:
    """One catalogue name a `__name__=~` regex selects, with its status at the target."""

    __slots__ = ("hit", "status")

    def __init__(self, hit, status) -> None:  # type: ignore[no-untyped-def]
        self.hit = hit
        self.status = status


def _explicit(ref: "Reference") -> list[RegexName]:
    """The names a regex selects on purpose: a wildcard such as `vllm:.*` selects every name,
    stale ones included, without meaning any of them, so it selects nothing on purpose."""
    import re

    try:
        compiled = re.compile(ref.written)
    except re.error:
        return []
    names = [RegexName(h, s) for h, s in ref.regex_hits if s is not None]
    if names and compiled.fullmatch(names[0].hit.prefix + "zz_no_such_metric_zz"):
        return []
    return names


def regex_stale(ref: "Reference") -> list[RegexName]:
    from migrator.reference.catalogue import Status

    return [n for n in _explicit(ref) if n.status.status is Status.GONE and n.status.change is not None]


def regex_live(ref: "Reference") -> list[RegexName]:
    from migrator.reference.catalogue import Status

    return [n for n in _explicit(ref) if n.status.status is not Status.GONE]


def only_stale(ref: "Reference", kinds: set) -> bool:  # type: ignore[type-arg]
    """The regex selects stale names of `kinds` and nothing that exists at the target."""
    stale = regex_stale(ref)
    return bool(stale) and not regex_live(ref) and all(n.status.change.kind in kinds for n in stale)


def unknown_names(ctx):  # type: ignore[no-untyped-def]
    """`vllm:` names in PromQL that no release exposed and no program around vLLM is known to
    publish, with the catalogue names they resemble (VMM013 reports those with a near miss,
    VMM016 the others): (site, reference, prefix as written, near misses)."""
    from migrator.reference.catalogue import catalogue
    from migrator.reference.spellings import split_prefix

    def compute():  # type: ignore[no-untyped-def]
        cat = catalogue()
        prefixes = tuple(ctx.settings.metric_prefixes)
        found = []
        for site, _analysis, ref in references(ctx):
            if ref.kind != "unknown":
                continue
            prefix, stem = split_prefix(ref.written, prefixes)
            if cat.canonical_prefix + stem not in cat.ecosystem:
                found.append((site, ref, prefix, cat.close_names(stem)))
        return found

    return ctx.memo("unknown-names", compute)
