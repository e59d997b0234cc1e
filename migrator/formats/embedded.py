"""Known formats embedded in other text: YAML in a Terraform or shell heredoc, YAML/JSON/PromQL
in Markdown fenced blocks. Each region is parsed by its own handler; its sites are composed
onto the outer file (positions, edits, verification), like a dashboard in a ConfigMap.

Only regions that can be mapped exactly are read: a heredoc whose indentation is stripped
(`<<-`) maps line by line, and an edit that would add a line break there is refused.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Iterator

from migrator.formats.base import Container, Document, GrafanaPlace, ParseError, Site, SiteKind, SiteNeeds
from migrator.model import Edit, Span

# `<<-YAML` / `<<EOT` ... `YAML` on a line of its own (Terraform, HCL, shell).
_HEREDOC = re.compile(r"<<(?P<dash>-?)(?P<quote>[\"']?)(?P<tag>[A-Za-z_][A-Za-z0-9_]*)(?P=quote)[ \t]*\r?\n")
# ```yaml ... ``` (or ~~~), as Markdown writes code blocks; indented inside a list item too.
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[A-Za-z0-9_+-]*)[^\n]*\n", re.M)
_FENCE_LANGS = {"yaml": "yaml", "yml": "yaml", "json": "json", "promql": "promql"}
MARKDOWN_READONLY = "a code block in documentation: edit it by hand"


@dataclass(slots=True)
class Region:
    """An embedded document: its text, and the outer offset of each of its characters."""

    fmt: str  # "yaml" | "json" | "promql"
    text: str
    offsets: list[int]  # offsets[i]: outer offset of inner character i; offsets[len(text)]: the end
    dedented: bool  # indentation was stripped: a replacement may not add a line break
    readonly: str = ""  # why its sites cannot be edited ("" = editable)
    locator: str = ""


def regions(path: str, text: str) -> Iterator[Region]:
    lowered = path.lower()
    if lowered.endswith((".md", ".markdown")):
        yield from _fences(text)
    else:
        yield from _heredocs(text)


def _heredocs(text: str) -> Iterator[Region]:
    for m in _HEREDOC.finditer(text):
        tag = m.group("tag")
        body_start = m.end()
        closing = re.compile(rf"^[ \t]*{re.escape(tag)}[ \t]*\r?$", re.M)
        end = closing.search(text, body_start)
        if end is None:
            continue
        body = text[body_start : end.start()]
        lines = body.splitlines(keepends=True)
        strip = 0
        if m.group("dash"):
            indents = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
            strip = min(indents) if indents else 0
        inner: list[str] = []
        offsets: list[int] = []
        pos = body_start
        for line in lines:
            cut = min(strip, len(line) - len(line.lstrip(" \t")))
            for k, ch in enumerate(line[cut:]):
                inner.append(ch)
                offsets.append(pos + cut + k)
            pos += len(line)
        offsets.append(end.start())
        value = "".join(inner)
        line_no = text.count("\n", 0, m.start()) + 1
        yield Region("yaml", value, offsets, strip > 0, locator=f"heredoc {tag} (line {line_no})")


def _fences(text: str) -> Iterator[Region]:
    pos = 0
    while True:
        m = _FENCE.search(text, pos)
        if m is None:
            return
        fence = m.group("fence")
        close = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}[ \t]*\r?$", re.M)
        end = close.search(text, m.end())
        if end is None:
            return
        fmt = _FENCE_LANGS.get(m.group("lang").lower())
        if fmt is not None:
            # CommonMark: each content line loses up to the opening fence's indentation.
            strip = len(m.group("indent"))
            inner: list[str] = []
            offsets: list[int] = []
            line_start = m.end()
            for line in text[m.end() : end.start()].splitlines(keepends=True):
                cut = min(strip, len(line) - len(line.lstrip(" ")))
                inner.append(line[cut:])
                offsets.extend(range(line_start + cut, line_start + len(line)))
                line_start += len(line)
            offsets.append(end.start())
            line_no = text.count("\n", 0, m.start()) + 1
            yield Region(fmt, "".join(inner), offsets, strip > 0, readonly=MARKDOWN_READONLY,
                         locator=f"{fence[:3]}{m.group('lang')} block (line {line_no})")
        pos = end.end()


# --------------------------------------------------------------------------- composition


@dataclass(slots=True)
class EmbeddedSite(Site):
    """A site of an embedded document, seen from the outer file. Edits are made (and verified)
    by the inner site, then mapped; a line break cannot be added where indentation was cut."""

    inner: Site | None = None
    outer_offsets: list[int] = field(default_factory=list)
    dedented: bool = False

    def to_file(self, index: int) -> int:
        assert self.inner is not None
        return self.outer_offsets[self.inner.to_file(index)]

    def can_edit(self, start: int, end: int) -> bool:
        return self.editable and self.inner is not None and self.inner.can_edit(start, end)

    def edit(self, start: int, end: int, replacement: str) -> Edit:
        assert self.inner is not None
        if not self.editable:
            raise ValueError(self.readonly_reason or "not editable")
        return _map_edit(self.inner.edit(start, end, replacement), self.outer_offsets, self.dedented)


def _map_edit(edit: Edit, offsets: list[int], dedented: bool) -> Edit:
    if dedented and ("\n" in edit.content or "\r" in edit.content):
        raise ValueError("the heredoc's indentation is stripped: a replacement cannot add a line break there")
    return Edit(Span(offsets[edit.span.start], offsets[edit.span.end]), edit.content)


def _map_removal_of(inner, region: Region):  # type: ignore[no-untyped-def]
    """`Container.removal_of` with its edits moved into the outer file (None where they cannot be)."""
    if inner is None:
        return None

    def outer(indices: tuple[int, ...]) -> tuple[Edit, ...] | None:
        edits = inner(indices)
        if edits is None:
            return None
        try:
            return tuple(_map_edit(e, region.offsets, region.dedented) for e in edits)
        except ValueError:
            return None

    return outer


def _map_context(site: Site, region: Region):  # type: ignore[no-untyped-def]
    ctx = site.context
    changes = {}
    container = ctx.container
    if container is not None:
        removal = container.removal
        if removal is not None:
            try:
                removal = tuple(_map_edit(e, region.offsets, region.dedented) for e in removal)
            except ValueError:
                removal = None
        span = container.span
        if span is not None:
            span = Span(region.offsets[span.start], region.offsets[span.end])
        changes["container"] = dataclasses.replace(
            container, removal=removal, span=span, removal_of=_map_removal_of(container.removal_of, region)
        )
    grafana = ctx.grafana
    if grafana is not None and grafana.target_removal:
        try:
            moved = tuple(_map_edit(e, region.offsets, region.dedented) for e in grafana.target_removal)
        except ValueError:
            moved = None
        changes["grafana"] = dataclasses.replace(grafana, target_removal=moved)
    changes["embedded_in"] = region.locator
    return dataclasses.replace(ctx, **changes)


def embedded_sites(path: str, text: str, needs: SiteNeeds) -> tuple[list[Site], list[tuple[int, int]]]:
    """Sites of every embedded document in `text` that parses, and the outer spans they cover."""
    from migrator.formats import handler_for

    sites: list[Site] = []
    covered: list[tuple[int, int]] = []
    for region in regions(path, text):
        if not needs.mentions(region.text):
            continue
        if region.fmt == "promql":
            inner_sites = [Site(value=region.text, kind=SiteKind.PROMQL, locator="")]
        else:
            try:
                document: Document = handler_for(region.fmt).parse(path, region.text, needs)
            except ParseError:
                continue  # not that format after all: the text rules see it as text
            inner_sites = document.sites
        for s in inner_sites:
            composed = EmbeddedSite(
                value=s.value,
                kind=s.kind,
                locator=f"{region.locator} {s.locator}".strip(),
                editable=s.editable and not region.readonly,
                readonly_reason=region.readonly or s.readonly_reason,
                protected=s.protected,
                context=_map_context(s, region),
                inner=s,
                outer_offsets=region.offsets,
                dedented=region.dedented,
            )
            sites.append(composed)
        covered.append((region.offsets[0], region.offsets[-1]))
    return sites, covered


_YAML_TAGS = re.compile(r"(?i)ya?ml|eoy")


def validate_regions(text: str) -> None:
    """Every region that says what it is (a `<<-YAML` heredoc, a ```yaml block) must still
    parse. Edits inside any region are verified by its own site as they are made."""
    from migrator.formats import handler_for

    for region in (*_fences(text), *_heredocs(text)):
        declared = region.readonly or _YAML_TAGS.search(region.locator.split(" ", 2)[1] if " " in region.locator else "")
        if region.fmt in ("yaml", "json") and region.text.strip() and declared:
            try:
                handler_for(region.fmt).validate(region.text)
            except ParseError as err:
                raise ParseError(f"{region.locator}: {err.message}", region.offsets[min(err.offset, len(region.text))]) from None


__all__ = ["Container", "EmbeddedSite", "GrafanaPlace", "Region", "embedded_sites", "regions", "validate_regions"]
