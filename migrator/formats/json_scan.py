"""A position-keeping JSON scanner: a light tree of nodes with file offsets.

Why not `json.loads`: it throws positions away, and rules need to know where every decoded
character of a string lives in the file (escapes included) to produce byte-minimal edits.

Design constraints, and how they are met:
- **Linear time on 20 MB dashboards.** One compiled master regex recognises a whole token
  (whitespace included) per call, so the Python loop runs once per token, not once per
  character. Strings are recognised but *not decoded*: only object keys (needed to walk the
  tree) and the few strings that become sites are ever decoded.
- **No recursion.** The parser keeps an explicit stack of open containers, so a file nested
  100 000 levels deep parses (or fails with a ParseError) instead of crashing the process.
  Every helper here that descends the tree is iterative too.
- **Errors with offsets.** Syntax errors raise `ParseError(message, offset)` with json-module
  style messages, offset = file offset of the offending character.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Callable, Iterator, Union

from migrator.formats.base import ParseError, no_gc

__all__ = [
    "JArray",
    "JObject",
    "JScalar",
    "JString",
    "JsonStyle",
    "Node",
    "ParseError",
    "decode_string",
    "element_removal_span",
    "find_string_at",
    "member_removal_span",
    "iter_strings",
    "no_gc",
    "json_pointer",
    "parse",
    "string_value",
    "to_python",
]


# --------------------------------------------------------------------------- nodes
# Plain classes with __slots__: a 20 MB dashboard makes about a million of them, and slots keep
# both creation time and memory down. Spans are [start, end) file offsets of the raw token(s).


class JString:
    """A string token; [start, end) includes both quotes. Decoded lazily (see decode_string)."""

    __slots__ = ("start", "end")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"JString({self.start}, {self.end})"


class JScalar:
    """A number, `true`, `false`, `null` (or Python's NaN/Infinity, which json.loads accepts)."""

    __slots__ = ("start", "end")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"JScalar({self.start}, {self.end})"


class JArray:
    """`items` are the element nodes; `commas[i]` is the offset of the comma after items[i]."""

    __slots__ = ("start", "end", "items", "commas")

    def __init__(self, start: int) -> None:
        self.start = start
        self.end = -1
        self.items: list[Node] = []
        self.commas: list[int] = []

    def __repr__(self) -> str:
        return f"JArray({self.start}, {self.end}, {len(self.items)} items)"


class JObject:
    """Members in file order: `keys[i]` (key token), `names[i]` (decoded key), `values[i]`."""

    __slots__ = ("start", "end", "keys", "names", "values", "commas", "_index")

    def __init__(self, start: int) -> None:
        self.start = start
        self.end = -1
        self.keys: list[JString] = []
        self.names: list[str] = []
        self.values: list[Node] = []
        self.commas: list[int] = []

    def get(self, name: str) -> "Node | None":
        """The value of member `name`; with duplicate keys the last wins, as in Go and Python."""
        try:
            index = self._index
        except AttributeError:
            # Built on first lookup only: most objects of a big file are never looked into.
            index = self._index = {n: i for i, n in enumerate(self.names)}
        i = index.get(name)
        return None if i is None else self.values[i]

    def __repr__(self) -> str:
        return f"JObject({self.start}, {self.end}, {self.names[:5]!r})"


Node = Union[JObject, JArray, JString, JScalar]


# --------------------------------------------------------------------------- scanning

_STRING = r'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"'
_SCALAR = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null|NaN|-?Infinity"
# Group numbers are the token kinds below; groups are flat so `lastindex` names the kind.
_TOKEN = re.compile(rf"[ \t\n\r]*(?:({_STRING})|([{{\[])|([}}\]])|(,)|(:)|({_SCALAR}))")
_WS = re.compile(r"[ \t\n\r]*")
# A key and its colon in one match: objects are most of a dashboard, this saves a loop turn.
_KEY = re.compile(rf"[ \t\n\r]*({_STRING})[ \t\n\r]*:")
_T_STRING, _T_OPEN, _T_CLOSE, _T_COMMA, _T_COLON, _T_SCALAR = 1, 2, 3, 4, 5, 6

# Parser states: what the next token may be.
_S_VALUE = 0  # a value (top level, after ':' or after ',' in an array)
_S_ARRAY_FIRST = 1  # a value or ']'
_S_OBJECT_FIRST = 2  # a key or '}'
_S_KEY = 3  # a key (after ',' in an object)
_S_COLON = 4
_S_AFTER = 5  # ',' or the closer of the current container (or end of text at top level)

_EXPECTED = {
    _S_VALUE: "Expecting value",
    _S_ARRAY_FIRST: "Expecting value",
    _S_OBJECT_FIRST: "Expecting property name enclosed in double quotes",
    _S_KEY: "Expecting property name enclosed in double quotes",
    _S_COLON: "Expecting ':' delimiter",
    _S_AFTER: "Expecting ',' delimiter",
}


def parse(text: str, start: int | None = None) -> Node:
    """Parse a whole JSON text into a node tree; raise ParseError(message, offset).

    A leading BOM is skipped (it is kept in the text, so offsets stay file offsets).
    """
    if start is None:
        start = 1 if text.startswith("\ufeff") else 0
    # The tree is acyclic, yet every node would count toward the cyclic collector's
    # thresholds: on a 20 MB file repeated full collections doubled the parse time.
    with no_gc():
        return _parse(text, start)


def _parse(text: str, start: int) -> Node:
    match = _TOKEN.match
    key_match = _KEY.match
    n = len(text)
    pos = start
    state = _S_VALUE
    cur: JObject | JArray | None = None  # the innermost open container
    stack: list[JObject | JArray | None] = []
    root: Node | None = None
    while True:
        if state == _S_OBJECT_FIRST or state == _S_KEY:
            m = key_match(text, pos)
            if m is not None:
                s = m.start(1)
                e = m.end(1)
                raw = text[s + 1 : e - 1]
                cur.keys.append(JString(s, e))  # type: ignore[union-attr]
                cur.names.append(raw if "\\" not in raw else _decode_plain(raw))  # type: ignore[union-attr]
                pos = m.end()
                state = _S_VALUE
                continue
        m = match(text, pos)
        if m is None:
            _fail(text, pos, state, cur)
        kind = m.lastindex
        pos = m.end()
        if state == _S_AFTER:
            if kind == _T_COMMA:
                if cur is None:
                    raise ParseError("Extra data", pos - 1)
                cur.commas.append(pos - 1)
                state = _S_KEY if type(cur) is JObject else _S_VALUE
                continue
            if kind == _T_CLOSE and cur is not None:
                if (text[pos - 1] == "}") != (type(cur) is JObject):
                    raise ParseError("Expecting ',' delimiter", pos - 1)
                cur.end = pos
                cur = stack.pop()
                if cur is None:
                    break
                continue
            raise ParseError("Extra data" if cur is None else _EXPECTED[state], m.start(kind))
        if state == _S_VALUE or state == _S_ARRAY_FIRST:
            if kind == _T_STRING:
                node: Node = JString(m.start(kind), pos)
            elif kind == _T_SCALAR:
                node = JScalar(m.start(kind), pos)
            elif kind == _T_OPEN:
                node = JObject(pos - 1) if text[pos - 1] == "{" else JArray(pos - 1)
            elif kind == _T_CLOSE and state == _S_ARRAY_FIRST and text[pos - 1] == "]":
                cur.end = pos  # type: ignore[union-attr]
                cur = stack.pop()
                state = _S_AFTER
                if cur is None:
                    break
                continue
            else:
                raise ParseError("Expecting value", m.start(kind))
            if cur is None:
                root = node
            elif type(cur) is JArray:
                cur.items.append(node)
            else:
                cur.values.append(node)  # type: ignore[union-attr]
            if kind == _T_OPEN:
                stack.append(cur)
                cur = node  # type: ignore[assignment]
                state = _S_OBJECT_FIRST if type(node) is JObject else _S_ARRAY_FIRST
            else:
                state = _S_AFTER
                if cur is None:
                    break
            continue
        if state == _S_OBJECT_FIRST or state == _S_KEY:
            if kind == _T_STRING:
                s = m.start(kind)
                raw = text[s + 1 : pos - 1]
                cur.keys.append(JString(s, pos))  # type: ignore[union-attr]
                cur.names.append(raw if "\\" not in raw else _decode_plain(raw))  # type: ignore[union-attr]
                state = _S_COLON
                continue
            if kind == _T_CLOSE and state == _S_OBJECT_FIRST and text[pos - 1] == "}":
                cur.end = pos  # type: ignore[union-attr]
                cur = stack.pop()
                state = _S_AFTER
                if cur is None:
                    break
                continue
            raise ParseError(_EXPECTED[state], m.start(kind))
        # _S_COLON
        if kind != _T_COLON:
            raise ParseError("Expecting ':' delimiter", m.start(kind))
        state = _S_VALUE
    if root is None:  # a top-level container closed: root is the bottom of the stack
        raise AssertionError("unreachable")
    end = _WS.match(text, pos).end()
    if end != n:
        raise ParseError("Extra data", end)
    return root


def _fail(text: str, pos: int, state: int, cur: JObject | JArray | None) -> None:
    """Explain why no token matched at `pos` (only runs on the error path)."""
    p = _WS.match(text, pos).end()
    if p < len(text) and text[p] == '"' and state not in (_S_AFTER, _S_COLON):
        raise ParseError(*_string_error(text, p))
    if state == _S_AFTER and cur is None:
        raise ParseError("Extra data", p)
    raise ParseError(_EXPECTED[state], p)


def _string_error(text: str, quote: int) -> tuple[str, int]:
    i = quote + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            break
        if ch == "\\":
            esc = text[i + 1 : i + 2]
            if esc == "u":
                # json also calls an escape that ends the text invalid (no room for the quote).
                if i + 6 >= n or not re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                    return "Invalid \\uXXXX escape", i + 1  # json reports the `u`
                i += 6
                continue
            if esc == "" or esc not in '"\\/bfnrt':
                return ("Unterminated string starting at", quote) if esc == "" else ("Invalid \\escape", i)
            i += 2
            continue
        if ch < " ":
            return "Invalid control character at", i
        i += 1
    return "Unterminated string starting at", quote


# --------------------------------------------------------------------------- strings

_LITERALS = {"true": True, "false": False, "null": None}
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HIGH = range(0xD800, 0xDC00)
_LOW = range(0xDC00, 0xE000)


def _decode_plain(raw: str) -> str:
    # Only reached for tokens the scanner accepted, so every escape is well formed; the C
    # decoder is the fast way to decode one.
    return json.loads('"' + raw + '"')


def string_value(text: str, node: JString) -> str:
    """The decoded value of a string token, without offsets (cheap when nothing is escaped)."""
    raw = text[node.start + 1 : node.end - 1]
    return raw if "\\" not in raw else _decode_plain(raw)


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


def to_python(text: str, node: Node) -> object:
    """The Python value of a (small) subtree, via the C json module; None if it is too deep."""
    t = type(node)
    if t is JString:
        return string_value(text, node)
    if t is JScalar:
        raw = text[node.start : node.end]
        if raw in _LITERALS:
            return _LITERALS[raw]
        try:
            return int(raw)
        except ValueError:
            return float(raw)
    try:
        return json.loads(text[node.start : node.end])
    except (ValueError, RecursionError):
        return None


# --------------------------------------------------------------------------- re-encoding

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

    def for_string(self, text: str, node: JString) -> "JsonStyle":
        """The style for one string: its own evidence about non-ASCII escaping wins."""
        raw = text[node.start + 1 : node.end - 1]
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


# --------------------------------------------------------------------------- navigation


def json_pointer(path: "list[str | int] | tuple[str | int, ...]") -> str:
    """RFC 6901 pointer for a path of keys and indexes (`~` → `~0`, `/` → `~1`)."""
    parts = []
    for p in path:
        s = str(p)
        if "~" in s or "/" in s:
            s = s.replace("~", "~0").replace("/", "~1")
        parts.append(s)
    return "/" + "/".join(parts) if parts else ""


def _start_of(node: Node) -> int:
    return node.start


class StringHit:
    """Where a string token sits: its node, its path, its parent and whether it is a key."""

    __slots__ = ("node", "path", "parent", "index", "is_key")

    def __init__(self, node: JString, path: list[str | int], parent: JObject | JArray | None, index: int, is_key: bool):
        self.node = node
        self.path = path
        self.parent = parent
        self.index = index
        self.is_key = is_key


def find_string_at(text: str, root: Node, offset: int) -> StringHit | None:
    """The string token whose raw span contains `offset`, found by bisecting down the tree.

    O(depth · log width) per lookup, iterative; None when the offset is not inside a string.
    """
    node: Node = root
    path: list[str | int] = []
    parent: JObject | JArray | None = None
    index = -1
    while True:
        if not node.start <= offset < node.end:
            return None
        t = type(node)
        if t is JString:
            return StringHit(node, path, parent, index, False)  # type: ignore[arg-type]
        if t is JArray:
            items = node.items  # type: ignore[union-attr]
            i = bisect.bisect_right(items, offset, key=_start_of) - 1
            if i < 0:
                return None
            parent, index = node, i  # type: ignore[assignment]
            path.append(i)
            node = items[i]
            continue
        if t is JObject:
            keys = node.keys  # type: ignore[union-attr]
            i = bisect.bisect_right(keys, offset, key=_start_of) - 1
            if i < 0:
                return None
            key = keys[i]
            path.append(node.names[i])  # type: ignore[union-attr]
            if key.start <= offset < key.end:
                return StringHit(key, path, node, i, True)  # type: ignore[arg-type]
            parent, index = node, i  # type: ignore[assignment]
            node = node.values[i]  # type: ignore[union-attr]
            continue
        return None


def element_removal_span(array: JArray, index: int) -> tuple[int, int]:
    """The span that removes items[index] and exactly one adjacent comma from the array.

    Not the last element: from its start to the next element's start (the element, its comma
    and the line break + indentation before the next one), so the next element takes its place
    and indentation is kept. The last element: from the end of the previous element to its own
    end (the comma, the line break and indentation before it). The only element: itself,
    leaving `[]` with the original whitespace inside.
    """
    items = array.items
    if index + 1 < len(items):
        return items[index].start, items[index + 1].start
    if index > 0:
        return items[index - 1].end, items[index].end
    return items[index].start, items[index].end


def member_removal_span(obj: JObject, index: int) -> tuple[int, int] | None:
    """The span that removes member `index` (key, colon and value) and one adjacent comma,
    the way `element_removal_span` does for arrays; None for the only member (removing it
    would leave an empty object, which is for a person to decide)."""
    keys, values = obj.keys, obj.values
    if index + 1 < len(keys):
        return keys[index].start, keys[index + 1].start
    if index > 0:
        return values[index - 1].end, values[index].end
    return None


def iter_strings(root: Node) -> Iterator[tuple[JString, bool]]:
    """Every string token (keys flagged True), iteratively; for tests and small documents."""
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        t = type(node)
        if t is JString:
            yield node, False  # type: ignore[misc]
        elif t is JArray:
            stack.extend(reversed(node.items))  # type: ignore[union-attr]
        elif t is JObject:
            for k, v in zip(reversed(node.keys), reversed(node.values)):  # type: ignore[union-attr]
                stack.append(v)
                yield k, True


Encoder = Callable[[str], str]
