"""Golden samples: one parametrised test per `samples/<CODE>/<case>/`.

Each case holds `input.<ext>`, optionally `expected.<ext>` (after `--fix`; absent = the file
must stay byte-identical), optionally `expected.unsafe.<ext>` (after `--fix --unsafe-fixes`;
absent = same as `expected`), `findings.txt` (concise output of `check`), and optionally
`settings.toml` (configuration for the case, e.g. `target-version = "0.11"`).

Run with VMM_UPDATE_GOLDENS=1 to regenerate expected files for review in `git diff`.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from migrator.config import Settings
from migrator.formats import detect_format, handler_for
from migrator.model import LineIndex
from migrator.output import Style, locate, render_full
from migrator.model import FileResult
from migrator.runner import RunOptions, process_text, run

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
UPDATE = os.environ.get("VMM_UPDATE_GOLDENS") == "1"
FINDINGS_HEADER = "# vllm-metrics-migrator: ignore-file (expected output of `check` for input.*)\n"


def _cases() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("VMM*/*") if p.is_dir())


def _input(case: Path) -> Path:
    (found,) = [p for p in case.iterdir() if p.name.startswith("input.") and p.is_file()]
    return found


def _expected(case: Path, ext: str, unsafe: bool) -> Path:
    if unsafe and (case / f"expected.unsafe{ext}").exists():
        return case / f"expected.unsafe{ext}"
    return case / f"expected{ext}"


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def _concise(result) -> str:  # type: ignore[no-untyped-def]
    return render_full(locate([result]), unsafe=False, style=Style(False), concise=True)


def _changed_rows(before: str, after: str) -> set[int]:
    rows: set[int] = set()
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag != "equal":
            rows.update(range(i1 + 1, max(i2, i1 + 1) + 1))
    return rows


def _finding_rows(result, text: str) -> set[int]:  # type: ignore[no-untyped-def]
    index = LineIndex(text)
    rows: set[int] = set()
    for finding in result.findings:
        spans = [finding.span, *(e.span for e in (finding.fix.edits if finding.fix else ()))]
        for span in spans:
            first, last = index.position(span.start)[0], index.position(span.end)[0]
            # An edit that removes whole lines ends at the next line's start.
            rows.update(range(first, last + 1))
    return rows


def _settings(case: Path) -> Settings:
    """Default settings, or the case's own `settings.toml` (e.g. `target-version = "0.11"`)."""
    path = case / "settings.toml"
    if not path.exists():
        return Settings()
    import tomllib

    from migrator.config import settings_from_table

    return settings_from_table(tomllib.loads(path.read_text(encoding="utf-8")), case)


def _run_one(display: str, settings: Settings, options: RunOptions) -> FileResult:
    """The whole pipeline (discovery, prefilter, lint or fix) without writing. Files in the
    case's `context/` folder are part of the run (cross-file rules) but not under test."""
    paths = [display, "context"] if Path("context").is_dir() else [display]
    report = run(paths, settings, options)
    assert not report.errors
    mine = [r for r in report.results if r.path == display]
    return mine[0] if mine else FileResult(path=display, original=_read(Path(display)))


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_sample(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case)  # findings name `input.<ext>`, as a user running in that folder sees
    source = _input(case)
    ext = "".join(source.suffixes)
    original = _read(source)
    settings = _settings(case)
    display = source.name

    lint = _run_one(display, settings, RunOptions())
    findings_file = case / "findings.txt"
    # The golden quotes the metric names; the header keeps `check samples/` from reporting it.
    actual = FINDINGS_HEADER + _concise(lint)
    if UPDATE:
        findings_file.write_text(actual, encoding="utf-8")
    assert actual == findings_file.read_text(encoding="utf-8"), "findings differ from findings.txt"

    if case.name.startswith("noop"):
        assert not [f for f in lint.findings if f.code == case.parent.name], "no-op case reports its own rule"
    else:
        assert any(f.code == case.parent.name for f in lint.findings), "case does not exercise its rule"

    fmt = detect_format(display, original[:512])
    for unsafe in (False, True):
        result = _run_one(display, settings, RunOptions(fix=True, unsafe=unsafe, write=False))
        fixed = result.fixed if result.fixed is not None else original
        golden = _expected(case, ext, unsafe)
        if UPDATE:
            _update_golden(case, ext, unsafe, original, fixed)
        want = _read(golden) if golden.exists() else original
        if unsafe and not golden.exists() and (case / f"expected{ext}").exists():
            want = _read(case / f"expected{ext}")
        assert fixed == want, f"fixed output differs from {golden.name}"
        if fixed != original:
            handler_for(fmt).validate(fixed)  # output parses
            assert _changed_rows(original, fixed) <= _finding_rows(lint, original), (
                "the fix touched lines without a finding"
            )
        again = process_text(display, fixed, settings, RunOptions(fix=True, unsafe=unsafe))
        assert again.fixed is None, "a second run changed the file again"


def _update_golden(case: Path, ext: str, unsafe: bool, original: str, fixed: str) -> None:
    safe_path = case / f"expected{ext}"
    unsafe_path = case / f"expected.unsafe{ext}"
    if not unsafe:
        if fixed != original:
            safe_path.write_bytes(fixed.encode("utf-8"))
        elif safe_path.exists():
            safe_path.unlink()
        return
    safe = _read(safe_path) if safe_path.exists() else original
    if fixed != safe:
        unsafe_path.write_bytes(fixed.encode("utf-8"))
    elif unsafe_path.exists():
        unsafe_path.unlink()


def test_every_rule_has_samples_and_a_noop_twin() -> None:
    from migrator.rule import all_rules

    for rule in all_rules():
        if getattr(rule, "needs_server", False):
            continue  # proven by the live-check end-to-end test against a real Prometheus instead
        folder = SAMPLES / rule.code
        cases = [p.name for p in folder.iterdir()] if folder.exists() else []
        assert any(not c.startswith("noop") for c in cases), f"{rule.code} has no sample"
        assert any(c.startswith("noop") for c in cases), f"{rule.code} has no no-op sample"
