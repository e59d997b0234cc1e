"""File names as people and formats see them.

Inside the tool a file name is a `str` made by `os.fsdecode`: bytes that are not UTF-8 become
lone surrogates (PEP 383 `surrogateescape`), so `os.fsencode` gives back the exact bytes and
the file can always be opened and written again. Such a string cannot be printed or encoded
as UTF-8, and a name may also hold control characters that a terminal would obey. Everything
that leaves the tool as text goes through `printable` (or `uri_path` for URIs).
"""

from __future__ import annotations

import os
import re

# Lone surrogates (undecodable bytes), C0/C1 controls and DEL, and the bidirectional controls
# that reorder what a terminal shows ("Trojan Source").
_UNPRINTABLE = re.compile("[\udc80-\udcff\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(name: str) -> str:
    """`name` with undecodable bytes and control characters written as `\\xNN` / `\\uNNNN`:
    safe for a terminal, UTF-8 files, JSON and XML. Readable, not reversible (a name that
    really contains a backslash followed by `xNN` looks the same)."""
    if name.isprintable() and name.isascii():
        return name
    return _UNPRINTABLE.sub(_escape, name)


def uri_path(name: str) -> str:
    """A relative path as a URI reference: the file name's bytes, percent-encoded (RFC 3986),
    so every name, including undecodable ones, round-trips."""
    from urllib.parse import quote_from_bytes  # only the SARIF format needs it

    return quote_from_bytes(os.fsencode(name), safe="/")
