"""An iterative, position-keeping JSON scanner: a light tree of nodes with file offsets.

The JSON handler parses with the C `json` module; this scanner is what it falls back on for
valid JSON nested deeper than the C decoder's recursion limit (and what decides whether such a
text is valid at all), with `to_value` turning its tree into the values `json.loads` would give.

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

import json
import re
from typing import Any, Union

from migrator.formats.base import ParseError, no_gc

__all__ = ["JArray", "JObject", "JScalar", "JString", "Node", "ParseError", "no_gc", "parse", "to_value"]


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


# --------------------------------------------------------------------------- values


def _decode_plain(raw: str) -> str:
    # Only reached for tokens the scanner accepted, so every escape is well formed; the C
    # decoder is the fast way to decode one.
    return json.loads('"' + raw + '"')


def to_value(text: str, root: Node) -> Any:
    """The value `json.loads` gives for the tree `root` of `text` (dicts, lists, str, int,
    float, bool, None; the last of duplicate keys wins), built iteratively, so a tree of any
    depth converts."""
    def leaf(node: Node) -> Any:
        raw = text[node.start : node.end]
        if type(node) is JString:
            raw = raw[1:-1]
            return raw if "\\" not in raw else _decode_plain(raw)
        return json.loads(raw)  # numbers, literals, NaN and Infinity as json.loads reads them

    if type(root) is JString or type(root) is JScalar:
        return leaf(root)
    made: dict[int, Any] = {}
    # Post-order without recursion: a container is built once its children are.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        children = node.values if type(node) is JObject else node.items  # type: ignore[union-attr]
        if not ready:
            stack.append((node, True))
            stack.extend((c, False) for c in children if type(c) is JObject or type(c) is JArray)
            continue
        values = [made.pop(id(c)) if type(c) is JObject or type(c) is JArray else leaf(c) for c in children]
        made[id(node)] = dict(zip(node.names, values)) if type(node) is JObject else values  # type: ignore[union-attr]
    return made[id(root)]
