"""The literal pieces of a Python string expression, read from its source text.

The interpreter's `ast` gives a string expression's whole extent (an implicit concatenation
`"a" f"{b}"` is one node) but, before Python 3.12, no position inside an f-string. This module
reads the source between those bounds: each literal's prefix, quotes and body, and for an
f-string the literal text runs and the `{...}` fields (nested strings, conversions, format
specs with nested fields, `{{`/`}}`, `\\N{...}` escapes), so that `python_strings` can decode
every character with its exact file range. Nothing here parses Python beyond string tokens;
the text between literals is only whitespace, comments and line continuations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrator.formats.python_strings import Piece, style_of_simple

_STRING_PREFIXES = frozenset({"", "r", "u", "b", "br", "rb", "f", "fr", "rf"})
# The body of a literal up to (not including) its closing quote; a backslash always takes the
# next character with it (in raw literals too, as the tokenizer reads them).
_BODY = {
    "'": re.compile(r"(?:[^'\\\r\n]|\\(?:\r\n|[\s\S]))*"),
    '"': re.compile(r'(?:[^"\\\r\n]|\\(?:\r\n|[\s\S]))*'),
    "'''": re.compile(r"(?:[^'\\]|\\[\s\S]|'(?!''))*"),
    '"""': re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*'),
}
_TRIVIA = re.compile(r"(?:[ \t\f\r\n]+|#[^\r\n]*|\\(?:\r\n|\r|\n))*")
_NAME_CHARS = re.compile(r"\w*")


@dataclass(slots=True)
class Literal:
    """One literal of a string expression, by file offsets."""

    prefix: str
    quote: str
    start: int  # the prefix
    body_start: int
    body_end: int  # the closing quote
    end: int
    # f-strings: ("text", start, end) runs and ("field", start, end) `{...}` fields in order.
    parts: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def fstring(self) -> bool:
        return "f" in self.prefix.lower()


def scan_literals(text: str, start: int, end: int) -> list[Literal] | None:
    """The literals of the string expression `text[start:end]` in order, or None when the text
    holds something else (a t-string, a literal kind this reader does not know)."""
    literals = []
    pos = start
    while True:
        pos = _TRIVIA.match(text, pos, end).end()
        if pos >= end:
            return literals
        literal = read_literal(text, pos)
        if literal is None or literal.end > end:
            return None
        literals.append(literal)
        pos = literal.end


def read_literal(text: str, pos: int) -> Literal | None:
    """The string literal starting at `pos` (its prefix), or None."""
    prefix_end = pos
    while prefix_end < len(text) and prefix_end - pos < 2 and text[prefix_end].isalpha():
        prefix_end += 1
    prefix = text[pos:prefix_end]
    if prefix.lower() not in _STRING_PREFIXES or prefix_end >= len(text) or text[prefix_end] not in "'\"":
        return None
    q = text[prefix_end]
    quote = q * 3 if text.startswith(q * 3, prefix_end) else q
    body_start = prefix_end + len(quote)
    if "f" in prefix.lower():
        scanned = _fstring_body(text, body_start, quote, "r" in prefix.lower())
        if scanned is None:
            return None
        body_end, parts = scanned
    else:
        body_end = _BODY[quote].match(text, body_start).end()
        parts = [("text", body_start, body_end)] if body_end > body_start else []
    if not text.startswith(quote, body_end):
        return None
    return Literal(prefix, quote, pos, body_start, body_end, body_end + len(quote), parts)


def _fstring_body(text: str, pos: int, quote: str, raw: bool) -> tuple[int, list[tuple[str, int, int]]] | None:
    """(offset of the closing quote, text runs and fields) of an f-string body from `pos`."""
    parts: list[tuple[str, int, int]] = []
    run = pos
    i, n = pos, len(text)
    triple = len(quote) == 3
    while i < n:
        c = text[i]
        if c == "\\":
            if not raw and text.startswith("N{", i + 1):
                close = text.find("}", i + 3)
                i = close + 1 if close != -1 else i + 2
            elif i + 1 < n and text[i + 1] in "{}":
                i += 1  # a backslash never escapes a brace: the brace is read next
            else:
                i += 2
            continue
        if c == quote[0] and text.startswith(quote, i):
            break
        if not triple and c in "\r\n":
            return None
        if c in "{}" and i + 1 < n and text[i + 1] == c:
            i += 2
            continue
        if c == "{":
            close = _field_end(text, i)
            if close is None:
                return None
            if i > run:
                parts.append(("text", run, i))
            parts.append(("field", i, close))
            i = run = close
            continue
        i += 1
    if i >= n:
        return None
    if i > run:
        parts.append(("text", run, i))
    return i, parts


def _field_end(text: str, pos: int) -> int | None:
    """End (after the `}`) of the f-string field whose `{` is at `pos`."""
    i, n = pos + 1, len(text)
    depth = 0
    while i < n:
        c = text[i]
        if c in "'\"":
            # A nested literal; its prefix letters were read as a name just before it.
            name = _name_before(text, i, pos + 1)
            literal = read_literal(text, i - len(name)) if name.lower() in _STRING_PREFIXES else None
            if literal is None:
                return None
            i = literal.end
            continue
        if c == "#":  # a comment in a multi-line field (Python 3.12)
            newline = text.find("\n", i)
            i = newline if newline != -1 else n
            continue
        if c in "([{":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "}":
            if depth == 0:
                return i + 1
            depth -= 1
        elif depth == 0 and c == "!" and not text.startswith("=", i + 1):
            i = _NAME_CHARS.match(text, i + 1).end()
            continue
        elif depth == 0 and c == ":":
            return _format_spec_end(text, i + 1)
        i += 1
    return None


def _format_spec_end(text: str, pos: int) -> int | None:
    """End (after the field's `}`) of a format spec starting at `pos`: literal text with
    nested `{...}` fields."""
    i, n = pos, len(text)
    while i < n:
        c = text[i]
        if c == "{":
            close = _field_end(text, i)
            if close is None:
                return None
            i = close
            continue
        if c == "}":
            return i + 1
        if c == "\\":
            i += 2
            continue
        i += 1
    return None


def _name_before(text: str, pos: int, floor: int) -> str:
    start = pos
    while start > floor and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return text[start:pos]


def pieces_of(text: str, start: int, end: int, template: str | None) -> list[Piece]:
    """`python_strings.Piece`s of the string expression `text[start:end]` (empty when it holds
    a literal kind that is not decoded here)."""
    literals = scan_literals(text, start, end)
    if not literals:
        return []
    pieces = []
    for literal in literals:
        body = text[literal.body_start : literal.body_end]
        fstring = literal.fstring
        style = style_of_simple(literal.prefix, literal.quote, body, None if fstring else template)
        parts = literal.parts if fstring else [("text", literal.body_start, literal.body_end)]
        pieces.append(Piece(style, literal.body_start, literal.body_end, parts, (literal.start, literal.end)))
    return pieces


def single_literal(text: str, start: int, end: int) -> bool:
    """Whether `text[start:end]` is exactly one literal (not an implicit concatenation)."""
    literal = read_literal(text, start)
    return literal is not None and literal.end == end
