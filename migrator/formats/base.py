"""What a format handler gives the rules: a parsed document made of *sites*.

A site is a decoded string from the file (a PromQL expression, a metric name, free text) that
knows where each of its characters lives in the file, escapes included. Rules work on decoded
values only and never see JSON, YAML or Python escaping.
"""

from __future__ import annotations

import contextlib
import enum
import gc
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, Sequence

from migrator.model import Applicability, Edit, LineIndex, Span


class ParseError(Exception):
    """A file in a supported format that cannot be parsed (reported as VMM000)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class SiteKind(enum.Enum):
    PROMQL = "promql"  # a PromQL expression (rule expr, dashboard target)
    GRAFANA_QUERY = "grafana-query"  # templating query: PromQL or label_values(...)/query_result(...)
    NAME = "name"  # a metric name used as data
    TEXT = "text"  # prose: titles, legends, descriptions, comments


@dataclass(slots=True)
class Container:
    """The literal collection a string is an element (or key) of: a list, set, tuple, YAML
    sequence, JSON array, dict/mapping keys. Formats describe it; rules decide what to do with
    it (one element-removal policy for every format lives with the rules)."""

    kind: str  # "list" | "set" | "tuple" | "sequence" | "array" | "dict-key" | "mapping-key"
    index: int  # this element's position
    # Decoded values of every element, this one included; None for an element that is not a
    # plain string (a number, a call, an f-string with fields, a nested collection).
    values: tuple[str | None, ...] = ()
    # Edits that remove this element cleanly (separator, own line, trailing comment), or None
    # when the format cannot remove it exactly. Rules decide whether removing it is wise.
    removal: tuple[Edit, ...] | None = None
    # The whole collection: fixes that remove elements are scoped to it, one per pass.
    span: Span | None = None
    # What holds the collection, for messages: the assigned name, the key, the call.
    owner: str | None = None
    # Edits that remove several elements at once (sorted positions, never all), or None when
    # the format cannot: the fix loop removes every chosen element of a collection in one pass.
    removal_of: Callable[[tuple[int, ...]], tuple[Edit, ...] | None] | None = None


@dataclass(slots=True)
class GrafanaPlace:
    """Where a site sits in a Grafana dashboard (or an alert rule in Grafana's JSON)."""

    uid: str | None = None
    panel_id: int | str | None = None
    panel_title: str | None = None
    ref_id: str | None = None
    datasource: Any = None
    path: str | None = None  # JSON pointer of the target
    kind: str = "target"  # "target" | "templating" | "annotation" | "alert" | "query" ...
    hidden: bool = False
    # Edits removing the whole target from its panel, when the panel keeps another target.
    target_removal: tuple[Edit, ...] | None = None
    # Why the target is not removed although the panel has other targets, and what to do
    # instead (for the message): "…; delete the panel".
    removal_blocked: str | None = None
    sibling_exprs: tuple[str, ...] = ()
    # A templating `definition` that repeats its `query`: reported once, on the query.
    duplicate_of_query: bool = False
    # What a target's series are shown as, as written (rules decide what it shows): its legend
    # template ("" when it has none, so Grafana's default legend; None when not recorded),
    # its result format (`table`, …) and the panel's display-name settings.
    legend: str | None = None
    result_format: str | None = None
    display_names: tuple[str, ...] = ()

    @property
    def identity(self) -> tuple[str | None, int | str | None, str | None]:
        return (self.uid, self.panel_id, self.ref_id)

    @property
    def panel_key(self) -> tuple[str | None, int | str | None, str | None]:
        return (self.uid, self.panel_id, self.panel_title)


@dataclass(slots=True)
class RulePlace:
    """The Prometheus (or Grafana-managed) rule a site belongs to."""

    kind: str  # "alert" | "record"
    name: str | None
    group: str | None = None
    index: tuple[int, int] | None = None  # (group, rule) positions
    # File offset of the name (`record: <here>`), where known: where, not which rule.
    name_at: int | None = field(default=None, compare=False)


@dataclass(slots=True)
class SiteContext:
    """Everything a format knows about where a site sits. Typed, so rules and formats agree."""

    container: Container | None = None
    grafana: GrafanaPlace | None = None
    rule: RulePlace | None = None
    field: str | None = None  # the key or attribute holding the value (`expr`, `query`, ...)
    # The site names a metric that this program *defines* (prometheus_client, OpenTelemetry).
    definition: str | None = None
    prose: str | None = None  # "title" | "description" | "legendFormat" | "comment" ...
    callee: str | None = None  # Python: the call the string is an argument of
    keyword: str | None = None
    assigned_to: str | None = None
    dict_key: str | None = None
    template: str | None = None  # Python `.format`/`%`/f-string templates
    templated: bool = False  # Helm/Jinja regions inside the value
    not_prometheus: bool = False  # a query for another datasource
    embedded_in: str | None = None  # locator of the string this document was embedded in
    # Python: where naming the replacement too makes the string a switch between releases, not
    # a stale reference: the conditional expression (`a if c else b`) it is a branch of, or,
    # for a string `compared`, the function (or module) whose conditional compares it.
    alternatives: Span | None = None
    # Python: the string is compared (`in`, `not in`, `==`, `!=`; directly or as an element of
    # the collection compared) in the test of an `if`/`elif`/`while`/`assert`/conditional
    # expression: the program tests data against it, often to tell which release it talks to.
    compared: bool = False
    # Python: the test of the nearest `if`/`elif`/`while` statement (in the same function) whose
    # body or `else` holds the string: what decides whether the string's code runs.
    guard: Span | None = None
    yaml_style: str | None = None
    json_path: str | None = None
    # A prometheus-adapter rule's (`name.matches`, `name.as`): the name it exports a series
    # under comes from the series name (`migrator.adapter_naming`).
    adapter_naming: tuple[str | None, str | None] | None = None
    # The value sits in an earlier occurrence of this key in its object, which JSON parsers
    # (and Grafana) replace with the last one: it takes no effect (the site is read-only).
    ignored_duplicate: str | None = None


@dataclass(frozen=True, slots=True)
class SiteNeeds:
    """What the enabled rules need from a format, so formats carry no rule knowledge.

    `needles`: a string outside the places a format knows hold PromQL becomes a site only when
    its text contains one of these (rules derive them from the metric catalogue). `python`:
    the `ast` node types Python rules want collected (see `migrator.rule.Rule.python_nodes`);
    the Python handler calls each callback on every node of that type during its one walk and
    keeps the node (as a `NodeRef`, in `Document.collected[code]`) when it returns a kind.
    """

    needles: tuple[str, ...] = ()
    # (`ast` node class name, rule code, callback(node, python_info, ancestors) -> kind or None)
    python: tuple[tuple[str, str, Callable[..., Any]], ...] = ()
    # (rule code, that rule's needles) for the rules in `python`: a file without any of a
    # rule's needles cannot give that rule anything, so its callbacks are skipped. A rule
    # absent here always runs.
    python_words: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def mentions(self, text: str) -> bool:
        return any(n in text for n in self.needles)


def _identity(text: str) -> str:
    return text


@dataclass(slots=True)
class Site:
    value: str
    kind: SiteKind
    locator: str
    # offsets[i] is the file offset of decoded character i; offsets[len(value)] is the end
    # (a list, or any sequence that indexes the same way, such as JSON's compact OffsetMap).
    # None means the value is stored verbatim starting at `base`.
    base: int = 0
    offsets: Sequence[int] | None = None
    editable: bool = True
    encode: Callable[[str], str] = _identity
    # Why a non-editable site cannot be edited, for the finding's fix message.
    readonly_reason: str = ""
    # Decoded ranges that are not literal text (Helm/Jinja `{{ }}`, f-string fields): reported
    # through, never edited.
    protected: tuple[tuple[int, int], ...] = ()
    context: SiteContext = field(default_factory=SiteContext)

    def can_edit(self, start: int, end: int) -> bool:
        """Whether decoded [start, end) may be replaced. An edit may swallow whole protected
        regions (deleting a PromQL term that contains `{{ .Release.Namespace }}` or an f-string
        field deletes the region with it) but never cut into one; a zero-width protected point
        (the gap between two pieces of an implicit concatenation) must not fall inside it."""
        if not self.editable:
            return False
        for p_start, p_end in self.protected:
            if p_start == p_end:
                if start < p_start < end:
                    return False
            elif start < p_end and p_start < end and not (start <= p_start and p_end <= end):
                return False
        return True

    def refusal(self, start: int, end: int, templated: str) -> str:
        """Why decoded [start, end) may not be replaced (`can_edit` is False): `templated` when
        the only reason is a protected region the format describes no better."""
        if not self.editable:
            return self.readonly_reason or templated
        if any(p_start == p_end and start < p_start < end for p_start, p_end in self.protected):
            return "it spans adjacent string literals (implicit concatenation); join them by hand first"
        return self.readonly_reason or templated

    def to_file(self, index: int) -> int:
        if self.offsets is None:
            return self.base + index
        return self.offsets[index]

    def file_span(self, start: int, end: int) -> Span:
        return Span(self.to_file(start), self.to_file(end))

    def edit(self, start: int, end: int, replacement: str) -> Edit:
        """An edit replacing decoded characters [start, end) of this site."""
        return Edit(self.file_span(start, end), self.encode(replacement))


@dataclass(slots=True)
class Document:
    path: str
    text: str
    format: str
    sites: list[Site] = field(default_factory=list)
    # Dashboards found in the file, as (uid, title).
    dashboards: list[tuple[str | None, str | None]] = field(default_factory=list)
    # Prometheus (and Grafana-managed) rules found in the file.
    rules: list[RulePlace] = field(default_factory=list)
    # Python: the parsed module with its position helpers (`python_format.PythonInfo`), and
    # the nodes each rule asked for through `SiteNeeds.python`, keyed by rule code.
    python: Any = None
    collected: dict[str, list[Any]] = field(default_factory=dict)
    # Why nobody should edit this file by hand (generated by controller-gen, say); every site
    # is then read-only and findings point at the source it is generated from.
    generated: str | None = None
    # Helm/Jinja regions of a templated YAML file (decoded offsets).
    template_regions: list[tuple[int, int]] = field(default_factory=list)
    # YAML: the composed documents, for node-wide suppression comments (yaml_suppression_scopes).
    yaml_nodes: list[Any] = field(default_factory=list)
    # YAML texts embedded in it (a ConfigMap's rule file): (documents, text, file offset of
    # each character of that text and of its end), for the same comments inside them.
    yaml_embedded: list[tuple[list[Any], str, list[int]]] = field(default_factory=list)
    # Values that look like metric names but are names a user chose (KEDA's `metricName`, a
    # recording rule's `record`):
    # (start, end) file offsets that no rule reads as a metric reference or as prose.
    labels: list[tuple[int, int]] = field(default_factory=list)
    # Regions of a text file read as an embedded format (a heredoc, a Markdown code block).
    embedded: list[Span] = field(default_factory=list)
    # The most a fix in this file can be trusted: a text file cannot be re-parsed as a whole,
    # so nothing in it is safe (None: no limit).
    fix_ceiling: Applicability | None = None
    _lines: LineIndex | None = None

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines


class FormatHandler(Protocol):
    name: str

    def parse(self, path: str, text: str, needs: SiteNeeds) -> Document: ...

    def validate(self, text: str) -> None:
        """Raise ParseError when fixed text no longer parses."""


_METRIC_NAME = None


def guess_kind(value: str) -> SiteKind:
    """What a string is when the file's structure does not say: a metric name, PromQL, or prose."""
    global _METRIC_NAME
    if _METRIC_NAME is None:
        import re

        _METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:.]*")
    stripped = value.strip()
    if _METRIC_NAME.fullmatch(stripped):
        return SiteKind.NAME
    if not stripped or "\n\n" in stripped:
        return SiteKind.TEXT
    from migrator.promql.parser import PromQLSyntaxError, parse

    try:
        parse(stripped)
    except (PromQLSyntaxError, RecursionError):
        return SiteKind.TEXT
    return SiteKind.PROMQL


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a parser builds many small objects.

    Allocating a million nodes triggers full collections over and over (half of the time of a
    20 MB file); parse trees hold no reference cycles except through recursive YAML aliases,
    which the collector finds later anyway.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
