"""Python string literals as sites: decoding with exact offsets, and re-encoding replacements.

A literal's *value* is what the running program sees; rules work on that value. Every decoded
character keeps the file range it came from (an escape such as ``\\x41`` is one character
spanning four), so an edit on the value maps to an edit on the source. Three layers can stand
between source and value, and all three are undone here:

* Python escapes (``\\n``, ``\\x..``, ``\\u....``, ``\\N{...}``, octal, escaped newline), absent
  in raw literals; newlines inside triple-quoted literals are normalised as the tokenizer does.
* f-string structure: ``{{``/``}}`` are literal braces, ``{expr}`` fields are not text at all.
* ``.format``/``%`` templates: the program's value goes through the template engine before it
  reaches Prometheus, so ``{{{sel}}}`` is PromQL ``{`` + a field + ``}``.

Fields become opaque placeholders that the PromQL parser accepts (a Grafana variable
``${__pyN}``, or a template region ``{{__pyN}}`` where a label matcher is expected) and are
marked protected: an edit may not cut into one. It may swallow a whole field (deleting a
PromQL term deletes the `{model}` inside it), and a replacement that still contains a
placeholder gets the field's source back from the encoder.

Implicit concatenation (``"a" "b"``) is one site: the offsets jump over the gap between the
pieces, each piece keeps its own encoder (quote, prefix), and a zero-width protected range at
every piece boundary makes `can_edit` refuse an edit that would span the gap. Deleting all
of one piece's text deletes the piece, quotes included.

The handler (`python_sites`) finds the literals with libcst and passes file offsets here;
this module never sees the syntax tree and never imports libcst.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

from migrator.formats.base import Site, SiteContext
from migrator.model import Edit, Span

__all__ = [
    "StringStyle",
    "Unit",
    "PythonStringSite",
    "UnencodableError",
    "decode_body",
    "apply_template",
    "encode_for_style",
    "build_string_site",
    "Piece",
    "style_of_simple",
]


class UnencodableError(ValueError):
    """The replacement cannot be written in this literal's style (e.g. a quote in a raw string)."""


@dataclass(frozen=True, slots=True)
class StringStyle:
    """How one literal piece is written in the source."""

    quote: str  # ' " ''' """
    raw: bool = False
    is_bytes: bool = False
    fstring: bool = False
    template: str | None = None  # "format" | "percent" | None: the value feeds a template engine
    newline: str = "\n"  # what a newline in a triple-quoted literal is written as

    @property
    def triple(self) -> bool:
        return len(self.quote) == 3


@dataclass(slots=True)
class Unit:
    """One decoded character and the half-open file range that produced it."""

    char: str
    start: int
    end: int
    piece: int = 0
    field: int = -1  # index of the placeholder field this char belongs to, -1 for literal text


_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


def decode_body(raw: str, base: int, style: StringStyle, piece: int = 0) -> list[Unit]:
    """Decode the text between the quotes (or an f-string's literal part) into units.

    `base` is the file offset of ``raw[0]``. In f-string literal parts ``{{``/``}}`` are one
    brace each (the tokenizer treats them before escapes, so ``\\x7b`` is never a field).
    """
    units: list[Unit] = []
    i, n = 0, len(raw)
    # Zero-output escapes (escaped newline) are simply skipped: the next unit starts after them.
    while i < n:
        c = raw[i]
        if style.fstring and c in "{}" and i + 1 < n and raw[i + 1] == c:
            units.append(Unit(c, base + i, base + i + 2, piece))
            i += 2
            continue
        if c == "\r":
            # The tokenizer reads source with universal newlines: CRLF and lone CR are "\n".
            width = 2 if i + 1 < n and raw[i + 1] == "\n" else 1
            units.append(Unit("\n", base + i, base + i + width, piece))
            i += width
            continue
        if c != "\\" or i + 1 >= n:
            units.append(Unit(c, base + i, base + i + 1, piece))
            i += 1
            continue
        nxt = raw[i + 1]
        if style.raw:
            # A raw literal keeps the backslash; it only stops the next char from ending it.
            units.append(Unit(c, base + i, base + i + 1, piece))
            i += 1
            continue
        if nxt == "\n" or nxt == "\r":
            i += 2
            if nxt == "\r" and i < n and raw[i] == "\n":
                i += 1
            continue
        value, width = _escape(raw, i, style)
        units.append(Unit(value, base + i, base + i + width, piece))
        i += width
    return units


def _escape(raw: str, i: int, style: StringStyle) -> tuple[str, int]:
    """(decoded char, source width) of the escape sequence starting at raw[i] == '\\'."""
    nxt = raw[i + 1]
    if nxt in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[nxt], 2
    m = _OCTAL.match(raw, i + 1)
    if m:
        return chr(int(m.group(), 8) & (0xFF if style.is_bytes else 0x1FF)), 1 + len(m.group())
    if nxt == "x":
        m = _HEX2.match(raw, i + 2)
        if m:
            return chr(int(m.group(), 16)), 4
    if not style.is_bytes:
        if nxt == "u":
            m = _HEX4.match(raw, i + 2)
            if m:
                return chr(int(m.group(), 16)), 6
        if nxt == "U":
            m = _HEX8.match(raw, i + 2)
            if m:
                return chr(min(int(m.group(), 16), 0x10FFFF)), 10
        if nxt == "N" and i + 2 < len(raw) and raw[i + 2] == "{":
            close = raw.find("}", i + 3)
            if close != -1:
                try:
                    return unicodedata.lookup(raw[i + 3 : close]), close + 1 - i
                except KeyError:
                    pass
    # Unknown escapes keep their backslash (Python warns but keeps both characters); the
    # backslash is its own unit so that the following character stays addressable.
    return "\\", 1


# ----------------------------------------------------------------------------- templates

_PERCENT_FIELD = re.compile(r"%(?:\([^()]*\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa]")


class _PromQLContext:
    """Just enough PromQL lexing state to pick a placeholder the parser will accept."""

    def __init__(self) -> None:
        self.quote = ""
        self.escaped = False
        self.brace_depth = 0
        self.last = ""

    def feed(self, c: str) -> None:
        if self.quote:
            if self.escaped:
                self.escaped = False
            elif c == "\\" and self.quote != "`":
                self.escaped = True
            elif c == self.quote:
                self.quote = ""
            return
        if c in "\"'`":
            self.quote = c
        elif c == "{":
            self.brace_depth += 1
        elif c == "}":
            self.brace_depth = max(0, self.brace_depth - 1)
        if not c.isspace():
            self.last = c

    def placeholder(self, number: int) -> str:
        name = f"__py{number}"
        if not self.quote and self.brace_depth and self.last in "{,":
            # A whole label-matcher list comes from the program: a template region is the
            # only opaque token the parser accepts there. A space keeps it from fusing with
            # the selector's own "{" into "{{{".
            return (" " if self.last == "{" else "") + "{{" + name + "}}"
        return "${" + name + "}"


def apply_template(units: list[Unit], kind: str | None) -> list[Unit]:
    """Undo a template engine over decoded units.

    Literal ``{{``/``}}`` (format) or ``%%`` (percent) become one unit spanning both source
    characters; each field becomes one empty unit with ``field >= 0`` covering its source.
    Units that already are fields (f-string pieces of the same expression) pass through.
    """
    if kind is None:
        return units
    out: list[Unit] = []
    # One character per unit, so string indices and unit indices agree; "\0" stands for an
    # existing field, which no template syntax can match.
    chars = "".join(u.char if u.field == -1 else "\0" for u in units)
    i, n = 0, len(units)
    while i < n:
        c = chars[i]
        if kind == "format":
            if c in "{}" and i + 1 < n and chars[i + 1] == c:
                out.append(Unit(c, units[i].start, units[i + 1].end, units[i].piece))
                i += 2
                continue
            if c == "{":
                end = _format_field_end(chars, i)
                if end != -1:
                    out.append(Unit("", units[i].start, units[end - 1].end, units[i].piece, 0))
                    i = end
                    continue
        elif kind == "percent" and c == "%":
            if i + 1 < n and chars[i + 1] == "%":
                out.append(Unit("%", units[i].start, units[i + 1].end, units[i].piece))
                i += 2
                continue
            m = _PERCENT_FIELD.match(chars, i)
            if m:
                out.append(Unit("", units[i].start, units[m.end() - 1].end, units[i].piece, 0))
                i = m.end()
                continue
        out.append(units[i])
        i += 1
    return out


def _format_field_end(chars: str, i: int) -> int:
    """End (exclusive) of the str.format field starting at chars[i] == '{', or -1."""
    depth = 0
    for j in range(i, min(len(chars), i + 200)):
        if chars[j] == "{":
            depth += 1
        elif chars[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        elif chars[j] == "\n":
            return -1
    return -1


# ------------------------------------------------------------------------------ encoding


def encode_for_style(text: str, style: StringStyle) -> str:
    """Write decoded `text` as source inside a literal of `style` (between its quotes)."""
    if style.template == "format":
        text = text.replace("{", "{{").replace("}", "}}")
    elif style.template == "percent":
        text = text.replace("%", "%%")
    if style.fstring:
        text = text.replace("{", "{{").replace("}", "}}")
    if style.raw:
        if not style.triple and ("\n" in text or "\r" in text):
            raise UnencodableError("a raw single-line string cannot hold a newline")
        if style.quote[0] in text or text.endswith("\\"):
            raise UnencodableError(f"a raw string cannot hold {style.quote[0]!r} or end in a backslash")
        if style.is_bytes and any(ord(c) > 0x7F for c in text):
            raise UnencodableError("a raw bytes literal holds ASCII only")
        return text
    quote = style.quote[0]
    out: list[str] = []
    for c in text:
        if c == "\\":
            out.append("\\\\")
        elif c == quote:
            out.append("\\" + c)
        elif c == "\n":
            out.append(style.newline if style.triple else "\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append(c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02x}")
        elif style.is_bytes and ord(c) > 0x7F:
            if ord(c) > 0xFF:
                raise UnencodableError(f"{c!r} does not fit in a bytes literal")
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return "".join(out)


def _piece_encoder(style: StringStyle, fields: dict[str, str]) -> Callable[[str], str]:
    """An encoder for one piece; placeholders of this piece's own fields are written back as
    the field's source, so a rule may move text that contains them within the piece."""
    if not fields:
        return lambda text: encode_for_style(text, style)
    pattern = re.compile("|".join(re.escape(p) for p in sorted(fields, key=len, reverse=True)))

    def encode(text: str) -> str:
        out: list[str] = []
        pos = 0
        for m in pattern.finditer(text):
            out.append(encode_for_style(text[pos : m.start()], style))
            out.append(fields[m.group()])
            pos = m.end()
        out.append(encode_for_style(text[pos:], style))
        return "".join(out)

    return encode


# ---------------------------------------------------------------------------------- sites


@dataclass(slots=True)
class PythonStringSite(Site):
    """A site over one Python string expression, possibly made of several literal pieces.

    `ends[i]` is the file offset where decoded char i ends; it differs from `offsets[i + 1]`
    at piece boundaries (the gap between two pieces belongs to neither).
    """

    ends: list[int] = field(default_factory=list)
    unit_pieces: list[int] = field(default_factory=list)
    piece_encoders: list[Callable[[str], str]] = field(default_factory=list)
    piece_ends: list[int] = field(default_factory=list)  # file offset of each piece's closing quote
    piece_starts: list[int] = field(default_factory=list)  # file offset after each opening quote
    piece_literals: list[tuple[int, int]] = field(default_factory=list)  # prefix..closing quote
    source_text: str = ""

    def _point(self, index: int) -> int:
        """File offset where decoded char `index` starts (or where the value ends)."""
        n = len(self.value)
        if index < n:
            return self.to_file(index)
        if n:
            return self.ends[-1]
        return self.piece_ends[0] if self.piece_ends else self.to_file(0)

    def file_span(self, start: int, end: int) -> Span:
        begin = self._point(start)
        return Span(begin, self.ends[end - 1] if end > start else begin)

    def piece_of(self, start: int, end: int) -> int:
        """The single piece an edit of decoded [start, end) lies in; ValueError if it spans two."""
        n = len(self.value)
        if n == 0:
            return 0
        first = self.unit_pieces[min(start, n - 1)] if start < n else self.unit_pieces[n - 1]
        last = self.unit_pieces[end - 1] if end > start else first
        if first != last:
            raise ValueError("the edit spans two pieces of an implicitly concatenated string")
        return first

    def edit(self, start: int, end: int, replacement: str) -> Edit:
        piece = self.piece_of(start, end)
        if not replacement and end > start:
            whole = self._whole_piece_span(piece, start, end)
            if whole is not None:
                return Edit(whole, "")
        return Edit(self.file_span(start, end), self.piece_encoders[piece](replacement))

    def _whole_piece_span(self, piece: int, start: int, end: int) -> Span | None:
        """Deleting everything a piece holds deletes the piece itself (quotes, prefix and the
        gap before it) rather than leaving `''` behind; not when a comment sits in that gap."""
        if len(self.piece_literals) < 2:
            return None
        indices = [i for i, p in enumerate(self.unit_pieces) if p == piece]
        if not indices or start > indices[0] or end < indices[-1] + 1:
            return None
        lit_start, lit_end = self.piece_literals[piece]
        if piece > 0:
            span = Span(self.piece_literals[piece - 1][1], lit_end)
        else:
            span = Span(lit_start, self.piece_literals[1][0])
        return None if "#" in self._gap_text(span, lit_start, lit_end) else span

    def _gap_text(self, span: Span, lit_start: int, lit_end: int) -> str:
        # Only the gap is checked; a "#" inside the literal itself is just text.
        return self.source_text[span.start : lit_start] + self.source_text[lit_end : span.end]


@dataclass(slots=True)
class Piece:
    """One literal of an (implicitly concatenated) string expression, as the handler sees it."""

    style: StringStyle
    body_start: int  # file offset after the opening quote
    body_end: int  # file offset of the closing quote
    # Literal text parts and fields in order: ("text", start, end) or ("field", start, end).
    parts: list[tuple[str, int, int]] = field(default_factory=list)
    literal: tuple[int, int] = (0, 0)  # the whole literal, prefix and quotes included


def style_of_simple(prefix: str, quote: str, body: str, template: str | None) -> StringStyle:
    p = prefix.lower()
    return StringStyle(
        quote=quote,
        raw="r" in p,
        is_bytes="b" in p,
        fstring="f" in p,
        template=None if "f" in p else template,
        newline="\r\n" if "\r\n" in body else "\n",
    )


def build_string_site(
    text: str,
    pieces: list[Piece],
    *,
    kind: Any,
    locator: str,
    editable: bool = True,
    readonly_reason: str = "",
    context: SiteContext | None = None,
) -> PythonStringSite:
    """Decode the pieces of one string expression into a site (see the module docstring)."""
    template = pieces[0].style.template if pieces else None
    if _is_plain(pieces):
        return _plain_site(text, pieces, kind, locator, editable, readonly_reason, context)
    units: list[Unit] = []
    for number, piece in enumerate(pieces):
        for part_kind, start, end in piece.parts:
            if part_kind == "text":
                units.extend(decode_body(text[start:end], start, piece.style, number))
            else:
                units.append(Unit("", start, end, number, 0))
    units = apply_template(units, template)
    field_number = 0
    for unit in units:
        if unit.field != -1:
            unit.field = field_number
            field_number += 1

    # Expand each field into its placeholder now that the literal context before it is known.
    context_state = _PromQLContext()
    chars: list[str] = []
    offsets: list[int] = []
    ends: list[int] = []
    unit_pieces: list[int] = []
    protected: list[tuple[int, int]] = []
    piece_fields: list[dict[str, str]] = [{} for _ in pieces]
    previous_piece = 0
    for unit in units:
        if unit.piece != previous_piece and chars:
            protected.append((len(chars), len(chars)))
        previous_piece = unit.piece
        if unit.field != -1:
            placeholder = context_state.placeholder(unit.field)
            begin = len(chars)
            for k, c in enumerate(placeholder):
                chars.append(c)
                offsets.append(unit.start if k == 0 else unit.end)
                ends.append(unit.end)
                unit_pieces.append(unit.piece)
            protected.append((begin, len(chars)))
            source = text[unit.start : unit.end]
            piece_fields[unit.piece][placeholder] = source
            piece_fields[unit.piece][placeholder.strip()] = source
            continue
        context_state.feed(unit.char)
        chars.append(unit.char)
        offsets.append(unit.start)
        ends.append(unit.end)
        unit_pieces.append(unit.piece)
    final = ends[-1] if ends else (pieces[0].body_end if pieces else 0)
    offsets.append(final)
    encoders = [_piece_encoder(p.style, piece_fields[i]) for i, p in enumerate(pieces)]
    return _site_of(text, pieces, encoders, "".join(chars), offsets, ends, unit_pieces, protected,
                    kind, locator, editable, readonly_reason, context)


def _is_plain(pieces: list[Piece]) -> bool:
    """No field and no template: what most literals are, and `_plain_site` builds faster."""
    return all(p.style.template is None and all(k == "text" for k, _, _ in p.parts) for p in pieces)


def _decoded_run(raw: str, base: int, style: StringStyle) -> tuple[str, Any, Any]:
    """(decoded text, start offsets, end offsets) of one text part; a run without escapes,
    carriage returns or braces maps one character to one character."""
    if "\\" not in raw and "\r" not in raw and not (style.fstring and ("{" in raw or "}" in raw)):
        n = len(raw)
        return raw, range(base, base + n), range(base + 1, base + n + 1)
    units = decode_body(raw, base, style)
    return "".join(u.char for u in units), [u.start for u in units], [u.end for u in units]


def _plain_site(
    text: str,
    pieces: list[Piece],
    kind: Any,
    locator: str,
    editable: bool,
    readonly_reason: str,
    context: SiteContext | None,
) -> PythonStringSite:
    """`build_string_site` for pieces with no field and no template: the same site, without a
    unit object per character."""
    chars: list[str] = []
    offsets: list[int] = []
    ends: list[int] = []
    unit_pieces: list[int] = []
    protected: list[tuple[int, int]] = []
    total = 0
    previous = 0
    for number, piece in enumerate(pieces):
        for _, start, end in piece.parts:
            decoded, starts, stops = _decoded_run(text[start:end], start, piece.style)
            if not decoded:
                continue
            if total and number != previous:
                protected.append((total, total))  # the gap between two pieces
            previous = number
            chars.append(decoded)
            offsets.extend(starts)
            ends.extend(stops)
            unit_pieces.extend([number] * len(decoded))
            total += len(decoded)
    offsets.append(ends[-1] if ends else (pieces[0].body_end if pieces else 0))
    encoders = [_piece_encoder(p.style, {}) for p in pieces]
    return _site_of(text, pieces, encoders, "".join(chars), offsets, ends, unit_pieces, protected,
                    kind, locator, editable, readonly_reason, context)


def _site_of(
    text: str,
    pieces: list[Piece],
    encoders: list[Any],
    value: str,
    offsets: list[int],
    ends: Any,
    unit_pieces: list[int],
    protected: list[tuple[int, int]],
    kind: Any,
    locator: str,
    editable: bool,
    readonly_reason: str,
    context: SiteContext | None,
) -> PythonStringSite:
    """The site of decoded `pieces`, however they were decoded (per unit or per plain run)."""
    return PythonStringSite(
        value=value,
        kind=kind,
        locator=locator,
        offsets=offsets,
        editable=editable,
        readonly_reason=readonly_reason,
        encode=encoders[0] if encoders else (lambda s: s),
        protected=tuple(protected),
        context=context if context is not None else SiteContext(),
        ends=ends,
        unit_pieces=unit_pieces,
        piece_encoders=encoders,
        piece_ends=[p.body_end for p in pieces],
        piece_starts=[p.body_start for p in pieces],
        piece_literals=[p.literal for p in pieces],
        source_text=text,
    )
