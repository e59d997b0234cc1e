"""JSON strings: decoding with a map from each decoded character to its place in the file, and
re-encoding replacements the way the file writes its strings (`JsonStyle`)."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence

__all__ = ["JsonStyle", "OffsetMap", "decode_string", "decode_token"]

_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HIGH = range(0xD800, 0xDC00)
_LOW = range(0xDC00, 0xE000)


def decode_string(text: str, start: int, end: int) -> tuple[str, list[int]]:
    """Decode the string token text[start:end] (quotes included).

    Returns (value, offsets): offsets[i] is the file offset of decoded character i and
    offsets[len(value)] the offset of the closing quote. An escape maps to the offset of its
    backslash; a surrogate pair `\\ud83d\\ude00` decodes to one code point mapped to the start
    of the 12-character escape. A lone surrogate escape decodes to a lone surrogate, as
    json.loads does.
    """
    i = start + 1
    stop = end - 1
    if text.find("\\", i, stop) == -1:
        return text[i:stop], list(range(i, stop + 1))
    chars: list[str] = []
    offsets: list[int] = []
    find = text.find
    while i < stop:
        j = find("\\", i, stop)
        if j == -1:
            j = stop
        if j > i:
            chars.append(text[i:j])
            offsets.extend(range(i, j))
        if j == stop:
            break
        esc = text[j + 1]
        if esc != "u":
            chars.append(_SIMPLE_ESCAPES[esc])
            offsets.append(j)
            i = j + 2
            continue
        code = int(text[j + 2 : j + 6], 16)
        i = j + 6
        if code in _HIGH and text.startswith("\\u", i):
            low = int(text[i + 2 : i + 6], 16)
            if low in _LOW:
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                i += 6
        chars.append(chr(code))
        offsets.append(j)
    offsets.append(stop)
    return "".join(chars), offsets


# One escape as it decodes: a surrogate pair is one code point, anything else one character.
_ESCAPE = re.compile(r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", re.DOTALL)


class OffsetMap(Sequence[int]):
    """`decode_string`'s offsets without a list of one offset per character: the file offset of
    decoded character i is `base + i` plus what the escapes before it add (each escape maps to
    its backslash). Built from the escapes alone, so a long string with two escapes costs two
    entries, not thousands."""

    __slots__ = ("base", "length", "_at", "_before", "_after")

    def __init__(self, base: int, length: int, escapes: list[tuple[int, int]]) -> None:
        """`escapes`: (raw offset from `base`, raw length) of each escape, in order; `length`:
        the number of decoded characters."""
        self.base = base
        self.length = length
        self._at: list[int] = []  # decoded index of each escape
        self._before: list[int] = []  # raw characters gained before it
        self._after: list[int] = []  # ... and after it
        gained = 0
        for raw, size in escapes:
            self._at.append(raw - gained)
            self._before.append(gained)
            gained += size - 1
            self._after.append(gained)

    def __len__(self) -> int:
        return self.length + 1

    def _offset(self, i: int) -> int:
        k = bisect_right(self._at, i) - 1
        if k < 0:
            return self.base + i
        return self.base + i + (self._before[k] if self._at[k] == i else self._after[k])

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        if isinstance(index, slice):
            return [self._offset(i) for i in range(*index.indices(self.length + 1))]
        if index < 0:
            index += self.length + 1
        if not 0 <= index <= self.length:
            raise IndexError(index)
        return self._offset(index)

    def __iter__(self) -> Iterator[int]:
        return (self._offset(i) for i in range(self.length + 1))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"OffsetMap({self.base}, {self.length}, {len(self._at)} escapes)"


def decode_token(text: str, start: int, end: int) -> tuple[str, OffsetMap | None]:
    """The string token text[start:end] decoded, with its offsets as an `OffsetMap` — or None
    when nothing is escaped: decoded character i is then at file offset start + 1 + i (what
    `Site.base` says)."""
    raw = text[start + 1 : end - 1]
    if "\\" not in raw:
        return raw, None
    value: str = json.loads(text[start:end])
    escapes = [(m.start(), m.end() - m.start()) for m in _ESCAPE.finditer(raw)]
    return value, OffsetMap(start + 1, len(value), escapes)


_HTML_ESCAPE_RE = re.compile(r"\\u00(?:3[cCeE]|26)")
_NON_ASCII_ESCAPE_RE = re.compile(r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})")
_UPPER_HEX_RE = re.compile(r"\\u[0-9A-F]{0,3}[A-F]")
_LOWER_HEX_RE = re.compile(r"\\u[0-9a-f]{0,3}[a-f]")
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class JsonStyle:
    """How a file escapes strings, so a replacement is written the way its neighbours are.

    - `"`, `\\` and control characters are always escaped (that is JSON);
    - lone surrogates are always written as `\\uXXXX` (a literal one cannot be UTF-8 encoded);
    - `html_safe`: `<`, `>`, `&`, U+2028, U+2029 as `\\u003c`… — Go's encoding/json default,
      so common in Grafana exports;
    - `ascii_only`: non-ASCII as `\\uXXXX` (Python's json.dumps default);
    - `escape_slash`: `/` as `\\/` (PHP's json_encode);
    - `upper_hex`: hex digits of `\\u` escapes in upper case.
    """

    __slots__ = ("html_safe", "ascii_only", "escape_slash", "upper_hex", "_re")

    def __init__(
        self,
        *,
        html_safe: bool = False,
        ascii_only: bool = False,
        escape_slash: bool = False,
        upper_hex: bool = False,
    ) -> None:
        self.html_safe = html_safe
        self.ascii_only = ascii_only
        self.escape_slash = escape_slash
        self.upper_hex = upper_hex
        special = r'"\\\x00-\x1f\ud800-\udfff'
        if html_safe:
            special += "<>&\u2028\u2029"
        if escape_slash:
            special += "/"
        if ascii_only:
            special += "\x80-\U0010ffff"
        self._re = re.compile(f"[{special}]")

    @classmethod
    def detect(cls, text: str) -> "JsonStyle":
        """The style of a whole file (cheap: a few C-level scans)."""
        has_u = "\\u" in text
        html_safe = has_u and _HTML_ESCAPE_RE.search(text) is not None
        # ASCII-only output: the file escapes non-ASCII and never writes it literally.
        ascii_only = has_u and text.isascii() and _NON_ASCII_ESCAPE_RE.search(text) is not None
        escape_slash = "\\/" in text
        upper_hex = has_u and _UPPER_HEX_RE.search(text) is not None and _LOWER_HEX_RE.search(text) is None
        return cls(html_safe=html_safe, ascii_only=ascii_only, escape_slash=escape_slash, upper_hex=upper_hex)

    def for_string(self, text: str, start: int, end: int) -> "JsonStyle":
        """The style for the string token text[start:end]: its own evidence about non-ASCII
        escaping wins."""
        raw = text[start + 1 : end - 1]
        if _NON_ASCII_ESCAPE_RE.search(raw) is not None:
            ascii_only = True
        elif not raw.isascii():
            ascii_only = False
        else:
            ascii_only = self.ascii_only
        if ascii_only == self.ascii_only:
            return self
        return JsonStyle(
            html_safe=self.html_safe, ascii_only=ascii_only, escape_slash=self.escape_slash, upper_hex=self.upper_hex
        )

    def _escape(self, m: re.Match[str]) -> str:
        ch = m.group()
        short = _SHORT.get(ch)
        if short is not None:
            return short
        if ch == "/":
            return "\\/"
        code = ord(ch)
        fmt = "\\u{:04X}" if self.upper_hex else "\\u{:04x}"
        if code > 0xFFFF:
            code -= 0x10000
            return fmt.format(0xD800 + (code >> 10)) + fmt.format(0xDC00 + (code & 0x3FF))
        return fmt.format(code)

    def encode(self, value: str) -> str:
        """A decoded replacement as the inside of a JSON string in this style."""
        return self._re.sub(self._escape, value)

    def __repr__(self) -> str:
        flags = [k for k in ("html_safe", "ascii_only", "escape_slash", "upper_hex") if getattr(self, k)]
        return f"JsonStyle({', '.join(flags)})"
