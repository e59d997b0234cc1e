"""Command-line pieces for `verify` and `check --prometheus-url`, kept apart from cli.py so the
two features can be wired in with a few lines:

    from migrator.cli_verify_and_live import live_check_options, run_live_check, verify_command
    main.add_command(verify_command)

    @main.command()
    ...existing options...
    @live_check_options
    def check(paths, ..., **live):
        ...
        report = run(paths, settings, options)
        run_live_check(report, paths, settings, force_exclude=force_exclude, **live)

Exit codes follow the contract: 0 fine, 1 findings/disagreements, 2 usage or environment errors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import click

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


# ------------------------------------------------------------------------- live check


def _header_callback(_ctx: click.Context, _param: click.Parameter, values: Sequence[str]) -> tuple[str, ...]:
    if not values:
        return ()
    # Imported here: click runs callbacks on every `check`, and urllib must not slow down lints.
    from migrator.live import LiveCheckError, parse_header

    for value in values:
        try:
            parse_header(value)
        except LiveCheckError as err:
            raise click.BadParameter(str(err)) from None
    return tuple(values)


def _lookback_callback(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if _param.get_default(ctx) == value:
        return value
    from migrator.live import LiveCheckError, parse_duration

    try:
        parse_duration(value)
    except LiveCheckError as err:
        raise click.BadParameter(str(err)) from None
    return value


def live_check_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The `check` options of the live check; the command receives them as the keyword
    arguments prometheus_url, prometheus_headers, lookback, prometheus_timeout."""
    options = [
        click.option(
            "--prometheus-url", metavar="URL", default=None,
            help="Also ask this Prometheus which referenced metrics have no series (off by default; "
                 "nothing is contacted without it).",
        ),
        click.option(
            "--prometheus-header", "prometheus_headers", metavar="'NAME: VALUE'", multiple=True,
            callback=_header_callback, help="HTTP header for --prometheus-url (e.g. 'Authorization: Bearer …'); repeatable.",
        ),
        click.option(
            "--lookback", default="7d", show_default=True, callback=_lookback_callback,
            help="With --prometheus-url: how far back a series counts as recently seen.",
        ),
        click.option(
            "--prometheus-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
            metavar="SECONDS", help="With --prometheus-url: timeout of each request.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def run_live_check(report, paths: Sequence[str], settings, *, prometheus_url: str | None = None,  # type: ignore[no-untyped-def]
                   prometheus_headers: Sequence[str] = (), lookback: str = "7d",
                   prometheus_timeout: float = 10.0, force_exclude: bool = False) -> None:
    """Merge live-check findings into `report` (a RunReport) when --prometheus-url was given.
    A server that cannot be asked is an error (exit 2), never a traceback."""
    if not prometheus_url:
        return
    from migrator.live import LiveCheckError, apply_live_check

    try:
        apply_live_check(report, list(paths) or ["."], settings, prometheus_url, prometheus_headers, lookback,
                         prometheus_timeout, force_exclude=force_exclude)
    except LiveCheckError as err:
        click.echo(f"error: live check: {err}", err=True)
        sys.exit(EXIT_ERROR)


# ----------------------------------------------------------------------------- verify


@click.command("verify")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Leave the promtool test files, promtool's output and plan.json in DIR (new or empty).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--metric-prefix", "metric_prefixes", multiple=True, help="Extra metric prefix (e.g. ray_); repeatable.")
@click.option("--force-exclude", is_flag=True, help="Apply excludes to paths given on the command line too.")
@click.option("--config", type=click.Path(dir_okay=False, exists=True), help="Config file (default: nearest pyproject.toml/.vllm-metrics-migrator.toml).")
def verify_command(paths: tuple[str, ...], keep: Path | None, fmt: str, metric_prefixes: tuple[str, ...],
                   force_exclude: bool, config: str | None) -> None:
    """Prove every PromQL rewrite the lint offers on a real Prometheus engine.

    The original expression is evaluated by promtool on the reference timeline's v0.16–v0.19
    counters, the rewrite on its v0.20+ counters, at the lint oracle's 180 instants. A verdict
    that disagrees with the fix's safety (safe = equivalent, unsafe = differs) exits 1.
    Needs `promtool` (Debian package `prometheus`).
    """
    from migrator.config import ConfigError, load_settings
    from migrator.verify import VerifyError, verify_paths

    try:
        settings = load_settings(Path(config) if config else None)
    except ConfigError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_ERROR)
    if metric_prefixes:
        settings = settings.with_overrides(metric_prefixes=tuple(metric_prefixes))

    def show(outcome) -> None:  # type: ignore[no-untyped-def]
        if fmt != "text":
            return
        click.echo(outcome.line())
        if not outcome.agrees:
            click.echo(f"  disagreement: {outcome.disagreement()}")
            click.echo(f"    original:  {outcome.original_query or outcome.case.original}")
            click.echo(f"    rewritten: {outcome.rewritten_query or outcome.case.rewritten}")

    try:
        report = verify_paths(list(paths) or ["."], settings, keep=keep, force_exclude=force_exclude, on_outcome=show)
    except VerifyError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_ERROR)
    except FileNotFoundError as err:
        from migrator.files import PathError

        # PathError says what is wrong (missing, dangling link, special file) and escapes the name.
        click.echo(f"error: {err}" if isinstance(err, PathError) else f"error: {err.args[0]}: no such file or directory", err=True)
        sys.exit(EXIT_ERROR)

    if fmt == "json":
        click.echo(json.dumps([
            {
                "filename": o.case.path, "location": {"row": o.case.line, "column": o.case.col},
                "code": o.case.code, "locator": o.case.locator, "kind": o.case.kind,
                "original": o.case.original, "rewritten": o.case.rewritten,
                "lint_applicability": o.case.lint.value, "verdict": o.verdict, "detail": o.detail,
                "agrees": o.agrees,
            }
            for o in report.outcomes
        ], indent=2))
    elif not report.outcomes:
        click.echo(f"No PromQL rewrites to verify ({report.files_scanned} files scanned).")
    else:
        click.echo(report.summary())
        if report.workdir is not None:
            click.echo(f"Generated files kept in {report.workdir}")
    sys.exit(EXIT_FINDINGS if report.disagreements else EXIT_OK)
