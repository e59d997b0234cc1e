"""The small value types every layer shares.

Offsets are code-point offsets into the file's decoded text. Files are decoded as UTF-8
without any newline translation (CRLF and a BOM stay as characters), so encoding the spliced
text again reproduces every byte outside the edits exactly.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Callable, Iterable


class Severity(enum.IntEnum):
    """How bad the problem is. Ordered, so `fail-on` can compare."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected info, warning or error)") from None


class Applicability(enum.Enum):
    """How far a fix can be trusted; decided by the reference module, not by taste."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    DISPLAY_ONLY = "display-only"


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span {self.start}..{self.end}")

    def overlaps(self, other: "Span") -> bool:
        # Two insertions at the same point conflict too: their order would be arbitrary.
        if self.start == self.end == other.start == other.end:
            return True
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Edit:
    span: Span
    content: str


def removal_runs(indices: Iterable[int], count: int) -> list[tuple[int, int]] | None:
    """(first, last) of each run of consecutive entries to remove from a collection of `count`,
    in order; None when there is nothing to remove, an index is out of range, or every entry
    would go (a collection is never emptied). Each format removes a run as one entry spanning
    it, so neighbours go together with the separators between them."""
    gone = sorted(set(indices))
    if not gone or gone[0] < 0 or gone[-1] >= count or len(gone) >= count:
        return None
    runs: list[tuple[int, int]] = []
    for i in gone:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def disjoint_edits(edits: list[Edit]) -> tuple[Edit, ...] | None:
    """The edits in text order, or None when two of them touch the same text."""
    ordered = sorted(edits, key=lambda e: (e.span.start, e.span.end))
    for before, after in zip(ordered, ordered[1:]):
        if after.span.start < before.span.end or after.span.start == after.span.end == before.span.end:
            return None
    return tuple(ordered)


@dataclass(frozen=True, slots=True)
class ExpressionRewrite:
    """What a PromQL fix does to its whole expression, for `verify` to prove on a real engine."""

    kind: str  # "term elimination" | "regex alternation" | "rename"
    original: str  # the expression (decoded), as in the file
    rewritten: str
    verdict: Applicability  # the lint's verdict on the rewrite itself (before editability)
    reason: str
    grafana_query: bool = False
    # Renames: (old name, new name) as written; verify gives the new names the old ones' data.
    renames: tuple[tuple[str, str], ...] = ()


def _cannot_combine(indices: tuple[int, ...]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class JointRemoval:
    """An element removal that may go together with the other removals chosen in the same
    collection: the fix loop gathers them and asks `combine` for edits that remove all their
    elements at once (a list of thousands of stale names is cleaned in one pass, not one entry
    per pass). `combine` comes from the format and returns None when it cannot."""

    collection: tuple[int, int]  # the collection's span: removals in one collection share it
    index: int  # this element's position
    size: int  # how many elements the collection has: never all of them at once
    # Not compared: the same removal in a parallel worker's result equals the one made here.
    combine: Callable[[tuple[int, ...]], tuple[Edit, ...] | None] = field(compare=False)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Results cross process boundaries (parallel runs); the format's function stays behind.
        return (JointRemoval, (self.collection, self.index, self.size, _cannot_combine))


@dataclass(frozen=True, slots=True)
class Fix:
    applicability: Applicability
    message: str
    edits: tuple[Edit, ...] = ()
    # Fixes whose scopes overlap are applied in separate passes even when their edits are
    # disjoint: two term eliminations in one expression are each valid alone, not together.
    scope: Span | None = None
    rewrite: ExpressionRewrite | None = None
    joint: JointRemoval | None = None

    def applies_at(self, unsafe: bool) -> bool:
        if not self.edits:
            return False
        if self.applicability is Applicability.SAFE:
            return True
        return unsafe and self.applicability is Applicability.UNSAFE


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    path: str
    span: Span
    severity: Severity
    fix: Fix | None = None
    locator: str = ""
    # The text the finding is about; part of the baseline key so baselines survive line shifts.
    matched: str = ""
    # (dashboard uid, panel id, target refId) for findings inside a Grafana dashboard: JSON has
    # no comments, so `exclusions` in the configuration waive findings by this identity.
    dashboard_target: tuple[str | None, int | None, str | None] | None = None
    # Inside a query Prometheus answers (a rule's `expr`, a dashboard target, a PromQL string):
    # a series a compatibility recording rule of the run keeps alive answers it (`shims`).
    in_query: bool = False


# A recorded series that dies, with what kills it: (series, names it is computed from that have
# no data at the target).
DeadSeries = frozenset[tuple[str, frozenset[str]]]


class LineIndex:
    """Maps offsets to 1-based (row, column) pairs; columns count characters.

    Lines end at `\n` (a `\r` before it belongs to the break). A file with CR-only line
    endings (classic Mac OS: `\r` and no `\n` anywhere) has its lines end at `\r`, as its
    editors show them.
    """

    def __init__(self, text: str) -> None:
        brk = "\n" if "\n" in text or "\r" not in text else "\r"
        # Each line's start is the running sum of the lengths before it; splitting and summing
        # in C is twice as fast as a find loop, and every linted file builds this twice.
        starts = list(accumulate([len(line) + 1 for line in text.split(brk)], initial=0))
        starts.pop()
        self._starts = starts
        self._text = text

    @property
    def text(self) -> str:
        return self._text

    def position(self, offset: int) -> tuple[int, int]:
        row = bisect.bisect_right(self._starts, offset) - 1
        return row + 1, offset - self._starts[row] + 1

    def line_bounds(self, row: int) -> tuple[int, int]:
        """Offsets of the line's first character and of its end (before the line break)."""
        start = self._starts[row - 1]
        end = self._starts[row] - 1 if row < len(self._starts) else len(self._text)
        if end > start and self._text[end - 1] == "\r":
            end -= 1
        return start, end

    def line_text(self, row: int) -> str:
        start, end = self.line_bounds(row)
        return self._text[start:end]

    def line_start(self, row: int) -> int:
        return self._starts[row - 1]

    @property
    def line_count(self) -> int:
        return len(self._starts)


@dataclass(slots=True)
class FileResult:
    """What the engine did with one file."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    original: str | None = None
    fixed: str | None = None  # None when nothing changed
    fixed_findings: list[Finding] = field(default_factory=list)
    note: str | None = None  # e.g. "skipped: binary file"
    # How the file's bytes are text: UTF-8, or the encoding a Python file declares (PEP 263).
    encoding: str = "utf-8"
    # Series this file records from the removed metric (VMM003); they die with it. Each with
    # the names, as written, that kill it (a compatibility rule of the run may revive them).
    dead_series: "DeadSeries" = frozenset()
    # Compatibility recording rules (`shims.ShimRule`): old names this file records again.
    shims: tuple[Any, ...] = ()
    # What the cross-file pass reuses of the lint of the final text (`engine.cross_file_view`
    # and the suppressions read from it), so a file is not parsed again for the dead series.
    view: Any = None
    suppressions: Any = None

    @property
    def fixed_count(self) -> int:
        return len(self.fixed_findings)

    @property
    def changed(self) -> bool:
        return self.fixed is not None and self.fixed != self.original
