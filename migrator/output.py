"""Rendering findings: text formats for people, JSON formats for machines.

CI formats (github, gitlab, sarif, junit) live in `migrator.ci_formats` and register here.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

from migrator.model import Applicability, FileResult, Finding, LineIndex
from migrator.rule import rule_by_code


def unified_diff(result: FileResult) -> str:
    """The `--diff` / `migrate --dry-run` view of one file's fixes."""
    from migrator.diffs import unified_diff as diff

    return diff(result.original or "", result.fixed or "", f"a/{result.path}", f"b/{result.path}")


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
    source_line: str
    index: LineIndex


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
            located.append(Located(f, row, col, end_row, end_col, index.line_text(row), index))
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
        "filename": f.path,
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


def render_full(items: list[Located], unsafe: bool, style: Style, concise: bool = False) -> str:
    out: list[str] = []
    for item in items:
        f = item.finding
        locator = f" ({f.locator})" if f.locator else ""
        head = (
            f"{style(f.path, '1')}:{item.row}:{item.column}: {style(f.code, '1;31' if f.severity.label == 'error' else '1;33')} "
            f"{fix_marker(f, unsafe)}{f.message}{locator}"
        )
        out.append(head)
        if concise:
            continue
        line = item.source_line
        width = max(1, (item.end_column - item.column) if item.end_row == item.row else len(line) - item.column + 1)
        gutter = f"{item.row} | "
        out.append(f"  {gutter}{line}")
        out.append("  " + " " * len(gutter) + " " * (item.column - 1) + style("^" * width, "31"))
        if f.fix is not None:
            label = {
                Applicability.SAFE: "Safe fix",
                Applicability.UNSAFE: "Unsafe fix",
                Applicability.DISPLAY_ONLY: "Suggestion",
            }[f.fix.applicability]
            out.append(f"  = {style(label, '36')}: {f.fix.message}")
        out.append("")
    return "\n".join(out) + ("\n" if out and concise else "")


def summary_line(findings: list[Finding], unsafe: bool, fixed: int = 0) -> str:
    if fixed:
        remaining = len(findings)
        return f"Found {fixed + remaining} findings ({fixed} fixed, {remaining} remaining)."
    if not findings:
        return "All checks passed!"
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


def render_statistics(findings: list[Finding], unsafe: bool) -> str:
    counts = Counter(f.code for f in findings)
    fixable = Counter(f.code for f in findings if f.fix is not None and f.fix.applies_at(unsafe))
    lines = []
    for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = rule_by_code(code)
        mark = "[*]" if fixable[code] else "   "
        lines.append(f"{count:5d}\t{code}\t{mark} {rule.name if rule else ''}")
    return "\n".join(lines) + ("\n" if lines else "")


Renderer = Callable[[list[Located], bool], str]

RENDERERS: dict[str, Renderer] = {
    "json": lambda items, unsafe: json.dumps([finding_json(i) for i in items], indent=2, ensure_ascii=False)
    + "\n",
    "json-lines": lambda items, unsafe: "".join(
        json.dumps(finding_json(i), ensure_ascii=False) + "\n" for i in items
    ),
}

TEXT_FORMATS = ("full", "concise")


def output_formats() -> list[str]:
    try:
        import migrator.ci_formats  # noqa: F401  (registers github, gitlab, sarif, junit)
    except ImportError:
        pass
    return [*TEXT_FORMATS, *RENDERERS]
