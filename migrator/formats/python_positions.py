"""Positions in Python source from the interpreter's `ast`: code points, and parentheses.

`ast` positions are (line, UTF-8 byte column); sites and edits use code-point offsets into the
file text. `ast` also drops parentheses: a node's position excludes the ones wrapping it (but
a parenthesized tuple's own pair is part of it). `wrapping_parens` finds them from the text
between a node and its siblings, which holds only the parent's own punctuation, whitespace
and comments (every string literal is a node of its own).
"""

from __future__ import annotations

import ast
import re
from typing import Any

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TRIVIA = re.compile(r"(?:[ \t\f\r\n]+|#[^\r\n]*|\\(?:\r\n|\r|\n))+")


class Positions:
    """Code-point offsets in `text` (a BOM of `shift` characters before the module's body)."""

    __slots__ = ("text", "body", "shift", "starts", "ascii", "_lines")

    def __init__(self, text: str, shift: int = 0) -> None:
        self.text = text
        self.shift = shift
        self.body = body = text[shift:]
        self.starts = [0] + [m.end() for m in _LINE_BREAK.finditer(body)] if ("\n" in body or "\r" in body) else [0]
        self.ascii = body.isascii()
        self._lines: dict[int, bytes | None] = {}

    def offset(self, line: int, column: int) -> int:
        """The file offset of (1-based line, UTF-8 byte column)."""
        start = self.starts[line - 1]
        if self.ascii:
            return self.shift + start + column
        encoded = self._lines.get(line, b"")
        if encoded == b"":
            end = self.starts[line] if line < len(self.starts) else len(self.body)
            segment = self.body[start:end]
            encoded = self._lines[line] = None if segment.isascii() else segment.encode("utf-8")
        if encoded is None:
            return self.shift + start + column
        return self.shift + start + len(encoded[:column].decode("utf-8", errors="ignore"))

    def span(self, node: Any) -> tuple[int, int]:
        return (
            self.offset(node.lineno, node.col_offset),
            self.offset(node.end_lineno, node.end_col_offset),
        )


def significant(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """(offset, character) of every character in `text[start:end]` that is not whitespace, a
    comment or a line continuation. Only for text between tokens: a `#` starts a comment."""
    out = []
    i = start
    while i < end:
        m = _TRIVIA.match(text, i, end)
        if m is not None:
            i = m.end()
            continue
        out.append((i, text[i]))
        i += 1
    return out


def has_position(node: Any) -> bool:
    return getattr(node, "end_col_offset", None) is not None


def positioned_children(node: Any) -> list[Any]:
    """The nearest descendants that have positions (through `arguments`, `comprehension`,
    `withitem`, `match_case`), in field order."""
    out = []
    for name in node._fields:
        if name in ("ctx", "op", "ops"):
            continue
        value = getattr(node, name, None)
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, ast.AST):
                if has_position(item):
                    out.append(item)
                else:
                    out.extend(positioned_children(item))
    return out
