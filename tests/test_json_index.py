"""The JSON handler's lazy position index, checked against the iterative scanner (which keeps a
position for every token): every value is found where the scanner puts it, whatever the
escapes, whitespace, duplicate keys or nesting depth; string offsets survive compaction."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.formats.base import SiteKind, SiteNeeds
from migrator.formats.json_format import JsonHandler
from migrator.formats.json_index import JsonIndex, MemberKey
from migrator.formats.json_scan import JArray, JObject, JString, parse, to_value
from migrator.formats.json_strings import decode_string, decode_token

NEEDS = SiteNeeds(needles=("vllm",))
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class _Rng(random.Random):
    optional = 0.0  # the document's taste for escapes JSON does not require


def _string(value: str, rng: random.Random) -> str:
    """A JSON string for `value`, escaping characters at random the ways encoders do (in some
    documents never more than JSON requires)."""
    out = ['"']
    optional = getattr(rng, "optional", 0.15)
    for ch in value:
        code = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch] if rng.random() < 0.7 else f"\\u{code:04x}")
        elif code < 0x20 or 0xD800 <= code < 0xE000 or rng.random() < optional:
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        elif ch == "/" and rng.random() < optional * 5:
            out.append("\\/")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _text(value: object, rng: random.Random, indent: str | None, level: int = 0) -> str:
    """`value` as JSON text with random spacing, escapes and (earlier) duplicate keys."""
    nl = "" if indent is None else "\n" + indent * (level + 1)
    end = "" if indent is None else "\n" + indent * level
    sep = rng.choice([",", ", ", " ,"])
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if rng.random() < 0.2:  # an earlier duplicate, which json.loads drops
                parts.append(f"{_string(key, rng)}:{_text(rng.choice([1, 'vllm:x', [], {}]), rng, indent, level + 1)}")
            parts.append(f"{_string(key, rng)}{rng.choice([':', ' : ', ':  '])}{_text(item, rng, indent, level + 1)}")
        return "{" + nl + (sep + nl).join(parts) + end + "}" if parts else rng.choice(["{}", "{ }"])
    if isinstance(value, list):
        parts = [_text(item, rng, indent, level + 1) for item in value]
        return "[" + nl + (sep + nl).join(parts) + end + "]" if parts else rng.choice(["[]", "[\n]"])
    if isinstance(value, str):
        return _string(value, rng)
    return json.dumps(value)


_KEYS = st.sampled_from(["a", "expr", "vllm", "é", "a/b", 'q"', "x\\y", "", ", ", ":", "}"]) | st.text(max_size=3)
_STRINGS = st.sampled_from(["vllm:x", "[{}]", '"', "\\", "\U0001f600", "/", "<&>", ""]) | st.text(max_size=6)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**20) | st.floats(allow_nan=False, allow_infinity=False) | _STRINGS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=20,
)


def _nodes(text: str, root):  # type: ignore[no-untyped-def]
    """(path, node, parent, index, is_key) for every node of the scanner's tree, paths naming
    earlier duplicates with MemberKey."""
    out = [((), root, None, -1, False)]
    stack = [((), root)]
    while stack:
        path, node = stack.pop()
        if type(node) is JArray:
            for i, item in enumerate(node.items):
                out.append((path + (i,), item, node, i, False))
                stack.append((path + (i,), item))
        elif type(node) is JObject:
            for i, (key, name, item) in enumerate(zip(node.keys, node.names, node.values)):
                later = name in node.names[i + 1 :]
                step = MemberKey(name, node.names[:i].count(name)) if later else name
                out.append((path + (step,), key, node, i, True))
                out.append((path + (step,), item, node, i, False))
                stack.append((path + (step,), item))
    return out


@settings(max_examples=300, deadline=None)
@given(value=_VALUES, seed=st.integers(0, 2**32), indent=st.sampled_from([None, "  ", "\t"]), bom=st.booleans())
def test_index_agrees_with_the_scanner(value: object, seed: int, indent: str | None, bom: bool) -> None:
    rng = _Rng(seed)
    rng.optional = seed % 3 * 0.1
    text = ("\ufeff" if bom else "") + rng.choice(["", " ", "\n"]) + _text(value, rng, indent) + rng.choice(["", "\n"])
    start = 1 if bom else 0
    root = parse(text)
    assert to_value(text, root) == json.loads(text[start:])
    nodes = _nodes(text, root)
    # Paths first, on an index that has walked no container (keys found by their spelling)...
    index = JsonIndex(text, start)
    for path, node, _parent, _i, is_key in reversed(nodes):
        if not is_key:
            loc = index.locate(path)
            assert (loc.start, loc.end) == (node.start, node.end), path
    # ... then from offsets to strings, which walks containers member by member.
    index = JsonIndex(text, start)
    for path, node, parent, i, is_key in nodes:
        if type(node) is JString:
            for offset in {node.start, (node.start + node.end) // 2, node.end - 1}:
                hit = index.find_string(offset)
                assert hit is not None and (hit.start, hit.end, hit.is_key) == (node.start, node.end, is_key)
                assert tuple(hit.path) == path and [type(p) for p in hit.path] == [type(p) for p in path]
                assert hit.index == i and (hit.parent is None) == (parent is None)
                if parent is not None:
                    assert (hit.parent.start, hit.parent.end) == (parent.start, parent.end)
            assert index.find_string(node.end) is None or index.find_string(node.end).start >= node.end


def test_a_key_is_found_at_its_own_level_only() -> None:
    text = '{"expr": 1, "sub": {"expr": 2, "x": ["\\"expr\\": 3"]}, "v": "\\"expr\\":"}'
    assert json.loads(text)["expr"] == 1
    index = JsonIndex(text)
    assert text[slice(*_span(index, ["expr"]))] == "1"
    assert text[slice(*_span(index, ["sub", "expr"]))] == "2"
    # `", "` followed by a colon also reads across the end of "a" and the start of ":1".
    text = '{", ": 2, "y": "a", ":1": 3}'
    assert text[slice(*_span(JsonIndex(text), [", "]))] == "2"


def test_keys_with_escapes_and_duplicates_are_found_by_their_decoded_name() -> None:
    text = '{"expr": 1, "sub": {"expr": 2}, "e\\u0078pr": "last", "x": {"a": 1, "a": 2}}'
    index = JsonIndex(text)
    loc = index.locate(["expr"])
    assert text[loc.start : loc.end] == '"last"'
    assert text[slice(*_span(index, ["x", "a"]))] == "2"
    assert text[slice(*_span(index, ["x", MemberKey("a", 0)]))] == "1"
    assert text[slice(*_span(index, ["sub", "expr"]))] == "2"


def _span(index: JsonIndex, path: list) -> tuple[int, int]:  # type: ignore[type-arg]
    loc = index.locate(path)
    return loc.start, loc.end


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=12), seed=st.integers(0, 2**32))
def test_compact_offsets_index_like_the_offset_list(value: str, seed: int) -> None:
    token = _string(value, random.Random(seed))
    text = "[" + token + "]"
    decoded, offsets = decode_string(text, 1, 1 + len(token))
    compact_value, compact = decode_token(text, 1, 1 + len(token))
    assert compact_value == decoded == value
    if compact is None:  # nothing escaped: the value sits verbatim after the quote
        assert offsets == list(range(2, 2 + len(value) + 1))
    else:
        assert list(compact) == offsets and len(compact) == len(offsets)
        assert [compact[i] for i in range(-len(offsets), len(offsets))] == offsets + offsets


def test_duplicate_members_are_walked_like_every_other_member() -> None:
    inner = json.dumps({"panels": [{"id": 1, "targets": [{"expr": "rate(vllm:a[5m])", "refId": "A"}]}]})
    later = json.dumps({"panels": [{"id": 2, "targets": [{"expr": "rate(vllm:b[5m])", "refId": "A"}]}]})
    text = json.dumps({"kind": "ConfigMap", "data": {"d.json": inner}})
    text = text.replace('{"d.json"', '{"d.json": ' + json.dumps(later) + ', "d.json"')
    sites = JsonHandler().parse("cm.json", text, NEEDS).sites
    exprs = sorted(s.value for s in sites if s.kind is SiteKind.PROMQL)
    assert exprs == ["rate(vllm:a[5m])", "rate(vllm:b[5m])"]
    for site in sites:
        a = site.value.index("vllm")
        assert json.loads('"' + text[site.to_file(a) : site.to_file(a + 4)] + '"') == "vllm"


def test_plain_strings_keep_no_offset_list() -> None:
    text = json.dumps({"panels": [{"targets": [{"expr": "rate(vllm:a[5m])"}, {"expr": 'up{a="vllm"}'}]}]})
    plain, escaped = [s for s in JsonHandler().parse("d.json", text, NEEDS).sites if s.kind is SiteKind.PROMQL]
    assert plain.offsets is None and text[plain.base : plain.base + len(plain.value)] == plain.value
    assert escaped.offsets is not None and text[escaped.to_file(5) : escaped.to_file(6)] == '\\"'


def test_valid_json_deeper_than_the_c_decoder_is_walked() -> None:
    depth = 5000
    text = '{"uid": "vllm-deep", "x": ' + "[" * depth + '"vllm:x"' + "]" * depth + "}"
    sites = JsonHandler().parse("deep.json", text, NEEDS).sites
    values = {s.value: s for s in sites}
    assert set(values) == {"vllm-deep", "vllm:x"}
    deep = values["vllm:x"]
    assert text[deep.to_file(0) : deep.to_file(len(deep.value))] == "vllm:x"
    assert deep.locator == "/x" + "/0" * depth
