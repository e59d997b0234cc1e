"""Per-character scalar maps: where each decoded character of a YAML scalar lives, and edits
that are verified before they are written.

A `ScalarMap` records, for every decoded character, the offset it came from (see
`yaml_decode`), so an edit on the decoded string becomes an exact edit on the file.
`ScalarMap.replace` re-encodes a replacement for the scalar's style and then *verifies* it by
parsing the rewritten scalar again with the same YAML loader: an edit that would change
anything besides the intended characters (a fold that stops folding, a plain scalar that
grows a `: `, a block scalar whose indentation is re-detected) is refused instead of written.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import yaml

from migrator.formats.base import ParseError
from migrator.formats.yaml_compose import BREAKS, Mapping, Scalar, Sequence, compose_documents

from migrator.formats.yaml_decode import (
    BlockHeader,
    HAS_BREAK,
    auto_indent,
    block_header,
    column,
    decode_block,
    decode_double,
    decode_plain,
    decode_single,
    token_start,
)

# What YAML 1.1 (PyYAML's reader) accepts as printable.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STYLE_NAMES = {None: "plain", "'": "single", '"': "double", "|": "literal", ">": "folded"}

_RESOLVER = yaml.resolver.Resolver()


def resolve_tag(value: str) -> str:
    """The tag YAML 1.1 gives a plain scalar with this value (`5` is an int, `on` a bool)."""
    return _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))


def _escape_double(r: str) -> str:
    out = []
    for ch in r:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch in _DQ_ESCAPE_OF:
            out.append(_DQ_ESCAPE_OF[ch])
        elif _NON_PRINTABLE.match(ch) or ch == "\ufeff":
            code = ord(ch)
            out.append(f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}" if code < 0x10000 else f"\\U{code:08X}")
        else:
            out.append(ch)
    return "".join(out)


_DQ_ESCAPE_OF = {
    "\0": "\\0", "\x07": "\\a", "\x08": "\\b", "\t": "\\t", "\n": "\\n", "\x0b": "\\v",
    "\x0c": "\\f", "\r": "\\r", "\x1b": "\\e", "\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P",
}  # fmt: skip

# Characters that cannot start a plain scalar (or change its meaning there).
_PLAIN_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


class ScalarMap:
    """One scalar: its decoded value, where each character lives, and how to edit it in place."""

    __slots__ = (
        "text", "start", "tok", "end", "style", "value", "offsets", "protected", "folds", "flow", "key",
        "col", "implicit_tag", "header", "indent", "explicit_tag",
    )  # fmt: skip

    def __init__(self) -> None:
        # Decoded ranges that are not literal text and must not be edited. Nothing in a scalar
        # alone is (templates are found by the handler); folded line breaks are listed in
        # `folds` instead: editing across them is fine exactly when `replace` accepts it.
        self.protected: tuple[tuple[int, int], ...] = ()
        self.folds: tuple[tuple[int, int], ...] = ()
        self.header: BlockHeader | None = None
        self.indent = 0

    @property
    def style_name(self) -> str:
        return _STYLE_NAMES[self.style]

    # -- encoding ------------------------------------------------------------------------

    def encode(self, r: str) -> str | None:
        """Source text for `r` in this scalar's style, independent of position; None if `r`
        cannot be written in this style. Plain scalars accept only text that is safe as a
        plain scalar anywhere (no `: `, ` #`, leading indicator, line break)."""
        if self.style is None:
            raw = self._encode_local(r)
            if raw is None or not r:
                return raw
            if ": " in r or " #" in r or r.endswith(":") or r[0] in _PLAIN_INDICATORS:
                return None
            if r != r.strip(" "):
                return None
            return raw
        return self._encode_local(r)

    def _encode_local(self, r: str) -> str | None:
        style = self.style
        if style == '"':
            return _escape_double(r)
        if _NON_PRINTABLE.search(r):
            return None
        if style is None:
            return None if HAS_BREAK.search(r) or "\t" in r else r
        if style == "'":
            return None if HAS_BREAK.search(r) else r.replace("'", "''")
        if any(c in r for c in "\r\x85\u2028\u2029"):
            return None
        if self.indent < 1:
            return None  # a block scalar without content lines: its indentation is unknown
        if style == ">":
            return None if "\n" in r else r
        header = self.header
        assert header is not None
        if "\n" not in r:
            return r
        lines = r.split("\n")
        pad = " " * self.indent
        parts = [lines[0]]
        last = len(lines) - 1
        for k in range(1, len(lines)):
            line = lines[k]
            parts.append(header.brk)
            # Empty lines inside the replacement stay empty (no trailing blanks); the last
            # segment always continues a content line, so it is indented.
            if line or k == last:
                parts.append(pad)
            parts.append(line)
        return "".join(parts)

    # -- editing -------------------------------------------------------------------------

    def replace(self, a: int, b: int, r: str) -> tuple[int, int, str] | None:
        """The source edit that turns decoded [a, b) into `r`, as (start, end, text), or None
        when no edit at this position yields exactly value[:a] + r + value[b:]."""
        if not 0 <= a <= b <= len(self.value):
            return None
        if self.header is not None and self.indent < 1:
            return None
        enc = self._encode_local(r)
        if enc is None:
            return None
        s = self.offsets[a]
        e = self.offsets[b]
        expected = self.value[:a] + r + self.value[b:]
        for tight in self._tighter_ends(a, b):
            if self._verify(s, tight, enc, expected):
                return s, tight, enc
        if not self._verify(s, e, enc, expected):
            return None
        return s, e, enc

    def _tighter_ends(self, a: int, b: int) -> range:
        """Where the source of decoded [a, b) may end before the next character's source
        starts: when that character begins on a later line (after trailing blanks, an escaped
        line break, indentation), the edit should end with the last character it replaces, not
        swallow the line break. A character's own source never holds a line break, so the
        candidates run from just after its first source character to the first break (the
        next character's own start is the fallback)."""
        if b <= a:
            return range(0)
        last = self.offsets[b - 1]
        nxt = self.offsets[b]
        if nxt - last < 2:
            return range(0)
        m = HAS_BREAK.search(self.text, last, nxt + 1)
        if m is None:
            return range(0)
        return range(last + 1, min(m.start() + 1, nxt))

    def _verify(self, s: int, e: int, enc: str, expected: str) -> bool:
        """Parse the rewritten scalar alone, in an equivalent context, and compare."""
        text = self.text
        if self.header is not None:
            header = self.header
            body = text[header.content_start : s] + enc + text[e : self.end]
            marker = self.style + header.chomp + ("1" if header.increment is not None else "")
            # A one-key mapping at column indent-1 gives the block scalar exactly this
            # indentation when it has an indicator, and the same detection when it has none.
            mini = " " * (self.indent - 1) + "k: " + marker + header.brk + body
            if self.end > header.content_start and text[self.end - 1] in BREAKS:
                # Something follows on the next line: an edit must not pull it into the scalar.
                mini += " " * (self.indent - 1) + "z: 0"
        else:
            # From the node's start: an edit right after an anchor must not extend its name.
            body = text[self.start : s] + enc + text[e : self.end]
            if self.col is None:
                self.col = column(text, self.start)
            if self.key:
                mini = ("{" + body + ": x}") if self.flow else (" " * self.col + body + ": x")
            else:
                mini = ("[" + body + "]") if self.flow else (" " * self.col + body)
        try:
            docs = compose_documents(mini, max_nodes=64, max_depth=4)
        except ParseError:
            return False
        if len(docs) != 1:
            return False
        node = docs[0]
        if self.header is not None:
            if not isinstance(node, Mapping) or len(node.pairs) != (2 if mini.endswith("z: 0") else 1):
                return False
            node = node.pairs[0][1]
        elif self.key:
            if not isinstance(node, Mapping) or len(node.pairs) != 1:
                return False
            node = node.pairs[0][0]
        elif self.flow:
            if not isinstance(node, Sequence) or len(node.items) != 1:
                return False
            node = node.items[0]
        if not isinstance(node, Scalar) or node.style != self.style or node.value != expected:
            return False
        if self.style is None and self.implicit_tag is not None and node.tag is None:
            return resolve_tag(expected) == self.implicit_tag
        return True


def map_scalar(text: str, node: Any, *, flow: bool = False, key: bool = False, shift: int = 0) -> ScalarMap | None:
    """Map a scalar node (ours, or a PyYAML ScalarNode) of `text`; None when the decoded
    characters cannot be matched to the source exactly."""
    start, end, style, value, tag = _node_fields(node, shift)
    sm = ScalarMap()
    sm.text = text
    sm.start = start
    sm.end = end
    sm.style = style
    sm.flow = flow
    sm.key = key
    sm.explicit_tag = tag
    tok = token_start(text, start, end) if start < end else start
    sm.tok = tok
    sm.col = None  # computed when an edit is verified: finding the line start can be costly
    sm.implicit_tag = resolve_tag(value) if style is None and tag is None else None
    if style is None:
        if tok >= end:
            decoded = ("", [end])
        else:
            decoded = decode_plain(text, tok, end)
    elif style == "'":
        decoded = decode_single(text, tok, end)
    elif style == '"':
        decoded = decode_double(text, tok, end)
    elif style in "|>":
        header = block_header(text, tok)
        if header is None:
            return None
        sm.header = header
        found = _map_block(text, header, value)
        if found is None:
            return None
        sm.indent, got, offsets, folds = found
        sm.value, sm.offsets, sm.folds = got, offsets, tuple(folds)
        return sm
    else:
        return None
    if decoded is None or decoded[0] != value:
        return None
    sm.value, sm.offsets = decoded
    return sm


def _map_block(text: str, header: BlockHeader, value: str):  # type: ignore[no-untyped-def]
    auto, first_col = auto_indent(text, header.content_start)
    candidates: list[int] = []
    if header.increment is None:
        candidates.append(auto)
    else:
        # The indicator is relative to the parent's indentation, which the event stream does
        # not carry; the first content line's column minus the value's own leading spaces is it.
        body = value.lstrip("\n\u2028\u2029")
        lead = len(body) - len(body.lstrip(" "))
        if first_col - lead >= 1:
            candidates.append(first_col - lead)
    candidates.extend(range(max(first_col, 1), 0, -1))
    # A scalar without content lines can be indented deeper than whatever line follows it.
    candidates.extend(range(first_col + 1, first_col + 10))
    seen: set[int] = set()
    for indent in candidates:
        if indent in seen:
            continue
        seen.add(indent)
        got, offsets, folds, lines = decode_block(text, header, indent)
        if got == value:
            # Without a content line the indentation depends on the parent, which is unknown
            # here: such a scalar can be mapped but not safely edited.
            return (indent if lines else 0), got, offsets, folds
    return None


def _node_fields(node: Any, shift: int) -> tuple[int, int, str | None, str, str | None]:
    if isinstance(node, Scalar):
        return node.start + shift, node.end + shift, node.style, node.value, node.tag
    # A PyYAML ScalarNode: the libyaml loader reports "" for plain, PyYAML None.
    tag = node.tag
    implicit_tags = (None, "!", "tag:yaml.org,2002:str") if node.style else (None, "!")
    explicit = None if tag in implicit_tags or resolve_tag(node.value) == tag else tag
    return node.start_mark.index + shift, node.end_mark.index + shift, node.style or None, node.value, explicit


def _default_shift(text: str, node: Any) -> int:
    # libyaml's marks do not count a leading byte-order mark; PyYAML's (which carry the
    # buffer) do.
    if text.startswith("\ufeff") and not isinstance(node, Scalar):
        if getattr(node.start_mark, "buffer", None) is None:
            return 1
    return 0


def scalar_offsets(text: str, node: Any) -> tuple[str, list[int]]:
    """(value, offsets) for a scalar node: offsets[i] is the file offset of decoded char i and
    offsets[len(value)] the end. Raises ValueError when the scalar cannot be mapped exactly."""
    sm = map_scalar(text, node, shift=_default_shift(text, node))
    if sm is None:
        raise ValueError("cannot map this YAML scalar's characters to the source")
    return sm.value, sm.offsets


def encoder(node: Any, text: str | None = None) -> Callable[[str], str | None] | None:
    """A function turning a decoded replacement into source text for this scalar's style
    (None from it when the replacement cannot be written so). The text is needed for block
    scalars (their indentation); PyYAML's own marks carry it."""
    if text is None:
        buffer = getattr(getattr(node, "start_mark", None), "buffer", None)
        if buffer is None:
            raise ValueError("encoder() needs the source text for this node")
        text = buffer.rstrip("\0")
    sm = map_scalar(text, node, shift=_default_shift(text, node))
    if sm is None:
        return None
    return sm.encode
