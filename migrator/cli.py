"""Command line: the only layer that knows argv, stdout, exit codes and colours."""

from __future__ import annotations

import difflib
import io
import json
import os
import sys
from pathlib import Path

import click

from migrator import __version__
from migrator.cli_verify_and_live import live_check_options, run_live_check, verify_command
from migrator.config import ConfigError, Settings, load_settings
from migrator.filenames import printable
from migrator.files import PathError
from migrator.model import FileResult, Severity
from migrator.output import (
    TEXT_FORMATS,
    RENDERERS,
    Style,
    locate,
    output_formats,
    render_full,
    render_statistics,
    summary_line,
    unified_diff,
)
from migrator.rule import all_rules, rule_by_code
from migrator.runner import RunOptions, RunReport, passes_of_one, process_text, run

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _is_terminal(stream) -> bool:  # type: ignore[no-untyped-def]
    return hasattr(stream, "isatty") and stream.isatty()


def _use_color(stream) -> bool:  # type: ignore[no-untyped-def]
    # https://no-color.org: any non-empty NO_COLOR disables colour; --color still wins.
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _is_terminal(stream)


def _parse_codes(value: str | None, option: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    codes = tuple(c.strip().upper() for c in value.split(",") if c.strip())
    known = [r.code for r in all_rules()]
    for code in codes:
        if code == "ALL":
            continue
        if not any(k.startswith(code) for k in known):
            close = difflib.get_close_matches(code, known, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise click.BadParameter(f"unknown rule code {code!r}.{hint} Run `vllm-metrics-migrator rules`.", param_hint=option)
    return tuple("" if c == "ALL" else c for c in codes)


def _complete_formats(ctx, param, incomplete):  # type: ignore[no-untyped-def]
    return [f for f in output_formats() if f.startswith(incomplete)]


def _complete_codes(ctx, param, incomplete):  # type: ignore[no-untyped-def]
    """Rule codes for `explain CODE` and the comma-separated `--select`/`--ignore` lists."""
    from click.shell_completion import CompletionItem

    done, _, last = incomplete.rpartition(",")
    prefix = done + "," if done else ""
    return [
        CompletionItem(prefix + r.code, help=r.name)
        for r in all_rules()
        if r.code.startswith(last.upper())
    ]


def _command_settings(config, select, ignore, fail_on, metric_prefixes, no_respect_gitignore,  # type: ignore[no-untyped-def]
                      target_version=None) -> Settings:
    """Configuration file settings overridden by the options `check` and `migrate` share.

    Rule selection is layered as in ruff: `--ignore` adds to the configuration's `ignore`;
    `--select` starts a new selection, which only the command line's own `--ignore` narrows."""
    cli_select = _parse_codes(select, "--select")
    cli_ignore = _parse_codes(ignore, "--ignore")
    settings = _settings(
        config,
        select=cli_select,
        fail_on=Severity.parse(fail_on) if fail_on else None,
        metric_prefixes=tuple(metric_prefixes) or None,
        respect_gitignore=False if no_respect_gitignore else None,
        target_version=target_version,
    )
    if cli_select is not None:
        settings = settings.with_overrides(ignore=cli_ignore or ())
    elif cli_ignore:
        settings = settings.with_overrides(ignore=settings.ignore + cli_ignore)
    try:
        settings.target  # an unknown release is a usage error, before any file is read
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="--target-version") from None
    return settings


def _complete_releases(ctx, param, incomplete):  # type: ignore[no-untyped-def]
    from migrator.reference.catalogue import catalogue

    return [r for r in catalogue().releases if r.startswith(incomplete)]


_TARGET_HELP = "The vLLM release the files must work with: X.Y (newest X.Y.z) or X.Y.Z (default: the newest known)."


def _settings(config: str | None, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    try:
        settings = load_settings(Path(config) if config else None)
    except ConfigError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_ERROR)
    return settings.with_overrides(**overrides)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vllm-metrics-migrator")
def main() -> None:
    """Find and migrate references to vLLM metrics that vLLM removed, renamed or changed, by
    release, from vLLM's metric catalogue."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--unsafe-fixes", is_flag=True, help="Also offer and apply unsafe fixes.")
@click.option("--diff", "show_diff", is_flag=True, help="Print the diff --fix would make; write nothing.")
@click.option("--select", shell_complete=_complete_codes, help="Comma-separated rule codes or prefixes to enable (default: all).")
@click.option("--ignore", shell_complete=_complete_codes, help="Comma-separated rule codes or prefixes to disable.")
@click.option("--output-format", default="full", show_default=True, shell_complete=_complete_formats,
              help="full, concise, json, json-lines, github, gitlab, sarif, junit.")
@click.option("--output-file", type=click.Path(dir_okay=False), help="Write the report here instead of stdout.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
@click.option("--exit-non-zero-on-fix", is_flag=True, help="Exit 1 when any file was changed.")
@click.option("--statistics", is_flag=True, help="Print a count per rule instead of each finding.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False),
              help="Hide findings recorded in this baseline (default: `baseline` in the config).")
@click.option("--write-baseline", "write_baseline_file", type=click.Path(dir_okay=False),
              help="Record the current findings as the baseline FILE and exit 0.")
@click.option("--force-exclude", is_flag=True, help="Apply excludes to paths given on the command line too.")
@click.option("--stdin-filename", help="Name (and so format) of the text read from stdin with PATH `-`.")
@click.option("--fail-on", type=click.Choice(["info", "warning", "error"]), help="Lowest severity that fails the check.")
@click.option("--metric-prefix", "metric_prefixes", multiple=True, help="Extra metric prefix (e.g. ray_); repeatable.")
@click.option("--no-respect-gitignore", is_flag=True, help="Check files .gitignore excludes too.")
@click.option("--target-version", shell_complete=_complete_releases, help=_TARGET_HELP)
@click.option("--config", type=click.Path(dir_okay=False, exists=True), help="Config file (default: nearest pyproject.toml/.vllm-metrics-migrator.toml).")
@click.option("--color/--no-color", default=None, help="Colours (default: on a terminal, unless NO_COLOR).")
@live_check_options
def check(paths, fix, unsafe_fixes, show_diff, select, ignore, output_format, output_file, exit_zero,
          exit_non_zero_on_fix, statistics, baseline_file, write_baseline_file, force_exclude, stdin_filename,
          fail_on, metric_prefixes, no_respect_gitignore, target_version, config, color, **live) -> None:  # type: ignore[no-untyped-def]
    """Lint PATHS (default: the current folder)."""
    formats = TEXT_FORMATS + tuple(RENDERERS)
    if output_format not in formats:
        formats = output_formats()  # CI formats register on import; only load them when asked
    if output_format not in formats:
        raise click.BadParameter(f"choose from {', '.join(formats)}", param_hint="--output-format")
    settings = _command_settings(config, select, ignore, fail_on, metric_prefixes, no_respect_gitignore, target_version)
    options = RunOptions(fix=fix or show_diff, unsafe=unsafe_fixes, write=fix and not show_diff, force_exclude=force_exclude)
    paths = list(paths) or ["."]
    # Read the baseline before scanning: a broken one is a usage error, not a late surprise.
    # Writing a new baseline records everything, so the old one is not applied then.
    baseline = None
    if not write_baseline_file and not show_diff:
        baseline = _load_baseline(baseline_file or settings.baseline)

    if paths == ["-"]:
        report = _run_stdin(stdin_filename, settings, options, fix and not show_diff)
    else:
        try:
            report = run(paths, settings, options)
        except PathError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_ERROR)
    run_live_check(report, paths, settings, force_exclude=force_exclude, **live)
    for message in report.errors:
        click.echo(f"error: {message}", err=True)

    if show_diff:
        for result in report.changed:
            click.echo(unified_diff(result), nl=False)
        fixable = sum(r.fixed_count for r in report.changed)
        click.echo(f"Would fix {fixable} finding{'s' if fixable != 1 else ''} in {len(report.changed)} file{'s' if len(report.changed) != 1 else ''}.", err=True)
        sys.exit(EXIT_FINDINGS if report.errors or (report.changed and not exit_zero) else EXIT_OK)

    if write_baseline_file:
        from migrator.baseline import write_baseline

        try:
            count = write_baseline(write_baseline_file, report.findings)
        except OSError as err:
            click.echo(f"error: cannot write baseline {printable(write_baseline_file)}: {err.strerror}", err=True)
            sys.exit(EXIT_ERROR)
        click.echo(f"Wrote {count} finding{'s' if count != 1 else ''} to the baseline {printable(write_baseline_file)}.", err=True)
        if report.errors:
            click.echo("The baseline misses the files that could not be read (see the errors above).", err=True)
        sys.exit(EXIT_FINDINGS if report.errors else EXIT_OK)
    hidden = 0
    if baseline is not None:
        from migrator.baseline import apply_baseline

        hidden = apply_baseline(report.results, baseline)

    if output_file:
        # Rendered completely, then written atomically: never a truncated report.
        from migrator.safe_write import atomic_write_text

        buffer = io.StringIO()
        _print_report(report, settings, output_format, unsafe_fixes, statistics, fix, color, buffer, hidden)
        try:
            atomic_write_text(output_file, buffer.getvalue())
        except OSError as err:
            click.echo(f"error: cannot write {printable(output_file)}: {err.strerror}", err=True)
            sys.exit(EXIT_ERROR)
    else:
        # `--fix` on stdin writes the fixed text to stdout (for editors and pipes); the report
        # must not be mixed into it.
        report_stream = sys.stderr if paths == ["-"] and fix else None
        _print_report(report, settings, output_format, unsafe_fixes, statistics, fix, color, report_stream, hidden)
    sys.exit(_exit_code(report, settings, exit_zero, exit_non_zero_on_fix))


def _run_stdin(stdin_filename: str | None, settings: Settings, options: RunOptions, print_fixed: bool) -> RunReport:
    """Check the text on stdin; with `print_fixed`, write the (possibly) fixed text to stdout,
    like ruff. Bytes are never altered by decoding: input that is not UTF-8 text is passed
    through unchanged, with a note, and findings are positioned in the text printed."""
    from migrator.files import decode, decode_python_source, looks_binary, unicode_bom
    from migrator.formats import detect_format

    data = sys.stdin.buffer.read()
    name = stdin_filename or "-"
    if stdin_filename and options.force_exclude:
        from migrator.files import excluded_name

        if excluded_name(stdin_filename, settings):
            # An editor or hook asked about a file the configuration excludes: nothing to say,
            # and the text goes back as it came.
            if print_fixed:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            return RunReport(results=[], files_scanned=0)
    encoding = unicode_bom(data)
    text = None if encoding or looks_binary(data) else decode(data)
    source_encoding = "utf-8"
    if text is None and not encoding and not looks_binary(data) and detect_format(name, "") == "python":
        text, source_encoding = decode_python_source(data) or (None, source_encoding)
    if text is None:
        what = f"{encoding.upper()} text" if encoding else "not valid UTF-8"
        note = f"skipped: {what}" + ("; passed through unchanged" if print_fixed else "")
        if print_fixed:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return RunReport(results=[FileResult(path=name, note=note)], files_scanned=1)
    result = process_text(name, text, settings, options)
    result.encoding = source_encoding
    passes_of_one(result, settings)
    if print_fixed:
        sys.stdout.flush()
        sys.stdout.buffer.write((result.fixed if result.fixed is not None else text).encode(source_encoding))
        sys.stdout.flush()
    return RunReport(results=[result], files_scanned=1)


def _load_baseline(path: str | None):  # type: ignore[no-untyped-def]
    if not path:
        return None
    from migrator.baseline import BaselineError, load_baseline

    try:
        return load_baseline(path)
    except BaselineError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_ERROR)


def _print_report(report, settings, output_format, unsafe, statistics, fixed_mode, color, stream, hidden=0) -> None:  # type: ignore[no-untyped-def]
    findings = report.findings
    out = stream or sys.stdout
    use_color = (color if color is not None else _use_color(out)) and stream is None
    if statistics:
        out.write(render_statistics(findings, unsafe, output_format))
        return
    for result in report.results:
        if result.note:
            click.echo(f"{printable(result.path)}: {result.note}", err=True)
    items = locate(report.results)
    if output_format in ("full", "concise"):
        out.write(render_full(items, unsafe, Style(use_color), concise=output_format == "concise"))
        fixed = sum(r.fixed_count for r in report.results)
        skipped = sum(1 for r in report.results if r.note and r.note.startswith("skipped"))
        out.write(summary_line(findings, unsafe, fixed if fixed_mode else 0, errors=len(report.errors), skipped=skipped) + "\n")
        if hidden:
            out.write(f"{hidden} more finding{'s' if hidden != 1 else ''} hidden by the baseline.\n")
    else:
        out.write(RENDERERS[output_format](items, unsafe, fail_on=settings.fail_on))


def _exit_code(report: RunReport, settings: Settings, exit_zero: bool, exit_non_zero_on_fix: bool) -> int:
    # A file that was meant to be checked but could not be read, or a fix that could not be
    # written, fails the run whatever else was asked: it is never a pass.
    if report.errors:
        return EXIT_FINDINGS
    if exit_non_zero_on_fix and report.changed:
        return EXIT_FINDINGS
    if exit_zero:
        return EXIT_OK
    if any(f.severity >= settings.fail_on for f in report.findings):
        return EXIT_FINDINGS
    return EXIT_OK


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules_command(fmt: str) -> None:
    """List every rule: code, name, formats, default severity, fix availability."""
    rows = [
        {"code": r.code, "name": r.name, "formats": r.formats_label, "severity": r.severity.label,
         "fix": r.fix_availability, "summary": r.summary()}
        for r in all_rules()
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    widths = {k: max(len(k), *(len(str(row[k])) for row in rows)) for k in ("code", "name", "formats", "severity", "fix")}
    header = "  ".join(k.upper().ljust(widths[k]) for k in widths)
    click.echo(header)
    for row in rows:
        click.echo("  ".join(str(row[k]).ljust(widths[k]) for k in widths).rstrip())


@main.command()
@click.argument("code", shell_complete=_complete_codes)
def explain(code: str) -> None:
    """Print the documentation of rule CODE."""
    rule = rule_by_code(code)
    if rule is None:
        known = [r.code for r in all_rules()]
        close = difflib.get_close_matches(code.upper(), known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise click.BadParameter(f"unknown rule code {code!r}.{hint}", param_hint="CODE")
    click.echo(f"# {rule.code} {rule.name}\n")
    click.echo(f"Severity: {rule.severity.label} · Fix: {rule.fix_availability} · Formats: {rule.formats_label}\n")
    click.echo(rule.docs())


# ruff's name for the same command (`ruff rule F401`): users of ruff type it first.
main.add_command(
    click.Command("rule", callback=explain.callback, params=explain.params, help=explain.help, hidden=True)
)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--catalogue", "show_catalogue", is_flag=True,
              help="Show the vLLM metric catalogue: every metric, the releases that expose it, what replaced it.")
@click.option("--all", "show_all", is_flag=True, help="With --catalogue: every metric, not only the changed ones.")
@click.option("--target-version", shell_complete=_complete_releases, help="With --catalogue: status at this release.")
def reference(fmt: str, show_catalogue: bool, show_all: bool, target_version: str | None) -> None:
    """Print the corrected prompt-token definitions and vLLM's six canonical cases, or (with
    --catalogue) every vLLM metric with its releases and replacement."""
    if show_catalogue:
        from migrator.reference.catalogue import UnknownRelease, catalogue
        from migrator.reference.catalogue_view import catalogue_json, catalogue_text

        try:
            target = catalogue().target(target_version)
        except UnknownRelease as err:
            raise click.BadParameter(str(err), param_hint="--target-version") from None
        if fmt == "json":
            click.echo(json.dumps(catalogue_json(target, every=show_all), indent=2))
        else:
            click.echo(catalogue_text(target, every=show_all), nl=False)
        return
    from migrator.reference.render import reference_json, reference_text

    if fmt == "json":
        click.echo(json.dumps(reference_json(), indent=2))
    else:
        click.echo(reference_text(), nl=False)


@main.command()
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=True, dir_okay=True))
@click.option("--unsafe-fixes", is_flag=True, help="Also apply unsafe fixes (they change values; read the report).")
@click.option("--dry-run", is_flag=True, help="Print the diff the migration would make; change no file.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False),
              help="Write every remaining item here: Markdown (.md) or JSON (.json).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and only the one-line summary.")
@click.option("--select", shell_complete=_complete_codes, help="Comma-separated rule codes or prefixes to enable.")
@click.option("--ignore", shell_complete=_complete_codes, help="Comma-separated rule codes or prefixes to disable.")
@click.option("--fail-on", type=click.Choice(["info", "warning", "error"]), help="Lowest remaining severity that exits 1.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False),
              help="Leave findings recorded in this baseline out of what is left (default: config).")
@click.option("--metric-prefix", "metric_prefixes", multiple=True, help="Extra metric prefix (e.g. ray_); repeatable.")
@click.option("--no-respect-gitignore", is_flag=True, help="Migrate files .gitignore excludes too.")
@click.option("--target-version", shell_complete=_complete_releases, help=_TARGET_HELP)
@click.option("--config", type=click.Path(dir_okay=False, exists=True), help="Config file (default: nearest one).")
def migrate(path, unsafe_fixes, dry_run, report_file, quiet, select, ignore, fail_on, baseline_file,
            metric_prefixes, no_respect_gitignore, target_version, config) -> None:  # type: ignore[no-untyped-def]
    """Migrate the repository at PATH (default: the current folder) in one go.

    Applies every safe fix (and unsafe ones with --unsafe-fixes), then prints what changed and
    what is left for a person, by rule. Exit code 0 when nothing at or above `fail-on` is left,
    1 otherwise, or when a file could not be read or written (with --dry-run: also 1 when a
    file would change), 2 on usage errors, 130 when interrupted (each file is then either
    original or fully migrated).
    """
    from migrator import migrate as migration_module

    if report_file and migration_module.report_format(report_file) is None:
        raise click.BadParameter("the report must end in .md (Markdown) or .json (JSON)", param_hint="--report")
    settings = _command_settings(config, select, ignore, fail_on, metric_prefixes, no_respect_gitignore, target_version)
    baseline = _load_baseline(baseline_file or settings.baseline)
    progress = migration_module.Progress(sys.stderr) if not quiet and _is_terminal(sys.stderr) else None
    try:
        result = migration_module.migrate(
            path, settings, unsafe=unsafe_fixes, dry_run=dry_run, on_file=progress, baseline=baseline
        )
    except migration_module.MigrationInterrupted as stop:
        if progress:
            progress.clear()
        click.echo("Interrupted. Every file is either original or fully migrated.", err=True)
        _echo_some(f"Written before the interrupt ({len(stop.written)}):", stop.written)
        _echo_some(f"Not written ({len(stop.pending)}); run migrate again to finish:", stop.pending)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        if progress:
            progress.clear()
        click.echo("Interrupted while scanning; no file was written.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except PathError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_ERROR)
    if progress:
        progress.clear()
    for message in result.report.errors:
        click.echo(f"error: {message}", err=True)
    for file_result in result.report.results:
        if file_result.note:
            click.echo(f"{printable(file_result.path)}: {file_result.note}", err=True)
    if dry_run:
        for file_result in result.report.changed:
            click.echo(unified_diff(file_result), nl=False)
    click.echo(migration_module.summary(result, quiet=quiet), nl=False)
    if report_file:
        try:
            migration_module.write_report(result, report_file)
        except OSError as err:
            click.echo(f"error: cannot write the report {printable(report_file)}: {err.strerror}", err=True)
            sys.exit(EXIT_ERROR)
        if not quiet:
            click.echo(f"Report written to {printable(report_file)}.")
    elif result.left and not quiet:
        click.echo("List them with `vllm-metrics-migrator check`, or pass --report FILE (.md or .json).")
    elif result.changed and not dry_run and not quiet:
        click.echo("--report FILE (.md or .json) lists the changed files.")
    remaining = any(item.finding.severity >= settings.fail_on for item in result.left)
    failed = remaining or bool(result.report.errors) or (dry_run and bool(result.changed))
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


# At most this many paths are listed after an interrupt; `git status` or a rerun shows the rest.
_LISTED_PATHS = 10


def _echo_some(title: str, names: list[str]) -> None:
    click.echo(title, err=True)
    for name in names[:_LISTED_PATHS]:
        click.echo(f"  {printable(name)}", err=True)
    if len(names) > _LISTED_PATHS:
        click.echo(f"  … and {len(names) - _LISTED_PATHS} more", err=True)


def _tune_collector() -> None:
    """A run allocates millions of short-lived, acyclic objects (parse trees, sites, findings):
    at the default thresholds the cyclic collector ran 310 times over 200 dashboards and took 11 %
    of the run, mostly re-scanning the modules imported at start-up. Freezing those and
    collecting less often cut it to 25 collections (3 %); garbage cycles are still collected,
    and the large parsers pause the collector anyway (`formats.base.no_gc`). Only the console
    entry does this: a test process calling `main` keeps the interpreter's defaults."""
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _escape_what_cannot_be_encoded() -> None:
    """A JSON `\\ud800` escape decodes to a lone surrogate, which UTF-8 cannot encode; shown in
    a locator (a panel title, a refId) it would crash the report. Written as `\\ud800` instead,
    which is also what it means inside JSON and SARIF output."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def entry() -> None:
    """Console-script entry. Click's standalone mode would turn Ctrl-C into "Aborted!" with exit
    1, so errors are mapped here: usage errors 2, interrupts 130, unexpected exceptions 2."""
    _tune_collector()
    _escape_what_cannot_be_encoded()
    try:
        code = main.main(prog_name="vllm-metrics-migrator", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as err:
        err.show()
        sys.exit(EXIT_ERROR if isinstance(err, click.UsageError) else err.exit_code)
    except Exception as err:  # noqa: BLE001 - the contract maps crashes to exit 2
        import traceback

        traceback.print_exc()
        click.echo(f"error: internal error: {err!r}; please report it", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


# Commands defined in their own modules are attached here, one import line each, after `main`
# exists (such a module may import `main` or the helpers above from this one).
main.add_command(verify_command)
