"""Fixes that put a metric's replacement where the old name was: a rename (same values, safe)
and a formula (an expression over surviving metrics, unsafe). Shared by the rules for gone
(VMM010, VMM011) and deprecated (VMM012) metrics, in PromQL and as data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.adapter_naming import rename_breaks_export
from migrator.formats.base import Site
from migrator.model import Applicability, Fix
from migrator.name_findings import (
    COMPARED_REASON,
    DataHit,
    kept_on_purpose,
    release_switch_fix,
    replacement_available,
    side_by_side,
)
from migrator.reference.catalogue import Status
from migrator.promql_findings import rewrite_fix, selector_only
from migrator.reference.catalogue import Change, ChangeKind, Series, catalogue

if TYPE_CHECKING:
    from migrator.promql.references import Analysis, Reference
    from migrator.rule import RuleContext


def _when(change: Change) -> str:
    assert change.replacement is not None
    return f"renamed in vLLM v{change.replacement.first_version}"


def _new_series(series: Series, change: Change) -> Series | None:
    return catalogue().renamed_series(series, change)


def promql_rename_fix(ctx: "RuleContext", site: Site, analysis: "Analysis", ref: "Reference", change: Change) -> Fix:
    """Rename a selector's metric (or a regex alternative) to its replacement."""
    from migrator.promql.references import rename_edit

    replacement = change.replacement
    assert replacement is not None
    if not replacement_available(change, ctx.settings.target):
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"`{replacement.name}` appears in vLLM v{replacement.first_version}, after your target: rename it "
            "once every server runs that release",
        )
    switch = release_switch_fix(ctx, site, change, "a query")
    if switch is not None:
        return switch
    if analysis.selects(replacement.name):
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"The query already selects `{replacement.name}` beside the old name (it works on both sides of "
            f"the rename); remove the old name's part once every server runs v{change.metric.first_release_without}+",
        )
    whole, renames = _all_renames(analysis, ctx.settings.target)
    reason = f"same values under the new name ({_when(change)})"
    applicability: Applicability = Applicability.SAFE
    kind: str | None = "rename"
    naming = site.context.adapter_naming
    if naming is not None:
        breaks = next((r for r in (rename_breaks_export(naming, o, n) for o, n in renames) if r), None)
        if breaks is not None:
            # The values stay the same (what `verify` would prove); the exported name does not.
            applicability, reason, kind = Applicability.UNSAFE, breaks, None
    read = _name_read(ref, analysis) or _name_shown(site, ref, analysis)
    if read is not None and applicability is Applicability.SAFE:
        # Same values, other labels: `verify` sees the difference too, so the rename is recorded.
        applicability, reason = Applicability.UNSAFE, read
    if site.context.compared and applicability is Applicability.SAFE:
        applicability, reason = Applicability.UNSAFE, COMPARED_REASON
    same = f"same values; {_when(change)}"
    if ref.kind == "regex":
        # Every renamed name the regex selects at once: its message names them all.
        changes = [change] + [
            c for c in dict.fromkeys(_renamable(s, ctx.settings.target) for _h, s in ref.regex_hits)
            if c is not None and c is not change and not analysis.selects(c.replacement.name)
        ]
        edit = _regex_rename(ref, changes)
        if edit is None:
            names = ", ".join(dict.fromkeys(f"`{c.replacement.name}`" for c in changes))
            return Fix(Applicability.DISPLAY_ONLY, f"Make the regex select {names} instead, by hand")
        return rewrite_fix(
            site, [edit], applicability, _titled(f"Rename in the regex: `{edit.content}` ({same})", applicability, reason),
            scoped=False, kind=kind, reason=reason, renames=renames, whole=whole,
        )
    assert ref.status is not None
    new = _new_series(ref.status.series, change)
    edit = rename_edit(ref, new) if new is not None else None
    if edit is None:
        why = " — not applied: a template is part of the metric name" if ref.selector.templated else ""
        return Fix(Applicability.DISPLAY_ONLY, f"Use `{replacement.name}` instead ({same}){why}")
    return rewrite_fix(
        site, [edit], applicability, _titled(f"Rename to `{edit.content}` ({same})", applicability, reason),
        scoped=False, kind=kind, reason=reason, renames=renames, whole=whole,
    )


def _titled(title: str, applicability: Applicability, reason: str) -> str:
    return title if applicability is Applicability.SAFE else f"{title} — unsafe: {reason}"


def _name_read(ref: "Reference", analysis: "Analysis") -> str | None:
    """Why a rename changes the result although the values stay: the query turns the metric
    name into data (a label of the result), or None."""
    from migrator.promql.references import reads_metric_name

    read = reads_metric_name(ref.selector, analysis.parents)
    if read is None:
        return None
    return f"{read} uses the metric name, so the result's labels change with it; the values stay"


def _name_shown(site: Site, ref: "Reference", analysis: "Analysis") -> str | None:
    """Why a rename changes what a dashboard panel shows although the values stay: the
    query's result keeps the metric name and the panel displays it, or None."""
    from migrator.promql.references import result_keeps_name

    place = site.context.grafana
    if place is None or place.kind != "target" or not result_keeps_name(ref.selector, analysis.parents):
        return None
    shown = next((f"the display name `{d}`" for d in place.display_names if _templates_name(d)), None)
    if shown is None and place.result_format == "table":
        shown = "the table's `__name__` column"
    # The default legend (empty, `__auto`, `__verbose`) prints `name{labels}` too, but there the
    # new name is what a rename is for: nothing was built on the old text. A template that asks
    # for `__name__` was written to show it, so the user decides.
    if shown is None and place.legend is not None and _templates_name(place.legend):
        shown = f"the legend `{place.legend}`"
    if shown is None:
        return None
    return f"the query's series keep their metric name and {shown} shows it, so the legend changes; the values stay"


def _templates_name(template: str) -> bool:
    """Whether a legend or display-name template can print the metric name: `{{__name__}}`,
    `${__field.labels.__name__}`, or every label at once (`${__field.labels}`)."""
    return "__name__" in template or "__field.labels}" in template


def _regex_rename(ref: "Reference", changes: "list[Change]"):  # type: ignore[no-untyped-def]
    from migrator.promql.references import alternation_edit

    mapping: dict[str, str | None] = {}
    for hit, status in ref.regex_hits:
        if status is not None and any(status.change is c for c in changes):
            new = _new_series(status.series, status.change)
            if new is not None:
                mapping[hit.text] = hit.respelled(new)
    return alternation_edit(ref, mapping)


def _renamable(status, target) -> Change | None:  # type: ignore[no-untyped-def]
    """The rename a name's status calls for, when its replacement exists at the target."""
    change = status.change if status is not None else None
    if change is None or change.kind is not ChangeKind.RENAMED:
        return None
    if status.status not in (Status.GONE, Status.DEPRECATED, Status.HIDDEN):
        return None
    return change if replacement_available(change, target) else None


def _all_renames(analysis: "Analysis", target):  # type: ignore[no-untyped-def]
    """Every rename the expression needs at once (its `_sum` and its `_count`, say), and the
    (old, new) names: what `verify` compares, since one rename alone leaves the other name."""
    from migrator.promql.references import rename_edit

    edits = []
    renames: list[tuple[str, str]] = []

    def renamable(status):  # type: ignore[no-untyped-def]
        return _renamable(status, target)

    for other in analysis.references:
        edit = None
        if other.kind == "regex":
            changes = [c for c in dict.fromkeys(renamable(s) for _h, s in other.regex_hits) if c is not None]
            edit = _regex_rename(other, changes) if changes else None
            for hit, hit_status in other.regex_hits:
                change = renamable(hit_status)
                new = _new_series(hit_status.series, change) if change is not None else None
                if new is not None:
                    renames.append((hit.text, hit.respelled(new)))
        elif other.kind in ("name", "matcher", "family"):
            change = renamable(other.status)
            new = _new_series(other.status.series, change) if change is not None else None
            edit = rename_edit(other, new) if new is not None else None
            if edit is not None:
                renames.append((other.written, edit.content))
        if edit is not None and all(e.start != edit.start for e in edits):
            edits.append(edit)
    return edits, tuple(dict.fromkeys(renames))


def data_rename_fix(ctx: "RuleContext", dh: DataHit, change: Change) -> Fix:
    """Rename a metric name written as data (a list element, a constant, a config value)."""
    replacement = change.replacement
    assert replacement is not None
    site = dh.site
    new = _new_series(dh.status.series, change)
    if new is None:
        return Fix(Applicability.DISPLAY_ONLY, f"Use `{replacement.name}` instead (same values; {_when(change)})")
    spelled = dh.hit.respelled(new)
    if site is None:
        return Fix(Applicability.DISPLAY_ONLY, f"Use `{spelled}` instead (same values; {_when(change)})")
    if site.context.definition:
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"This program defines the metric itself under vLLM's old name; renaming it to `{spelled}` changes "
            "what it exports — check who reads it first",
        )
    owner = kept_on_purpose(site)
    if owner is not None:
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"`{owner}` looks like it holds old names on purpose; renaming this entry to `{spelled}` would "
            "change what it is for — decide by hand (or suppress the finding)",
        )
    switch = release_switch_fix(ctx, site, change, "a name")
    if switch is not None:
        return switch
    if side_by_side(ctx, site, replacement):
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"`{replacement.name}` is already here beside the old name (renaming would duplicate it); remove the "
            f"old entry once every server runs v{change.metric.first_release_without}+",
        )
    if not replacement_available(change, ctx.settings.target):
        return Fix(
            Applicability.DISPLAY_ONLY,
            f"`{replacement.name}` appears in vLLM v{replacement.first_version}, after your target",
        )
    title = f"Rename to `{spelled}` (same values; {_when(change)})"
    if not site.can_edit(dh.hit.start, dh.hit.end):
        why = site.refusal(dh.hit.start, dh.hit.end, "the name is templated there")
        return Fix(Applicability.DISPLAY_ONLY, f"{title} — not applied: {why}")
    try:
        edit = site.edit(dh.hit.start, dh.hit.end, spelled)
    except ValueError as err:
        return Fix(Applicability.DISPLAY_ONLY, f"{title} — not applied: {err}")
    naming = site.context.adapter_naming
    breaks = rename_breaks_export(naming, dh.hit.text, spelled) if naming is not None else None
    if breaks is not None:
        return Fix(Applicability.UNSAFE, f"{title} — unsafe: {breaks}", (edit,))
    if site.context.compared:
        return Fix(Applicability.UNSAFE, f"{title} — unsafe: {COMPARED_REASON}", (edit,))
    return Fix(Applicability.SAFE, title, (edit,))


def promql_formula_fix(site: Site, analysis: "Analysis", ref: "Reference", change: Change) -> Fix:
    """Replace a removed gauge's selector with the formula over surviving counters."""
    from migrator.promql import ast
    from migrator.promql.parser import PromQLSyntaxError, parse
    from migrator.promql.references import TextEdit, apply_text_edits
    from migrator.reference.spellings import classify

    advice = change.advice[:1].upper() + change.advice[1:]
    selector = ref.selector
    if change.formula is None or ref.hit is None or ref.kind == "regex":
        return Fix(Applicability.DISPLAY_ONLY, advice)
    if selector.templated:
        return Fix(Applicability.DISPLAY_ONLY, f"{advice} (not rewritten: a template is part of the metric name)")
    if ref.in_range or selector.offset or selector.at:
        return Fix(Applicability.DISPLAY_ONLY, f"{advice} (not rewritten: the selector has a range, offset or @ of its own)")
    window = "$__rate_interval" if site.context.grafana is not None else "5m"
    formula = change.formula.replace("$window", window)
    try:
        root = parse(formula)
    except PromQLSyntaxError:
        return Fix(Applicability.DISPLAY_ONLY, advice)
    text = analysis.text
    matchers = ", ".join(text[m.start : m.end] for m in selector.matchers if m.label != "__name__")
    edits = []
    for node in ast.walk(root):
        if isinstance(node, ast.VectorSelector) and node.name and node.name_span:
            hit = classify(node.name)
            if hit is None:
                return Fix(Applicability.DISPLAY_ONLY, advice)
            name = ref.hit.prefix + hit.stem
            edits.append(TextEdit(node.name_span[0], node.name_span[1], name + (f"{{{matchers}}}" if matchers else "")))
    if selector_only(site, analysis) and analysis.root is selector:
        # These take a series selector: list the labels of the first counter the gauge came from.
        counter = min(edits, key=lambda e: e.start).content
        return rewrite_fix(
            site,
            [TextEdit(selector.start, selector.end, counter)],
            Applicability.UNSAFE,
            f"Take the values from `{counter}`, the counter it was computed from (the servers that expose "
            "it may not be the ones that exposed the gauge)",
        )
    expression = apply_text_edits(formula, edits)
    parent = analysis.parents.get(id(selector))
    if isinstance(parent, (ast.BinaryExpr, ast.UnaryExpr)):
        expression = f"({expression})"
    return rewrite_fix(
        site,
        [TextEdit(selector.start, selector.end, expression)],
        Applicability.UNSAFE,
        f"Compute it from the counters: `{expression}` (values differ: vLLM averaged the gauge over its own "
        f"logging interval, the window `{window}` is a choice)",
    )
