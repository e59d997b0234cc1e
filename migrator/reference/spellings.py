"""Finding catalogue names in text, in every spelling exporters and users give them.

A vLLM metric appears as `vllm:<stem>` (prometheus_client), `vllm_<stem>` (Ray's wrappers from
0.11, underscore-only systems), `ray_vllm:`/`ray_vllm_` (Ray's exporter), `vllm.<stem>`
(OpenTelemetry), any of those behind a prefix the user configures (`metric-prefixes`), and
with Datadog's `.count`. The stem carries the exposition suffix (`_total`, `_bucket`, ...).
Every spelling contains `vllm`, so scanning starts from that anchor and checks what follows:
`str.find` is memchr-fast, and the few hits are checked by hand.

Boundaries decide what is a whole name: `vllm:request_time_per_output_token_seconds` is a
different metric from `vllm:time_per_output_token_seconds`, and a recording rule such as
`vllm:gpu_cache_usage_perc:avg5m` is not the metric itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

from migrator.reference.catalogue import Series, Status, Target, catalogue

ANCHOR = "vllm"
_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")
_RUN = re.compile(r"[A-Za-z0-9_]+")
_EXTRA_PREFIX = re.compile(r"[A-Za-z0-9_:.\-/]+")
_SEPARATORS = ":_."


@dataclass(frozen=True, slots=True)
class NameHit:
    """One catalogue name found in a text."""

    start: int  # the whole token: prefix, stem, Datadog suffix
    end: int
    prefix: str  # as written, e.g. "ray_vllm_"
    stem: str  # after the prefix, with its exposition suffix (`_bucket`, `_total`, ...)
    datadog: str  # ".count" or ""
    candidates: tuple[Series, ...]

    @property
    def text(self) -> str:
        return self.prefix + self.stem + self.datadog

    @property
    def stem_start(self) -> int:
        return self.start + len(self.prefix)

    @property
    def canonical(self) -> str:
        return catalogue().canonical_prefix + self.stem

    def respelled(self, series: Series) -> str:
        """`series` written the way this hit was written (same prefix form and Datadog suffix)."""
        return self.prefix + series.name.split(":", 1)[1] + self.datadog


def normalise_prefixes(extra_prefixes: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(extra_prefixes, str):
        extra_prefixes = (extra_prefixes,)
    for p in extra_prefixes:
        if not isinstance(p, str) or not _EXTRA_PREFIX.fullmatch(p):
            raise ValueError(f"invalid extra metric prefix {p!r}")
    return tuple(sorted(set(extra_prefixes)))


@lru_cache(maxsize=64)
def _prefixes_by_separator(extras: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Every full prefix ending in `vllm<sep>`, longest first, keyed by the separator."""
    cat = catalogue()
    base = [p for p in cat.all_prefixes if p.endswith(tuple(ANCHOR + s for s in _SEPARATORS))]
    full = set(base) | {e + p for e in extras for p in base}
    table: dict[str, tuple[str, ...]] = {}
    for sep in _SEPARATORS:
        table[sep] = tuple(sorted((p for p in full if p.endswith(ANCHOR + sep)), key=len, reverse=True))
    return table


def _left_boundary(text: str, start: int, dotted: bool) -> bool:
    if start == 0:
        return True
    before = text[start - 1]
    if not _NAME_CHAR.match(before) and before != ":":
        return True
    if before == ":":
        # Datadog glues the aggregation on with a colon: `sum:vllm.x.count`.
        return dotted
    # JSON escapes in raw text (`\n`, `\u003e` from Go's HTML-safe encoder) end in a name
    # character but are boundaries.
    if start >= 2 and text[start - 2] == "\\" and before in "nrtbf":
        return True
    return start >= 6 and text[start - 6] == "\\" and text[start - 5] == "u" and all(
        c in "0123456789abcdefABCDEF" for c in text[start - 4 : start]
    )


def _right_boundary(text: str, end: int) -> tuple[bool, str]:
    """(is a boundary, Datadog suffix that belongs to the token)."""
    if end >= len(text):
        return True, ""
    after = text[end]
    nxt = text[end + 1 : end + 2]
    if after == ":" and nxt and (_NAME_CHAR.match(nxt) or nxt == ":"):
        return False, ""  # a longer name: a recording rule `vllm:x:rate5m`
    if after == "." and nxt and _NAME_CHAR.match(nxt):
        for suffix in catalogue().datadog_suffixes:
            stop = end + len(suffix)
            if text.startswith(suffix, end) and (stop >= len(text) or not _NAME_CHAR.match(text[stop])):
                return True, suffix
        return False, ""
    return True, ""


def find_names(text: str, extra_prefixes: Iterable[str] | str = ()) -> Iterator[NameHit]:
    """Every whole catalogue name in `text`, in document order."""
    extras = normalise_prefixes(extra_prefixes)
    by_sep = _prefixes_by_separator(extras)
    cat = catalogue()
    find = text.find
    i = find(ANCHOR)
    while i != -1:
        sep = text[i + 4 : i + 5]
        nxt = i + 1
        if sep and sep in _SEPARATORS:
            run = _RUN.match(text, i + 5)
            if run is not None:
                stem = run.group()
                candidates = cat.lookup(stem)
                if candidates:
                    anchor_end = i + 5
                    prefix = next((p for p in by_sep[sep] if text.startswith(p, anchor_end - len(p))), "")
                    start = anchor_end - len(prefix)
                    if prefix and _left_boundary(text, start, sep == "."):
                        ok, datadog = _right_boundary(text, run.end())
                        if ok:
                            yield NameHit(start, run.end() + len(datadog), prefix, stem, datadog, candidates)
                            nxt = run.end()
        i = find(ANCHOR, nxt)


def classify(name: str, extra_prefixes: Iterable[str] | str = ()) -> NameHit | None:
    """The hit when the whole of `name` is one catalogue name, else None."""
    for hit in find_names(name, extra_prefixes):
        return hit if hit.start == 0 and hit.end == len(name) else None
    return None


def split_prefix(name: str, extra_prefixes: Iterable[str] | str = ()) -> tuple[str, str] | None:
    """(prefix, stem) for any name written with a vLLM prefix form, known or not (`vllm:foo`)."""
    extras = normalise_prefixes(extra_prefixes)
    for sep, prefixes in _prefixes_by_separator(extras).items():
        for prefix in prefixes:
            if name.startswith(prefix) and _RUN.fullmatch(name, len(prefix)):
                return prefix, name[len(prefix):]
    return None


def find_bare(text: str, stem: str) -> Iterator[tuple[int, int, str]]:
    """`stem` without any vLLM prefix as a whole token (with `_total`/`_created`/`.count`)."""
    pattern = _bare_re(stem)
    i = text.find(stem)
    while i != -1:
        m = pattern.match(text, i)
        if m is not None and _bare_left(text, i):
            yield m.start(), m.end(), m.group()
            i = text.find(stem, m.end())
        else:
            i = text.find(stem, i + 1)


@lru_cache(maxsize=8)
def _bare_re(stem: str) -> re.Pattern[str]:
    suffixes = "|".join(re.escape(s) for s in ("_total", "_created", *catalogue().datadog_suffixes))
    return re.compile(rf"{re.escape(stem)}(?:{suffixes})?(?![A-Za-z0-9_]|:[A-Za-z0-9_:])")


def _bare_left(text: str, start: int) -> bool:
    if start == 0:
        return True
    before = text[start - 1]
    if before == ".":
        # Attribute access `x.<stem>`, but not OpenTelemetry's `vllm.` prefix.
        return not text.endswith(ANCHOR, 0, start - 1)
    if before == ":":
        # Datadog's `sum:<stem>.count`, not the canonical `vllm:<stem>`.
        return start >= 2 and text[start - 2].isalpha() and not text.endswith(ANCHOR, 0, start - 1)
    return _left_boundary(text, start, False) and not _NAME_CHAR.match(before)


@lru_cache(maxsize=1024)
def regex_matches(pattern: str, extra_prefixes: tuple[str, ...] = ()) -> tuple[NameHit, ...]:
    """The catalogue names a PromQL `__name__=~` regex selects (Prometheus anchors it fully),
    in every prefix form. Python `re` stands in for RE2 on the syntax both accept; a pattern
    it cannot compile selects nothing."""
    try:
        compiled = re.compile(pattern)
    except (re.error, TypeError, RecursionError, OverflowError):
        return ()
    cat = catalogue()
    by_sep = _prefixes_by_separator(normalise_prefixes(extra_prefixes))
    prefixes = [p for sep in (":", "_") for p in by_sep[sep]]
    found: list[NameHit] = []
    for stem, candidates in cat.by_stem.items():
        for prefix in prefixes:
            name = prefix + stem
            if compiled.fullmatch(name):
                found.append(NameHit(0, len(name), prefix, stem, "", candidates))
    return tuple(found)


_BYTES_RUN = re.compile(rb"[A-Za-z0-9_]+")


@lru_cache(maxsize=16)
def _stems_at(target: Target) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """(every catalogue stem, the stems that are nothing to report at `target`: exposed, current,
    no change of meaning). A file naming only the latter cannot hold a catalogue finding."""
    cat = catalogue()
    every: set[bytes] = set()
    quiet: set[bytes] = set()
    for stem, candidates in cat.by_stem.items():
        every.add(stem.encode())
        status = cat.status_of(candidates, target)
        if status is not None and status.status is Status.CURRENT and not status.meaning and not status.series.family:
            quiet.add(stem.encode())
    return frozenset(every), frozenset(quiet)


def bytes_mention(data: bytes, target: Target | None = None) -> bool:
    """The prefilter's test on raw bytes: a `vllm:` name that is not a current, unchanged
    series at `target` (unknown names too: the unknown-name rules want those), or `vllm_`/`vllm.`
    followed by such a catalogue stem. `import vllm.engine`, `vllm_config`,
    `vllm/vllm-openai:latest` and `vllm:num_requests_running` do not count."""
    anchor = ANCHOR.encode()
    every, quiet = _stems_at(target or catalogue().target())
    find = data.find
    i = find(anchor)
    while i != -1:
        sep = data[i + 4 : i + 5]
        if sep == b":" or sep == b"_":
            run = _BYTES_RUN.match(data, i + 5)
            if run is None:
                # `vllm:(gpu|time)_.*`: a name regex whose stem starts with a group or a class
                # selects catalogue names no plain run spells; the parser decides.
                if data[i + 5 : i + 6] in _REGEX_STARTS:
                    return True
            elif _regex_follows(data, run.end()):
                return True  # `vllm:num_requests_.*`, `vllm:gpu_(cache|prefix)`: widened by a regex
            elif sep == b":" and run.group() not in quiet:
                return True
            elif sep == b"_" and run.group() in every and run.group() not in quiet:
                return True
        elif sep == b".":
            run = _BYTES_RUN.match(data, i + 5)
            if run is not None and run.group() in every and run.group() not in quiet:
                return True
        i = find(anchor, i + 4)
    return False


# What may open a name regex right after the prefix (`vllm:(gpu|time)_.*`, `vllm:[a-z]+`,
# `vllm:.*`), and what may widen one right after a run of name characters. Not `{` nor `[`
# there: they start a selector's matchers and a range (`vllm:x{…}`, `rate(vllm:x[5m])`).
_REGEX_STARTS = frozenset({b"(", b"[", b".", b"\\"})


def _regex_follows(data: bytes, end: int) -> bool:
    nxt = data[end : end + 2]
    return nxt[:1] in (b"*", b"+", b"?", b"(", b"|", b"\\") or nxt in (b".*", b".+", b".?")
