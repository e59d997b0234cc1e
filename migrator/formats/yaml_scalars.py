"""Exact positions for YAML: a position-keeping composer and per-character scalar maps.

PyYAML reports where a scalar starts and ends, not where each decoded character came from:
escapes (`\\"`, `\\u00e9`), folded line breaks, block indentation and chomping all make the
decoded value differ from its source text. A `ScalarMap` records, for every decoded character,
the offset it came from, so an edit on the decoded string becomes an exact edit on the file.
`ScalarMap.replace` re-encodes a replacement for the scalar's style and then *verifies* it by
parsing the rewritten scalar again with the same YAML loader: an edit that would change
anything besides the intended characters (a fold that stops folding, a plain scalar that
grows a `: `, a block scalar whose indentation is re-detected) is refused instead of written.

The composer builds the node graph from the parser's event stream rather than with
`yaml.compose`, because:
- it is several times faster (PyYAML's composer resolves every scalar's tag in Python);
- it never recurses (the libyaml-based composer overflows the C stack on deep nesting and
  kills the process);
- every node is created once however many aliases point at it, and nothing is ever
  constructed, so billion-laughs documents stay small and `!!python/...` tags are refused
  before anything could act on them.

Offsets are code-point offsets into the text that was parsed. libyaml counts code points too,
but it skips a leading byte-order mark without counting it: that is corrected here.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Callable, Iterator

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from migrator.formats.base import ParseError, no_gc

# Only the safe loaders, ever; the composer below never constructs Python objects anyway.
LOADER: Any = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
_C_LOADER = LOADER is not yaml.SafeLoader

# Bounds that keep hostile input cheap. The node graph is bounded by the input size (aliases
# reuse nodes), so the node cap only matters for absurdly large files; the depth cap keeps every
# later walk shallow.
MAX_NODES = 3_000_000
MAX_DEPTH = 10_000

BREAKS = "\r\n\x85\u2028\u2029"
_PY_TAG = "tag:yaml.org,2002:python/"
# What YAML 1.1 (PyYAML's reader) accepts as printable.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --------------------------------------------------------------------------- the node graph


class Scalar:
    __slots__ = ("start", "end", "value", "style", "tag", "anchor")

    def __init__(self, start: int, end: int, value: str, style: str | None, tag: str | None, anchor: str | None):
        self.start = start
        self.end = end
        self.value = value
        self.style = style  # None (plain), "'", '"', "|" or ">"
        self.tag = tag  # the explicit tag, None when implicit
        self.anchor = anchor

    def __repr__(self) -> str:
        return f"Scalar({self.value!r}, {self.start}..{self.end}, style={self.style!r})"


class Sequence:
    __slots__ = ("start", "end", "items", "flow", "tag", "anchor")

    def __init__(self, start: int, flow: bool, tag: str | None, anchor: str | None):
        self.start = start
        self.end = start
        self.items: list[Any] = []
        self.flow = flow
        self.tag = tag
        self.anchor = anchor

    def __repr__(self) -> str:
        return f"Sequence({len(self.items)} items, {self.start}..{self.end})"


_NO_KEY = object()


class Mapping:
    __slots__ = ("start", "end", "pairs", "flow", "tag", "anchor", "_key")

    def __init__(self, start: int, flow: bool, tag: str | None, anchor: str | None):
        self.start = start
        self.end = start
        self.pairs: list[tuple[Any, Any]] = []
        self.flow = flow
        self.tag = tag
        self.anchor = anchor
        self._key: Any = _NO_KEY

    def __repr__(self) -> str:
        return f"Mapping({len(self.pairs)} pairs, {self.start}..{self.end})"


Node = Scalar | Sequence | Mapping


def compose_documents(
    text: str,
    *,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
    scalar_spans: list[tuple[int, int]] | None = None,
) -> list[Node | None]:
    """The root node of every document in the stream (None for an empty document).

    Raises ParseError (with the offset of the problem) for invalid YAML, unsafe tags, undefined
    aliases, and input beyond the node/depth caps. When `scalar_spans` is given, the source
    range of every scalar is appended to it (in file order).
    """
    with no_gc():
        return _compose(text, max_nodes, max_depth, scalar_spans)


def _compose(
    text: str, max_nodes: int, max_depth: int, scalar_spans: list[tuple[int, int]] | None
) -> list[Node | None]:
    shift = 1 if _C_LOADER and text.startswith("\ufeff") else 0
    docs: list[Node | None] = []
    stack: list[Any] = []
    anchors: dict[str, Any] = {}
    root: Any = None
    count = 0
    with _converted_errors(text, shift):
        for ev in yaml.parse(text, Loader=LOADER):
            t = type(ev)
            if t is ScalarEvent:
                tag = ev.tag
                if tag and tag != "!" and tag.startswith(_PY_TAG):
                    raise ParseError(f"unsafe YAML tag {tag!r}", ev.start_mark.index + shift)
                node: Any = Scalar(
                    ev.start_mark.index + shift,
                    ev.end_mark.index + shift,
                    ev.value,
                    ev.style or None,
                    None if tag in (None, "!") else tag,
                    ev.anchor,
                )
                if scalar_spans is not None:
                    scalar_spans.append((node.start, node.end))
            elif t is MappingStartEvent or t is SequenceStartEvent:
                tag = ev.tag
                if tag and tag.startswith(_PY_TAG):
                    raise ParseError(f"unsafe YAML tag {tag!r}", ev.start_mark.index + shift)
                cls = Mapping if t is MappingStartEvent else Sequence
                node = cls(ev.start_mark.index + shift, bool(ev.flow_style), tag, ev.anchor)
            elif t is MappingEndEvent or t is SequenceEndEvent:
                stack.pop().end = ev.end_mark.index + shift
                continue
            elif t is AliasEvent:
                node = anchors.get(ev.anchor)
                if node is None:
                    raise ParseError(f"invalid YAML: found undefined alias {ev.anchor!r}", ev.start_mark.index + shift)
            elif t is DocumentStartEvent:
                anchors = {}
                root = None
                continue
            elif t is DocumentEndEvent:
                docs.append(root)
                continue
            else:
                continue
            if t is not AliasEvent:
                count += 1
                if count > max_nodes:
                    raise ParseError(f"YAML too large: more than {max_nodes} nodes", ev.start_mark.index + shift)
                if ev.anchor:
                    # Redefinition is allowed (YAML 1.2, Go's yaml): the latest definition wins.
                    anchors[ev.anchor] = node
            if stack:
                parent = stack[-1]
                if type(parent) is Sequence:
                    parent.items.append(node)
                elif parent._key is _NO_KEY:
                    parent._key = node
                else:
                    parent.pairs.append((parent._key, node))
                    parent._key = _NO_KEY
            else:
                root = node
            if t is MappingStartEvent or t is SequenceStartEvent:
                stack.append(node)
                if len(stack) > max_depth:
                    raise ParseError(f"YAML nested deeper than {max_depth} levels", node.start)
    return docs


def check_stream(
    text: str,
    *,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
    scalar_spans: list[tuple[int, int]] | None = None,
) -> int:
    """Everything `compose_documents` checks, without building nodes (validation of fixed
    output runs on every fix pass). Returns the number of documents."""
    shift = 1 if _C_LOADER and text.startswith("\ufeff") else 0
    anchors: set[str] = set()
    count = depth = documents = 0
    with _converted_errors(text, shift):
        for ev in yaml.parse(text, Loader=LOADER):
            t = type(ev)
            if t is ScalarEvent or t is MappingStartEvent or t is SequenceStartEvent:
                tag = ev.tag
                if tag and tag.startswith(_PY_TAG):
                    raise ParseError(f"unsafe YAML tag {tag!r}", ev.start_mark.index + shift)
                count += 1
                if count > max_nodes:
                    raise ParseError(f"YAML too large: more than {max_nodes} nodes", ev.start_mark.index + shift)
                if ev.anchor:
                    anchors.add(ev.anchor)
                if t is ScalarEvent:
                    if scalar_spans is not None:
                        scalar_spans.append((ev.start_mark.index + shift, ev.end_mark.index + shift))
                else:
                    depth += 1
                    if depth > max_depth:
                        raise ParseError(f"YAML nested deeper than {max_depth} levels", ev.start_mark.index + shift)
            elif t is MappingEndEvent or t is SequenceEndEvent:
                depth -= 1
            elif t is AliasEvent:
                if ev.anchor not in anchors:
                    raise ParseError(f"invalid YAML: found undefined alias {ev.anchor!r}", ev.start_mark.index + shift)
            elif t is DocumentStartEvent:
                anchors = set()
            elif t is DocumentEndEvent:
                documents += 1
    return documents


@contextlib.contextmanager
def _converted_errors(text: str, shift: int) -> Iterator[None]:
    """Turn the loader's exceptions into ParseError with a file offset."""
    try:
        yield
    except ParseError:
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        offset = mark.index + shift if mark is not None else 0
        raise ParseError(f"invalid YAML: {err.problem or err}", offset) from None
    except yaml.reader.ReaderError as err:
        raise ParseError(f"invalid YAML: {_reader_reason(err)}", _reader_offset(text, err)) from None
    except yaml.YAMLError as err:
        raise ParseError(f"invalid YAML: {err}", 0) from None
    except (RecursionError, MemoryError):
        raise ParseError("invalid YAML: nesting too deep", 0) from None
    except UnicodeError as err:
        raise ParseError(f"invalid YAML: {err}", 0) from None


def _reader_reason(err: Any) -> str:
    ch = err.character
    code = ord(ch) if isinstance(ch, str) else int(ch)
    return f"{err.reason} (character #x{code:04x})"


def _reader_offset(text: str, err: Any) -> int:
    if not _C_LOADER:
        return int(err.position)
    # libyaml reports a byte offset into the UTF-8 encoding.
    raw = text.encode("utf-8", "surrogatepass")[: int(err.position)]
    return len(raw.decode("utf-8", "ignore"))


# --------------------------------------------------------------------------- scalar maps

_STYLE_NAMES = {None: "plain", "'": "single", '"': "double", "|": "literal", ">": "folded"}


def _break_len(text: str, i: int) -> int:
    return 2 if text[i] == "\r" and text.startswith("\n", i + 1) else 1


def _break_char(c: str) -> str:
    # CR, LF, CRLF and NEL all read as "\n"; LS and PS stay what they are (PyYAML and libyaml).
    return c if c in "\u2028\u2029" else "\n"


def _fold(text: str, i: int, j: int, out: list[str], offs: list[int]) -> None:
    """Decode a run of blanks and line breaks inside a plain or quoted scalar.

    One line break folds to a space, n breaks to n-1 newlines; the blanks around them vanish.
    The first decoded character is mapped to the first line break and owns everything up to
    the next line's content, so an edit across it removes the line break cleanly (blanks before
    the break stay with the preceding character).
    """
    breaks: list[tuple[int, str]] = []
    k = i
    while k < j:
        c = text[k]
        if c in BREAKS:
            breaks.append((k, _break_char(c)))
            k += _break_len(text, k)
        else:
            k += 1
    first = breaks[0][1]
    if first != "\n":
        emitted = breaks
    elif len(breaks) == 1:
        emitted = [(breaks[0][0], " ")]
    else:
        emitted = breaks[1:]
    for n, (pos, ch) in enumerate(emitted):
        out.append(ch)
        offs.append(breaks[0][0] if n == 0 else pos)


_WS_RUN = re.compile("[ \t\r\n\x85\u2028\u2029]+")
_HAS_BREAK = re.compile("[\r\n\x85\u2028\u2029]")


def _decode_plain(text: str, ts: int, te: int) -> tuple[str, list[int]]:
    out: list[str] = []
    offs: list[int] = []
    pos = ts
    for m in _WS_RUN.finditer(text, ts, te):
        i, j = m.span()
        if i > pos:
            out.append(text[pos:i])
            offs.extend(range(pos, i))
        if _HAS_BREAK.search(text, i, j):
            _fold(text, i, j, out, offs)
        else:
            out.append(text[i:j])
            offs.extend(range(i, j))
        pos = j
    if pos < te:
        out.append(text[pos:te])
        offs.extend(range(pos, te))
    offs.append(te)
    return "".join(out), offs


_SQ_SPECIAL = re.compile("''|[ \t\r\n\x85\u2028\u2029]+")


def _decode_single(text: str, ts: int, te: int) -> tuple[str, list[int]] | None:
    if te - ts < 2 or text[ts] != "'" or text[te - 1] != "'":
        return None
    out: list[str] = []
    offs: list[int] = []
    pos = ts + 1
    end = te - 1
    for m in _SQ_SPECIAL.finditer(text, pos, end):
        i, j = m.span()
        if i > pos:
            out.append(text[pos:i])
            offs.extend(range(pos, i))
        if text[i] == "'":
            out.append("'")
            offs.append(i)
        elif _HAS_BREAK.search(text, i, j):
            _fold(text, i, j, out, offs)
        else:
            out.append(text[i:j])
            offs.extend(range(i, j))
        pos = j
    if pos < end:
        out.append(text[pos:end])
        offs.extend(range(pos, end))
    offs.append(end)
    return "".join(out), offs


_ESCAPES = {
    "0": "\0", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b",
    "f": "\x0c", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
    "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX_LEN = {"x": 2, "u": 4, "U": 8}
_DQ_SPECIAL = re.compile(
    r"\\(?:[0abt\tnvfre \"/\\N_LP]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}"
    "|(?:\r\n|[\r\n\x85\u2028\u2029])[ \t\r\n\x85\u2028\u2029]*)"
    "|[ \t\r\n\x85\u2028\u2029]+"
)


def _decode_double(text: str, ts: int, te: int) -> tuple[str, list[int]] | None:
    if te - ts < 2 or text[ts] != '"' or text[te - 1] != '"':
        return None
    out: list[str] = []
    offs: list[int] = []
    pos = ts + 1
    end = te - 1
    for m in _DQ_SPECIAL.finditer(text, pos, end):
        i, j = m.span()
        if i > pos:
            if "\\" in text[pos:i]:
                return None  # an escape the pattern does not know: do not guess
            out.append(text[pos:i])
            offs.extend(range(pos, i))
        c = text[i]
        if c == "\\":
            e = text[i + 1]
            if e in _HEX_LEN:
                out.append(chr(int(text[i + 2 : j], 16)))
                offs.append(i)
            elif e in BREAKS:
                # An escaped line break joins the lines; further empty lines stay line breaks.
                k = i + 1 + _break_len(text, i + 1)
                while k < j:
                    if text[k] in BREAKS:
                        out.append(_break_char(text[k]))
                        offs.append(k)
                        k += _break_len(text, k)
                    else:
                        k += 1
            else:
                out.append(_ESCAPES[e])
                offs.append(i)
        elif _HAS_BREAK.search(text, i, j):
            _fold(text, i, j, out, offs)
        else:
            out.append(text[i:j])
            offs.extend(range(i, j))
        pos = j
    if pos < end:
        if "\\" in text[pos:end]:
            return None
        out.append(text[pos:end])
        offs.extend(range(pos, end))
    offs.append(end)
    return "".join(out), offs


class _BlockHeader:
    __slots__ = ("folded", "chomp", "increment", "content_start", "brk")

    def __init__(self, folded: bool, chomp: str, increment: int | None, content_start: int, brk: str):
        self.folded = folded
        self.chomp = chomp  # "", "-" or "+"
        self.increment = increment
        self.content_start = content_start
        self.brk = brk  # the line break the header line ends with, reused by the encoder


def _block_header(text: str, ts: int) -> _BlockHeader | None:
    n = len(text)
    if ts >= n or text[ts] not in "|>":
        return None
    folded = text[ts] == ">"
    i = ts + 1
    chomp = ""
    increment: int | None = None
    for _ in range(2):
        if i < n and text[i] in "+-" and not chomp:
            chomp = text[i]
            i += 1
        elif i < n and text[i] in "123456789" and increment is None:
            increment = int(text[i])
            i += 1
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "#":
        while i < n and text[i] not in BREAKS:
            i += 1
    if i >= n:
        return _BlockHeader(folded, chomp, increment, n, "\n")
    if text[i] not in BREAKS:
        return None
    blen = _break_len(text, i)
    return _BlockHeader(folded, chomp, increment, i + blen, text[i : i + blen])


def _block_breaks(text: str, p: int, ls: int, indent: int) -> tuple[list[tuple[int, str, int]], int, int]:
    """Empty lines ahead (each as position, decoded char, length); returns them, p and line start."""
    n = len(text)
    brks: list[tuple[int, str, int]] = []
    while p - ls < indent and p < n and text[p] == " ":
        p += 1
    while p < n and text[p] in BREAKS:
        blen = _break_len(text, p)
        brks.append((p, _break_char(text[p]), blen))
        p += blen
        ls = p
        while p - ls < indent and p < n and text[p] == " ":
            p += 1
    return brks, p, ls


_BREAK_SEARCH = re.compile("[\r\n\x85\u2028\u2029]")


def _decode_block(
    text: str, header: _BlockHeader, indent: int
) -> tuple[str, list[int], list[tuple[int, int]], int]:
    """Decode a block scalar's content at a given indentation (PyYAML's algorithm, with positions).

    Returns the value, the offsets, the decoded ranges that a folded scalar produced by
    folding, and the number of content lines.
    """
    n = len(text)
    out: list[str] = []
    offs: list[int] = []
    ends: list[int] = []  # natural end of each emitted piece, for the final offset
    folds: list[tuple[int, int]] = []
    p = ls = header.content_start
    brks, p, ls = _block_breaks(text, p, ls, indent)
    line_break: tuple[int, str, int] | None = None
    folding = False
    size = 0
    lines = 0
    while p - ls == indent and p < n:
        lines += 1
        for bpos, bch, blen in brks:
            if folding:
                folds.append((size, size + 1))
            out.append(bch)
            offs.append(bpos)
            ends.append(bpos + blen)
            size += 1
        leading_non_space = text[p] not in " \t"
        m = _BREAK_SEARCH.search(text, p)
        q = m.start() if m else n
        if q > p:
            out.append(text[p:q])
            offs.extend(range(p, q))
            ends.append(q)
            size += q - p
        p = q
        if p < n:
            blen = _break_len(text, p)
            line_break = (p, _break_char(text[p]), blen)
            p += blen
            ls = p
        else:
            line_break = None
        brks, p, ls = _block_breaks(text, p, ls, indent)
        if p - ls == indent and p < n:
            if (
                header.folded
                and line_break is not None
                and line_break[1] == "\n"
                and leading_non_space
                and text[p] not in " \t"
            ):
                folding = True
                if not brks:
                    folds.append((size, size + 1))
                    out.append(" ")
                    offs.append(line_break[0])
                    ends.append(line_break[0] + line_break[2])
                    size += 1
            else:
                folding = False
                if line_break is not None:
                    out.append(line_break[1])
                    offs.append(line_break[0])
                    ends.append(line_break[0] + line_break[2])
                    size += 1
        else:
            break
    if header.chomp != "-" and line_break is not None:
        out.append(line_break[1])
        offs.append(line_break[0])
        ends.append(line_break[0] + line_break[2])
    if header.chomp == "+":
        for bpos, bch, blen in brks:
            out.append(bch)
            offs.append(bpos)
            ends.append(bpos + blen)
    offs.append(ends[-1] if ends else header.content_start)
    return "".join(out), offs, folds, lines


def _auto_indent(text: str, start: int) -> tuple[int, int]:
    """PyYAML's indentation detection: the deepest column of the leading blank lines and of the
    first content line. Also returns the column of the first content line."""
    n = len(text)
    p = start
    col = max_indent = 0
    while p < n:
        c = text[p]
        if c == " ":
            col += 1
            max_indent = max(max_indent, col)
            p += 1
        elif c in BREAKS:
            p += _break_len(text, p)
            col = 0
        else:
            break
    return max(1, max_indent), col


def _token_start(text: str, start: int, end: int) -> int:
    """Skip a node's properties (tag, anchor) and the separation after them."""
    i = start
    while i < end and text[i] in "!&":
        if text[i] == "&":
            # Anchor names are alphanumerics, '-' and '_' (PyYAML, libyaml): a scalar may
            # follow without a space (`&a:b`).
            i += 1
            while i < end and (text[i].isalnum() or text[i] in "-_"):
                i += 1
        else:
            while i < end and text[i] not in " \t" and text[i] not in BREAKS:
                i += 1
        while i < end:
            c = text[i]
            if c in " \t" or c in BREAKS:
                i += 1
            elif c == "#":
                while i < end and text[i] not in BREAKS:
                    i += 1
            else:
                break
    return i


def _column(text: str, pos: int) -> int:
    line_start = max(text.rfind(b, 0, pos) for b in BREAKS) + 1
    col = pos - line_start
    if line_start == 0 and text.startswith("\ufeff"):
        col -= 1  # the byte-order mark is not part of the first line's indentation
    return col


_RESOLVER = yaml.resolver.Resolver()


def _resolve(value: str) -> str:
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
        self.header: _BlockHeader | None = None
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
            return None if _HAS_BREAK.search(r) or "\t" in r else r
        if style == "'":
            return None if _HAS_BREAK.search(r) else r.replace("'", "''")
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
        if not self._verify(s, e, enc, expected):
            return None
        return s, e, enc

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
                self.col = _column(text, self.start)
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
            return _resolve(expected) == self.implicit_tag
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
    tok = _token_start(text, start, end) if start < end else start
    sm.tok = tok
    sm.col = None  # computed when an edit is verified: finding the line start can be costly
    sm.implicit_tag = _resolve(value) if style is None and tag is None else None
    if style is None:
        if tok >= end:
            decoded = ("", [end])
        else:
            decoded = _decode_plain(text, tok, end)
    elif style == "'":
        decoded = _decode_single(text, tok, end)
    elif style == '"':
        decoded = _decode_double(text, tok, end)
    elif style in "|>":
        header = _block_header(text, tok)
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


def _map_block(text: str, header: _BlockHeader, value: str):  # type: ignore[no-untyped-def]
    auto, first_col = _auto_indent(text, header.content_start)
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
        got, offsets, folds, lines = _decode_block(text, header, indent)
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
    explicit = None if tag in implicit_tags or _resolve(node.value) == tag else tag
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
