"""How far a suppression comment above a YAML node reaches.

A YAML block scalar cannot hold a comment, so an `expr: |` spanning ten lines could not be
suppressed line by line. As in pint, a comment on a line of its own directly above a list item
or a mapping key covers that whole node: above `- alert: X` the whole rule, above `expr:` the
whole expression, however many lines they take.

The node is the next one below the comment, across blank lines and other comments (pint's
rule: a comment belongs to the next node), so a directive set apart by an empty line still
covers the rule under it; it never reaches past a line that holds a node (`no_node_on`).

`node_scopes` maps the first row of every block list item and mapping entry to the last row of
the widest node starting on that row. Rows are 1-based, like the engine's.
"""

from __future__ import annotations

import bisect
from typing import Any

from migrator.formats.base import Document
from migrator.formats.yaml_compose import any_node
from migrator.formats.yaml_scalars import Mapping, Scalar, Sequence
from migrator.model import LineIndex

_BLANK = " \t\r\n"


def node_scopes(document: Document) -> dict[int, int]:
    scopes: dict[int, int] = {}
    _layer_scopes(scopes, document.lines, document.yaml_nodes, document.text, None)
    # Rule files embedded in the file (a ConfigMap's `data` block) hold comments of their own.
    for docs, text, file_offsets in document.yaml_embedded:
        _layer_scopes(scopes, document.lines, docs, text, file_offsets)
    return scopes


def _layer_scopes(
    scopes: dict[int, int], lines: LineIndex, docs: list[Any], text: str, file_offsets: list[int] | None
) -> None:
    """Scopes of one parsed text: the file, or a text embedded in it (`file_offsets` maps
    its offsets to the file's)."""
    seen: set[int] = set()
    stack: list[Any] = [d for d in docs if d is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # aliases share nodes, and may recurse
            continue
        seen.add(id(node))
        if type(node) is Sequence:
            for item in node.items:
                if not node.flow:
                    _cover(scopes, lines, text, file_offsets, _dash_before(text, item.start), item.end)
                stack.append(item)
        elif type(node) is Mapping:
            for key, value in node.pairs:
                if not node.flow:
                    _cover(scopes, lines, text, file_offsets, key.start, max(key.end, value.end))
                stack.append(key)
                stack.append(value)


def _dash_before(text: str, start: int) -> int:
    """Where the `- ` indicator of the item starting at `start` is (the item's content may
    start on a later line than its dash)."""
    i = start
    while i > 0 and text[i - 1] in _BLANK:
        i -= 1
    return i - 1 if i > 0 and text[i - 1] == "-" else start


def _cover(
    scopes: dict[int, int], lines: LineIndex, text: str, file_offsets: list[int] | None, start: int, end: int
) -> None:
    # A block node's end is where the next token begins (often the next sibling's line):
    # step back over the whitespace to its last character.
    while end > start and text[end - 1] in _BLANK:
        end -= 1
    end = max(end - 1, start)
    if file_offsets is not None:
        start, end = file_offsets[start], file_offsets[end]
    first = lines.position(start)[0]
    last = lines.position(end)[0]
    if last > scopes.get(first, first):
        scopes[first] = last
    else:
        scopes.setdefault(first, first)


def no_node_on(lines: LineIndex, row: int) -> bool:
    """Whether a row holds no YAML node: blank, or nothing but a comment. A `---` document
    marker is no gap: a directive never reaches into the next document."""
    stripped = lines.line_text(row).strip()
    return not stripped or stripped.startswith("#")


def inside_scalar(document: Document, offset: int) -> bool:
    """Whether `offset` lies inside a string of the document, not in a comment — a comment of
    a rule file embedded in one of its strings counts as a comment."""
    if not _in_scalar(document.yaml_nodes, offset):
        return False
    for docs, _text, file_offsets in document.yaml_embedded:
        i = bisect.bisect_left(file_offsets, offset)
        if i < len(file_offsets) - 1 and file_offsets[i] == offset:
            return _in_scalar(docs, i)
    return True


def _in_scalar(docs: list[Any], offset: int) -> bool:
    # A collection ends where its last child does: nothing later is inside it.
    return any_node(docs, lambda node: type(node) is Scalar,
                    inside=lambda node: node.start <= offset < max(node.end, node.start + 1))
