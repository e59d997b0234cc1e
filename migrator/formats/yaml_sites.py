"""Building YAML sites: verified edits, embedded layers, and template text put back.

A site's `edit()` verifies that the replacement, written in the scalar's style at that position,
parses back to exactly the intended value (through every scalar it is embedded in), and raises
`EncodeError` (a ValueError) when it cannot. Template regions are protected in every site.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from migrator.formats.base import SiteContext, SiteKind, SiteNeeds, Site
from migrator.formats.templates import spans_in_value
from migrator.formats.yaml_compose import Mapping, Scalar
from migrator.formats.yaml_scalars import ScalarMap, map_scalar
from migrator.model import Edit, Span

_STR_TAG = "tag:yaml.org,2002:str"


class EncodeError(ValueError):
    """A replacement cannot be written at this position of this YAML scalar exactly."""


@dataclass(slots=True)
class YamlSite(Site):
    """A Site whose edits are verified: `edit()` raises EncodeError rather than produce an edit
    that would not parse back to the intended value (use `can_replace` to ask first)."""

    replacer: Callable[[int, int, str], tuple[int, int, str] | None] | None = None

    def edit(self, start: int, end: int, replacement: str) -> Edit:
        if self.replacer is None:
            return Site.edit(self, start, end, replacement)
        if not self.can_edit(start, end):
            raise EncodeError(self.readonly_reason or "the range is templated or not editable")
        result = self.replacer(start, end, replacement)
        if result is None:
            raise EncodeError(f"{replacement!r} cannot be written exactly at this place of the YAML scalar")
        s, e, content = result
        return Edit(Span(s, e), content)

    def can_replace(self, start: int, end: int, replacement: str) -> bool:
        try:
            self.edit(start, end, replacement)
        except EncodeError:
            return False
        return True


def str_value(node: Any) -> str | None:
    """The string a scalar node holds, or None for a collection. Local tags (`!Sub`, `!vault`,
    ...) wrap strings too. Plain scalars count whatever they resolve to: `5` may be a metric
    label value as much as a number (see `containers.plain_string` for the strict test)."""
    if type(node) is Scalar and (node.tag is None or node.tag == _STR_TAG or node.tag.startswith("!")):
        return node.value
    return None


SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def child_path(path: str, key: str) -> str:
    """The locator of `key` under `path` (`spec.groups`, `data["rules.yaml"]`)."""
    if SIMPLE_KEY.fullmatch(key):
        return f"{path}{key}" if not path or path.endswith(" ") else f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def mapping_keys(node: Mapping) -> dict[str, Any]:
    return {k.value: v for k, v in node.pairs if type(k) is Scalar}


class Layer:
    """A text the walker parses: the file itself, or a string embedded in it (a ConfigMap's rule
    file). Knows how its offsets and edits map onto the file, and where the needles are."""

    __slots__ = ("text", "file_offsets", "outer", "parent", "depth", "_hits", "needs", "protected_text", "prefix")

    def __init__(
        self,
        text: str,
        needs: SiteNeeds,
        *,
        needle_text: str | None = None,
        file_offsets: list[int] | None = None,
        outer: ScalarMap | None = None,
        parent: "Layer | None" = None,
        prefix: str = "",
    ) -> None:
        self.text = text
        self.needs = needs
        self.file_offsets = file_offsets
        self.outer = outer
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.prefix = prefix
        # Needles are found in the source text (for the file itself: before templates were
        # blanked, so `{{ .Values.vllm }}` counts), once per layer, then looked up by range.
        source = text if needle_text is None else needle_text
        hits: list[int] = []
        for needle in needs.needles:
            i = source.find(needle)
            while i != -1:
                hits.append(i)
                i = source.find(needle, i + 1)
        hits.sort()
        self._hits = hits
        # Ranges of this layer's text that are protected because of the layers around it.
        self.protected_text: list[tuple[int, int]] = []
        if outer is not None and parent is not None:
            ranges = list(outer.protected)
            if parent.protected_text:
                ranges.extend(touching(outer.offsets, parent.protected_text))
            self.protected_text = sorted(ranges)

    def mentions(self, node: Scalar) -> bool:
        """Whether the scalar's source text (or, when escapes could hide a needle, its decoded
        value) contains a needle."""
        i = bisect.bisect_left(self._hits, node.start)
        if i < len(self._hits) and self._hits[i] < node.end:
            return True
        return node.style == '"' and self.needs.mentions(node.value)

    def to_file(self, offsets: list[int]) -> list[int]:
        fo = self.file_offsets
        if fo is None:
            return offsets
        return [fo[o] for o in offsets]

    def file_offset(self, offset: int) -> int:
        return offset if self.file_offsets is None else self.file_offsets[offset]

    def replace_text(self, s: int, e: int, content: str) -> tuple[int, int, str] | None:
        """Map an edit of this layer's text onto the file, verifying it in every outer scalar."""
        layer: Layer = self
        result: tuple[int, int, str] | None = (s, e, content)
        while result is not None and layer.outer is not None:
            result = layer.outer.replace(*result)
            assert layer.parent is not None
            layer = layer.parent
        return result

    def encode(self, sm: ScalarMap, r: str) -> str | None:
        out = sm.encode(r)
        layer: Layer = self
        while out is not None and layer.outer is not None:
            out = layer.outer.encode(out)
            assert layer.parent is not None
            layer = layer.parent
        return out


def touching(offsets: list[int], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Decoded indices i whose source span [offsets[i], offsets[i+1]) meets one of `ranges`."""
    found: list[tuple[int, int]] = []
    for a, b in ranges:
        lo = bisect.bisect_right(offsets, a) - 1
        hi = bisect.bisect_left(offsets, b)
        lo = max(lo, 0)
        hi = min(hi, len(offsets) - 1)
        if lo < hi:
            found.append((lo, hi))
    return found


class SiteFactory:
    """Turns scalar nodes into sites: offsets composed onto the file, template text put back
    (the parsed text had it blanked), template ranges protected, edits verified."""

    def __init__(self, text: str, template_regions: list[tuple[int, int]]) -> None:
        self.text = text
        self.regions = template_regions
        self.region_starts = [s for s, _ in template_regions]
        self.sites: list[Site] = []

    def name(self, layer: Layer, node: Any) -> str | None:
        """A short string for locators and context (rule, group, object names), with any
        template text put back (`{{ .Release.Name }}-cache`, not the blanked form)."""
        value = str_value(node)
        if value is None or not self.templated(layer, node):
            return value
        sm = map_scalar(layer.text, node)
        if sm is None:
            return value
        return self._with_templates(sm.value, sm.offsets, [])[0]

    def templated(self, layer: Layer, node: Any) -> bool:
        """Whether the node's text in the file has Helm/Jinja regions (blanked when parsed)."""
        return bool(self.regions) and layer.parent is None and self.touches_templates(node.start, node.end)

    def add(
        self,
        layer: Layer,
        node: Scalar,
        kind: SiteKind,
        locator: str,
        context: SiteContext,
        *,
        flow: bool = False,
        key: bool = False,
        also_protect: Callable[[str], list[tuple[int, int]]] | None = None,
    ) -> Site:
        sm = map_scalar(layer.text, node, flow=flow, key=key)
        if layer.depth and context.embedded_in is None:
            context.embedded_in = layer.prefix.rstrip()
        if sm is None:
            site = self._readonly_site(layer, node, kind, locator, context)
            self.sites.append(site)
            return site
        context.yaml_style = sm.style_name
        value = sm.value
        offsets = layer.to_file(sm.offsets)
        protected = list(sm.protected)
        if layer.protected_text:
            protected.extend(touching(sm.offsets, layer.protected_text))
        post_to_pre: list[int] | None = None
        if self.regions and self.touches_templates(offsets[0], offsets[-1]):
            value, offsets, protected, post_to_pre = self._with_templates(value, offsets, protected)
            context.templated = True
        protected.extend(spans_in_value(value))
        if also_protect is not None:
            protected.extend(also_protect(value))

        def replacer(a: int, b: int, r: str, _sm: ScalarMap = sm, _layer: Layer = layer,
                     _map: list[int] | None = post_to_pre) -> tuple[int, int, str] | None:  # fmt: skip
            if _map is not None:
                a, b = _map[a], _map[b]
            result = _sm.replace(a, b, r)
            return None if result is None else _layer.replace_text(*result)

        def encode(r: str, _sm: ScalarMap = sm, _layer: Layer = layer) -> str:
            out = _layer.encode(_sm, r)
            if out is None:
                raise EncodeError(f"{r!r} cannot be written in this YAML {_sm.style_name} scalar")
            return out

        verbatim = offsets[-1] - offsets[0] == len(value) and offsets == list(range(offsets[0], offsets[-1] + 1))
        site = YamlSite(
            value=value,
            kind=kind,
            locator=locator,
            base=offsets[0],
            offsets=None if verbatim else offsets,
            encode=encode,
            protected=merge(protected),
            context=context,
            replacer=replacer,
        )
        self.sites.append(site)
        return site

    def _readonly_site(
        self, layer: Layer, node: Scalar, kind: SiteKind, locator: str, context: SiteContext
    ) -> YamlSite:
        # The loader's value with approximate positions: reported, never edited.
        n = len(node.value)
        approx = [min(node.start + i, node.end) for i in range(n + 1)]
        return YamlSite(
            value=node.value,
            kind=kind,
            locator=locator,
            offsets=layer.to_file(approx),
            editable=False,
            readonly_reason="the characters of this YAML scalar cannot be mapped to the file exactly",
            context=context,
        )

    def touches_templates(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_right(self.region_starts, hi) - 1
        while i >= 0:
            s, e = self.regions[i]
            if e <= lo:
                return False
            if s <= hi:
                return True
            i -= 1
        return False

    def _with_templates(
        self, value: str, offsets: list[int], protected: list[tuple[int, int]]
    ) -> tuple[str, list[int], list[tuple[int, int]], list[int]]:
        """Put the original template text back where the parsed (blanked) text had blanks.

        Returns the new value, its offsets and protected ranges, and the map from new indices
        to indices of the parsed value (for edits, which are verified on the parsed text).
        """
        text = self.text
        regions = self.regions
        out: list[str] = []
        offs: list[int] = []
        post_to_pre: list[int] = []
        pre_to_post: list[int] = []
        templated: list[tuple[int, int]] = []
        size = 0
        n = len(value)
        i = 0
        while i < n:
            o = offsets[i]
            r = bisect.bisect_right(self.region_starts, o) - 1
            if r >= 0 and o < regions[r][1]:
                rs, re_ = regions[r]
                j = i
                while j < n and rs <= offsets[j] < re_:
                    pre_to_post.append(size)
                    j += 1
                stop = max(o, min(re_, offsets[j]))
                segment = text[o:stop]
                out.append(segment)
                offs.extend(range(o, stop))
                post_to_pre.extend([i] * len(segment))
                templated.append((size, size + len(segment)))
                size += len(segment)
                i = j
                continue
            pre_to_post.append(size)
            out.append(value[i])
            offs.append(o)
            post_to_pre.append(i)
            size += 1
            i += 1
        pre_to_post.append(size)
        offs.append(offsets[n])
        post_to_pre.append(n)
        moved = [(pre_to_post[a], pre_to_post[b]) for a, b in protected]
        return "".join(out), offs, moved + templated, post_to_pre


def merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[0] < r[1]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return tuple(merged)
