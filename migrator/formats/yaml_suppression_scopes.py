"""How far a suppression comment above a YAML node reaches.

A YAML block scalar cannot hold a comment, so an `expr: |` spanning ten lines could not be
suppressed line by line. As in pint, a comment on a line of its own directly above a list item
or a mapping key covers that whole node: above `- alert: X` the whole rule, above `expr:` the
whole expression, however many lines they take.

`node_scopes` maps the first row of every block list item and mapping entry to the last row of
the widest node starting on that row. Rows are 1-based, like the engine's.
"""

from __future__ import annotations

from typing import Any

from migrator.formats.base import Document
from migrator.formats.yaml_scalars import Mapping, Scalar, Sequence
from migrator.model import LineIndex

_BLANK = " \t\r\n"


def node_scopes(document: Document) -> dict[int, int]:
    docs = document.yaml_nodes
    text = document.text
    lines = document.lines
    scopes: dict[int, int] = {}
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
                    _cover(scopes, lines, text, _dash_before(text, item.start), item.end)
                stack.append(item)
        elif type(node) is Mapping:
            for key, value in node.pairs:
                if not node.flow:
                    _cover(scopes, lines, text, key.start, max(key.end, value.end))
                stack.append(key)
                stack.append(value)
    return scopes


def _dash_before(text: str, start: int) -> int:
    """Where the `- ` indicator of the item starting at `start` is (the item's content may
    start on a later line than its dash)."""
    i = start
    while i > 0 and text[i - 1] in _BLANK:
        i -= 1
    return i - 1 if i > 0 and text[i - 1] == "-" else start


def _cover(scopes: dict[int, int], lines: LineIndex, text: str, start: int, end: int) -> None:
    # A block node's end is where the next token begins (often the next sibling's line):
    # step back over the whitespace to its last character.
    while end > start and text[end - 1] in _BLANK:
        end -= 1
    first = lines.position(start)[0]
    last = lines.position(max(end - 1, start))[0]
    if last > scopes.get(first, first):
        scopes[first] = last
    else:
        scopes.setdefault(first, first)


def inside_scalar(document: Document, offset: int) -> bool:
    """Whether `offset` lies inside a scalar of the document (a string, not a comment)."""
    seen: set[int] = set()
    stack: list[Any] = [d for d in document.yaml_nodes if d is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen or not node.start <= offset < max(node.end, node.start + 1):
            continue  # a collection ends where its last child does: nothing later is inside
        seen.add(id(node))
        if type(node) is Scalar:
            return True
        if type(node) is Sequence:
            stack.extend(node.items)
        elif type(node) is Mapping:
            for key, value in node.pairs:
                stack.append(key)
                stack.append(value)
    return False
