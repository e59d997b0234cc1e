"""Containers of YAML string sites: sequence items and mapping keys.

Every string site that is an item of a sequence (block or flow) or a key of a mapping gets a
`Container`: the decoded values of all its siblings, the exact edits that remove it, and the span
of the whole collection. The format only says what removing an element would take; whether it is
wise is the rules' decision.

A removal is offered only when it is exact and leaves the collection non-empty: a sequence or
mapping whose last element goes would become null (`allow:` with nothing under it), which
changes the file's meaning rather than dropping one name. Every removal is verified: the
neighbourhood of the element (the element and one neighbour on each side) is parsed again with
the element removed, and the neighbours must come back unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from migrator.formats.base import Container, ParseError
from migrator.formats.templates import line_start
from migrator.formats.yaml_compose import BREAKS, Mapping, Scalar, Sequence, any_node, compose_documents
from migrator.formats.yaml_decode import column
from migrator.formats.yaml_scalars import resolve_tag
from migrator.formats.yaml_sites import Layer, SiteFactory
from migrator.model import Edit, Span, disjoint_edits, removal_runs

_STR_TAG = "tag:yaml.org,2002:str"
_ITEM_PREFIX = re.compile(r"[ \t]*-[ \t]+")
_BLANKS = re.compile(r"[ \t]*")
_LINE_REST = re.compile(r"[ \t]*(?:#[^\r\n\x85\u2028\u2029]*)?")
_COMMA_AFTER = re.compile(r"[ \t]*,[ \t\r\n]*")
_COMMA_ON_LINE = re.compile(r"[ \t]*,?")
_COMMA_BEFORE = re.compile(r"[ \t\r\n]*,[ \t\r\n]*")
# A removal is verified on the element and its neighbours; larger neighbourhoods (in characters)
# are refused rather than parsed (a sibling holding a whole rule file is not worth re-parsing
# per element).
_MAX_WINDOW = 200_000


def plain_string(node: Any) -> str | None:
    """The decoded value when the node is a string: quoted, tagged `!!str` or with a local tag,
    or a plain scalar that YAML resolves to a string (`5`, `true`, `null` are not)."""
    if type(node) is not Scalar:
        return None
    tag = node.tag
    if tag is None:
        if node.style is None and resolve_tag(node.value) != _STR_TAG:
            return None
        return node.value
    if tag == _STR_TAG or tag.startswith("!"):
        return node.value
    return None


class Containers:
    """Builds the `Container` of sequence items and mapping keys; values and spans are computed
    once per collection."""

    def __init__(self, factory: SiteFactory) -> None:
        self.factory = factory
        self._shared: dict[int, tuple[tuple[str | None, ...], Span]] = {}
        # id(node) -> (entries, in text order, flow entry spans): once per collection, not per
        # element (a list of thousands of names asks once for each).
        self._layout: dict[int, tuple[list[tuple[Any, Any]], bool, list[tuple[int, int]]]] = {}
        self._many: dict[int, Any] = {}  # id(node) -> its Container.removal_of

    def of_item(self, layer: Layer, seq: Sequence, index: int, owner: str | None) -> Container:
        values, span = self._collection(layer, seq, seq.items)
        return Container(
            "sequence", index, values, self._removal(layer, seq, index), span, owner, self._removal_of(layer, seq)
        )

    def of_key(self, layer: Layer, mapping: Mapping, index: int, owner: str | None) -> Container:
        values, span = self._collection(layer, mapping, [k for k, _ in mapping.pairs])
        return Container(
            "mapping-key", index, values, self._removal(layer, mapping, index), span, owner,
            self._removal_of(layer, mapping),
        )

    def _removal_of(self, layer: Layer, node: Sequence | Mapping) -> Callable[[tuple[int, ...]], tuple[Edit, ...] | None]:
        """`Container.removal_of`, one per collection."""
        remove = self._many.get(id(node))
        if remove is None:

            def remove(indices: tuple[int, ...]) -> tuple[Edit, ...] | None:
                return self._remove_many(layer, node, indices)

            self._many[id(node)] = remove
        return remove

    def _remove_many(self, layer: Layer, node: Sequence | Mapping, indices: tuple[int, ...]) -> tuple[Edit, ...] | None:
        """Edits deleting several elements at once (never all), or None. A block element is
        whole lines, so each goes as `_removal` removes it alone; in a flow collection a run
        of consecutive entries goes as one entry spanning them (its commas with it), verified
        like a single removal against the entries that stay around it."""
        entries, ordered, flow_spans = self._entries(node)
        n = len(entries)
        runs = removal_runs(indices, n)
        if runs is None or not ordered:
            return None
        edits: list[Edit] = []
        if not node.flow:
            for first, last in runs:
                for i in range(first, last + 1):
                    one = self._removal(layer, node, i)
                    if one is None:
                        return None
                    edits.extend(one)
            return disjoint_edits(edits)
        text = layer.text
        for first, last in runs:
            if any(_defines_anchor(entries[j]) for j in range(first, last + 1)):
                return None
            around = [j for j in (first - 1, last + 1) if 0 <= j < n]
            local = [entries[j] for j in around if j < first] + [(entries[first][0], entries[last][1])]
            local += [entries[j] for j in around if j > last]
            spans = [flow_spans[j] for j in around if j < first] + [(flow_spans[first][0], flow_spans[last][1])]
            spans += [flow_spans[j] for j in around if j > last]
            at = 1 if first > 0 else 0
            span = _flow_entry_span(text, spans, at)
            if span is None:
                return None
            s, e = span
            if layer.parent is None and self.factory.regions and self.factory.touches_templates(s, e):
                return None
            if not _verified(text, node, local, at, s, e):
                return None
            result = layer.replace_text(s, e, "")
            if result is None:
                return None
            edits.append(Edit(Span(result[0], result[1]), result[2]))
        return disjoint_edits(edits)

    def _collection(self, layer: Layer, node: Any, elements: list[Any]) -> tuple[tuple[str | None, ...], Span]:
        shared = self._shared.get(id(node))
        if shared is None:
            # An element with Helm/Jinja text is not a known string (its value is rendered later).
            values = tuple(None if self.factory.templated(layer, e) else plain_string(e) for e in elements)
            start, end = collection_span(layer.text, node)
            shared = values, Span(layer.file_offset(start), layer.file_offset(end))
            self._shared[id(node)] = shared
        return shared

    def _removal(self, layer: Layer, node: Sequence | Mapping, index: int) -> tuple[Edit, ...] | None:
        """Edits deleting one element cleanly, or None (the only element, a layout this does not
        understand, or a removal that does not verify)."""
        text = layer.text
        entries, ordered, flow_spans = self._entries(node)
        if len(entries) < 2:
            return None
        if not ordered:
            return None  # an alias among the elements: its node's positions are its anchor's
        if _defines_anchor(entries[index]):
            return None  # an alias elsewhere may point into it
        if node.flow:
            span = _flow_entry_span(text, flow_spans, index)
        elif type(node) is Sequence:
            span = _block_item_span(text, node.items[index])
        else:
            span = _block_pair_span(text, node.pairs, index)
        if span is None:
            return None
        s, e = span
        if layer.parent is None and self.factory.regions and self.factory.touches_templates(s, e):
            return None
        if not _verified(text, node, entries, index, s, e):
            return None
        result = layer.replace_text(s, e, "")
        if result is None:
            return None
        return (Edit(Span(result[0], result[1]), result[2]),)


    def _entries(self, node: Sequence | Mapping) -> tuple[list[tuple[Any, Any]], bool, list[tuple[int, int]]]:
        layout = self._layout.get(id(node))
        if layout is None:
            entries = [(it, it) for it in node.items] if type(node) is Sequence else node.pairs
            flow_spans = [(f.start, _pair_end(f, la)) for f, la in entries] if node.flow else []
            layout = self._layout[id(node)] = (entries, _in_text_order(node, entries), flow_spans)
        return layout


# --------------------------------------------------------------------------- spans


def _pair_end(first: Any, last: Any) -> int:
    # A key without a value has an empty value node placed at (or before) the key's end.
    return max(first.end, last.end)


def _in_text_order(node: Any, entries: list[tuple[Any, Any]]) -> bool:
    """Whether every element's node lies after the previous one, as written (an alias's node
    is its anchor's, earlier in the text)."""
    floor = node.start
    for first, last in entries:
        if first.start < floor or (last is not first and last.start < first.end):
            return False
        floor = _pair_end(first, last)
    return True


def content_end(node: Any) -> int | None:
    """Where the last content of a node ends. A block collection's own end is the position of
    the next token (after trailing comments and blank lines), so look at its last element.
    None when that element is an alias (`*name` is written there; its node is elsewhere)."""
    current = node
    for _ in range(10_000):
        if type(current) is Scalar or current.flow:
            break
        if type(current) is Sequence:
            if not current.items:
                break
            nxt = current.items[-1]
            floor = current.items[-2].end if len(current.items) > 1 else current.start
        else:
            if not current.pairs:
                break
            k, v = current.pairs[-1]
            nxt, floor = (v, k.end) if v.end >= k.end else (k, current.start)
        if nxt.start < floor:
            return None
        current = nxt
    return current.end


def _through_line_end(text: str, pos: int) -> int | None:
    """After `pos`, the rest of the line (blanks, a comment) and its line break; None when
    something else follows on the line."""
    if pos > 0 and text[pos - 1] in BREAKS:
        return pos  # already at a line start (a block scalar's content ends with its break)
    rest = _LINE_REST.match(text, pos)
    assert rest is not None
    end = rest.end()
    if end >= len(text):
        return end
    if text[end] not in BREAKS:
        return None
    return end + (2 if text.startswith("\r\n", end) else 1)


def _whole_lines(text: str, first: int, content: int) -> tuple[int, int] | None:
    end = _through_line_end(text, content)
    if end is None:
        return None
    if end < len(text) or text[end - 1] in BREAKS:
        return first, end
    if first == 0:
        return None
    # The last line of a file without a final newline: take the line break before it.
    start = first - (2 if text.startswith("\r\n", first - 2) else 1)
    return start, end


def _block_item_span(text: str, item: Any) -> tuple[int, int] | None:
    """The whole `- item  # comment` line(s) with the line break."""
    first = line_start(text, item.start)
    if not _ITEM_PREFIX.fullmatch(text, first, item.start):
        return None
    end = content_end(item)
    return None if end is None else _whole_lines(text, first, end)


def _block_pair_span(text: str, pairs: list[tuple[Any, Any]], index: int) -> tuple[int, int] | None:
    """The whole `key: value  # comment` line(s) with the line break; the first key of a
    sequence item (`- key: value`) goes up to the next key, keeping the `- `."""
    key, value = pairs[index]
    first = line_start(text, key.start)
    if _BLANKS.fullmatch(text, first, key.start):
        end = content_end(value) if value.end >= key.end else key.end
        return None if end is None else _whole_lines(text, first, end)
    if index < len(pairs) - 1:
        nxt = pairs[index + 1][0]
        next_line = line_start(text, nxt.start)
        if next_line > key.start and _BLANKS.fullmatch(text, next_line, nxt.start):
            return key.start, nxt.start
    return None


def _flow_entry_span(text: str, entries: list[tuple[int, int]], index: int) -> tuple[int, int] | None:
    """The entry and one adjacent comma (the following one; the preceding one for the last).
    An entry on lines of its own goes with those lines, its comma and its comment (a flow
    collection accepts the trailing comma that may leave on the entry before)."""
    start, end = entries[index]
    first = line_start(text, start)
    if _BLANKS.fullmatch(text, first, start) and (index == 0 or entries[index - 1][1] <= first):
        after = _COMMA_ON_LINE.match(text, end)
        assert after is not None
        own = _whole_lines(text, first, after.end())
        if own is not None and (index == len(entries) - 1 or own[1] <= entries[index + 1][0]):
            return own
    if index < len(entries) - 1:
        nxt = entries[index + 1][0]
        if _COMMA_AFTER.fullmatch(text, end, nxt):
            return start, nxt
        return None
    prev = entries[index - 1][1]
    if _COMMA_BEFORE.fullmatch(text, prev, start):
        return prev, end
    return None


def collection_span(text: str, node: Any) -> tuple[int, int]:
    """The collection's text: a flow collection's brackets, or a block collection's lines from
    its first element (its indentation included) to the end of its last line."""
    if node.flow:
        return node.start, node.end
    start = node.start
    first = line_start(text, start)
    if _BLANKS.fullmatch(text, first, start):
        start = first
    end = content_end(node)
    if end is None:
        return start, node.end  # up to the next token: the alias written last is inside
    through = _through_line_end(text, end)
    return start, max(end, through if through is not None else end)


# --------------------------------------------------------------------------- verification


def _defines_anchor(entry: tuple[Any, Any]) -> bool:
    return any_node(entry, lambda node: bool(node.anchor))


def _shape(nodes: list[Any]) -> list[tuple[Any, ...]]:
    """A flat description of nodes (types, values, styles, tags) to compare two parses by. A
    node met again (through an alias) is described by where it was first met, so aliases cost
    nothing and sharing must be the same in both parses."""
    out: list[tuple[Any, ...]] = []
    first_seen: dict[int, int] = {}
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if id(node) in first_seen:
            out.append(("*", first_seen[id(node)]))
            continue
        first_seen[id(node)] = len(out)
        if type(node) is Scalar:
            out.append(("s", node.value, node.style, node.tag))
        elif type(node) is Sequence:
            out.append(("q", len(node.items), node.flow, node.tag))
            stack.extend(reversed(node.items))
        elif type(node) is Mapping:
            out.append(("m", len(node.pairs), node.flow, node.tag))
            for k, v in reversed(node.pairs):
                stack.append(v)
                stack.append(k)
        else:
            out.append(("?",))
    return out


def _verified(
    text: str, node: Sequence | Mapping, entries: list[tuple[Any, Any]], index: int, s: int, e: int
) -> bool:
    """Parse the element's neighbourhood with [s, e) removed; the neighbours must come back the
    same, in a collection of the same kind, and nothing else may appear."""
    lo, hi = max(0, index - 1), min(len(entries) - 1, index + 1)
    first = entries[lo][0]
    if node.flow:
        ws = min(s, first.start)
        we = max(e, _pair_end(*entries[hi]))
    else:
        anchor = first.start
        if type(node) is Sequence:
            anchor = _dash_before(text, first.start)
            if anchor is None:
                return False
        ws = min(s, anchor)
        last = entries[hi][1]
        stop = content_end(last) if last.end >= entries[hi][0].end else entries[hi][0].end
        if stop is None:
            return False
        we = max(e, _through_line_end(text, stop) or stop)
    if not ws <= s <= e <= we or we - ws > _MAX_WINDOW:
        return False
    body = text[ws:s] + text[e:we]
    if node.flow:
        opener, closer = ("[", "]") if type(node) is Sequence else ("{", "}")
        mini = opener + body + closer
    else:
        mini = " " * column(text, ws) + body
    try:
        docs = compose_documents(mini)
    except ParseError:
        return False
    if len(docs) != 1 or type(docs[0]) is not type(node) or docs[0].flow != node.flow:
        return False
    root = docs[0]
    kept = [entries[j] for j in range(lo, hi + 1) if j != index]
    if type(node) is Sequence:
        return _shape(root.items) == _shape([first for first, _ in kept])
    return _shape([n for pair in root.pairs for n in pair]) == _shape([n for pair in kept for n in pair])


def _dash_before(text: str, pos: int) -> int | None:
    """The `-` indicator of the block sequence item starting at `pos`."""
    i = pos - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i >= 0 and text[i] == "-":
        return i
    return None
