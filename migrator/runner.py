"""Runs the engine over files: prefilter, decode, lint or fix, cross-file passes, writing."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from migrator import engine
from migrator.config import Settings
from migrator.filenames import printable
from migrator.files import decode, discover, display_path, looks_binary, read_if_contains, unicode_bom
from migrator.formats import EXTENSION_FORMATS, detect_format
from migrator.model import FileResult
from migrator.rule import all_rules
from migrator.safe_write import WriteRefused, is_stale_temp, write_fixed


@dataclass(slots=True)
class RunOptions:
    fix: bool = False
    unsafe: bool = False
    write: bool = True  # False for --diff / --dry-run: compute fixes, write nothing
    force_exclude: bool = False
    # Delete temporary files an interrupted run left behind (`--fix`, `migrate`); otherwise
    # they are reported.
    remove_stale_temp_files: bool = False


@dataclass(slots=True)
class RunReport:
    results: list[FileResult] = field(default_factory=list)
    files_scanned: int = 0
    # Files meant to be checked that could not be read, fixes that could not be written: each
    # message names the file. Any error makes the run fail.
    errors: list[str] = field(default_factory=list)
    # The settings the last lint ran with (the run's dead series included), for re-linting a
    # file whose fix could not be written.
    lint_settings: Settings | None = None

    @property
    def findings(self):  # type: ignore[no-untyped-def]
        return [f for r in self.results for f in r.findings]

    @property
    def changed(self) -> list[FileResult]:
        return [r for r in self.results if r.changed]


def prefilter_needles(settings: Settings, fmt: str | None = None) -> tuple[bytes, ...]:
    """Bytes at least one of which any file with a possible finding contains: what the enabled
    rules need (for `fmt`, or for every format when the format is only known after reading)."""
    from migrator.engine import needs_for

    formats = (fmt,) if fmt is not None else ("json", "yaml", "python", "text")
    words: set[str] = set()
    for f in formats:
        words.update(needs_for(settings, f).needles)
    words.update(settings.dead_series)
    minimal = {w for w in words if not any(o != w and o in w for o in words)}
    return tuple(sorted(w.encode() for w in minimal))


class _Needles:
    """Per-format needles, chosen by file extension before reading."""

    def __init__(self, settings: Settings, extra: tuple[bytes, ...] | None = None) -> None:
        self.by_format: dict[str, tuple[bytes, ...]] = {}
        for fmt in ("json", "yaml", "python", "text"):
            self.by_format[fmt] = extra if extra is not None else prefilter_needles(settings, fmt)
        # Without a known extension the format is sniffed after reading: use every needle.
        self.unknown = extra if extra is not None else prefilter_needles(settings)

    def for_path(self, path: str) -> tuple[bytes, ...]:
        # os.path.splitext semantics (a leading dot is not an extension), without its cost.
        dot, slash = path.rfind("."), path.rfind(os.sep)
        ext = path[dot:].lower() if dot > slash + 1 else ""
        fmt = EXTENSION_FORMATS.get(ext)
        if fmt is not None:
            return self.by_format[fmt]
        return self.unknown if ext in ("", ".tpl") else self.by_format["text"]


def worth_parsing(data: bytes, needles: tuple[bytes, ...]) -> bool:
    """Whether a file that contains a needle can hold a finding: the vLLM anchor counts only
    where a metric name follows it (`import vllm.engine` and `vllm/vllm-openai:latest` do not)."""
    from migrator.reference.spellings import ANCHOR, bytes_mention

    anchor = ANCHOR.encode()
    for needle in needles:
        if needle == anchor:
            if bytes_mention(data):
                return True
        elif needle in data:
            return True
    return False


def _contains_any(data: bytes, needles: Iterable[bytes]) -> bool:
    return any(n in data for n in needles)


def process_text(display: str, text: str, settings: Settings, options: RunOptions, fmt: str | None = None) -> FileResult:
    fmt = fmt or detect_format(display, text[:512])
    result = FileResult(path=display, original=text)
    if options.fix:
        outcome = engine.fix_text(display, text, settings, fmt, unsafe=options.unsafe)
        result.findings = outcome.findings
        result.fixed_findings = outcome.fixed
        if outcome.text != text:
            result.fixed = outcome.text
        result.dead_series = outcome.dead_series
    else:
        lint = engine.lint_text(display, text, settings, fmt)
        result.findings = lint.findings
        result.dead_series = lint.dead_series
    return result


def run(
    paths: list[str],
    settings: Settings,
    options: RunOptions,
    *,
    on_file: Callable[[int, int], None] | None = None,
) -> RunReport:
    report = RunReport()
    cwd = os.getcwd()
    temp_notes: list[FileResult] = []

    def on_temp_file(path: str) -> None:
        note = _stale_temp_note(path, options.remove_stale_temp_files)
        if note is not None:
            temp_notes.append(FileResult(path=display_path(path, cwd), note=note))

    def on_error(folder: str, err: OSError) -> None:
        report.errors.append(f"{printable(display_path(folder, cwd))}: cannot list the folder: {err.strerror}")

    files = list(discover(paths, settings, force_exclude=options.force_exclude, on_temp_file=on_temp_file,
                          on_error=on_error))
    report.files_scanned = len(files)
    needles = _Needles(settings)
    # Files named on the command line may be symbolic links the user asked for: read through.
    named = {os.path.normpath(os.path.join(cwd, p)) for p in paths}
    by_path: dict[str, tuple[str, FileResult]] = {}
    for number, path in enumerate(files, 1):
        if on_file is not None:
            on_file(number, len(files))
        result = _process_file(path, cwd, settings, options, needles, report, follow=path in named)
        display = result.path if result is not None else ""
        if result is not None and (result.findings or result.changed or result.note or result.dead_series):
            by_path[display] = (path, result)

    report.lint_settings = _cross_file_passes(files, cwd, by_path, settings, options, report, named)

    if options.fix and options.write:
        for path, result in by_path.values():
            if result.changed:
                try:
                    write_result(path, result)
                except (OSError, WriteRefused) as err:
                    not_written(result, err, report)
    report.results = [r for _, r in by_path.values()] + temp_notes
    report.results.sort(key=lambda r: r.path)
    report.errors = list(dict.fromkeys(report.errors))  # a file retried by a cross-file pass
    return report


def write_result(path: str, result: FileResult) -> None:
    """Write a file's fixed text over the original it was made from (see `safe_write`)."""
    assert result.fixed is not None
    write_fixed(path, result.fixed.encode("utf-8"), (result.original or "").encode("utf-8"))


def not_written(result: FileResult, err: Exception, report: RunReport) -> None:
    """A fix that could not be written is not a fix: record the error, and lint the original
    again so every finding in it is reported where it is."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    report.errors.append(f"{printable(result.path)}: not written: {reason}")
    settings = report.lint_settings or Settings()
    again = process_text(result.path, result.original or "", settings, RunOptions(fix=False))
    result.findings = again.findings
    result.fixed = None
    result.fixed_findings = []


def _stale_temp_note(path: str, remove: bool) -> str | None:
    """What to say about one of our temporary files a walk met (None: a live run's)."""
    if not is_stale_temp(path):
        return None
    if not remove:
        return ("stale temporary file of an interrupted run (not checked); delete it, or run "
                "`check --fix` or `migrate`, which remove it")
    try:
        os.unlink(path)
    except OSError as err:
        return f"stale temporary file of an interrupted run; cannot remove it: {err.strerror}"
    return "removed: stale temporary file of an interrupted run"


def _process_file(
    path: str, cwd: str, settings: Settings, options: RunOptions, needles: _Needles, report: RunReport,
    *, follow: bool = False,
) -> FileResult | None:
    wanted = needles.for_path(path)
    try:
        data = read_if_contains(path, wanted, follow=follow)
    except OSError as err:
        report.errors.append(f"{printable(display_path(path, cwd))}: cannot read: {err.strerror}")
        return None
    if data is None:
        return None
    display = display_path(path, cwd)
    encoding = unicode_bom(data)
    if encoding is not None:
        # read_if_contains found a needle in the decoded text: say why it is not checked.
        return FileResult(path=display, note=f"skipped: {encoding.upper()} text; convert it to UTF-8 to check it")
    if not worth_parsing(data, wanted):
        return None
    if looks_binary(data):
        return FileResult(path=display, note="skipped: binary file")
    text = decode(data)
    if text is None:
        return FileResult(path=display, note="skipped: not valid UTF-8")
    return process_text(display, text, settings, options)


def _cross_file_passes(
    files: list[str],
    cwd: str,
    by_path: dict[str, tuple[str, FileResult]],
    settings: Settings,
    options: RunOptions,
    report: RunReport,
    named: set[str],
) -> Settings:
    """Series recorded from the removed metric die with it (VMM003); their users anywhere in the
    run are findings too (VMM004). Recording rules can chain, so repeat until nothing new dies."""
    dead: set[str] = set()
    for _, result in by_path.values():
        dead.update(result.dead_series)
    checked: frozenset[str] = frozenset()
    dead_settings = settings
    while dead - checked:
        new = dead - checked
        checked = frozenset(dead)
        dead_settings = settings.with_overrides(dead_series=checked)
        names = tuple(n.encode() for n in new)
        needles = _Needles(settings, names)
        for path in files:
            display = display_path(path, cwd)
            current = by_path.get(display)
            if current is not None and current[1].original is not None:
                text = current[1].fixed if current[1].fixed is not None else current[1].original
                if not _contains_any(text.encode(), names):
                    continue
                relinted = engine.lint_text(display, text, dead_settings, detect_format(display, text[:512]))
                current[1].findings = relinted.findings
                dead.update(relinted.dead_series)
                continue
            result = _process_file(path, cwd, dead_settings, options, needles, report, follow=path in named)
            if result is not None and (result.findings or result.note):
                by_path[display] = (path, result)
                dead.update(result.dead_series)
    return dead_settings
