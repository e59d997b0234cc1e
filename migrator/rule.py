"""The rule interface and the registry that discovers rule modules in `migrator.rules`."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from migrator.formats.base import SiteKind
from migrator.model import Applicability, Edit, Finding, Fix, Severity, Span

# Sites that hold a query Prometheus (or Grafana, through Prometheus) answers.
_QUERY_KINDS = (SiteKind.PROMQL, SiteKind.GRAFANA_QUERY)

if TYPE_CHECKING:
    from migrator.config import Settings
    from migrator.formats.base import Document, Site, SiteNeeds

DOCS_URL = "https://github.com/vllm-metrics-migrator/vllm-metrics-migrator/blob/main/README.md#"


class Rule:
    """Base class. Subclasses set the class attributes and implement `check`.

    The docstring of a rule is its documentation and uses ruff's headings:
    What it does / Why is this bad? / Example / Fix safety.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.ERROR
    # Format names the rule runs on; None means every format.
    formats: ClassVar[frozenset[str] | None] = None
    # What `rules` shows: "safe", "unsafe", "display-only", "sometimes" or "none".
    fix_availability: ClassVar[str] = "none"
    formats_label: ClassVar[str] = "all"

    # Substrings a file (and, in structured formats, a string outside the places known to hold
    # PromQL) must contain for this rule to find anything: the prefilter and the formats' site
    # needles. Rules derive them from the metric catalogue (`needles()` may be overridden).
    needle_words: ClassVar[tuple[str, ...]] = ()
    # Python rules: `ast` node class name -> name of a method `(node, python, ancestors) ->
    # kind | None` that the Python handler calls during its one walk (django-upgrade's
    # callbacks); kept nodes reach `check` through `ctx.collected(self)`.
    python_nodes: ClassVar[dict[str, str]] = {}
    # The rule reports a name that has no data (or is going) at the target. In a query, a
    # compatibility recording rule of the run that records that very name answers it: the
    # runner lowers such findings to info and says which rule (`migrator.shims`).
    reports_stale_name: ClassVar[bool] = False

    def check(self, ctx: "RuleContext") -> Iterable[Finding]:
        return ()

    def needles(self, settings: "Settings") -> tuple[str, ...]:
        """What a *file* must contain for this rule to find anything in it (the prefilter)."""
        return self.needle_words

    def site_needles(self, settings: "Settings") -> tuple[str, ...]:
        """What a string outside the places known to hold PromQL must contain to become a site
        for this rule (the formats' needles); the file-level needles unless a rule needs more
        strings of a file it already reads (prose words, say)."""
        return self.needles(settings)

    @classmethod
    def docs(cls) -> str:
        import inspect  # only `explain`, `rules` and the docs need it

        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.docs().split("\n\n", 1)[0].replace("\n", " ")

    @classmethod
    def url(cls) -> str:
        return DOCS_URL + f"{cls.code.lower()}-{cls.name}"

    def applies_to(self, fmt: str) -> bool:
        return self.formats is None or fmt in self.formats


class RuleContext:
    """What a rule sees of one file: the parsed document, the settings, shared analyses."""

    def __init__(self, doc: "Document", settings: "Settings") -> None:
        self.doc = doc
        self.settings = settings
        # Analyses several rules need (PromQL parses, name scans) are computed once per file.
        self.cache: dict[Any, Any] = {}
        # Series this file records from metrics that no longer exist (VMM003): they die too,
        # and the runner's cross-file pass reports their users (VMM004). Each with the names,
        # as written, it is computed from that have no data: a compatibility recording rule
        # elsewhere in the run that records all of them keeps the series alive.
        self.dead_series: dict[str, set[str]] = {}

    def declare_dead_series(self, name: str, killed_by: str | None = None) -> None:
        from migrator.reference.spellings import classify

        if classify(name, self.settings.metric_prefixes) is not None:
            # A recording rule that records a vLLM metric's own name: where that name stands
            # is the catalogue's to say (its uses are reported as that metric), not a dead
            # series' — else every use of it would be reported twice.
            return
        causes = self.dead_series.setdefault(name, set())
        if killed_by is not None:
            causes.add(killed_by)

    def doc_edit(self, start: int, end: int, replacement: str) -> "Edit":
        """An edit of the file text itself (formats without sites: other text files)."""
        return Edit(Span(start, end), replacement)

    def collected(self, rule: Rule) -> list[Any]:
        """The Python nodes the handler kept for `rule` (see `Rule.python_nodes`)."""
        return self.doc.collected.get(rule.code, [])

    def memo(self, key: Any, compute):  # type: ignore[no-untyped-def]
        try:
            return self.cache[key]
        except KeyError:
            value = self.cache[key] = compute()
            return value

    def finding(
        self,
        rule: Rule | type[Rule],
        span: Span,
        message: str,
        *,
        fix: Fix | None = None,
        locator: str = "",
        matched: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            code=rule.code,
            message=message,
            path=self.doc.path,
            span=span,
            severity=severity or rule.severity,
            fix=fix,
            locator=locator,
            matched=self.doc.text[span.start : span.end] if matched is None else matched,
        )

    def site_finding(
        self,
        rule: Rule | type[Rule],
        site: "Site",
        start: int,
        end: int,
        message: str,
        **kwargs: Any,
    ) -> Finding:
        kwargs.setdefault("locator", site.locator)
        kwargs.setdefault("matched", site.value[start:end])
        key = site.context.ignored_duplicate
        if key is not None:
            # Nothing reads an ignored duplicate key: what it says is worth a warning, and only
            # deleting it (by hand) is right; an edit there would change nothing.
            message = (f"{message} — but this is an earlier duplicate `{key}` key, which Grafana and every JSON "
                       "parser ignore (the last one wins): delete it")
            kwargs["severity"] = min(kwargs.get("severity") or rule.severity, Severity.WARNING)
            fix = kwargs.get("fix")
            if fix is not None and (fix.edits or fix.applicability is not Applicability.DISPLAY_ONLY):
                kwargs["fix"] = Fix(Applicability.DISPLAY_ONLY, f"{fix.message} — not applied: {site.readonly_reason}")
        in_query = site.kind in _QUERY_KINDS
        finding = self.finding(rule, site.file_span(start, end), message, **kwargs)
        grafana = site.context.grafana
        if grafana is not None or in_query:
            finding = dataclasses.replace(
                finding, dashboard_target=grafana.identity if grafana is not None else None, in_query=in_query
            )
        return finding


def _rules_package():  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module("migrator.rules")
    except ModuleNotFoundError:
        # Running from a source checkout without installing: the repository's top-level
        # `rules/` folder is what setuptools installs as `migrator.rules`.
        folder = Path(__file__).resolve().parent.parent / "rules"
        spec = importlib.util.spec_from_file_location(
            "migrator.rules", folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:
            raise
        module = importlib.util.module_from_spec(spec)
        sys.modules["migrator.rules"] = module
        spec.loader.exec_module(module)
        return module


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule, discovered from the modules of `migrator.rules`, sorted by code."""
    package = _rules_package()
    found: dict[str, Rule] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Rule)
                and value is not Rule
                and value.__module__ == module.__name__
            ):
                if value.code in found:
                    raise RuntimeError(f"duplicate rule code {value.code}")
                found[value.code] = value()
    return tuple(found[code] for code in sorted(found))


def rule_by_code(code: str) -> Rule | None:
    for rule in all_rules():
        if rule.code == code.upper():
            return rule
    return None


def site_needs(rules: Iterable[Rule], fmt: str, settings: "Settings") -> "SiteNeeds":
    """What the given rules need from a format's handler (needles, Python node callbacks)."""
    from migrator.formats.base import SiteNeeds

    needles: set[str] = set()
    python: list[tuple[str, str, Any]] = []
    python_words: list[tuple[str, tuple[str, ...]]] = []
    for rule in rules:
        words = tuple(rule.needles(settings))
        needles.update(rule.site_needles(settings))
        if fmt == "python" and rule.python_nodes:
            for node_type, method in rule.python_nodes.items():
                python.append((node_type, rule.code, getattr(rule, method)))
            if words:
                python_words.append((rule.code, words))
    # A needle that contains another is redundant: every text it finds, the shorter one finds.
    minimal = sorted(n for n in needles if not any(m != n and m in n for m in needles))
    return SiteNeeds(needles=tuple(minimal), python=tuple(python), python_words=tuple(python_words))
