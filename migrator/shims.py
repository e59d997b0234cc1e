"""Compatibility recording rules ("shims"): a recording rule that records an old vLLM metric
name again, from its replacement or from a formula (`record: <old name>`, `expr: <new name>`),
keeps that series alive on the Prometheus it is deployed to. Queries of the same run that read
the old name are then not broken: their findings are lowered to info and name the rule.

Per file, `shims_in` finds the candidates while the file is linted (in a worker, when the run
uses a pool); once every file was seen, the runner decides which names the run provides
(`provided_names`) and rewrites the findings about them (`lower_findings`). Both are pure
functions of the run's results sorted by path, so the output does not depend on the order files
come in or on how many processes read them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable

from migrator.model import Finding, LineIndex, Severity
from migrator.reference.catalogue import Status

if TYPE_CHECKING:
    from migrator.config import Settings
    from migrator.formats.base import Document


@dataclass(frozen=True, slots=True)
class ShimRule:
    """A recording rule of one file that records a name with no data (or going) at the target."""

    name: str  # the recorded name, exactly as `record:` writes it
    offset: int  # where the rule names it (its `record:` value; else its expression)
    # Names its expression reads that have no data at the target themselves: the rule records
    # something only if the run provides each of them too (a shim computed from a shim).
    needs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Provider:
    """Where the run records a name: a compatibility rule's file and line (1-based)."""

    path: str
    line: int

    def __str__(self) -> str:
        from migrator.filenames import printable

        return f"{printable(self.path)}:{self.line}"


def shims_in(document: "Document", settings: "Settings") -> tuple[ShimRule, ...]:
    """The recording rules of `document` whose `record:` is a catalogue name that is gone,
    hidden or deprecated at the target (any spelling the catalogue knows), and whose
    expression parses and does not read that same metric (`record: x` / `expr: sum(x)` records
    nothing new: x is still gone)."""
    if not any(rule.kind == "record" for rule in document.rules):
        return ()
    from migrator.formats.base import SiteKind
    from migrator.promql.references import analyse
    from migrator.reference.catalogue import catalogue
    from migrator.reference.spellings import classify

    prefixes = tuple(settings.metric_prefixes)
    target = settings.target
    found: list[ShimRule] = []
    for site in document.sites:
        rule = site.context.rule
        if site.kind is not SiteKind.PROMQL or rule is None or rule.kind != "record" or not rule.name:
            continue
        if site.context.field != "expr":
            continue
        hit = classify(rule.name, prefixes)
        if hit is None:
            continue
        status = catalogue().status_of(hit.candidates, target)
        if status is None or status.status not in _STALE:
            continue
        analysis = analyse(site.value, prefixes, frozenset(), False, target)
        if analysis.error is not None or analysis.root is None:
            continue  # an expression Prometheus rejects records nothing
        own = {series.metric.name for series in hit.candidates}
        needs: set[str] = set()
        reads_itself = False
        for ref in analysis.references:
            if ref.kind == "regex":
                reads_itself |= any(h is not None and own & _metrics(h.candidates) for h, _ in ref.regex_hits)
                continue
            if ref.hit is None or ref.status is None:
                continue
            if own & _metrics(ref.hit.candidates):
                reads_itself = True
            elif ref.status.status in _NO_DATA:
                needs.add(ref.written)
        if reads_itself:
            continue
        offset = rule.name_at if rule.name_at is not None else site.file_span(0, 0).start
        found.append(ShimRule(rule.name, offset, frozenset(needs)))
    return tuple(found)


def provided_names(files: Iterable[tuple[str, str, tuple[ShimRule, ...]]]) -> dict[str, tuple[Provider, ...]]:
    """The names the run's compatibility rules keep alive, each with every rule that records
    it, in path and line order. `files`: (display path, text the offsets are into, its shims).
    A shim that needs a name no other shim provides records nothing; dropping it may starve
    another, so this repeats until nothing changes."""
    candidates: list[tuple[Provider, ShimRule]] = []
    for path, text, shims in files:
        if not shims:
            continue
        lines = LineIndex(text)
        candidates.extend((Provider(path, lines.position(s.offset)[0]), s) for s in shims)
    while True:
        names = {shim.name for _, shim in candidates}
        kept = [(p, shim) for p, shim in candidates if shim.needs <= names]
        if len(kept) == len(candidates):
            break
        candidates = kept
    providers: dict[str, list[Provider]] = {}
    for provider, shim in sorted(candidates, key=lambda c: (c[0].path, c[0].line, c[1].name)):
        providers.setdefault(shim.name, []).append(provider)
    return {name: tuple(dict.fromkeys(found)) for name, found in sorted(providers.items())}


def live_dead_series(dead: Iterable[tuple[str, frozenset[str]]], provided: dict[str, tuple[Provider, ...]]) -> set[str]:
    """The recorded series that do die: those computed from a name without data that no
    compatibility rule of the run provides (or from a regex, which no rule can stand in for)."""
    return {name for name, killed_by in dead if not killed_by or not killed_by <= provided.keys()}


def lower_findings(findings: list[Finding], provided: dict[str, tuple[Provider, ...]]) -> list[Finding]:
    """Findings of rules that report a name with no data, in a query, about a name the run
    provides: info, with the rule that provides it. Their fixes stay (moving off the old name
    is still the migration; the shim is meant to go)."""
    if not provided:
        return findings
    stale_codes = _stale_name_codes()
    out = []
    for finding in findings:
        providers = provided.get(finding.matched) if finding.in_query else None
        if providers is None or finding.code not in stale_codes or finding.severity <= Severity.INFO:
            out.append(finding)
            continue
        out.append(replace(finding, severity=Severity.INFO, message=finding.message + _note(finding.matched, providers)))
    return out


def _note(name: str, providers: tuple[Provider, ...]) -> str:
    more = len(providers) - 1
    where = f"{providers[0]}" + (f" (and {more} more)" if more else "")
    return (
        f" — but the compatibility recording rule at {where} in this run records `{name}`: this query "
        "keeps its data only while that rule is deployed on the Prometheus the query reads (info: "
        "moving off the old name lets you delete the rule)"
    )


def _metrics(candidates) -> set[str]:  # type: ignore[no-untyped-def]
    return {series.metric.name for series in candidates}


def _stale_name_codes() -> frozenset[str]:
    from migrator.rule import all_rules

    return frozenset(rule.code for rule in all_rules() if rule.reports_stale_name)


# Names a compatibility rule may record again (no data at the target, or going), and names
# that have no data at the target (a shim reading one needs another shim for it).
_STALE = frozenset({Status.GONE, Status.HIDDEN, Status.DEPRECATED})
_NO_DATA = frozenset({Status.GONE, Status.HIDDEN})
