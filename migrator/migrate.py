"""`migrate`: the one-shot repository migration.

Fix everything that can be fixed (safe fixes; unsafe ones too with `--unsafe-fixes`), write each
changed file atomically, then tell the person running it exactly what is left and why.

Interrupt safety: the engine computes every fix in memory first (nothing touches the disk while
scanning); files are then written one by one through `safe_write.write_fixed` (temporary file
+ rename), so each file is either original or fully migrated. While writing, Ctrl-C is deferred
to the end of the current file, so the list of files written before the interrupt is exact.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TextIO

from migrator import __version__
from migrator.config import Settings
from migrator.filenames import printable
from migrator.model import Applicability, Finding
from migrator.output import Located, locate
from migrator.rule import rule_by_code
from migrator.runner import RunOptions, RunReport, not_written, run, write_result
from migrator.safe_write import WriteRefused, atomic_write_text

REPORT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".json": "json"}
# Generated reports quote the removed metric; the directive keeps a report committed to (or left
# in) the repository from turning into findings on the next run.
_IGNORE_DIRECTIVE = "vllm-metrics-migrator: ignore-file"


class MigrationInterrupted(Exception):
    """Ctrl-C during the write phase; carries what was and was not written."""

    def __init__(self, written: list[str], pending: list[str]) -> None:
        super().__init__("interrupted")
        self.written = written
        self.pending = pending


@dataclass
class Migration:
    """What a migration did (or, with `dry_run`, would do)."""

    report: RunReport
    unsafe: bool
    dry_run: bool
    written: list[str] = field(default_factory=list)  # display paths
    hidden_by_baseline: int = 0

    @property
    def changed(self):  # type: ignore[no-untyped-def]
        """Results of files that were (or would be) changed."""
        if self.dry_run:
            return self.report.changed
        written = set(self.written)
        return [r for r in self.report.results if r.path in written]

    @property
    def fixed(self) -> list[Finding]:
        return [f for r in self.changed for f in r.fixed_findings]

    @property
    def left(self) -> list[Located]:
        return locate(self.report.results)


def report_format(path: str) -> str | None:
    """`markdown` or `json` by the report file's extension; None when neither."""
    return REPORT_SUFFIXES.get(Path(path).suffix.lower())


def reason(finding: Finding, unsafe: bool) -> str:
    """Why a finding still needs a person."""
    fix = finding.fix
    if finding.code == "VMM000":
        return "the file does not parse, so it was not checked: fix the syntax, then run migrate again"
    if fix is None:
        return "no automatic fix"
    if fix.applicability is Applicability.DISPLAY_ONLY or not fix.edits:
        return fix.message
    if fix.applicability is Applicability.UNSAFE and not unsafe:
        return f"unsafe fix available: rerun with --unsafe-fixes — {fix.message}"
    # A fix that applies at this level but is still there: it overlapped another fix until the
    # pass limit, or the file it produced did not parse (and so was never written).
    return f"the automatic fix could not be applied (conflict or invalid result): {fix.message}"


# --- running -----------------------------------------------------------------------------------


def migrate(
    path: str,
    settings: Settings,
    *,
    unsafe: bool = False,
    dry_run: bool = False,
    on_file: Callable[[int, int], None] | None = None,
    baseline=None,  # type: ignore[no-untyped-def]
) -> Migration:
    """Scan and fix in memory, then (unless `dry_run`) write the changed files.

    Raises MigrationInterrupted when Ctrl-C arrives while writing, KeyboardInterrupt when it
    arrives while scanning (nothing has been written then)."""
    options = RunOptions(fix=True, unsafe=unsafe, write=False, remove_stale_temp_files=not dry_run)
    report = run([path], settings, options, on_file=on_file)
    migration = Migration(report=report, unsafe=unsafe, dry_run=dry_run)
    if not dry_run:
        migration.written = _write(report)
    if baseline is not None:
        from migrator.baseline import apply_baseline

        migration.hidden_by_baseline = apply_baseline(report.results, baseline)
    return migration


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[Callable[[], bool]]:
    """Hold SIGINT while a file is being written; report whether one arrived."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _write(report: RunReport) -> list[str]:
    cwd = os.getcwd()
    todo = [r for r in report.results if r.changed]
    written: list[str] = []
    with _sigint_deferred() as interrupted:
        for number, result in enumerate(todo):
            file_path = os.path.join(cwd, result.path)
            try:
                write_result(file_path, result)
            except KeyboardInterrupt:
                # Only reachable off the main thread (or from a test): the write either
                # renamed the new text into place or left the original; look which.
                if _reads_as(file_path, result.fixed, result.encoding):
                    written.append(result.path)
                raise MigrationInterrupted(written, [r.path for r in todo[len(written):]]) from None
            except (OSError, WriteRefused, UnicodeEncodeError) as err:
                not_written(result, err, report)
                continue
            written.append(result.path)
            if interrupted():
                raise MigrationInterrupted(written, [r.path for r in todo[number + 1 :]])
    return written


def _reads_as(path: str, text: str | None, encoding: str = "utf-8") -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read() == (text or "").encode(encoding)
    except OSError:
        return False


# --- progress ------------------------------------------------------------------------------------


class Progress:
    """A one-line `\\r` progress bar on a terminal's stderr, redrawn at most 20 times a second."""

    WIDTH = 28

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0
        self.drawn = False

    def __call__(self, number: int, total: int) -> None:
        now = time.monotonic()
        if number != total and now - self.last < 0.05:
            return
        self.last = now
        filled = self.WIDTH * number // max(total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\rScanning [{bar}] {number}/{total} files")
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.drawn = False


# --- summary and report --------------------------------------------------------------------------


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def by_rule(migration: Migration) -> list[tuple[str, int, int, str]]:
    """(code, fixed, left, rule name) per rule that fixed or left anything."""
    fixed = Counter(f.code for f in migration.fixed)
    left = Counter(item.finding.code for item in migration.left)
    rows = []
    for code in sorted(set(fixed) | set(left)):
        rule = rule_by_code(code)
        rows.append((code, fixed[code], left[code], rule.name if rule else ""))
    return rows


def summary(migration: Migration, *, quiet: bool = False) -> str:
    m = migration
    scanned, changed, fixed, left = m.report.files_scanned, len(m.changed), len(m.fixed), len(m.left)
    if not changed and not left:
        head = f"Nothing to do: {_plural(scanned, 'file')} scanned, no reference to migrate."
    elif not changed:
        head = (f"Nothing to fix automatically: {_plural(scanned, 'file')} scanned, "
                f"{_plural(left, 'finding')} left for a person.")
    elif m.dry_run:
        head = (f"Dry run: {_plural(scanned, 'file')} scanned; would change {_plural(changed, 'file')} "
                f"and fix {_plural(fixed, 'finding')}; {_plural(left, 'finding')} would be left for a person.")
    else:
        head = (f"Migrated: {_plural(scanned, 'file')} scanned, {_plural(changed, 'file')} changed, "
                f"{_plural(fixed, 'finding')} fixed, {_plural(left, 'finding')} left for a person.")
    lines = [head]
    if m.hidden_by_baseline:
        lines.append(f"({_plural(m.hidden_by_baseline, 'finding')} hidden by the baseline.)")
    if m.report.errors:
        lines.append(f"{_plural(len(m.report.errors), 'error')}: files that could not be read or written (listed above).")
    if quiet:
        return "\n".join(lines) + "\n"
    # The changed files are listed in the report (--report), not here: a migration can change
    # thousands of files, and the summary must stay readable.
    rows = by_rule(m)
    if rows:
        lines.append("")
        header = ("RULE", "FIXED", "LEFT", "NAME")
        widths = [max(len(header[i]), *(len(str(row[i])) for row in rows)) for i in range(3)]
        lines.append(f"  {header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:>{widths[2]}}  {header[3]}")
        for code, nfixed, nleft, name in rows:
            lines.append(f"  {code:<{widths[0]}}  {nfixed:>{widths[1]}}  {nleft:>{widths[2]}}  {name}")
    return "\n".join(lines) + "\n"


def report_items(migration: Migration) -> list[dict]:
    items = []
    for item in migration.left:
        f = item.finding
        items.append({
            "path": printable(f.path),
            "line": item.row,
            "column": item.column,
            "end_line": item.end_row,
            "end_column": item.end_column,
            "code": f.code,
            "severity": f.severity.label,
            "message": f.message,
            "locator": f.locator,
            "reason": reason(f, migration.unsafe),
            "fix": None if f.fix is None else {"applicability": f.fix.applicability.value, "message": f.fix.message},
        })
    return items


def report_json(migration: Migration) -> str:
    m = migration
    data = {
        "comment": f"Generated by vllm-metrics-migrator migrate. {_IGNORE_DIRECTIVE}",
        "tool": "vllm-metrics-migrator",
        "version": __version__,
        "dry_run": m.dry_run,
        "unsafe_fixes": m.unsafe,
        "summary": {
            "files_scanned": m.report.files_scanned,
            "files_changed": len(m.changed),
            "findings_fixed": len(m.fixed),
            "findings_left": len(m.left),
            "hidden_by_baseline": m.hidden_by_baseline,
            "by_rule": [{"code": c, "fixed": fx, "left": lf, "name": n} for c, fx, lf, n in by_rule(m)],
        },
        "changed_files": [{"path": printable(r.path), "fixed": r.fixed_count} for r in m.changed],
        "remaining": report_items(m),
        "errors": list(m.report.errors),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _code(text: str) -> str:
    """`text` as a Markdown code span in a table cell: backslashes are literal there, only a
    pipe needs escaping (GFM tables), and a backtick in the text needs a longer fence."""
    text = text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _where(item: dict) -> str:
    return f"{item['path']}:{item['line']}:{item['column']}"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def report_markdown(migration: Migration) -> str:
    m = migration
    title = "vLLM metrics migration report" + (" (dry run)" if m.dry_run else "")
    out = [
        f"<!-- Generated by vllm-metrics-migrator {__version__} migrate. {_IGNORE_DIRECTIVE} -->",
        f"# {title}",
        "",
        f"- Files scanned: {m.report.files_scanned}",
        f"- Files {'that would change' if m.dry_run else 'changed'}: {len(m.changed)}",
        f"- Findings {'that would be fixed' if m.dry_run else 'fixed'}: {len(m.fixed)}",
        f"- Findings left for a person: {len(m.left)}",
    ]
    if m.hidden_by_baseline:
        out.append(f"- Findings hidden by the baseline: {m.hidden_by_baseline}")
    rows = by_rule(m)
    if rows:
        out += ["", "| Rule | Fixed | Left | Name |", "|---|---:|---:|---|"]
        out += [f"| {c} | {fx} | {lf} | {n} |" for c, fx, lf, n in rows]
    if m.changed:
        out += ["", "## Changed files", ""]
        out += [f"- {_code(printable(r.path))}: {_plural(r.fixed_count, 'fix', 'fixes')}" for r in m.changed]
    out += ["", "## Left for a person", ""]
    items = report_items(m)
    if not items:
        out.append("Nothing: every reference was migrated.")
    else:
        out += ["| Location | Code | Severity | Message | Why it needs a person |", "|---|---|---|---|---|"]
        for it in items:
            message = it["message"] + (f" ({it['locator']})" if it["locator"] else "")
            out.append(
                f"| {_code(_where(it))} | {it['code']} | {it['severity']} "
                f"| {_cell(message)} | {_cell(it['reason'])} |"
            )
    if m.report.errors:
        out += ["", "## Errors", ""] + [f"- {_cell(e)}" for e in m.report.errors]
    return "\n".join(out) + "\n"


def write_report(migration: Migration, path: str) -> None:
    """Render completely first, then write atomically: never a 0-byte or half report."""
    fmt = report_format(path)
    text = report_json(migration) if fmt == "json" else report_markdown(migration)
    atomic_write_text(path, text)
