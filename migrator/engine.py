"""The pure core: text in, findings (and fixed text) out. No file system, no output."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable

from migrator.config import Settings
from migrator.formats import handler_for
from migrator.formats.base import Document, ParseError, SiteNeeds
from migrator.model import Applicability, DeadSeries, Edit, Finding, Fix, LineIndex, Span
from migrator.rule import Rule, RuleContext, all_rules, rule_by_code, site_needs
from migrator.shims import ShimRule, shims_in

# The rule that reports files a handler cannot parse; the engine emits it, the registry owns it.
PARSE_ERROR_CODE = "VMM000"

# Enough for fixes that expose further fixes (a removed term leaving a now-redundant
# parenthesis); a file still changing after this many passes points at a bug, not a need.
MAX_FIX_PASSES = 8

_DIRECTIVE = re.compile(
    r"vllm-metrics-migrator:\s*(?P<kind>ignore-file|ignore)(?:\[(?P<codes>[A-Za-z0-9_,\s]*)\])?"
    r"|\b(?i:noqa):\s*(?P<noqa>(?i:VMM)\d{3}(?:[,\s]+(?i:VMM)\d{3})*)"  # flake8's and ruff's `# NOQA` too
)


@dataclass(slots=True)
class LintResult:
    document: Document | None
    findings: list[Finding]
    # Series this file records from metrics that no longer exist (declared by VMM003), each
    # with the names that kill it.
    dead_series: DeadSeries = frozenset()
    suppressions: "Suppressions | None" = None
    # Compatibility recording rules: old names this file records again (`migrator.shims`).
    shims: tuple[ShimRule, ...] = ()


@dataclass(slots=True)
class FixResult:
    text: str
    findings: list[Finding]
    fixed: list[Finding]
    passes: int
    dead_series: DeadSeries = frozenset()
    shims: tuple[ShimRule, ...] = ()
    # The lint of the final text, when one was run (not when findings were moved past edits).
    lint: LintResult | None = None


def parse_error_finding(path: str, text: str, err: ParseError) -> Finding:
    rule = rule_by_code(PARSE_ERROR_CODE)
    assert rule is not None, "the parse-error rule is part of the registry"
    return rule.finding_for(path, text, err)  # type: ignore[attr-defined]


# What may precede a directive on a line that holds nothing but a comment: indentation and
# comment openers (`#`, `//`, `--`, `;`, `%`, `<!--`, `/*`, `*`).
_COMMENT_ONLY_PREFIX = re.compile(r"[ \t]*(?:(?:#+|//+|--+|;+|%+|<!--|/\*+|\*+)[ \t]*)*")


class Suppressions:
    """Inline `# vllm-metrics-migrator: ignore[...]` and `# noqa: VMMxxx` directives.

    A directive trailing code covers its own line only. A directive on a line of its own covers
    the next line (stacked directive lines all reach it); in YAML the next line that holds a
    node, across blank and comment lines (`gap_row`, pint's "the next node"), and when that line
    starts a list item or a mapping key, the whole node (`node_scopes`: a rule, an `expr` block
    scalar); in Python, a directive above a multi-line string or trailing its last
    line covers the whole string. `ignore-file` anywhere covers the file. Directives inside a
    Python string literal (`in_string`) are text, not comments; in YAML only `ignore-file` must
    be a comment (`file_directive_in_string`): a runbook annotation that quotes it is not one,
    while a line directive in an `expr` block scalar is a PromQL comment and counts.
    """

    def __init__(
        self,
        text: str,
        node_scopes: Callable[[], dict[int, int]] | None = None,
        ending_scopes: Callable[[], dict[int, int]] | None = None,
        in_string: Callable[[int], bool] | None = None,
        file_directive_in_string: Callable[[int], bool] | None = None,
        gap_row: Callable[[LineIndex, int], bool] | None = None,
    ) -> None:
        self.file_level = False
        # (first row, last row, codes or None for every code)
        self.ranges: list[tuple[int, int, frozenset[str] | None]] = []
        if "vllm-metrics-migrator:" not in text and "noqa" not in text.lower():
            return
        index = LineIndex(text)
        directives: list[tuple[int, bool, frozenset[str] | None]] = []  # row, own line, codes
        for match in _DIRECTIVE.finditer(text):
            if in_string is not None and in_string(match.start()):
                continue  # the text of a string literal, not a comment
            row = index.position(match.start())[0]
            if match["kind"] == "ignore-file":
                if file_directive_in_string is None or not file_directive_in_string(match.start()):
                    self.file_level = True
                continue
            raw = match["codes"] if match["kind"] else match["noqa"]
            codes = (
                frozenset(c.strip().upper() for c in re.split(r"[,\s]+", raw) if c.strip())
                if raw is not None
                else None
            )
            own_line = _COMMENT_ONLY_PREFIX.fullmatch(text, index.line_start(row), match.start()) is not None
            directives.append((row, own_line, codes))
        directive_rows = {row for row, own_line, _ in directives if own_line}
        scopes: dict[int, int] | None = None
        endings: dict[int, int] | None = None
        for row, own_line, codes in directives:
            if not own_line:
                # Trailing code: its own line, and the lines of a multi-line string that ends
                # on it (no comment can sit inside the string: ruff's rule).
                if ending_scopes is not None and endings is None:
                    endings = ending_scopes()
                self.ranges.append((min(row, endings.get(row, row)) if endings else row, row, codes))
                continue
            target = row + 1
            # Stacked directive lines all reach the same line; in YAML so do blank lines and
            # other comments, which are no node.
            while target in directive_rows or (
                gap_row is not None and target <= index.line_count and gap_row(index, target)
            ):
                target += 1
            if target > index.line_count:
                continue  # nothing follows: the directive covers nothing
            last = target
            if node_scopes is not None:
                if scopes is None:
                    scopes = node_scopes()
                last = max(target, scopes.get(target, target))
            self.ranges.append((row, last, codes))

    @classmethod
    def for_document(cls, document: Document) -> "Suppressions":
        scopes = endings = in_string = file_directive_in_string = gap_row = None
        if document.format == "yaml":
            from migrator.formats.yaml_suppression_scopes import inside_scalar, no_node_on, node_scopes

            gap_row = no_node_on
            scopes = lambda: node_scopes(document)  # noqa: E731 - only computed when needed
            # A line directive inside a scalar stays one (a PromQL comment in an `expr` block
            # can carry it); only `ignore-file` must be a YAML comment.
            file_directive_in_string = lambda offset: inside_scalar(document, offset)  # noqa: E731
        elif document.format == "python":
            scopes = lambda: _multiline_strings(document)[0]  # noqa: E731
            endings = lambda: _multiline_strings(document)[1]  # noqa: E731
            in_string = _string_literal_test(document)
        return cls(document.text, scopes, endings, in_string, file_directive_in_string, gap_row)

    def hides(self, code: str, row: int) -> bool:
        if self.file_level:
            return True
        for first, last, codes in self.ranges:
            if first <= row <= last and (codes is None or code in codes):
                return True
        return False


def _multiline_strings(document: Document) -> tuple[dict[int, int], dict[int, int]]:
    """The string expressions of a Python document that span lines, as {first row: last row}
    and {last row: first row}: a directive above one or trailing its last line covers it all."""
    index = LineIndex(document.text)
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for site in document.sites:
        literals = getattr(site, "piece_literals", None)
        if not literals:
            continue
        first, last = index.position(literals[0][0])[0], index.position(literals[-1][1])[0]
        if last > first:
            starts[first] = max(starts.get(first, last), last)
            ends[last] = min(ends.get(last, first), first)
    return starts, ends


def _string_literal_test(document: Document) -> Callable[[int], bool]:
    """Whether an offset of a Python document lies inside one of its string sites' literals
    (`"vllm:… # noqa: VMM010"` is data, not a directive)."""
    import bisect
    import itertools

    spans = sorted(span for site in document.sites for span in getattr(site, "piece_literals", ()))
    starts = [start for start, _ in spans]
    # Literals nest (a string inside an f-string's field): the furthest end of those that
    # start at or before each one.
    reach = list(itertools.accumulate((end for _, end in spans), max))

    def inside(offset: int) -> bool:
        i = bisect.bisect_right(starts, offset) - 1
        return i >= 0 and reach[i] > offset

    return inside


def _enabled_rules(settings: Settings, fmt: str, ignored: tuple[str, ...]) -> tuple[tuple[Rule, ...], SiteNeeds]:
    return _rules_and_needs(all_rules(), settings, fmt, ignored)


@lru_cache(maxsize=64)
def _rules_and_needs(
    registry: tuple[Rule, ...], settings: Settings, fmt: str, ignored: tuple[str, ...]
) -> tuple[tuple[Rule, ...], SiteNeeds]:
    rules = tuple(
        rule
        for rule in registry
        if rule.applies_to(fmt)
        and settings.rule_enabled(rule.code)
        and not any(rule.code.startswith(c) for c in ignored)
    )
    return rules, site_needs(rules, fmt, settings)


def enabled_rules(settings: Settings, fmt: str, path: str | None = None) -> tuple[Rule, ...]:
    """The rules `settings` enable for files of `fmt` (at `path`: minus its per-file ignores)."""
    return _enabled_rules(settings, fmt, settings.ignored_for_path(path) if path else ())[0]


def needs_for(settings: Settings, fmt: str) -> SiteNeeds:
    """What the rules enabled by `settings` need from the handler of `fmt`."""
    return _enabled_rules(settings, fmt, ())[1]


def lint_text(path: str, text: str, settings: Settings, fmt: str) -> LintResult:
    handler = handler_for(fmt)
    ignored = settings.ignored_for_path(path)
    rules, needs = _enabled_rules(settings, fmt, ignored)
    try:
        document = handler.parse(path, text, needs)
    except ParseError as err:
        finding = parse_error_finding(path, text, err)
        enabled = settings.rule_enabled(PARSE_ERROR_CODE) and not any(
            PARSE_ERROR_CODE.startswith(c) for c in ignored
        )
        return LintResult(None, [finding] if enabled else [])
    return lint_document(document, settings, rules)


def lint_document(
    document: Document, settings: Settings, rules: tuple[Rule, ...], suppressions: "Suppressions | None" = None
) -> LintResult:
    """Run `rules` on a parsed document; `suppressions` when they were read from the document
    earlier (a cross-file view no longer has what YAML node scopes are computed from)."""
    ctx = RuleContext(document, settings)
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(rule.check(ctx))
    if suppressions is None:
        suppressions = Suppressions.for_document(document)
    lines = document.lines
    findings = [
        f
        for f in findings
        if not suppressions.hides(f.code, lines.position(f.span.start)[0]) and not _excluded(f, settings)
    ]
    if document.fix_ceiling is not None:
        findings = [_capped(f, document.fix_ceiling) for f in findings]
    ignored = [s.file_span(0, len(s.value)) for s in document.sites if s.context.ignored_duplicate is not None]
    if ignored:
        findings = [_not_in_ignored(f, ignored) for f in findings]
    findings.sort(key=lambda f: (f.span.start, f.span.end, f.code))
    dead = frozenset((name, frozenset(killed_by)) for name, killed_by in ctx.dead_series.items())
    return LintResult(document, _dedupe(findings), dead, suppressions, shims_in(document, settings))


def cross_file_view(document: Document) -> Document:
    """What the cross-file pass needs of a parsed document, small and picklable (it travels back
    from a worker): its text, its PromQL sites (positions and rule/dashboard context, no edit
    machinery), its rules. Rules that only report (VMM004) run on it without parsing again."""
    from migrator.formats.base import Site, SiteContext, SiteKind

    sites = []
    for site in document.sites:
        if site.kind not in (SiteKind.PROMQL, SiteKind.GRAFANA_QUERY):
            continue
        if type(site).to_file is Site.to_file:
            base, offsets = site.base, site.offsets
        else:  # an embedded document's site maps through its outer file
            base, offsets = 0, [site.to_file(i) for i in range(len(site.value) + 1)]
        context = SiteContext(rule=site.context.rule, grafana=site.context.grafana, field=site.context.field,
                              ignored_duplicate=site.context.ignored_duplicate)
        sites.append(Site(value=site.value, kind=site.kind, locator=site.locator, base=base, offsets=offsets,
                          editable=False, readonly_reason=site.readonly_reason, context=context))
    return Document(path=document.path, text=document.text, format=document.format, sites=sites,
                    rules=list(document.rules))


def _capped(finding: Finding, ceiling: Applicability) -> Finding:
    """A safe fix in a file that cannot be re-parsed as a whole becomes unsafe, and says so."""
    fix = finding.fix
    if fix is None or fix.applicability is not Applicability.SAFE or ceiling is Applicability.SAFE:
        return finding
    note = " (unsafe here: this file's language is not parsed, so the result cannot be checked)"
    return replace(finding, fix=replace(fix, applicability=ceiling, message=fix.message + note))


def _not_in_ignored(finding: Finding, ignored: list[Span]) -> Finding:
    """A fix that would edit inside an ignored duplicate JSON key's value changes nothing a
    parser reads (and re-parsing cannot tell): it is only shown. An edit that removes the whole
    value (its target, say) is fine."""
    fix = finding.fix
    if fix is None or not any(
        e.span.start < i.end and i.start < e.span.end and not (e.span.start <= i.start and i.end <= e.span.end)
        for e in fix.edits for i in ignored
    ):
        return finding
    note = " — not applied: it would edit a duplicate key that a later one replaces"
    return replace(finding, fix=Fix(Applicability.DISPLAY_ONLY, fix.message + note))


def _excluded(finding: Finding, settings: Settings) -> bool:
    """A configured dashboard exclusion (uid + panel id + refId, each optional) covers it."""
    if finding.dashboard_target is None or not settings.exclusions:
        return False
    uid, panel_id, ref_id = finding.dashboard_target
    for ex in settings.exclusions:
        if ex.codes and not any(finding.code.startswith(c) for c in ex.codes):
            continue
        if (ex.uid is None or ex.uid == uid) and (ex.panel_id is None or ex.panel_id == panel_id) and (
            ex.ref_id is None or ex.ref_id == ref_id
        ):
            return True
    return False


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for f in findings:
        key = (f.code, f.span.start, f.span.end)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Splice non-overlapping edits into the text; everything else is kept as it was."""
    parts: list[str] = []
    cursor = 0
    for edit in sorted(edits, key=lambda e: (e.span.start, e.span.end)):
        if edit.span.start < cursor:
            raise ValueError("overlapping edits")
        parts.append(text[cursor : edit.span.start])
        parts.append(edit.content)
        cursor = edit.span.end
    parts.append(text[cursor:])
    return "".join(parts)


def _select_fixes(findings: list[Finding], unsafe: bool) -> list[Finding]:
    """Fixes that apply at this level and do not overlap an earlier one (deferred to a later pass).
    Joint removals in one collection go together: see `_joined`."""
    chosen: list[Finding] = []
    taken = _Taken()
    joined = _joined(findings, unsafe)
    for finding in findings:
        fix = finding.fix
        if fix is None or not fix.applies_at(unsafe):
            continue
        if fix.joint is not None and fix.joint.collection in joined:
            group = joined.pop(fix.joint.collection)
            if group is None:
                continue  # a later member of a group already taken
            spans = [e.span for e in group[0].fix.edits] + ([fix.scope] if fix.scope is not None else [])
            if any(taken.overlaps(s) for s in spans):
                continue
            chosen.extend(group)
            joined[fix.joint.collection] = None
            for s in spans:
                taken.add(s)
            continue
        spans = [e.span for e in fix.edits]
        if fix.scope is not None:
            spans.append(fix.scope)
        if any(taken.overlaps(s) for s in spans):
            continue
        chosen.append(finding)
        for s in spans:
            taken.add(s)
    return chosen


def _joined(findings: list[Finding], unsafe: bool) -> dict[tuple[int, int], list[Finding]]:
    """Per collection with several joint removals applying at this level: the findings, the
    first carrying the edits that remove all their elements at once and the others none (they
    are fixed by the same edits). A collection whose format cannot combine them, or whose
    removals would take every element, is left out (one removal per pass, as before)."""
    members: dict[tuple[int, int], list[Finding]] = {}
    for finding in findings:
        fix = finding.fix
        if fix is not None and fix.joint is not None and fix.applies_at(unsafe):
            members.setdefault(fix.joint.collection, []).append(finding)
    joined: dict[tuple[int, int], list[Finding]] = {}
    for key, group in members.items():
        by_index = {f.fix.joint.index: f for f in group}  # type: ignore[union-attr]
        if len(by_index) < 2:
            continue
        first = group[0].fix
        assert first is not None and first.joint is not None
        indices = tuple(sorted(by_index))
        if len(indices) >= first.joint.size:
            continue
        edits = first.joint.combine(indices)
        if edits is None:
            continue
        ordered = [by_index[i] for i in indices]
        joined[key] = [replace(ordered[0], fix=replace(ordered[0].fix, edits=edits))] + [
            replace(f, fix=replace(f.fix, edits=())) for f in ordered[1:]
        ]
    return joined


class _Taken:
    """Spans already claimed in this pass, with `Span.overlaps` semantics, as sorted disjoint
    intervals plus insertion points: each test is a bisection, not a scan (a large dashboard
    can carry thousands of fixes)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.points: set[int] = set()

    def overlaps(self, span: Span) -> bool:
        if span.start == span.end:
            if span.start in self.points:
                return True
            i = bisect.bisect_left(self.starts, span.start) - 1  # the last interval starting before it
            return i >= 0 and self.ends[i] > span.start
        i = bisect.bisect_left(self.starts, span.end) - 1
        if i >= 0 and self.ends[i] > span.start:
            return True
        return any(span.start < p < span.end for p in self.points)

    def add(self, span: Span) -> None:
        if span.start == span.end:
            self.points.add(span.start)
            return
        start, end = span.start, span.end
        i = bisect.bisect_left(self.starts, start)
        if i > 0 and self.ends[i - 1] > start:
            i -= 1
            start, end = self.starts[i], max(end, self.ends[i])
        j = i
        while j < len(self.starts) and self.starts[j] < end:
            end = max(end, self.ends[j])
            j += 1
        self.starts[i:j] = [start]
        self.ends[i:j] = [end]


def fix_text(path: str, text: str, settings: Settings, fmt: str, *, unsafe: bool = False) -> FixResult:
    """Apply fixes until nothing more applies; each pass's output must re-parse."""
    handler = handler_for(fmt)
    fixed: list[Finding] = []
    passes = 0
    result = lint_text(path, text, settings, fmt)
    while passes < MAX_FIX_PASSES and result.document is not None:
        chosen = _select_fixes(result.findings, unsafe)
        if not chosen:
            break
        passes += 1
        candidate = _apply_validated(handler, text, chosen)
        if candidate is None:
            break
        text, applied = candidate
        fixed.extend(applied)
        # One parse per file when it can be proven enough: fixes that only swap text in place
        # (renames, a removed list entry) leave every other finding where the edits move it.
        # Not in a file with recording rules: a fix in one's expression can make it a
        # compatibility rule (`migrator.shims`), or stop it being one.
        shifted = None if _records(result.document) else _shifted(result.findings, applied, unsafe)
        if shifted is not None:
            return FixResult(text=text, findings=shifted, fixed=fixed, passes=passes, dead_series=result.dead_series)
        # Let the pass's parse go before the next one is built: a large file's document, sites
        # and findings would otherwise be alive twice at the peak of the run.
        del result, chosen, candidate, applied
        result = lint_text(path, text, settings, fmt)
    return FixResult(
        text=text, findings=result.findings, fixed=fixed, passes=passes, dead_series=result.dead_series, lint=result,
        shims=result.shims,
    )


def _records(document: Document | None) -> bool:
    return document is not None and any(rule.kind == "record" for rule in document.rules)


def _shifted(findings: list[Finding], applied: list[Finding], unsafe: bool) -> list[Finding] | None:
    """The findings a lint of the fixed text would give, by moving the unfixed ones past the
    applied edits — or None when that cannot be known without linting again: a fix that
    restructures its scope (term elimination), a fix left for another pass, or a finding that
    touches an edit."""
    if any(f.fix is not None and f.fix.scope is not None for f in applied):
        return None
    done = {id(f) for f in applied}
    remaining = [f for f in findings if id(f) not in done]
    if any(f.fix is not None and f.fix.applies_at(unsafe) for f in remaining):
        return None  # deferred: it overlapped an applied fix, and needs the fixed text
    edits = sorted((e for f in applied for e in _edits(f.fix)), key=lambda e: e.span.start)
    ends = [e.span.end for e in edits]
    shifts = [0]
    for e in edits:
        shifts.append(shifts[-1] + len(e.content) - (e.span.end - e.span.start))

    def move(p: int) -> int:
        i = bisect.bisect_right(ends, p)  # edits that end at or before p
        if i < len(edits) and edits[i].span.start < p:
            raise _Ambiguous  # p lies inside an edit
        if i and edits[i - 1].span.start == edits[i - 1].span.end == p:
            raise _Ambiguous  # an insertion exactly here: before or after the finding?
        return p + shifts[i]

    def span(s: Span) -> Span:
        return Span(move(s.start), move(s.end))

    moved: list[Finding] = []
    try:
        for f in remaining:
            fix = f.fix
            if fix is not None:
                fix = replace(
                    fix,
                    edits=tuple(Edit(span(e.span), e.content) for e in fix.edits),
                    scope=span(fix.scope) if fix.scope is not None else None,
                    rewrite=None,  # the whole-expression record may predate another applied rename
                )
            moved.append(replace(f, span=span(f.span), fix=fix))
    except _Ambiguous:
        return None
    return moved


class _Ambiguous(Exception):
    pass


def _apply_validated(handler, text: str, chosen: list[Finding]):  # type: ignore[no-untyped-def]
    """Apply all chosen fixes at once; if the result does not parse, keep only the fixes that
    parse on their own, so one bad fix never blocks the good ones (and never reaches disk)."""
    new = apply_edits(text, [e for f in chosen for e in _edits(f.fix)])
    if _parses(handler, new):
        return new, chosen
    # (A joint removal's other members carry no edits: they stand or fall with the first.)
    good = [f for f in chosen if _edits(f.fix) and _parses(handler, apply_edits(text, list(_edits(f.fix))))]
    if not good or len(good) == len(chosen):
        return None
    new = apply_edits(text, [e for f in good for e in _edits(f.fix)])
    return (new, good) if _parses(handler, new) else None


def _edits(fix: Fix | None) -> tuple[Edit, ...]:
    return fix.edits if fix is not None else ()


def _parses(handler, text: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        handler.validate(text)
    except ParseError:
        return False
    return True
