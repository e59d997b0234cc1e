"""Rendering findings: text formats for people, JSON formats for machines.

CI formats (github, gitlab, sarif, junit) live in `migrator.ci_formats` and register here.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Protocol

from migrator.filenames import printable
from migrator.model import Applicability, FileResult, Finding, LineIndex, Severity
from migrator.rule import rule_by_code

# Text output shows at most this much of a source line, around the finding: one finding in a
# minified 20 MB dashboard must not print the whole line.
SOURCE_WIDTH = 160
# Locators of deeply nested documents can be longer than the document is wide; keep both ends.
LOCATOR_WIDTH = 300
ELLIPSIS = "…"


def unified_diff(result: FileResult) -> str:
    """The `--diff` / `migrate --dry-run` view of one file's fixes."""
    from migrator.diffs import unified_diff as diff

    name = printable(result.path)
    return diff(result.original or "", result.fixed or "", f"a/{name}", f"b/{name}")


def short_locator(locator: str, width: int = LOCATOR_WIDTH) -> str:
    """`locator` cut in the middle when longer than `width`: the head says where in the
    document, the tail which field."""
    locator = printable(locator)
    if len(locator) <= width:
        return locator
    head = width * 2 // 5
    tail = width - head - len(ELLIPSIS) - 2
    return f"{locator[:head]} {ELLIPSIS} {locator[-tail:]}"


def project_root(cwd: str | None = None) -> str:
    """The git work tree containing `cwd` (where CI systems resolve paths from), else `cwd`."""
    from migrator.files import git_root

    start = os.path.abspath(cwd or os.getcwd())
    return git_root(start) or start


def repo_relative(path: str, root: str | None = None) -> tuple[str, bool]:
    """`path` (as findings show it: relative to the working folder, or absolute) relative to
    the project root with forward slashes, and whether it lies inside the root.

    CI systems and baselines key files by repository path: a run from a subfolder, or from
    another checkout location, must name a file the same way."""
    if path == "-":
        return path, True
    root = root or project_root()
    absolute = os.path.normpath(os.path.join(os.getcwd(), path))
    rel = os.path.relpath(absolute, root)
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return absolute.replace(os.sep, "/"), False
    return rel.replace(os.sep, "/"), True


@dataclass(frozen=True, slots=True)
class Located:
    """A finding with 1-based rows and character columns resolved against its file's text."""

    finding: Finding
    row: int
    column: int
    end_row: int
    end_column: int
    index: LineIndex

    def source_window(self, width: int = SOURCE_WIDTH) -> tuple[str, int, int]:
        """(text, caret column, caret width) of the finding's line, clipped to about `width`
        characters around the finding with an ellipsis where text was cut. Only the window is
        copied out of the file's text."""
        start, end = self.index.line_bounds(self.row)
        text = self.index.text
        length = end - start
        col = self.column - 1
        span = (self.end_column - self.column) if self.end_row == self.row else length - col
        span = max(1, span)
        if length <= width:
            return text[start:end], col + 1, span
        lo = max(0, min(col - width // 4, length - width))
        hi = min(length, lo + width)
        shown = text[start + lo : start + hi]
        prefix = ELLIPSIS if lo > 0 else ""
        suffix = ELLIPSIS if hi < length else ""
        caret_col = col - lo + len(prefix) + 1
        caret_width = max(1, min(span, hi - col))
        return prefix + shown + suffix, caret_col, caret_width


def locate(results: Iterable[FileResult]) -> list[Located]:
    located: list[Located] = []
    for result in results:
        if not result.findings:
            continue
        text = result.fixed if result.fixed is not None else (result.original or "")
        index = LineIndex(text)
        for f in result.findings:
            row, col = index.position(f.span.start)
            end_row, end_col = index.position(f.span.end)
            located.append(Located(f, row, col, end_row, end_col, index))
    return located


def _position(index: LineIndex, offset: int) -> dict[str, int]:
    row, col = index.position(offset)
    return {"row": row, "column": col}


def finding_json(item: Located) -> dict:
    f = item.finding
    rule = rule_by_code(f.code)
    fix = None
    if f.fix is not None:
        fix = {
            "applicability": f.fix.applicability.value,
            "message": f.fix.message,
            "edits": [
                {
                    "content": e.content,
                    "location": _position(item.index, e.span.start),
                    "end_location": _position(item.index, e.span.end),
                }
                for e in f.fix.edits
            ],
        }
    return {
        "code": f.code,
        "message": f.message,
        "filename": printable(f.path),
        "location": {"row": item.row, "column": item.column},
        "end_location": {"row": item.end_row, "column": item.end_column},
        "severity": f.severity.label,
        "locator": f.locator,
        "fix": fix,
        "url": rule.url() if rule else None,
    }


def fix_marker(f: Finding, unsafe: bool) -> str:
    return "[*] " if f.fix is not None and f.fix.applies_at(unsafe) else ""


class Style:
    """ANSI styling that is a no-op when colours are off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text


# One colour per severity, so info and warning never look alike: red, yellow, blue.
SEVERITY_COLOURS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "34"}


def _control_pictures(line: str) -> str:
    """A source line without the control characters a terminal would obey (ESC, CR, BEL...):
    each becomes its one-character Unicode control picture, so carets stay aligned."""
    if line.isprintable():
        return line
    return "".join(
        chr(0x2400 + ord(c)) if ord(c) < 0x20 and c != "\t" else ("\u2421" if c == "\x7f" else c) for c in line
    )


def render_full(items: list[Located], unsafe: bool, style: Style, concise: bool = False) -> str:
    out: list[str] = []
    for item in items:
        f = item.finding
        colour = SEVERITY_COLOURS[f.severity]
        locator = f" ({short_locator(f.locator)})" if f.locator else ""
        head = (
            f"{style(printable(f.path), '1')}:{item.row}:{item.column}: {style(f.code, '1;' + colour)} "
            f"{fix_marker(f, unsafe)}{style(f.severity.label + ':', colour)} {f.message}{locator}"
        )
        out.append(head)
        if concise:
            continue
        line, caret_column, width = item.source_window()
        gutter = f"{item.row} | "
        out.append(f"  {gutter}{_control_pictures(line)}")
        out.append("  " + " " * len(gutter) + " " * (caret_column - 1) + style("^" * width, colour))
        if f.fix is not None:
            label = {
                Applicability.SAFE: "Safe fix",
                Applicability.UNSAFE: "Unsafe fix",
                Applicability.DISPLAY_ONLY: "Suggestion",
            }[f.fix.applicability]
            out.append(f"  = {style(label, '36')}: {f.fix.message}")
        out.append("")
    return "\n".join(out) + ("\n" if out and concise else "")


def summary_line(findings: list[Finding], unsafe: bool, fixed: int = 0, errors: int = 0, skipped: int = 0) -> str:
    line = _summary(findings, unsafe, fixed)
    if skipped and line == _ALL_PASSED and not errors:
        return f"No findings; {skipped} file{'s were' if skipped != 1 else ' was'} skipped (see the notes above)."
    if errors:
        problem = f"{errors} file{'s' if errors != 1 else ''} could not be checked or written (see the errors above)"
        return f"No findings in the files checked, but {problem}." if line == _ALL_PASSED else f"{line} {problem[0].upper()}{problem[1:]}."
    return line


_ALL_PASSED = "All checks passed!"


def _summary(findings: list[Finding], unsafe: bool, fixed: int) -> str:
    if fixed:
        remaining = len(findings)
        total = fixed + remaining
        return f"Found {total} finding{'s' if total != 1 else ''} ({fixed} fixed, {remaining} remaining)."
    if not findings:
        return _ALL_PASSED
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applies_at(False))
    more = sum(
        1 for f in findings if f.fix is not None and f.fix.applicability is Applicability.UNSAFE and f.fix.edits
    )
    parts = []
    if safe:
        parts.append(f"{safe} fixable with --fix")
    if more and not unsafe:
        parts.append(f"{more} more with --unsafe-fixes")
    elif more:
        parts[0:1] = [f"{safe + more} fixable with --fix"]
    suffix = f" ({', '.join(parts)})" if parts else ""
    noun = "finding" if len(findings) == 1 else "findings"
    return f"Found {len(findings)} {noun}{suffix}."


def render_statistics(findings: list[Finding], unsafe: bool, output_format: str = "full") -> str:
    """A count per rule, most frequent first: a table, or for `json`/`json-lines` objects with
    `code`, `name`, `count` and `fixable` (ruff's shape), so a pipe into a JSON reader holds."""
    counts = Counter(f.code for f in findings)
    fixable = Counter(f.code for f in findings if f.fix is not None and f.fix.applies_at(unsafe))
    rows = []
    for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = rule_by_code(code)
        rows.append({"code": code, "name": rule.name if rule else "", "count": count, "fixable": bool(fixable[code])})
    if output_format == "json":
        return json.dumps(rows, indent=2) + "\n"
    if output_format == "json-lines":
        return "".join(json.dumps(row) + "\n" for row in rows)
    lines = [f"{r['count']:5d}\t{r['code']}\t{'[*]' if r['fixable'] else '   '} {r['name']}" for r in rows]
    return "\n".join(lines) + ("\n" if lines else "")


class Renderer(Protocol):
    """A machine format: findings in, the whole document out. `fail_on` is the lowest severity
    that fails the run (JUnit marks only those as failures)."""

    def __call__(self, items: list[Located], unsafe: bool, *, fail_on: Severity = Severity.WARNING) -> str: ...


def render_json(items: list[Located], unsafe: bool, *, fail_on: Severity = Severity.WARNING) -> str:
    return json.dumps([finding_json(i) for i in items], indent=2, ensure_ascii=False) + "\n"


def render_json_lines(items: list[Located], unsafe: bool, *, fail_on: Severity = Severity.WARNING) -> str:
    return "".join(json.dumps(finding_json(i), ensure_ascii=False) + "\n" for i in items)


RENDERERS: dict[str, Renderer] = {"json": render_json, "json-lines": render_json_lines}

TEXT_FORMATS = ("full", "concise")


def output_formats() -> list[str]:
    try:
        import migrator.ci_formats  # noqa: F401  (registers github, gitlab, sarif, junit)
    except ImportError:
        pass
    return [*TEXT_FORMATS, *RENDERERS]
