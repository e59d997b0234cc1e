"""What every JSON walker shares: making sites of string tokens, the needle fallback for strings
outside the places known to hold PromQL, containers (array elements, object keys), and the
composition of sites found in a JSON document embedded in a string of another file.

Nothing here knows a rule or a metric: which strings matter outside the known places is decided
by the needles the enabled rules pass in `SiteNeeds`.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from typing import Any, Callable

from migrator.formats.base import Container, RulePlace, Site, SiteContext, SiteKind, SiteNeeds, guess_kind
from migrator.formats.json_scan import (
    JArray,
    JObject,
    JScalar,
    JsonStyle,
    JString,
    Node,
    StringHit,
    decode_string,
    element_removal_span,
    find_string_at,
    json_pointer,
    member_removal_span,
    string_value,
    to_python,
)
from migrator.model import Edit, Span

Encoder = Callable[[str], str]

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


# Keys whose values are identifiers or prose in every JSON schema this tool reads (Grafana,
# Perses, Cloud Monitoring, Kubernetes): a string there is never PromQL, even when it parses as
# PromQL (`"uid": "vllm-main"` reads as a subtraction).
_NOT_PROMQL_KEYS = frozenset(
    {"uid", "name", "title", "description", "displayName", "url", "type", "pluginId", "datasourceUid",
     "folderUid", "slug", "tags", "namespace", "id", "refId", "legendFormat"}
)

# What `base.guess_kind` calls a metric name.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:.]*")


def _datasource_reference(path: list[str | int]) -> bool:
    """A Grafana datasource reference (`"datasource": "vllm-prom"`, `"datasource": {"uid":
    "vllm-prom"}`, `"datasourceUid"`): it names a datasource, never a metric."""
    last = path[-1] if path else None
    return last in ("datasource", "datasourceUid") or (len(path) > 1 and path[-2] == "datasource")


def one_line(value: str | None) -> str:
    return " ".join((value or "").split())


class SiteBuilder:
    """Sites of one JSON text. Walkers (Grafana, Cloud Monitoring, rules) subclass it."""

    def __init__(self, text: str, root: Node, style: JsonStyle, needs: SiteNeeds) -> None:
        self.text = text
        self.root = root
        self.style = style
        self.needs = needs
        self.needles = needs.needles
        self.hiding = hiding_escapes(needs.needles)
        self.sites: list[Site] = []
        # Start -> end of string tokens already made into sites (or deliberately consumed), so
        # the needle fallback does not make a second site of them.
        self.sited: dict[int, int] = {}
        self.dashboards: list[tuple[str | None, str | None]] = []
        self.rules: list[RulePlace] = []  # in file order
        # Decoded element values per collection (keyed by its start), shared by its elements.
        self._values: dict[int, tuple[str | None, ...]] = {}

    # ------------------------------------------------------------------ small readers

    def s(self, node: Node | None) -> str | None:
        return string_value(self.text, node) if type(node) is JString else None

    def scalar(self, node: Node | None) -> Any:
        if type(node) is JScalar or type(node) is JString:
            return to_python(self.text, node)
        return None

    @staticmethod
    def obj(node: Node | None) -> JObject | None:
        return node if type(node) is JObject else None  # type: ignore[return-value]

    @staticmethod
    def arr(node: Node | None) -> JArray | None:
        return node if type(node) is JArray else None  # type: ignore[return-value]

    def at(self, node: Node | None, *keys: str) -> Node | None:
        """`node[k1][k2]...` through objects; None as soon as a step is missing."""
        for key in keys:
            if type(node) is not JObject:
                return None
            node = node.get(key)
        return node

    def value(self, node: Node | None) -> Any:
        return None if node is None else to_python(self.text, node)

    # ------------------------------------------------------------------ sites

    def mentions(self, node: Node) -> bool:
        """Whether a string token mentions a needle: in its raw text, or in its decoded value
        when an escape in it stands for a needle's character."""
        text, start, end = self.text, node.start, node.end
        for needle in self.needles:
            if text.find(needle, start, end) != -1:
                return True
        if self.hiding is not None and text.find("\\", start, end) != -1 and self.hiding.search(text, start, end):
            return self.needs.mentions(string_value(text, node))  # type: ignore[arg-type]
        return False

    def consume(self, node: Node) -> None:
        """Mark a string as handled without a site (the fallback must not look at it)."""
        self.sited[node.start] = node.end

    def add(
        self,
        node: JString,
        kind: SiteKind,
        locator: str,
        context: SiteContext,
        *,
        editable: bool = True,
        readonly_reason: str = "",
    ) -> Site:
        value, offsets = decode_string(self.text, node.start, node.end)
        site = Site(
            value=value,
            kind=kind,
            locator=locator,
            offsets=offsets,
            encode=self.style.for_string(self.text, node).encode,
            editable=editable,
            readonly_reason=readonly_reason,
            context=context,
        )
        self.sites.append(site)
        self.sited[node.start] = node.end
        return site

    def not_prometheus(self, node: JString, locator: str, context: SiteContext) -> None:
        """A query for another datasource: never PromQL; a read-only text site when it mentions
        a needle (a rule may still want to say the name is there)."""
        if self.mentions(node):
            context.not_prometheus = True
            self.add(
                node,
                SiteKind.TEXT,
                locator,
                context,
                editable=False,
                readonly_reason="the query is for a datasource that is not Prometheus",
            )
        else:
            self.consume(node)

    # ------------------------------------------------------------------ containers

    def container(self, parent: JArray | JObject, index: int, is_key: bool, pointer: str) -> Container:
        """The collection a string is an element (or key) of, as `base.Container` says."""
        values = self._values.get(parent.start)
        if type(parent) is JArray:
            if values is None:
                s = self.s
                values = self._values[parent.start] = tuple(s(item) for item in parent.items)
            removal = None
            if len(parent.items) > 1:
                start, end = element_removal_span(parent, index)
                removal = (Edit(Span(start, end), ""),)
            kind = "array"
        else:
            if values is None:
                values = self._values[parent.start] = tuple(parent.names)  # type: ignore[union-attr]
            span = member_removal_span(parent, index)  # type: ignore[arg-type]
            removal = None if span is None else (Edit(Span(*span), ""),)
            kind = "mapping-key"
        return Container(
            kind=kind,
            index=index,
            values=values,
            removal=removal,
            span=Span(parent.start, parent.end),
            owner=pointer or None,
        )

    # ------------------------------------------------------------------ everything else

    def needle_fallback(self) -> None:
        """Strings outside the known places whose text mentions a needle become sites."""
        text, root = self.text, self.root
        starts = sorted(self.sited)
        sited = self.sited
        for needle in self.needles:
            i = text.find(needle)
            while i != -1:
                # Inside a string already made a site? Skip past it without walking the tree.
                k = bisect.bisect_right(starts, i) - 1
                if k >= 0 and i < sited[starts[k]]:
                    i = text.find(needle, sited[starts[k]])
                    continue
                hit = find_string_at(text, root, i)
                if hit is None:
                    i = text.find(needle, i + 1)
                    continue
                if hit.node.start not in sited and not _datasource_reference(hit.path):
                    self.generic_site(hit)
                i = text.find(needle, hit.node.end)
        if self.hiding is None:
            return
        # Needles hidden behind escapes: rare, so each escape is looked at on its own.
        for m in self.hiding.finditer(text):
            hit = find_string_at(text, root, m.start())
            if hit is None or hit.node.start in sited or _datasource_reference(hit.path):
                continue
            if self.needs.mentions(string_value(text, hit.node)):
                self.generic_site(hit)

    def generic_site(self, hit: StringHit) -> None:
        node, parent, path = hit.node, hit.parent, hit.path
        pointer = json_pointer(path)
        context = SiteContext(json_path=pointer)
        holder = None  # the key holding the string (or the array it is an element of)
        if hit.is_key:
            context.container = self.container(parent, hit.index, True, json_pointer(path[:-1]))  # type: ignore[arg-type]
        elif type(parent) is JArray:
            context.container = self.container(parent, hit.index, False, json_pointer(path[:-1]))
            holder = path[-2] if len(path) > 1 and isinstance(path[-2], str) else None
        elif type(parent) is JObject:
            context.field = holder = parent.names[hit.index]
        value, offsets = decode_string(self.text, node.start, node.end)
        if holder in _NOT_PROMQL_KEYS:
            kind = SiteKind.NAME if _METRIC_NAME.fullmatch(value.strip()) else SiteKind.TEXT
        else:
            kind = guess_kind(value)
        site = Site(
            value=value,
            kind=kind,
            locator=pointer + " (key)" if hit.is_key else pointer,
            offsets=offsets,
            encode=self.style.for_string(self.text, node).encode,
            context=context,
        )
        self.sites.append(site)
        self.sited[node.start] = node.end


# --------------------------------------------------------------------------- composition


class Composer:
    """Re-expresses sites of a text held in a decoded string of another file in that file:
    offsets through the string's offset map, encoders chained (the inner document's escaping,
    then the outer string's), and every edit and span in the context moved along."""

    def __init__(self, outer_offsets: list[int], outer_encode: Encoder, prefix: str) -> None:
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

    def context(self, context: SiteContext) -> SiteContext:
        changes: dict[str, Any] = {
            "embedded_in": self.prefix + context.embedded_in if context.embedded_in else self.prefix.rstrip()
        }
        if context.container is not None:
            c = context.container
            changes["container"] = dataclasses.replace(c, removal=self.edits(c.removal), span=self.span(c.span))
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
