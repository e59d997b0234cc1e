"""Views of the metric catalogue: `reference --catalogue` (text, JSON) and the README's table
of every change the tool knows (Markdown, kept in sync by a test)."""

from __future__ import annotations

from typing import Any

from migrator.reference.catalogue import Catalogue, Change, ChangeKind, Metric, Status, Target, catalogue

_KIND_WORDS = {
    ChangeKind.RENAMED: "renamed",
    ChangeKind.FORMULA: "removed, formula",
    ChangeKind.REMOVED: "removed",
    ChangeKind.DEPRECATED: "deprecated",
}
# The rule that reports a use of each kind of change once the metric is gone (VMM012 reports
# every kind while the metric is only deprecated or hidden at the target).
_RULES = {
    ChangeKind.RENAMED: "VMM010",
    ChangeKind.FORMULA: "VMM011",
    ChangeKind.REMOVED: "VMM001, VMM005",
    ChangeKind.DEPRECATED: "VMM012",
}


def _releases(metric: Metric) -> str:
    return f"{metric.first_version}–{metric.last_version or 'current'}"


def _instead(change: Change | None, metric: Metric) -> str:
    if change is None:
        return metric.replacement_text or ""
    if change.kind is ChangeKind.RENAMED and change.replacement is not None:
        return f"{change.replacement.name} (from {change.replacement.first_version})"
    if change.kind is ChangeKind.FORMULA and change.formula:
        return change.formula.replace("$window", "…")
    return change.advice


def _rows(cat: Catalogue, target: Target, every: bool) -> list[dict[str, Any]]:
    rows = []
    metrics = sorted(cat.metrics.values(), key=lambda m: m.name)
    for metric in metrics:
        change = cat.changes.get(metric.name)
        meaning = [m for m in cat.meaning_changes if m.metric is metric]
        if not every and change is None and not meaning:
            continue
        status = cat.metric_status(metric, target)
        rows.append(
            {
                "name": metric.name,
                "type": metric.type,
                "first_version": metric.first_version,
                "last_version": metric.last_version or "current",
                "deprecated_from": metric.deprecated_from,
                "hidden_from": metric.hidden_from,
                "removed_in": metric.first_release_without,
                "exposed_series": list(metric.exposed),
                "status_at_target": status.name.lower().replace("_", "-"),
                "change": _KIND_WORDS[change.kind] if change else None,
                "replacement": change.replacement.name if change and change.replacement else None,
                "formula": change.formula if change else None,
                "advice": change.advice if change else None,
                "pr": change.pr if change else None,
                "meaning_changes": [
                    {"since": m.since, "what": m.what, "label": m.label, "values": list(m.values), "pr": m.pr}
                    for m in meaning
                ],
                "instead": _instead(change, metric),
            }
        )
    return rows


def catalogue_json(target: Target, *, every: bool = False) -> dict[str, Any]:
    cat = catalogue()
    return {
        "target": target.release,
        "releases": list(cat.releases),
        "metrics": _rows(cat, target, every),
    }


def catalogue_text(target: Target, *, every: bool = False) -> str:
    cat = catalogue()
    rows = _rows(cat, target, every)
    lines = [
        f"vLLM metric catalogue: {len(cat.metrics)} metrics in releases {cat.releases[0]}–{cat.newest}; "
        f"status at {target.release}.",
        "",
    ]
    headers = ("METRIC", "TYPE", "RELEASES", f"AT {target.release}", "CHANGE", "INSTEAD")
    table = [
        (r["name"], r["type"], f"{r['first_version']}–{r['last_version']}", r["status_at_target"], r["change"] or
         ("meaning" if r["meaning_changes"] else ""), r["instead"])
        for r in rows
    ]
    widths = [max(len(h), *(len(str(t[i])) for t in table)) if table else len(h) for i, h in enumerate(headers[:-1])]
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)) + "  " + headers[-1])
    for t in table:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(t, widths)) + "  " + str(t[-1]))
    meaning = [(r["name"], m) for r in rows for m in r["meaning_changes"]]
    if meaning:
        lines.append("")
        lines.append("Changes of meaning:")
        for name, m in meaning:
            where = f"{{{m['label']}=~\"{'|'.join(m['values'])}\"}}" if m["label"] else ""
            lines.append(f"  {name}{where} from {m['since']}: {m['what']}")
    return "\n".join(lines) + "\n"


def changes_markdown() -> str:
    """The README's table: every change the tool knows, oldest first."""
    cat = catalogue()
    lines = [
        "| Metric | Type | Exposed | Change | Use instead | Rule |",
        "|---|---|---|---|---|---|",
    ]
    for change in cat.changes_in_order():
        metric = change.metric
        when = []
        if metric.deprecated_from:
            when.append(f"deprecated {metric.deprecated_from}")
        if metric.hidden_from:
            when.append(f"hidden {metric.hidden_from}")
        if metric.first_release_without:
            when.append(f"gone {metric.first_release_without}")
        kind = _KIND_WORDS[change.kind] + (f" ({', '.join(when)})" if when else "")
        if change.pr:
            kind += f", PR #{change.pr}"
        instead = _instead(change, metric).replace("|", "\\|")
        lines.append(
            f"| `{metric.name}` | {metric.type} | {_releases(metric)} | {kind} | {instead} | {_RULES[change.kind]} |"
        )
    for m in cat.meaning_changes:
        where = f" (`{m.label}` = {', '.join(f'`{v}`' for v in m.values)})" if m.label else ""
        pr = f", PR #{m.pr}" if m.pr else ""
        rule = "VMM201" if m.label else "VMM202"
        lines.append(
            f"| `{m.metric.name}`{where} | {m.metric.type} | {_releases(m.metric)} | meaning changed in "
            f"{m.since}{pr} | {m.what} | {rule} |"
        )
    return "\n".join(lines) + "\n"


def status_counts(target: Target) -> dict[str, int]:
    cat = catalogue()
    counts: dict[str, int] = {}
    for metric in cat.metrics.values():
        status = cat.metric_status(metric, target)
        counts[status.name.lower()] = counts.get(status.name.lower(), 0) + 1
    return counts


__all__ = ["Status", "catalogue_json", "catalogue_text", "changes_markdown", "status_counts"]
