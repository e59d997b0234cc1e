"""Runs the engine over files: prefilter, decode, lint or fix, cross-file passes, writing."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from migrator import engine
from migrator.config import Settings
from migrator.files import (
    WriteRefused,
    atomic_write,
    decode,
    discover,
    display_path,
    looks_binary,
    read_if_contains,
)
from migrator.formats import EXTENSION_FORMATS, detect_format
from migrator.model import FileResult
from migrator.rule import all_rules


@dataclass(slots=True)
class RunOptions:
    fix: bool = False
    unsafe: bool = False
    write: bool = True  # False for --diff / --dry-run: compute fixes, write nothing
    force_exclude: bool = False


@dataclass(slots=True)
class RunReport:
    results: list[FileResult] = field(default_factory=list)
    files_scanned: int = 0
    errors: list[str] = field(default_factory=list)

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
    files = list(discover(paths, settings, force_exclude=options.force_exclude))
    report.files_scanned = len(files)
    needles = _Needles(settings)
    cwd = os.getcwd()
    by_path: dict[str, tuple[str, FileResult]] = {}
    for number, path in enumerate(files, 1):
        if on_file is not None:
            on_file(number, len(files))
        result = _process_file(path, cwd, settings, options, needles, report)
        display = result.path if result is not None else ""
        if result is not None and (result.findings or result.changed or result.note or result.dead_series):
            by_path[display] = (path, result)

    _cross_file_passes(files, cwd, by_path, settings, options, report)

    if options.fix and options.write:
        roots = [Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in paths]
        for path, result in by_path.values():
            if result.changed and result.fixed is not None:
                try:
                    atomic_write(Path(path), result.fixed, allowed_roots=roots)
                except (OSError, WriteRefused) as err:
                    report.errors.append(f"{result.path}: not written: {err}")
                    result.fixed = None
    report.results = [r for _, r in by_path.values()]
    report.results.sort(key=lambda r: r.path)
    return report


def _process_file(
    path: str, cwd: str, settings: Settings, options: RunOptions, needles: _Needles, report: RunReport
) -> FileResult | None:
    wanted = needles.for_path(path)
    try:
        data = read_if_contains(path, wanted)
    except OSError as err:
        report.errors.append(f"{display_path(path, cwd)}: cannot read: {err.strerror}")
        return None
    if data is None or not worth_parsing(data, wanted):
        return None
    display = display_path(path, cwd)
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
) -> None:
    """Series recorded from the removed metric die with it (VMM003); their users anywhere in the
    run are findings too (VMM004). Recording rules can chain, so repeat until nothing new dies."""
    dead: set[str] = set()
    for _, result in by_path.values():
        dead.update(result.dead_series)
    checked: frozenset[str] = frozenset()
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
            result = _process_file(path, cwd, dead_settings, options, needles, report)
            if result is not None and (result.findings or result.note):
                by_path[display] = (path, result)
                dead.update(result.dead_series)
