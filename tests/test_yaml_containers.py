"""YAML containers: sequence items and mapping keys know their siblings and how to leave."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.engine import apply_edits
from migrator.formats.base import SiteKind, SiteNeeds
from migrator.formats.yaml_format import YamlHandler

OLD = "vllm:gpu_cache_usage_perc"
NEW = "vllm:kv_cache_usage_perc"
HANDLER = YamlHandler()


def parse(text: str, *needles: str):
    return HANDLER.parse("values.yaml", text, SiteNeeds(needles=needles or ("vllm",)))


def by_locator(text: str) -> dict:
    return {s.locator: s for s in parse(text).sites}


def removed(text: str, site) -> str:
    assert site.context.container.removal is not None, site.locator
    return apply_edits(text, list(site.context.container.removal))


def within(span, edits) -> bool:
    return all(span.start <= e.span.start <= e.span.end <= span.end for e in edits)


ALLOW = """\
# Metrics the remote-write relabeling keeps.
keep_metrics:
  - vllm:num_requests_running
  - vllm:gpu_cache_usage_perc  # cache pressure
  - 'vllm:kv_cache_usage_perc'
  - 5
flow: [vllm:num_requests_running, "vllm:gpu_cache_usage_perc"]
first: [vllm:gpu_cache_usage_perc, x]
alone:
  - vllm:gpu_cache_usage_perc
"""


def test_sequence_items_carry_values_removal_and_span():
    sites = by_locator(ALLOW)
    item = sites["keep_metrics[1]"]
    container = item.context.container
    assert (container.kind, container.index, container.owner) == ("sequence", 1, "keep_metrics")
    # Every item's decoded value, the number as None: the old and new names side by side.
    assert container.values == ("vllm:num_requests_running", OLD, NEW, None)
    new = removed(ALLOW, item)
    assert yaml.safe_load(new)["keep_metrics"] == ["vllm:num_requests_running", NEW, 5]
    assert "cache pressure" not in new  # the item's own comment goes with it
    assert new.count("\n") == ALLOW.count("\n") - 1
    assert ALLOW[container.span.start : container.span.end].startswith("  - vllm:num_requests_running\n")
    assert ALLOW[container.span.start : container.span.end].endswith("  - 5\n")
    assert within(container.span, container.removal)
    # Every item of the same collection shares values and span.
    assert sites["keep_metrics[0]"].context.container.values is container.values
    assert yaml.safe_load(removed(ALLOW, sites["keep_metrics[2]"]))["keep_metrics"][2] == 5


def test_flow_items_take_one_comma():
    sites = by_locator(ALLOW)
    assert yaml.safe_load(removed(ALLOW, sites["flow[1]"]))["flow"] == ["vllm:num_requests_running"]
    assert yaml.safe_load(removed(ALLOW, sites["flow[0]"]))["flow"] == [OLD]
    assert yaml.safe_load(removed(ALLOW, sites["first[0]"]))["first"] == ["x"]
    flow = sites["flow[1]"].context.container
    assert ALLOW[flow.span.start : flow.span.end] == '[vllm:num_requests_running, "vllm:gpu_cache_usage_perc"]'
    assert within(flow.span, flow.removal)


@pytest.mark.parametrize("trailing_comma", [",", ""])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_flow_item_on_its_own_line_goes_with_its_line_and_comment(index, trailing_comma):
    # Its comment must not end up on a neighbour's line, describing the wrong entry.
    items = ["vllm:num_requests_running", OLD, "vllm:num_requests_waiting"]
    lines = [f"    {item},  # about {item}" for item in items]
    lines[-1] = f"    {items[-1]}{trailing_comma}  # about {items[-1]}"
    text = "keep: [\n" + "\n".join(lines) + "\n  ]\nnext: 1\n"
    new = removed(text, by_locator(text)[f"keep[{index}]"])
    assert new == text.replace(lines[index] + "\n", "")
    assert yaml.safe_load(new)["keep"] == items[:index] + items[index + 1 :]


def test_the_only_item_is_never_removed():
    # An emptied list would become null (`alone:` with nothing under it), not an empty allowlist.
    alone = by_locator(ALLOW)["alone[0]"].context.container
    assert alone.values == (OLD,) and alone.removal is None


def test_removing_item_by_item_stops_at_the_last_one():
    text = "allow:\n  - vllm:gpu_cache_usage_perc\n  - vllm:num_requests_waiting\n  - vllm:cache_config_info\n"
    for _ in range(5):
        removable = [s for s in parse(text).sites if s.context.container.removal is not None]
        if not removable:
            break
        text = removed(text, removable[0])
    assert yaml.safe_load(text) == {"allow": ["vllm:cache_config_info"]}


@pytest.mark.parametrize(
    "text,key,expected",
    [
        # middle key of a block mapping, with its trailing comment
        ("a: 1\nvllm:gpu_cache_usage_perc: 2  # note\nb: 3\n", OLD, {"a": 1, "b": 3}),
        # last key, file without a final newline
        ("a: 1\nvllm:gpu_cache_usage_perc: 2", OLD, {"a": 1}),
        # a key whose value is a nested block
        ("vllm:gpu_cache_usage_perc:\n  sum: x\n  by: [a, b]\n# about b\nb: 3\n", OLD, {"b": 3}),
        # the first key of a sequence item keeps the `- `
        ("- vllm:gpu_cache_usage_perc: 1\n  b: 2\n", OLD, [{"b": 2}]),
        # flow mappings
        ("m: {vllm:gpu_cache_usage_perc: 1, b: 2}\n", OLD, {"m": {"b": 2}}),
        ("m: {a: 1, 'vllm:gpu_cache_usage_perc': 2}\n", OLD, {"m": {"a": 1}}),
        # CRLF line breaks
        ("a: 1\r\nvllm:gpu_cache_usage_perc: 2\r\nb: 3\r\n", OLD, {"a": 1, "b": 3}),
    ],
)
def test_mapping_keys_remove_their_whole_pair(text, key, expected):
    site = next(s for s in parse(text).sites if s.locator.endswith("(key)"))
    container = site.context.container
    assert container.kind == "mapping-key"
    assert key in container.values
    assert container.values[container.index] == site.value == key
    new = removed(text, site)
    assert yaml.safe_load(new) == expected
    assert within(container.span, container.removal)
    if "\r\n" in text:
        assert "\n" not in new.replace("\r\n", "")


def test_a_mapping_with_one_key_keeps_it():
    site = next(s for s in parse("m:\n  vllm:gpu_cache_usage_perc: 1\n").sites if s.locator.endswith("(key)"))
    assert site.context.container.removal is None
    assert site.context.container.owner == "m"


def test_values_are_none_for_non_strings_and_templates():
    text = (
        "args: [5, true, null, vllm:gpu_cache_usage_perc, '7', !!str 8, {a: b}, [c]]\n"
        'helm:\n  - {{ .Values.metric | quote }}\n  - "vllm:gpu_cache_usage_perc"\n'
    )
    sites = {s.locator: s for s in parse(text).sites}
    assert sites["args[3]"].context.container.values == (None, None, None, OLD, "7", "8", None, None)
    helm = sites["helm[1]"].context.container
    assert helm.values == (None, OLD)  # rendered later: its value is unknown here
    # Removing it is exact (the template line stays untouched).
    assert removed(text, sites["helm[1]"]).endswith("helm:\n  - {{ .Values.metric | quote }}\n")


def test_removal_is_refused_when_it_cannot_be_exact():
    cases = {
        # an anchor another node may use
        "a:\n  - &m vllm:gpu_cache_usage_perc\n  - x\nb: *m\n": "a[0]",
        # two items on one line of a block sequence (a compact nested sequence)
        "a:\n- - vllm:gpu_cache_usage_perc\n  - x\n": "a[0][0]",
        # a comment between the item and the comma
        "a: [vllm:gpu_cache_usage_perc  # c\n  , x]\n": "a[0]",
    }
    for text, locator in cases.items():
        sites = {s.locator: s for s in parse(text).sites}
        assert sites[locator].context.container.removal is None, text


def test_aliases_between_neighbours_survive_a_removal():
    text = "list:\n  - &a {k: x}\n  - vllm:gpu_cache_usage_perc\n  - {j: *a}\nother: *a\n"
    site = by_locator(text)["list[1]"]
    expected = {"list": [{"k": "x"}, {"j": {"k": "x"}}], "other": {"k": "x"}}
    assert yaml.safe_load(removed(text, site)) == expected
    # An alias as an element: where `*a` is written is not known, so nothing is removed, and
    # the collection's span still covers it.
    text = "list:\n  - &a x\n  - vllm:gpu_cache_usage_perc\n  - *a\nother: 1\n"
    container = by_locator(text)["list[1]"].context.container
    assert container.removal is None
    assert text[container.span.start : container.span.end].rstrip().endswith("- *a")


def test_templated_neighbourhood_is_not_removed():
    text = "{{- if .Values.x }}\nallow:\n  - vllm:gpu_cache_usage_perc  {{- /* keep */}}\n  - b\n{{- end }}\n"
    site = next(s for s in parse(text).sites if s.locator == "allow[0]")
    assert site.context.container.values == (None, "b")
    assert site.context.container.removal is None


def test_removal_composes_through_an_embedding_scalar():
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  allow.yaml: |\n"
        "    keep:\n      - a\n      - vllm:gpu_cache_usage_perc\n      - b\n"
        '  quoted.yaml: "keep: [a, vllm:gpu_cache_usage_perc]\\n"\n'
    )
    sites = {s.locator: s for s in parse(text).sites}
    block = sites['ConfigMap/c data["allow.yaml"] keep[1]']
    new = removed(text, block)
    assert yaml.safe_load(yaml.safe_load(new)["data"]["allow.yaml"]) == {"keep": ["a", "b"]}
    span = block.context.container.span
    # From the first item's line start in the embedded text (after the outer indentation).
    assert text[span.start : span.end] == "  - a\n      - vllm:gpu_cache_usage_perc\n      - b\n"
    quoted = sites['ConfigMap/c data["quoted.yaml"] keep[1]']
    new = removed(text, quoted)
    assert yaml.safe_load(yaml.safe_load(new)["data"]["quoted.yaml"]) == {"keep": ["a"]}


def test_every_string_site_in_a_collection_has_a_container():
    text = "queries:\n  - sum(vllm:num_requests_running)\n  - up\nnotes: [the vllm dashboards, x]\n"
    sites = {s.locator: s for s in parse(text).sites}
    assert sites["queries[0]"].kind is SiteKind.PROMQL
    assert sites["queries[0]"].context.container.values == ("sum(vllm:num_requests_running)", "up")
    assert sites["notes[0]"].kind is SiteKind.TEXT
    assert sites["notes[0]"].context.container.removal is not None


_ITEMS = st.sampled_from(
    [OLD, NEW, "'vllm:num_requests_running'", '"vllm:x"', "plain", "'q'", "7", OLD + "  # why"]
)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(_ITEMS, min_size=1, max_size=5),
    flow=st.booleans(),
    indent=st.sampled_from(["", "  ", "    "]),
    trailer=st.sampled_from(["", "after: 1\n", "# end\n"]),
    crlf=st.booleans(),
)
def test_every_offered_removal_removes_exactly_its_item(items, flow, indent, trailer, crlf):
    if flow:
        body = "[" + ", ".join(i.split("  #")[0] for i in items) + "]\n"
        text = "before: 0\nlist: " + body + trailer
    else:
        text = "before: 0\nlist:\n" + "".join(f"{indent}- {i}\n" for i in items) + trailer
    if crlf:
        text = text.replace("\n", "\r\n")
    expected = yaml.safe_load(text)["list"]
    for site in parse(text).sites:
        container = site.context.container
        if container is None or container.kind != "sequence":
            continue
        assert len(container.values) == len(expected)
        if len(expected) == 1:
            assert container.removal is None
            continue
        assert container.removal is not None, (text, site.locator)
        assert within(container.span, container.removal)
        after = yaml.safe_load(apply_edits(text, list(container.removal)))
        assert after["list"] == expected[: container.index] + expected[container.index + 1 :]
        assert after["before"] == 0


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\r", "\x85", "\u2028", "\u2029"])
def test_line_start_knows_every_yaml_line_break(brk):
    from migrator.formats.templates import line_start

    text = f"a: 1{brk}  b: 2{brk}c\n"
    second = text.index("  b")
    assert line_start(text, second + 3) == second
    assert line_start(text, 2) == 0
    assert line_start(text, len(text) - 1) == text.index("c")
    # Only the breaks asked for (templates count lines by CR and LF).
    assert line_start(text, second + 3, "\r\n") == (second if brk in ("\n", "\r\n", "\r") else 0)


@pytest.mark.parametrize("flow", [False, True], ids=["block", "flow"])
def test_a_long_list_is_laid_out_once_not_once_per_item(flow: bool, monkeypatch) -> None:
    """Each item's removal needs the list's layout; it is computed once per list (a 4,000-item
    keep list took 6.5 s when every item walked all of them)."""
    from migrator.formats import yaml_containers

    calls = 0
    real = yaml_containers._in_text_order

    def counting(*args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(*args)

    monkeypatch.setattr(yaml_containers, "_in_text_order", counting)
    names = [OLD, "vllm:num_requests_running"] * 50
    text = "keep: [" + ", ".join(names) + "]\n" if flow else "keep:\n" + "".join(f"  - {n}\n" for n in names)
    sites = parse(text).sites
    assert len(sites) == len(names)
    assert all(site.context.container.removal is not None for site in sites)
    assert calls == 1
