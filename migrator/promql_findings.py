"""Shared glue between PromQL sites and the PromQL rules: one analysis per site per file, and
turning an analysis's rewrites into file-level fixes through the site's offset map."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from migrator.formats.base import Site, SiteKind
from migrator.model import Applicability, Fix, Span
from migrator.reference.catalogue import CANONICAL_NAME

if TYPE_CHECKING:
    from migrator.promql.removed import Analysis, Reference, Rewrite

PROMQL_KINDS = (SiteKind.PROMQL, SiteKind.GRAFANA_QUERY)
NEEDLE = "prompt_tokens_recomputed"


def analysed_sites(ctx) -> list[tuple[Site, "Analysis"]]:  # type: ignore[no-untyped-def]
    """Every PromQL site of the document that mentions the removed metric or a dead series."""

    def compute() -> list[tuple[Site, Analysis]]:
        from migrator.promql.removed import analyse  # the parser loads only for files with PromQL

        dead = ctx.settings.dead_series
        prefixes = tuple(ctx.settings.metric_prefixes)
        result = []
        for site in ctx.doc.sites:
            if site.kind not in PROMQL_KINDS:
                continue
            value = site.value
            if NEEDLE not in value and "__name__" not in value and not (dead and any(d in value for d in dead)):
                continue
            analysis = analyse(value, prefixes, dead, site.kind is SiteKind.GRAFANA_QUERY)
            result.append((site, analysis))
        return result

    return ctx.memo("promql-analyses", compute)


def references(ctx, kinds: tuple[str, ...]) -> Iterator[tuple[Site, "Analysis", "Reference"]]:  # type: ignore[no-untyped-def]
    for site, analysis in analysed_sites(ctx):
        for ref in analysis.references:
            if ref.kind in kinds:
                yield site, analysis, ref


def rule_kind(site: Site) -> str | None:
    rule = site.context.get("rule")
    return rule.get("kind") if isinstance(rule, dict) else None


def site_scope(site: Site) -> Span:
    return site.file_span(0, len(site.value))


def rewrite_fix(site: Site, rewrite: Rewrite, title: str) -> Fix:
    """A fix from a PromQL rewrite, or a display-only one when the site cannot be edited there."""
    reason = rewrite.verdict.reason
    why = site.readonly_reason or "the expression is templated there (Helm/Jinja or code), so only literal text is edited"
    if not all(site.can_edit(e.start, e.end) for e in rewrite.edits):
        return Fix(Applicability.DISPLAY_ONLY, f"{title}: `{rewrite.text}` — not applied: {why}")
    try:
        edits = tuple(site.edit(e.start, e.end, e.content) for e in rewrite.edits)
    except ValueError as err:  # e.g. an edit across two pieces of an implicit concatenation
        return Fix(Applicability.DISPLAY_ONLY, f"{title}: `{rewrite.text}` — not applied: {err}")
    return Fix(rewrite.verdict.applicability, f"{title}: `{rewrite.text}` ({reason})", edits, scope=site_scope(site))


_SUGGESTIONS = {
    "standalone": (
        "no v0.20+ series gives this value (vLLM no longer counts recomputed tokens); delete it, "
        "or plot `vllm:prompt_tokens_cached_total` (cached = local + external)"
    ),
    "ratio": (
        "a ratio of recomputed tokens has no v0.20+ equivalent; delete it, or use the cached share "
        "`rate(vllm:prompt_tokens_cached_total[…]) / rate(vllm:prompt_tokens_total[…])`"
    ),
    "comparison": (
        "the comparison never matches on v0.20+ (no series); delete it or alert on "
        "`vllm:prompt_tokens_cached_total` instead"
    ),
}


def suggestion(ref: Reference) -> str:
    return _SUGGESTIONS.get(ref.context, _SUGGESTIONS["standalone"])


def reference_fix(site: Site, analysis: Analysis, ref: Reference) -> Fix:
    """The best fix for a use of the removed metric at a PromQL site."""
    if ref.elimination is not None:
        return rewrite_fix(site, ref.elimination, "Remove the recomputed term")
    grafana = site.context.get("grafana")
    removal = site.context.get("target_removal")
    if grafana is not None and site.kind is SiteKind.PROMQL and grafana.get("kind", "target") == "target":
        ref_id = grafana.get("ref_id")
        if removal:
            return Fix(
                Applicability.UNSAFE,
                f"Remove target {ref_id or ''} from the panel; its other targets stay "
                "(the panel loses this series; nothing on v0.20+ replaces it)".replace("  ", " "),
                tuple(removal),
                scope=site_scope(site),
            )
        return Fix(
            Applicability.DISPLAY_ONLY,
            "The panel has no other target: delete the panel, or plot `vllm:prompt_tokens_cached_total` "
            "(cached = local + external); no v0.20+ series gives the old value",
        )
    if analysis.kind == "label_values" and ref.kind == "selector":
        replacement = ref.name.replace(NEEDLE, "prompt_tokens_cached")
        if site.can_edit(ref.start, ref.end):
            try:
                edit = site.edit(ref.start, ref.end, replacement)
            except ValueError:
                return Fix(Applicability.DISPLAY_ONLY, suggestion(ref).capitalize())
            return Fix(
                Applicability.UNSAFE,
                f"Take the values from `{replacement}` instead: it carries the same model_name/engine "
                "labels, but only for servers that report cached tokens",
                (edit,),
            )
    return Fix(Applicability.DISPLAY_ONLY, suggestion(ref).capitalize())


def removed_message(ref: Reference) -> str:
    what = "query" if ref.context == "standalone" else ref.context
    if ref.kind == "regex-only":
        subject = f"the name regex `{ref.name}` selects only `{CANONICAL_NAME}`"
    else:
        subject = f"`{ref.name}` is `{CANONICAL_NAME}`"
    return f"{subject}, removed in vLLM v0.20.0 (PR #38709): this {what} gets no data on v0.20+"
