"""Test helpers: the PromQL analysis and the term eliminations the lint would offer, with
default settings (the newest release as target, no extra prefixes)."""

from __future__ import annotations

from types import SimpleNamespace

from migrator.config import Settings
from migrator.promql.references import analyse as _analyse
from migrator.promql.removed import Rewrite, elimination
from migrator.reference.catalogue import catalogue


def analyse(expr: str, grafana: bool = False, target: str | None = None):  # type: ignore[no-untyped-def]
    return _analyse(expr, (), frozenset(), grafana, catalogue().target(target))


def offered(expr: str, grafana: bool = False) -> list[tuple[object, Rewrite | None]]:
    """(reference, elimination or None) for every reference of the expression."""
    analysis = analyse(expr, grafana)
    return [(ref, elimination(analysis, ref, grafana, (), catalogue().target())) for ref in analysis.references]


def eliminations(expr: str, grafana: bool = False) -> list[Rewrite]:
    return [rewrite for _ref, rewrite in offered(expr, grafana) if rewrite is not None]


def rule_context(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    """What the fix builders read of a rule context: the settings."""
    return SimpleNamespace(settings=settings or Settings())
