"""Where things are in a valid JSON text, found lazily for the few values that need it.

The JSON handler takes the document's structure from the C `json` module (fast, but it throws
positions away) and asks this index where a value lives only for the strings that become sites,
the targets a fix may remove and the strings the needle fallback lands in.

How it stays fast (a 5 MB dashboard has a quarter of a million string and bracket tokens):
- **One C-speed pass** records the end offset of every bracket outside strings (`ends`) and the
  nesting depth after each (`depth`), as compact arrays, without a Python step per string or
  bracket. A container's closing bracket is then the first later bracket back at its depth
  (`array.index`). Between two brackets there are only whole strings, whitespace, `:`, `,` and
  numbers/literals, so the strings of such a stretch are found on demand (and kept) by looking
  for quotes from its start.
- **Keys are found without walking the object**: the raw spelling `"key"` is searched backwards
  in the object's span and accepted only when it is a whole string at the object's own depth
  followed by `:`. Backwards, because with duplicate keys the last one wins (as in
  `json.loads`). This needs raw spelling = decoded spelling, so a document with any escape in
  any key (checked once, in C) indexes objects member by member instead.
- Containers that are walked member by member (arrays; objects for duplicate keys, the needle
  fallback and containers of sites) are indexed once and cached.

Addressing is by path: object keys and array indexes, as the walkers build them. A plain `str`
key means the member `json.loads` kept (the last of duplicates); a `MemberKey` names one
occurrence of a duplicated key, so every member stays reachable.

The index assumes the text is valid JSON (the caller has parsed it), and is iterative: a
document nested deeper than the C decoder's recursion limit is indexed the same way.
"""

from __future__ import annotations

import json
import re
from array import array
from bisect import bisect_right
from itertools import accumulate
from typing import Sequence

from migrator.model import removal_runs

__all__ = ["JsonIndex", "Loc", "MemberKey", "StringHit", "json_pointer", "removal_spans"]

# Everything up to and including the next bracket outside strings (strings need no validation
# here: the text is valid JSON).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_TO_BRACKET = re.compile(rf'[^"\[\]{{}}]*(?:{_STRING}[^"\[\]{{}}]*)*[\[\]{{}}]', re.DOTALL)
_STRING_TOKEN = re.compile(_STRING, re.DOTALL)
_DEPTH_STEP = {"{": 1, "[": 1, "}": -1, "]": -1}
_COLON = re.compile(r"[ \t\n\r]*:[ \t\n\r]*")
_WS = re.compile(r"[ \t\n\r]*")
# After a value: whitespace, then `,` or the closer of its container.
_AFTER = re.compile(r"[ \t\n\r]*([,\]}])[ \t\n\r]*")
_AFTER_STRING = frozenset(" \t\n\r,:}]")
# A number or literal ends where its container's punctuation or whitespace starts.
_SCALAR = re.compile(r"[^,\]}\s]+")
# An escape in a key: from its last escape to the closing quote, then `:`. A key with an escape
# always matches there; a false positive (a value that happens to look like it) costs speed only.
_ESCAPED_KEY = re.compile(r'\\.[^"\\]*"[ \t\n\r]*:', re.DOTALL)


def _start_of(loc: "Loc") -> int:
    return loc.start


class MemberKey(str):
    """One occurrence of a key that appears more than once in its object: the `nth` (from 0) in
    file order. Reads as the key itself (JSON pointers, messages)."""

    __slots__ = ("nth",)

    def __new__(cls, name: str, nth: int) -> "MemberKey":
        key = super().__new__(cls, name)
        key.nth = nth
        return key

    def __getnewargs__(self) -> tuple[str, int]:  # type: ignore[override]
        return (str(self), self.nth)


def json_pointer(path: Sequence[str | int]) -> str:
    """RFC 6901 pointer for a path of keys and indexes (`~` → `~0`, `/` → `~1`)."""
    if not path:
        return ""
    joined = "/".join(map(str, path))
    if "~" not in joined and joined.count("/") == len(path) - 1:
        return "/" + joined  # no key holds a `~` or a `/`
    parts = []
    for p in path:
        s = str(p)
        if "~" in s or "/" in s:
            s = s.replace("~", "~0").replace("/", "~1")
        parts.append(s)
    return "/" + "/".join(parts)


class Loc:
    """A located value: [start, end) of its raw text; `tok` is the index of a container's
    opening bracket, -1 for a string, number or literal."""

    __slots__ = ("start", "end", "tok")

    def __init__(self, start: int, end: int, tok: int) -> None:
        self.start = start
        self.end = end
        self.tok = tok

    def __repr__(self) -> str:
        return f"Loc({self.start}, {self.end}, tok={self.tok})"


class Members:
    """An object's members in file order (duplicates included), as parallel lists."""

    __slots__ = ("key_starts", "names", "values", "_duplicates", "_last")

    def __init__(self) -> None:
        self.key_starts: list[int] = []
        self.names: list[str] = []
        self.values: list[Loc] = []
        self._duplicates: bool | None = None
        self._last: dict[str, int] | None = None

    def last(self, name: str) -> int | None:
        """The position of the last member called `name` (the one `json.loads` keeps)."""
        if self._last is None:
            self._last = {n: i for i, n in enumerate(self.names)}
        return self._last.get(name)

    @property
    def duplicates(self) -> bool:
        if self._duplicates is None:
            self._duplicates = len(set(self.names)) != len(self.names)
        return self._duplicates

    def occurrence(self, i: int) -> str:
        """The path key of member `i`: the plain name for the member `json.loads` keeps (the
        last with that name), a `MemberKey` for an earlier duplicate."""
        name = self.names[i]
        if not self.duplicates or name not in self.names[i + 1 :]:
            return name
        return MemberKey(name, self.names[:i].count(name))


class StringHit:
    """The string token holding an offset: its span, its path, its parent container and its
    position there, and whether it is a key."""

    __slots__ = ("start", "end", "path", "parent", "index", "is_key")

    def __init__(self, start: int, end: int, path: list[str | int], parent: Loc | None, index: int, is_key: bool) -> None:
        self.start = start
        self.end = end
        self.path = path
        self.parent = parent
        self.index = index
        self.is_key = is_key


class JsonIndex:
    def __init__(self, text: str, start: int = 0) -> None:
        """`start`: where the JSON value begins (after a BOM); the text must be valid JSON."""
        self.text = text
        # Where each bracket outside strings ends (file offsets, which outgrow 32 bits only past
        # 2 GB), and the nesting depth after it.
        first = _WS.match(text, start).end()  # type: ignore[union-attr]
        if text[first : first + 1] in ("{", "["):
            self.ends = array("q", map(re.Match.end, _TO_BRACKET.finditer(text, start)))
        else:  # a lone string or scalar: no brackets (and a search would find some inside it)
            self.ends = array("q")
        self.depth = array("i", accumulate(map(_DEPTH_STEP.__getitem__, map(text.__getitem__, map((-1).__add__, self.ends)))))
        self.start = start
        self._escaped_keys: bool | None = None
        self._members: dict[int, Members] = {}
        self._elements: dict[int, list[Loc]] = {}
        # (container bracket, key) -> the member's value, for paths asked for before.
        self._children: dict[tuple[int, str], Loc] = {}
        # Bracket index -> (starts, ends) of the strings between it and the bracket before it.
        self._strings: dict[int, tuple[list[int], list[int]]] = {}
        self._root: Loc | None = None

    # ------------------------------------------------------------------ brackets and strings

    def kind(self, tok: int) -> str:
        """The bracket: `{`, `[`, `}` or `]`."""
        return self.text[self.ends[tok] - 1]

    def _value_at(self, pos: int, tok: int) -> tuple[Loc, int]:
        """The value starting at `pos`, where `tok` is the first bracket at or after `pos`; and
        the first bracket after the value."""
        text = self.text
        c = text[pos]
        if c == '"':
            return Loc(pos, _STRING_TOKEN.match(text, pos).end(), -1), tok  # type: ignore[union-attr]
        if c == "{" or c == "[":
            close = self.depth.index(self.depth[tok] - 1, tok + 1)
            return Loc(pos, self.ends[close], tok), close + 1
        return Loc(pos, _SCALAR.match(text, pos).end(), -1), tok  # type: ignore[union-attr]

    def strings_before(self, tok: int) -> tuple[list[int], list[int]]:
        """(starts, ends) of the strings between bracket `tok - 1` (or the start) and bracket
        `tok` (or the end), found once."""
        found = self._strings.get(tok)
        if found is None:
            text, ends = self.text, self.ends
            lo = ends[tok - 1] if tok else self.start
            hi = ends[tok] - 1 if tok < len(ends) else len(text)
            starts: list[int] = []
            stops: list[int] = []
            q = text.find('"', lo, hi)
            while q != -1:
                end = _STRING_TOKEN.match(text, q).end()  # type: ignore[union-attr]
                starts.append(q)
                stops.append(end)
                q = text.find('"', end, hi)
            found = self._strings[tok] = (starts, stops)
        return found

    def root(self) -> Loc:
        if self._root is None:
            pos = _WS.match(self.text, self.start).end()  # type: ignore[union-attr]
            self._root = self._value_at(pos, 0)[0]
        return self._root

    # ------------------------------------------------------------------ containers

    def members(self, obj: Loc) -> Members:
        """An object's members, indexed once."""
        found = self._members.get(obj.tok)
        if found is not None:
            return found
        text = self.text
        m = Members()
        tok = obj.tok + 1
        pos = _WS.match(text, obj.start + 1).end()  # type: ignore[union-attr]
        if text[pos] != "}":
            while True:
                key_end = _STRING_TOKEN.match(text, pos).end()  # type: ignore[union-attr]
                raw = text[pos + 1 : key_end - 1]
                m.key_starts.append(pos)
                m.names.append(raw if "\\" not in raw else json.loads(text[pos:key_end]))
                value, tok = self._value_at(_COLON.match(text, key_end).end(), tok)  # type: ignore[union-attr]
                m.values.append(value)
                after = _AFTER.match(text, value.end)
                if after.group(1) == "}":  # type: ignore[union-attr]
                    break
                pos = after.end()  # type: ignore[union-attr]
        self._members[obj.tok] = m
        return m

    def elements(self, arr: Loc) -> list[Loc]:
        """An array's elements, indexed once."""
        found = self._elements.get(arr.tok)
        if found is not None:
            return found
        text = self.text
        items: list[Loc] = []
        tok = arr.tok + 1
        pos = _WS.match(text, arr.start + 1).end()  # type: ignore[union-attr]
        if text[pos] != "]":
            while True:
                value, tok = self._value_at(pos, tok)
                items.append(value)
                after = _AFTER.match(text, value.end)
                if after.group(1) == "]":  # type: ignore[union-attr]
                    break
                pos = after.end()  # type: ignore[union-attr]
        self._elements[arr.tok] = items
        return items

    # ------------------------------------------------------------------ paths

    def locate(self, path: Sequence[str | int]) -> Loc:
        """The value at `path` (KeyError/IndexError when there is none)."""
        loc = self._root or self.root()
        for key in path:
            loc = self.child(loc, key)
        return loc

    def child(self, loc: Loc, key: str | int) -> Loc:
        """The member `key` (or element `key`) of the container at `loc`."""
        if type(key) is int:
            if loc.tok < 0 or self.kind(loc.tok) != "[":
                raise KeyError(key)
            return (self._elements.get(loc.tok) or self.elements(loc))[key]
        if type(key) is MemberKey:  # equal to its plain name: not cached beside it
            return self._member(loc, key)
        found = self._children.get((loc.tok, key))
        if found is None:
            found = self._children[(loc.tok, key)] = self._member(loc, key)  # type: ignore[arg-type]
        return found

    def _member(self, loc: Loc, key: str) -> Loc:
        if loc.tok < 0 or self.kind(loc.tok) != "{":
            raise KeyError(key)
        if type(key) is MemberKey:
            m = self.members(loc)
            seen = -1
            for i, name in enumerate(m.names):
                if name == key:
                    seen += 1
                    if seen == key.nth:  # type: ignore[attr-defined]
                        return m.values[i]
            raise KeyError(key)
        found = self._find_key(loc, key)
        if found is not None:
            return found
        m = self.members(loc)
        i = m.last(key)
        if i is None:
            raise KeyError(key)
        return m.values[i]

    @property
    def escaped_keys(self) -> bool:
        if self._escaped_keys is None:
            self._escaped_keys = _ESCAPED_KEY.search(self.text, self.start) is not None
        return self._escaped_keys

    def _find_key(self, obj: Loc, key: str) -> Loc | None:
        """The last member `key` of an object by searching its raw spelling backwards; None
        when the fast way cannot decide (escaped keys, a key that needs escaping)."""
        if obj.tok in self._members or self.escaped_keys or '"' in key or "\\" in key or not key.isprintable():
            return None
        text, ends, depth = self.text, self.ends, self.depth
        level = depth[obj.tok]
        pattern = f'"{key}"'
        size = len(pattern)
        # After a closing quote only whitespace, `,`, `:`, `}` or `]` may follow: when the key
        # starts with none of them, a match that is not escaped opens a string.
        quick = not key or key[0] not in _AFTER_STRING
        lo, hi = obj.start + 1, obj.end - 1
        while True:
            q = text.rfind(pattern, lo, hi)
            if q < 0:
                return None
            # Directly inside this object (the last bracket before it leaves the object's own
            # depth), a whole string starting there, followed by a colon: this object's key.
            tok = bisect_right(ends, q)
            if depth[tok - 1] == level and (self._opens_string(q) if quick else self._string_starts_at(q, tok)):
                colon = _COLON.match(text, q + size)
                if colon is not None:
                    return self._value_at(colon.end(), tok)[0]
            hi = q + size - 1

    def _opens_string(self, q: int) -> bool:
        """Whether the quote at `q` is not escaped (an even run of backslashes before it): it
        then opens or closes a string, and the caller knows it cannot close one."""
        text = self.text
        j = q - 1
        while text[j] == "\\":
            j -= 1
        return (q - 1 - j) % 2 == 0

    def _string_starts_at(self, q: int, tok: int) -> bool:
        starts = self.strings_before(tok)[0]
        i = bisect_right(starts, q) - 1
        return i >= 0 and starts[i] == q

    # ------------------------------------------------------------------ offsets

    def string_at(self, offset: int) -> tuple[int, int] | None:
        """(start, end) of the string token whose raw text holds `offset`, if any."""
        tok = bisect_right(self.ends, offset)
        starts, stops = self.strings_before(tok)
        i = bisect_right(starts, offset) - 1
        if i >= 0 and offset < stops[i]:
            return starts[i], stops[i]
        return None

    def find_string(self, offset: int) -> StringHit | None:
        """The string token holding `offset`, with its path, found from the root down."""
        found = self.string_at(offset)
        if found is None:
            return None
        start, end = found
        loc = self.root()
        path: list[str | int] = []
        parent: Loc | None = None
        index = -1
        while loc.start != start:
            if loc.tok < 0:
                return None
            if self.kind(loc.tok) == "{":
                m = self.members(loc)
                i = bisect_right(m.key_starts, start) - 1
                path.append(m.occurrence(i))
                if m.key_starts[i] == start:
                    return StringHit(start, end, path, loc, i, True)
                parent, index, loc = loc, i, m.values[i]
            else:
                items = self.elements(loc)
                i = bisect_right(items, start, key=_start_of) - 1
                path.append(i)
                parent, index, loc = loc, i, items[i]
        return StringHit(start, end, path, parent, index, False)

    # ------------------------------------------------------------------ removal

    def element_removal_span(self, arr: Loc, index: int) -> tuple[int, int]:
        """The span that removes element `index` and exactly one adjacent comma.

        Not the last element: from its start to the next element's start (the element, its comma
        and the line break + indentation before the next one), so the next element takes its
        place and indentation is kept. The last element: from the end of the previous element to
        its own end. The only element: itself, leaving `[]` with the original whitespace inside.
        """
        items = self.elements(arr)
        if index + 1 < len(items):
            return items[index].start, items[index + 1].start
        if index > 0:
            return items[index - 1].end, items[index].end
        return items[index].start, items[index].end

    def elements_bounds(self, arr: Loc) -> tuple[array, array]:
        """(starts, ends) of the array's elements, detached from the index: what
        `removal_spans` needs to remove several of them at once, long after parsing."""
        items = self.elements(arr)
        return array("q", [i.start for i in items]), array("q", [i.end for i in items])

    def members_bounds(self, obj: Loc) -> tuple[array, array]:
        """The same for an object's members: where each key starts and each value ends."""
        m = self.members(obj)
        return array("q", m.key_starts), array("q", [v.end for v in m.values])

    def member_removal_span(self, obj: Loc, index: int) -> tuple[int, int] | None:
        """The span that removes member `index` (key, colon and value) and one adjacent comma,
        the way `element_removal_span` does for arrays; None for the only member (removing it
        would leave an empty object, which is for a person to decide)."""
        m = self.members(obj)
        if index + 1 < len(m.names):
            return m.key_starts[index], m.key_starts[index + 1]
        if index > 0:
            return m.values[index - 1].end, m.values[index].end
        return None


def removal_spans(starts: Sequence[int], ends: Sequence[int], indices: tuple[int, ...]) -> list[tuple[int, int]] | None:
    """Deletions of the runs of consecutive `indices` in a comma-separated list whose items
    span [starts[i], ends[i]) (elements, or members from key to value), removing each run the
    way `element_removal_span` removes one item: a run followed by an item goes up to that
    item's start (its commas with it); the run at the end goes from the end of the item before
    it. None for all items or a bad index."""
    n = len(starts)
    runs = removal_runs(indices, n)
    if runs is None:
        return None
    spans = []
    for first, last in runs:
        if last + 1 < n:
            spans.append((starts[first], starts[last + 1]))
        else:
            spans.append((ends[first - 1], ends[last]))
    return spans
