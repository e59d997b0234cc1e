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
from typing import Any, Callable, Iterator, Protocol

from migrator.model import Edit, LineIndex, Span


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


def _identity(text: str) -> str:
    return text


@dataclass(slots=True)
class Site:
    value: str
    kind: SiteKind
    locator: str
    # offsets[i] is the file offset of decoded character i; offsets[len(value)] is the end.
    # None means the value is stored verbatim starting at `base`.
    base: int = 0
    offsets: list[int] | None = None
    editable: bool = True
    encode: Callable[[str], str] = _identity
    # Why a non-editable site cannot be edited, for the finding's fix message.
    readonly_reason: str = ""
    # Decoded ranges that are not literal text (Helm/Jinja `{{ }}`, f-string fields): reported
    # through, never edited.
    protected: tuple[tuple[int, int], ...] = ()
    context: dict[str, Any] = field(default_factory=dict)

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
    # Handler-specific structure rules may use (e.g. Grafana targets, libcst module).
    extra: dict[str, Any] = field(default_factory=dict)
    _lines: LineIndex | None = None

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines


class FormatHandler(Protocol):
    name: str

    def parse(self, path: str, text: str) -> Document: ...

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
