"""What every JSON walker shares: making sites of strings, the needle fallback for strings outside
the places known to hold PromQL, containers (array elements, object keys), and the composition
of sites found in a JSON document embedded in a string of another file.

Walkers read the document's values (what `json.loads` gives: dicts, lists, str, ...) and name
the values they make sites of by path; only those are located in the text (`JsonIndex`). The
needle fallback goes the other way: from each place a needle occurs in the text to the string
token holding it.

Nothing here knows a rule or a metric: which strings matter outside the known places is decided
by the needles the enabled rules pass in `SiteNeeds`.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
from typing import Any, Callable, Iterator, Sequence

from migrator.formats.base import Container, RulePlace, Site, SiteContext, SiteKind, SiteNeeds, guess_kind
from migrator.formats.json_index import JsonIndex, Loc, MemberKey, StringHit, json_pointer, removal_spans
from migrator.formats.json_strings import JsonStyle, decode_token
from migrator.model import Edit, Span

Encoder = Callable[[str], str]
Path = Sequence[Any]

# What each JSON short escape stands for, to find escapes that could hide a needle's character.
_SHORT_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}


def hiding_escapes(needles: tuple[str, ...]) -> re.Pattern[str] | None:
    """A pattern for the escapes that decode to a character of some needle (`\\u0076` for the
    `v` of `vllm`, `\\/` for a `/`). A string whose raw text has none of them mentions a needle
    exactly when its raw text does, so only the rare string with such an escape is decoded."""
    chars = set("".join(needles))
    if not chars:
        return None
    alternatives = []
    for ch in sorted(chars):
        short = _SHORT_ESCAPES.get(ch)
        if short is not None:
            alternatives.append(re.escape(short))
        code = ord(ch)
        if code > 0xFFFF:  # written as a surrogate pair: its high half is enough to look closer
            code = 0xD800 + ((code - 0x10000) >> 10)
        alternatives.append(f"u(?i:{code:04x})")
    return re.compile(r"\\(?:" + "|".join(alternatives) + ")")


def needle_inside_escape(needles: tuple[str, ...]) -> re.Pattern[str] | None:
    """A pattern for the places where a needle's raw text starts inside an escape (`\\recomput`
    is a carriage return and `ecomput`): the only way raw text can hold a needle its decoded
    value does not, when no needle holds a backslash. None when there is no needle."""
    if not needles:
        return None
    return re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?(?=" + "|".join(map(re.escape, needles)) + ")")


# Keys whose values are identifiers or prose in every JSON schema this tool reads (Grafana,
# Perses, Cloud Monitoring, Kubernetes): a string there is never PromQL, even when it parses as
# PromQL (`"uid": "vllm-main"` reads as a subtraction).
_NOT_PROMQL_KEYS = frozenset(
    {"uid", "name", "title", "description", "displayName", "url", "type", "pluginId", "datasourceUid",
     "folderUid", "slug", "tags", "namespace", "id", "refId", "legendFormat"}
)

# What `base.guess_kind` calls a metric name.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:.]*")


def _datasource_reference(path: Path) -> bool:
    """A Grafana datasource reference (`"datasource": "vllm-prom"`, `"datasource": {"uid":
    "vllm-prom"}`, `"datasourceUid"`): it names a datasource, never a metric."""
    last = path[-1] if path else None
    return last in ("datasource", "datasourceUid") or (len(path) > 1 and path[-2] == "datasource")


def one_line(value: str | None) -> str:
    return " ".join((value or "").split())


class SiteBuilder:
    """Sites of one JSON text. Walkers (Grafana, Cloud Monitoring, rules) subclass it."""

    def __init__(self, text: str, root: Any, index: JsonIndex, style: JsonStyle, needs: SiteNeeds) -> None:
        self.text = text
        self.root = root  # the document's value
        self.index = index
        self.style = style
        self.needs = needs
        self.needles = needs.needles
        self.hiding = hiding_escapes(needs.needles)
        self.inside_escape = needle_inside_escape(needs.needles)
        self.sites: list[Site] = []
        # Start -> end of string tokens already made into sites (or deliberately consumed), so
        # the needle fallback does not make a second site of them.
        self.sited: dict[int, int] = {}
        self.dashboards: list[tuple[str | None, str | None]] = []
        self.rules: list[RulePlace] = []  # in file order
        # Decoded element values per collection (keyed by its start), shared by its elements.
        self._values: dict[int, tuple[str | None, ...]] = {}
        self._removals: dict[int, Any] = {}  # collection start -> its Container.removal_of
        # String tokens (start -> end) whose raw text holds a needle although their decoded
        # value does not (an escape swallowed part of it, as in `\recomputed`); see `mentions`.
        self._raw_only: dict[int, int] | None = None

    # ------------------------------------------------------------------ small readers

    @staticmethod
    def s(value: Any) -> str | None:
        return value if type(value) is str else None

    @staticmethod
    def scalar(value: Any) -> Any:
        """A number, string, boolean or null; None for an object or array."""
        return None if type(value) is dict or type(value) is list else value

    @staticmethod
    def obj(value: Any) -> dict[str, Any] | None:
        return value if type(value) is dict else None

    @staticmethod
    def arr(value: Any) -> list[Any] | None:
        return value if type(value) is list else None

    @staticmethod
    def at(value: Any, *keys: str) -> Any:
        """`value[k1][k2]...` through objects; None as soon as a step is missing."""
        for key in keys:
            if type(value) is not dict:
                return None
            value = value.get(key)
        return value

    def members(self, value: dict[str, Any], path: Path) -> Iterator[tuple[str, Any]]:
        """An object's members in file order, duplicated keys included (an earlier duplicate
        gets a `MemberKey` and its value decoded from the text), as the old walkers saw them."""
        m = self.index.members(self.index.locate(path))
        if not m.duplicates:
            yield from value.items()
            return
        for i in range(len(m.names)):
            key = m.occurrence(i)
            yield key, (value[key] if type(key) is str else self._decode(m.values[i]))

    def _decode(self, loc: Loc) -> Any:
        from migrator.formats.json_scan import parse, to_value

        raw = self.text[loc.start : loc.end]
        try:
            return json.loads(raw)
        except RecursionError:
            return to_value(raw, parse(raw))

    # ------------------------------------------------------------------ sites

    def locate(self, path: Path) -> Loc:
        return self.index.locate(path)

    def mentions(self, value: str, path: Path) -> bool:
        """Whether a string mentions a needle: in its raw text, or in its decoded value (where
        an escape may stand for a needle's character). A decoded value that mentions one always
        counts (its raw text holds the needle or an escape hiding part of it); the raw text
        alone matters only for the rare string where an escape swallowed part of a needle."""
        for needle in self.needles:
            if needle in value:
                return True
        raw_only = self._raw_only_strings()
        return bool(raw_only) and self.locate(path).start in raw_only

    def might_mention(self, value: str) -> bool:
        """False when `mentions` is False whatever the path (the common case, without a path)."""
        for needle in self.needles:
            if needle in value:
                return True
        return bool(self._raw_only_strings())

    def _raw_only_strings(self) -> dict[int, int]:
        """String tokens (start -> end) whose raw text holds a needle their value does not."""
        if self._raw_only is not None:
            return self._raw_only
        text, string_at = self.text, self.index.string_at
        found: set[tuple[int, int]] = set()
        if any("\\" in n for n in self.needles):  # a needle can span an escape: look at every one
            for needle in self.needles:
                i = text.find(needle)
                while i != -1:
                    hit = string_at(i)
                    if hit is not None:
                        found.add(hit[:2])
                    i = text.find(needle, i + 1)
        elif self.inside_escape is not None:
            found = {hit[:2] for m in self.inside_escape.finditer(text) if (hit := string_at(m.start())) is not None}
        self._raw_only = {
            start: end for start, end in found if not self.needs.mentions(json.loads(text[start:end]))
        }
        return self._raw_only

    def add(
        self,
        path: Path | Loc,
        kind: SiteKind,
        locator: str,
        context: SiteContext,
        *,
        editable: bool = True,
        readonly_reason: str = "",
    ) -> Site:
        loc = path if type(path) is Loc else self.locate(path)  # type: ignore[arg-type]
        value, offsets = decode_token(self.text, loc.start, loc.end)
        site = self._site(loc.start, loc.end, value, offsets, kind, locator, context)
        site.editable = editable
        site.readonly_reason = readonly_reason
        self.sites.append(site)
        self.sited[loc.start] = loc.end
        return site

    def _site(
        self, start: int, end: int, value: str, offsets: list[int] | None, kind: SiteKind, locator: str, context: SiteContext
    ) -> Site:
        return Site(
            value=value,
            kind=kind,
            locator=locator,
            base=start + 1,
            offsets=offsets,
            encode=self.style.for_string(self.text, start, end).encode,
            context=context,
        )

    def not_prometheus(self, value: str, path: Path, locator: str, context: SiteContext) -> None:
        """A query for another datasource: never PromQL; a read-only text site when it mentions
        a needle (a rule may still want to say the name is there)."""
        if self.mentions(value, path):
            context.not_prometheus = True
            self.add(
                path,
                SiteKind.TEXT,
                locator,
                context,
                editable=False,
                readonly_reason="the query is for a datasource that is not Prometheus",
            )

    # ------------------------------------------------------------------ containers

    def container(self, parent: Loc, index: int, pointer: str) -> Container:
        """The collection a string is an element (or key) of, as `base.Container` says."""
        idx = self.index
        values = self._values.get(parent.start)
        if idx.kind(parent.tok) == "[":
            items = idx.elements(parent)
            if values is None:
                text = self.text
                values = self._values[parent.start] = tuple(
                    json.loads(text[i.start : i.end]) if text[i.start] == '"' else None for i in items
                )
            removal = None
            if len(items) > 1:
                start, end = idx.element_removal_span(parent, index)
                removal = (Edit(Span(start, end), ""),)
            kind = "array"
        else:
            if values is None:
                values = self._values[parent.start] = tuple(idx.members(parent).names)
            span = idx.member_removal_span(parent, index)
            removal = None if span is None else (Edit(Span(*span), ""),)
            kind = "mapping-key"
        return Container(
            kind=kind,
            index=index,
            values=values,
            removal=removal,
            span=Span(parent.start, parent.end),
            owner=pointer or None,
            removal_of=self._removal_of(parent, kind == "array"),
        )

    def _removal_of(self, parent: Loc, array: bool):  # type: ignore[no-untyped-def]
        """`Container.removal_of` for the array or object at `parent` (one per collection)."""
        remove = self._removals.get(parent.start)
        if remove is None:
            # The closure outlives the parse (in sites and findings): it keeps its collection's
            # item bounds, never the index, which would keep a whole dashboard's token tables
            # and lookup caches alive through a fix's later passes.
            starts, ends = self.index.elements_bounds(parent) if array else self.index.members_bounds(parent)

            def remove(indices: tuple[int, ...]) -> tuple[Edit, ...] | None:
                spans = removal_spans(starts, ends, indices)
                return None if spans is None else tuple(Edit(Span(s, e), "") for s, e in spans)

            self._removals[parent.start] = remove
        return remove

    # ------------------------------------------------------------------ everything else

    def needle_fallback(self) -> None:
        """Strings outside the known places whose text mentions a needle become sites."""
        text, index, sited = self.text, self.index, self.sited
        starts = sorted(sited)
        for needle in self.needles:
            i = text.find(needle)
            while i != -1:
                # Inside a string already made a site? Skip past it without looking it up.
                k = bisect.bisect_right(starts, i) - 1
                if k >= 0 and i < sited[starts[k]]:
                    i = text.find(needle, sited[starts[k]])
                    continue
                found = index.string_at(i)
                if found is None:
                    i = text.find(needle, i + 1)
                    continue
                if found[0] not in sited:
                    hit = index.find_string(i)
                    if hit is not None and not _datasource_reference(hit.path):
                        self.generic_site(hit)
                i = text.find(needle, found[1])
        if self.hiding is None:
            return
        # Needles hidden behind escapes: rare, so each escape is looked at on its own.
        for m in self.hiding.finditer(text):
            found = index.string_at(m.start())
            if found is None or found[0] in sited:
                continue
            hit = index.find_string(m.start())
            if hit is None or _datasource_reference(hit.path):
                continue
            if self.needs.mentions(json.loads(text[hit.start : hit.end])):
                self.generic_site(hit)

    def generic_site(self, hit: StringHit) -> None:
        parent, path = hit.parent, hit.path
        pointer = json_pointer(path)
        context = SiteContext(json_path=pointer)
        holder = None  # the key holding the string (or the array it is an element of)
        if hit.is_key:
            context.container = self.container(parent, hit.index, json_pointer(path[:-1]))  # type: ignore[arg-type]
        elif parent is not None and self.index.kind(parent.tok) == "[":
            context.container = self.container(parent, hit.index, json_pointer(path[:-1]))
            holder = path[-2] if len(path) > 1 and isinstance(path[-2], str) else None
        elif parent is not None:
            context.field = holder = self.index.members(parent).names[hit.index]
        value, offsets = decode_token(self.text, hit.start, hit.end)
        if holder in _NOT_PROMQL_KEYS:
            kind = SiteKind.NAME if _METRIC_NAME.fullmatch(value.strip()) else SiteKind.TEXT
        else:
            kind = guess_kind(value)
        locator = pointer + " (key)" if hit.is_key else pointer
        ignored = [p for p in path if type(p) is MemberKey]
        twin = None
        if ignored:
            # An earlier duplicate key: read like the member that replaces it, never edited.
            context.ignored_duplicate = str(ignored[-1])
            twin = self._kept_twin(path)
            if twin is not None and not hit.is_key:
                kind, locator = twin.kind, twin.locator
                if twin.context.grafana is not None:
                    context.grafana = dataclasses.replace(
                        twin.context.grafana, target_removal=None, removal_blocked=None, sibling_exprs=()
                    )
        site = self._site(hit.start, hit.end, value, offsets, kind, locator, context)
        if ignored:
            site.editable = False
            site.readonly_reason = f"a later `{ignored[-1]}` key in the same object replaces it (JSON parsers and Grafana read the last)"
        self.sites.append(site)
        self.sited[hit.start] = hit.end

    def _kept_twin(self, path: Path) -> Site | None:
        """The site of the member that replaces an earlier duplicate at `path`, if any."""
        kept = [str(p) if type(p) is MemberKey else p for p in path]
        try:
            start = self.locate(kept).start
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        if start not in self.sited:
            return None
        return next((s for s in self.sites if s.to_file(0) == start + 1), None)


# --------------------------------------------------------------------------- composition


class Composer:
    """Re-expresses sites of a text held in a decoded string of another file in that file:
    offsets through the string's offset map, encoders chained (the inner document's escaping,
    then the outer string's), and every edit and span in the context moved along."""

    def __init__(self, outer_offsets: Sequence[int], outer_encode: Encoder, prefix: str) -> None:
        self.offsets = outer_offsets
        self.encode = outer_encode
        self.prefix = prefix

    def span(self, span: Span | None) -> Span | None:
        if span is None:
            return None
        return Span(self.offsets[span.start], self.offsets[span.end])

    def edits(self, edits: tuple[Edit, ...] | None) -> tuple[Edit, ...] | None:
        if edits is None:
            return None
        return tuple(Edit(self.span(e.span), self.encode(e.content)) for e in edits)  # type: ignore[arg-type]

    def removal_of(self, inner: Any) -> Any:
        """`Container.removal_of` with its edits moved into the outer file."""
        if inner is None:
            return None

        def outer(indices: tuple[int, ...]) -> tuple[Edit, ...] | None:
            return self.edits(inner(indices))

        return outer

    def context(self, context: SiteContext) -> SiteContext:
        changes: dict[str, Any] = {
            "embedded_in": self.prefix + context.embedded_in if context.embedded_in else self.prefix.rstrip()
        }
        if context.container is not None:
            c = context.container
            changes["container"] = dataclasses.replace(
                c, removal=self.edits(c.removal), span=self.span(c.span), removal_of=self.removal_of(c.removal_of)
            )
        if context.grafana is not None and context.grafana.target_removal is not None:
            g = context.grafana
            changes["grafana"] = dataclasses.replace(g, target_removal=self.edits(g.target_removal))
        return dataclasses.replace(context, **changes)

    def site(self, site: Site) -> Site:
        inner_encode, outer_encode, offsets = site.encode, self.encode, self.offsets
        inner = site.offsets if site.offsets is not None else range(site.base, site.base + len(site.value) + 1)
        return Site(
            value=site.value,
            kind=site.kind,
            locator=self.prefix + site.locator,
            offsets=[offsets[o] for o in inner],
            editable=site.editable,
            encode=lambda s: outer_encode(inner_encode(s)),
            readonly_reason=site.readonly_reason,
            protected=site.protected,
            context=self.context(site.context),
        )


__all__ = ["Composer", "Encoder", "MemberKey", "SiteBuilder", "hiding_escapes", "one_line"]
