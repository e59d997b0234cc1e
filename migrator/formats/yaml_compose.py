"""A position-keeping YAML composer: the node graph of a stream, built from the parser's events.

The composer builds the node graph from the parser's event stream rather than with
`yaml.compose`, because:
- it is several times faster (PyYAML's composer resolves every scalar's tag in Python);
- it never recurses (the libyaml-based composer overflows the C stack on deep nesting and
  kills the process);
- every node is created once however many aliases point at it, and nothing is ever
  constructed, so billion-laughs documents stay small and `!!python/...` tags are refused
  before anything could act on them.

Every node keeps its start and end offset (what scoped directives and removals need).
Offsets are code-point offsets into the text that was parsed. libyaml counts code points too,
but it skips a leading byte-order mark without counting it: that is corrected here.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator

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


def any_node(roots: Iterable[Any], found: Callable[[Any], bool],
             inside: Callable[[Any], bool] | None = None) -> bool:
    """Whether a node reachable from `roots` satisfies `found`. Each node is visited once
    (aliases share nodes, and may make cycles); a node `inside` rejects is pruned with its
    children."""
    seen: set[int] = set()
    stack = [r for r in roots if r is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen or (inside is not None and not inside(node)):
            continue
        seen.add(id(node))
        if found(node):
            return True
        if type(node) is Sequence:
            stack.extend(node.items)
        elif type(node) is Mapping:
            for key, value in node.pairs:
                stack.append(key)
                stack.append(value)
    return False


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
