"""Runs the engine over files: prefilter, decode, lint or fix, cross-file passes, writing."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable

from migrator import engine
from migrator.config import Settings
from migrator.filenames import printable
from migrator.files import (
    decode, decode_python_source, discover, display_path, looks_binary, read_if_contains, unicode_bom,
)
from migrator.formats import EXTENSION_FORMATS, detect_format
from migrator.model import FileResult
from migrator.shims import Provider, live_dead_series, lower_findings, provided_names
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
    # Old names the run's compatibility recording rules keep alive, with where (`shims`).
    provided: dict[str, tuple[Provider, ...]] = field(default_factory=dict)

    @property
    def findings(self):  # type: ignore[no-untyped-def]
        return [f for r in self.results for f in r.findings]

    @property
    def changed(self) -> list[FileResult]:
        return [r for r in self.results if r.changed]


def prefilter_needles(settings: Settings, fmt: str | None = None) -> tuple[bytes, ...]:
    """Bytes at least one of which any file with a possible finding contains: what the enabled
    rules need (for `fmt`, or for every format when the format is only known after reading)."""
    from migrator.engine import enabled_rules

    formats = (fmt,) if fmt is not None else ("json", "yaml", "python", "text")
    words: set[str] = set()
    for f in formats:
        for rule in enabled_rules(settings, f):
            words.update(rule.needles(settings))
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


def worth_parsing(data: bytes, needles: tuple[bytes, ...], settings: Settings) -> bool:
    """Whether a file that contains a needle can hold a finding: the vLLM anchor counts only
    where a metric name follows it that is not a current, unchanged series at the target
    (`import vllm.engine`, `vllm/vllm-openai:latest`, `vllm:num_requests_running` do not)."""
    from migrator.reference.spellings import ANCHOR, bytes_mention

    anchor = ANCHOR.encode()
    for needle in needles:
        if needle == anchor:
            if bytes_mention(data, settings.target):
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
        result.shims = outcome.shims
        lint = outcome.lint  # None when the findings were moved past the edits: no view then
    else:
        lint = engine.lint_text(display, text, settings, fmt)
        result.findings = lint.findings
        result.dead_series = lint.dead_series
        result.shims = lint.shims
    if lint is not None and lint.document is not None:
        result.view = engine.cross_file_view(lint.document)
        result.suppressions = lint.suppressions
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
    # Files named on the command line may be symbolic links the user asked for: read through.
    named = frozenset(os.path.normpath(os.path.join(cwd, p)) for p in paths)
    work = _Work(cwd, settings, options, _Needles(settings), named)
    by_path: dict[str, tuple[str, FileResult]] = {}
    for path, result in work.map(files, report, on_file):
        if (result.findings or result.changed or result.note or result.dead_series or result.shims
                or result.view is not None):
            by_path[result.path] = (path, result)

    report.provided = _provided(by_path)
    report.lint_settings = _cross_file_passes(files, work, by_path, report)
    if report.provided:
        for _, result in by_path.values():
            result.findings = lower_findings(result.findings, report.provided)
    for result in [r for _, r in by_path.values()]:
        result.view = result.suppressions = None  # done with them: free the memory
        result.shims = ()
    by_path = {k: v for k, v in by_path.items() if v[1].findings or v[1].changed or v[1].note}

    if options.fix and options.write:
        for path, result in by_path.values():
            if result.changed:
                try:
                    write_result(path, result)
                except (OSError, WriteRefused, UnicodeEncodeError) as err:
                    not_written(result, err, report)
    report.results = [r for _, r in by_path.values()] + temp_notes
    report.results.sort(key=lambda r: r.path)
    report.errors = list(dict.fromkeys(report.errors))  # a file retried by a cross-file pass
    return report


# Below this many files a pool costs more than it saves (pre-commit passes a handful).
POOL_MIN_FILES = 200
_CHUNK_FILES = 64


class _Work:
    """The per-file work of a run (prefilter, decode, lint or fix), in this process or spread
    over a pool of forked workers: each file is independent until the cross-file pass, and
    results come back in the order of the file list, so output stays deterministic."""

    def __init__(self, cwd: str, settings: Settings, options: RunOptions, needles: "_Needles",
                 named: frozenset[str]) -> None:
        self.cwd, self.settings, self.options, self.needles, self.named = cwd, settings, options, needles, named

    def one(self, path: str, errors: list[str]) -> FileResult | None:
        return _process_file(path, self.cwd, self.settings, self.options, self.needles, errors,
                             follow=path in self.named)

    def map(self, files: list[str], report: RunReport,
            on_file: Callable[[int, int], None] | None = None) -> Iterable[tuple[str, FileResult]]:
        if _pool_size(len(files)) < 2:
            yield from self._map_here(files, report, on_file, 0, len(files))
            return
        # Most files of a large tree hold no needle. Finding which do is a read and a byte
        # search per file, as fast here as in a pool (it is the kernel's time: measured, two
        # readers are no faster than one on two cores); a pool pays only for parsing. So the
        # candidates are found here, and only they go to the workers, which read them again
        # from the page cache.
        hits = [path for path in files if self.contains_needle(path, report.errors)]
        before = len(files) - len(hits)
        workers = _pool_size(len(hits))
        if workers < 2:
            yield from self._map_here(hits, report, on_file, before, len(files))
        else:
            yield from self._map_in_pool(hits, report, on_file, workers, before, len(files))

    def contains_needle(self, path: str, errors: list[str]) -> bool:
        data = _read(path, self.cwd, self.needles.for_path(path), errors, follow=path in self.named)
        return data is not None

    def _map_here(self, files, report, on_file, before, total):  # type: ignore[no-untyped-def]
        for number, path in enumerate(files, before + 1):
            if on_file is not None:
                on_file(number, total)
            result = self.one(path, report.errors)
            if result is not None:
                yield path, result

    def _map_in_pool(self, files, report, on_file, workers, before, total):  # type: ignore[no-untyped-def]
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        global _WORK
        _WORK = self  # forked workers inherit it: nothing to pickle but paths and results
        # A few chunks per worker: enough to even out slow files, few enough that the per-task
        # cost (pickling paths and results) stays out of the way.
        size = max(_CHUNK_FILES, -(-len(files) // (workers * 4)))
        chunks = [files[i : i + size] for i in range(0, len(files), size)]
        done = 0
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_ignore_sigint)
        try:
            for chunk, (results, errors) in zip(chunks, pool.map(_work_chunk, chunks)):
                report.errors.extend(errors)
                for path, result in zip(chunk, results):
                    if result is not None:
                        yield path, result
                done += len(chunk)
                if on_file is not None:
                    on_file(before + done, total)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()


_WORK: _Work | None = None


def _work_chunk(chunk: list[str]) -> tuple[list[FileResult | None], list[str]]:
    assert _WORK is not None
    errors: list[str] = []
    return [_WORK.one(path, errors) for path in chunk], errors


def _ignore_sigint() -> None:
    # Ctrl-C is the parent's to handle (it stops the pool and exits 130); a worker that
    # raised KeyboardInterrupt too would print a traceback for each task it had.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_size(files: int) -> int:
    if files < POOL_MIN_FILES or not sys.platform.startswith("linux"):
        return 1  # fork is cheap and safe here; elsewhere the in-process loop is the fallback
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    env = os.environ.get("VLLM_METRICS_MIGRATOR_JOBS")
    if env and env.isdigit():
        cores = int(env)
    return max(1, min(cores, 8))


def write_result(path: str, result: FileResult) -> None:
    """Write a file's fixed text over the original it was made from (see `safe_write`)."""
    assert result.fixed is not None
    # The new text is encoded as the file was (a declared Latin-1 stays Latin-1); a fix whose
    # text the file's encoding cannot hold raises UnicodeEncodeError (a ValueError), not written.
    write_fixed(path, result.fixed.encode(result.encoding), (result.original or "").encode(result.encoding))


def not_written(result: FileResult, err: Exception, report: RunReport) -> None:
    """A fix that could not be written is not a fix: record the error, and lint the original
    again so every finding in it is reported where it is."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    report.errors.append(f"{printable(result.path)}: not written: {reason}")
    settings = report.lint_settings or Settings()
    again = process_text(result.path, result.original or "", settings, RunOptions(fix=False))
    result.findings = lower_findings(again.findings, report.provided)
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


def _read(path: str, cwd: str, wanted: tuple[bytes, ...], errors: list[str], *, follow: bool) -> bytes | None:
    """The file's bytes when it contains a needle; None when not, or when it cannot be read
    (the error is recorded: the run will fail)."""
    try:
        return read_if_contains(path, wanted, follow=follow)
    except OSError as err:
        errors.append(f"{printable(display_path(path, cwd))}: cannot read: {err.strerror}")
        return None


def _process_file(
    path: str, cwd: str, settings: Settings, options: RunOptions, needles: _Needles, errors: list[str],
    *, follow: bool = False,
) -> FileResult | None:
    wanted = needles.for_path(path)
    data = _read(path, cwd, wanted, errors, follow=follow)
    if data is None:
        return None
    display = display_path(path, cwd)
    encoding = unicode_bom(data)
    if encoding is not None:
        # read_if_contains found a needle in the decoded text: say why it is not checked.
        return FileResult(path=display, note=f"skipped: {encoding.upper()} text; convert it to UTF-8 to check it")
    if not worth_parsing(data, wanted, settings):
        return None
    if looks_binary(data):
        return FileResult(path=display, note="skipped: binary file")
    text = decode(data)
    if text is None:
        declared = decode_python_source(data) if detect_format(display, "") == "python" else None
        if declared is None:
            return FileResult(path=display, note="skipped: not valid UTF-8")
        text, encoding = declared
    # The text is all that is read from here on: the file's bytes would be a second copy of
    # a large file through every parse of `--fix`.
    del data
    if encoding is not None:
        result = process_text(display, text, settings, options, "python")
        result.encoding = encoding
        return result
    return process_text(display, text, settings, options)


def _provided(by_path: dict[str, tuple[str, FileResult]]) -> dict[str, tuple[Provider, ...]]:
    """The old names the run's compatibility recording rules keep alive (`migrator.shims`),
    from the text each file has at the end of the run (fixed or not)."""
    return provided_names(
        (display, result.fixed if result.fixed is not None else result.original or "", result.shims)
        for display, (_, result) in by_path.items()
        if result.shims
    )


def passes_of_one(result: FileResult, settings: Settings) -> None:
    """The cross-file passes of a run of one text (stdin), so that it reports what a run of
    the same text as its only file does: its own compatibility rules count for its own
    queries, and its own uses of series it records from removed metrics are findings."""
    provided = _provided({result.path: (result.path, result)})
    dead = live_dead_series(result.dead_series, provided)
    if dead and settings.rule_enabled(DEAD_SERIES_CODE):
        checked: frozenset[str] = frozenset()
        while dead - checked:
            new = dead - checked
            checked = frozenset(dead)
            only_dead = settings.with_overrides(dead_series=checked, select=(DEAD_SERIES_CODE,))
            dead.update(_relint_dead_uses(result.path, result, only_dead, tuple(n.encode() for n in new)))
    result.findings = lower_findings(result.findings, provided)
    result.view = result.suppressions = None
    result.shims = ()


# The rule that reports users of series recorded from removed metrics; it needs the run's dead
# series, known only once every file was seen, and may declare more (a record of a record).
DEAD_SERIES_CODE = "VMM004"


def _cross_file_passes(
    files: list[str], work: _Work, by_path: dict[str, tuple[str, FileResult]], report: RunReport
) -> Settings:
    """Series recorded from a removed metric die with it (VMM003) — unless a compatibility
    recording rule of the run records every removed name they are computed from; their users
    anywhere in the run are findings too (VMM004). Only what can be affected is looked at
    again, and only by that rule: files that mention a newly dead name. Recording rules chain,
    so repeat until nothing new dies."""
    settings, options = work.settings, work.options
    dead: set[str] = set()
    for _, result in by_path.values():
        dead.update(live_dead_series(result.dead_series, report.provided))
    checked: frozenset[str] = frozenset()
    dead_settings = settings
    if not dead or not settings.rule_enabled(DEAD_SERIES_CODE):
        return dead_settings
    while dead - checked:
        new = dead - checked
        checked = frozenset(dead)
        dead_settings = settings.with_overrides(dead_series=checked)
        only_dead = dead_settings.with_overrides(select=(DEAD_SERIES_CODE,))
        names = tuple(n.encode() for n in new)
        unseen: list[str] = []
        for path in files:
            display = display_path(path, work.cwd)
            current = by_path.get(display)
            if current is None or current[1].original is None:
                unseen.append(path)
                continue
            dead.update(_relint_dead_uses(display, current[1], only_dead, names))
        # Files no rule needed so far: read again, for the dead names only.
        again = _Work(work.cwd, only_dead, RunOptions(fix=False, force_exclude=options.force_exclude),
                      _Needles(settings, names), work.named)
        for path, result in again.map(unseen, report):
            if result.findings or result.note:
                by_path[result.path] = (path, result)
                dead.update(name for name, _ in result.dead_series)
    return dead_settings


def _relint_dead_uses(display: str, result: FileResult, only_dead: Settings, names: tuple[bytes, ...]) -> set[str]:
    """Run the dead-series rule (alone, in `only_dead`) again over a file that mentions one of
    the newly dead `names`, replacing its earlier findings; the series it finds dead in turn."""
    text = result.fixed if result.fixed is not None else result.original or ""
    if not _contains_any(text.encode(), names):
        return set()
    if result.view is not None:  # what the first pass parsed: no second parse
        rules = engine.enabled_rules(only_dead, result.view.format, display)
        relinted = engine.lint_document(result.view, only_dead, rules, result.suppressions)
    else:
        relinted = engine.lint_text(display, text, only_dead, detect_format(display, text[:512]))
    result.findings = _merged(result.findings, relinted.findings)
    return {name for name, _ in relinted.dead_series}


def _merged(findings: list, dead_findings: list) -> list:  # type: ignore[type-arg]
    """A file's findings with those of the dead-series rule replaced by a newer run of it."""
    kept = [f for f in findings if f.code != DEAD_SERIES_CODE]
    return sorted(kept + list(dead_findings), key=lambda f: (f.span.start, f.span.end, f.code))
