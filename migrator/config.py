"""Settings: defaults, `[tool.vllm-metrics-migrator]` in pyproject.toml or
`.vllm-metrics-migrator.toml`, then command-line overrides."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from pathlib import Path
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from migrator.model import Severity

if TYPE_CHECKING:
    from migrator.reference.catalogue import Target

CONFIG_FILE = ".vllm-metrics-migrator.toml"
TOOL_KEY = "vllm-metrics-migrator"

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".bzr", ".tox", ".nox", ".venv", "venv", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules", "site-packages",
)


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Exclusion:
    """A JSON-dashboard exclusion: no comments in JSON, so findings are waived by identity."""

    uid: str | None
    panel_id: int | None
    ref_id: str | None
    reason: str
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ()  # empty = every rule
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    metric_prefixes: tuple[str, ...] = ()
    fail_on: Severity = Severity.WARNING
    baseline: str | None = None
    exclusions: tuple[Exclusion, ...] = ()
    respect_gitignore: bool = True
    # The vLLM release the scanned files must work with (`X.Y` = the newest X.Y.z); None: the
    # newest release the metric catalogue knows.
    target_version: str | None = None
    # Series recorded by rules that depend on the removed metric (VMM003), found across the run.
    dead_series: frozenset[str] = field(default_factory=frozenset)
    # Where the configuration came from; relative patterns are resolved against it.
    root: Path = field(default_factory=Path.cwd)

    def rule_enabled(self, code: str) -> bool:
        if self.select and not any(code.startswith(p) for p in self.select):
            return False
        return not any(code.startswith(p) for p in self.ignore)

    def ignored_for_path(self, path: str) -> tuple[str, ...]:
        codes: list[str] = []
        for pattern, pattern_codes in self.per_file_ignores:
            if _path_matches(path, pattern):
                codes.extend(pattern_codes)
        return tuple(codes)

    @property
    def target(self) -> "Target":
        return _resolve_target(self.target_version)

    def with_overrides(self, **changes: Any) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@lru_cache(maxsize=16)
def _resolve_target(version: str | None) -> "Target":
    from migrator.reference.catalogue import UnknownRelease, catalogue

    try:
        return catalogue().target(version)
    except UnknownRelease as err:
        raise ConfigError(str(err)) from None


def _path_matches(path: str, pattern: str) -> bool:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, f"*/{pattern}")


def _codes(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{key}` must be a list of rule codes")
    return tuple(v.strip().upper() for v in value)


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{key}` must be a list of strings")
    return tuple(value)


def settings_from_table(table: dict[str, Any], root: Path) -> Settings:
    known = {
        "select", "ignore", "exclude", "extend-exclude", "per-file-ignores", "metric-prefixes",
        "fail-on", "baseline", "exclusions", "respect-gitignore", "target-version",
    }
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {"root": root}
    if "select" in table:
        kwargs["select"] = _codes(table["select"], "select")
    if "ignore" in table:
        kwargs["ignore"] = _codes(table["ignore"], "ignore")
    if "exclude" in table:
        kwargs["exclude"] = _strings(table["exclude"], "exclude")
    if "extend-exclude" in table:
        kwargs["extend_exclude"] = _strings(table["extend-exclude"], "extend-exclude")
    if "metric-prefixes" in table:
        kwargs["metric_prefixes"] = _strings(table["metric-prefixes"], "metric-prefixes")
    if "target-version" in table:
        kwargs["target_version"] = str(table["target-version"])
        _resolve_target(kwargs["target_version"])  # an unknown release is a configuration error
    if "respect-gitignore" in table:
        kwargs["respect_gitignore"] = bool(table["respect-gitignore"])
    if "per-file-ignores" in table:
        pfi = table["per-file-ignores"]
        if not isinstance(pfi, dict):
            raise ConfigError("`per-file-ignores` must be a table of glob = [codes]")
        kwargs["per_file_ignores"] = tuple((k, _codes(v, f"per-file-ignores.{k}")) for k, v in pfi.items())
    if "fail-on" in table:
        try:
            kwargs["fail_on"] = Severity.parse(str(table["fail-on"]))
        except ValueError as err:
            raise ConfigError(f"`fail-on`: {err}") from None
    if "baseline" in table:
        kwargs["baseline"] = str(root / str(table["baseline"]))
    if "exclusions" in table:
        kwargs["exclusions"] = tuple(_exclusion(e) for e in table["exclusions"])
    return Settings(**kwargs)


def _exclusion(entry: Any) -> Exclusion:
    if not isinstance(entry, dict):
        raise ConfigError("each `exclusions` entry must be a table")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"exclusion {entry!r} needs a non-empty `reason`")
    if entry.get("uid") is None and entry.get("panel-id") is None:
        raise ConfigError(f"exclusion {entry!r} needs a dashboard `uid` or a `panel-id`")
    panel = entry.get("panel-id")
    if panel is not None and not isinstance(panel, int):
        raise ConfigError("exclusion `panel-id` must be an integer")
    return Exclusion(
        uid=entry.get("uid"),
        panel_id=panel,
        ref_id=entry.get("ref-id"),
        reason=reason,
        codes=_codes(entry.get("codes", []), "exclusions.codes"),
    )


_OTHER_CONFIG = " (fix it, or name another configuration with --config FILE)"


def find_config(start: Path) -> Path | None:
    """The nearest config file at or above `start`, like ruff and pytest look for theirs."""
    start = start.resolve()
    for folder in (start, *start.parents):
        dedicated = folder / CONFIG_FILE
        if dedicated.is_file():
            return dedicated
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            import tomllib  # only when there is a file to read

            # A pyproject.toml that cannot be read might hold our table: skipping it would drop
            # its `ignore` and `fail-on` silently, so it is an error, as with --config.
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except OSError as err:
                raise ConfigError(f"{pyproject}: cannot read: {err.strerror}{_OTHER_CONFIG}") from None
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
                raise ConfigError(f"{pyproject}: invalid TOML: {err}{_OTHER_CONFIG}") from None
            tool = data.get("tool", {})
            if isinstance(tool, dict) and TOOL_KEY in tool:
                return pyproject
    return None


def load_settings(config_path: Path | None = None, start: Path | None = None) -> Settings:
    path = config_path or find_config(start or Path.cwd())
    if path is None:
        return Settings()
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    table = data if path.name == CONFIG_FILE else data.get("tool", {}).get(TOOL_KEY, {})
    try:
        return settings_from_table(table, path.parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
