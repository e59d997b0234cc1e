"""Decoding YAML scalars with positions: for every decoded character, the offset it came from.

PyYAML reports where a scalar starts and ends, not where each decoded character came from:
escapes (`\\"`, `\\u00e9`), folded line breaks, block indentation and chomping all make the
decoded value differ from its source text. One decoder per style (plain, single-quoted,
double-quoted, literal/folded block) follows PyYAML's own scanning rules and records the source
offset of each character; `yaml_scalars.map_scalar` checks the result against the loader's
value, so a decoder that disagrees with the loader never produces a site.
"""

from __future__ import annotations

import re

from migrator.formats.templates import line_start
from migrator.formats.yaml_compose import BREAKS


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
HAS_BREAK = re.compile("[\r\n\x85\u2028\u2029]")


def _keep(text: str, i: int, j: int, out: list[str], offs: list[int]) -> None:
    """Copy source characters that decode to themselves."""
    if i < j:
        out.append(text[i:j])
        offs.extend(range(i, j))


def _blanks(text: str, i: int, j: int, out: list[str], offs: list[int]) -> None:
    """A run of white space: folded when it spans a line break, kept as written otherwise."""
    if HAS_BREAK.search(text, i, j):
        _fold(text, i, j, out, offs)
    else:
        _keep(text, i, j, out, offs)


def decode_plain(text: str, ts: int, te: int) -> tuple[str, list[int]]:
    out: list[str] = []
    offs: list[int] = []
    pos = ts
    for m in _WS_RUN.finditer(text, ts, te):
        i, j = m.span()
        _keep(text, pos, i, out, offs)
        _blanks(text, i, j, out, offs)
        pos = j
    _keep(text, pos, te, out, offs)
    offs.append(te)
    return "".join(out), offs


_SQ_SPECIAL = re.compile("''|[ \t\r\n\x85\u2028\u2029]+")


def decode_single(text: str, ts: int, te: int) -> tuple[str, list[int]] | None:
    if te - ts < 2 or text[ts] != "'" or text[te - 1] != "'":
        return None
    out: list[str] = []
    offs: list[int] = []
    pos = ts + 1
    end = te - 1
    for m in _SQ_SPECIAL.finditer(text, pos, end):
        i, j = m.span()
        _keep(text, pos, i, out, offs)
        if text[i] == "'":
            out.append("'")
            offs.append(i)
        else:
            _blanks(text, i, j, out, offs)
        pos = j
    _keep(text, pos, end, out, offs)
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


def decode_double(text: str, ts: int, te: int) -> tuple[str, list[int]] | None:
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
            _keep(text, pos, i, out, offs)
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
        else:
            _blanks(text, i, j, out, offs)
        pos = j
    if "\\" in text[pos:end]:
        return None
    _keep(text, pos, end, out, offs)
    offs.append(end)
    return "".join(out), offs


class BlockHeader:
    __slots__ = ("folded", "chomp", "increment", "content_start", "brk")

    def __init__(self, folded: bool, chomp: str, increment: int | None, content_start: int, brk: str):
        self.folded = folded
        self.chomp = chomp  # "", "-" or "+"
        self.increment = increment
        self.content_start = content_start
        self.brk = brk  # the line break the header line ends with, reused by the encoder


def block_header(text: str, ts: int) -> BlockHeader | None:
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
        return BlockHeader(folded, chomp, increment, n, "\n")
    if text[i] not in BREAKS:
        return None
    blen = _break_len(text, i)
    return BlockHeader(folded, chomp, increment, i + blen, text[i : i + blen])


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


def decode_block(
    text: str, header: BlockHeader, indent: int
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


def auto_indent(text: str, start: int) -> tuple[int, int]:
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


def token_start(text: str, start: int, end: int) -> int:
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


def column(text: str, pos: int) -> int:
    first = line_start(text, pos)
    col = pos - first
    if first == 0 and text.startswith("\ufeff"):
        col -= 1  # the byte-order mark is not part of the first line's indentation
    return col
