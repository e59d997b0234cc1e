"""YAML files: Prometheus rules in every wrapping, and PromQL or metric names anywhere else.

The walker is tolerant in pint's way: it does not insist on one schema but recognises the
shapes rule files come in wherever they occur in a document:
- `groups[].rules[]` (Prometheus, Thanos, Mimir, Cortex, VictoriaMetrics; groups may carry
  `namespace`, `interval`, `partial_response_strategy`, ...), also nested in Helm values
  (`additionalPrometheusRulesMap`) and in `PrometheusRule` objects (`spec.groups`);
- bare rules (`alert`/`record` + `expr`) outside any group (Helm values `prometheusRule.rules`);
- Grafana unified-alerting provisioning (`groups[].rules[].data[].model.expr`);
- Kubernetes `List`/`*List` wrappers and multi-document streams;
- ConfigMaps (and Secrets' `stringData`) whose values hold a whole rule file or a dashboard:
  the embedded text is parsed on its own and its sites are *composed* onto the file (offsets
  through the outer scalar's offset map, edits through the outer scalar's encoder);
- anything else: strings under `expr`/`query`/`promql`/`metricsQuery`/`seriesQuery` (KEDA,
  prometheus-adapter) that parse as PromQL, and any string whose source mentions one of the
  needles, with its kind guessed.

Helm/Jinja templates are blanked before parsing (see `templates`); the template ranges are
protected in every site. Sites are `YamlSite`s: their `edit()` verifies that the replacement,
written in the scalar's style at that position, parses back to exactly the intended value, and
raises `EncodeError` (a ValueError) when it cannot.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from migrator.formats.base import Document, ParseError, Site, SiteKind, guess_kind
from migrator.formats.templates import (
    blank_templates,
    find_template_spans,
    has_template_markers,
    spans_in_value,
)
from migrator.formats.yaml_scalars import (
    BREAKS,
    Mapping,
    ScalarMap,
    Scalar,
    Sequence,
    check_stream,
    compose_documents,
    map_scalar,
    no_gc,
)
from migrator.model import Edit, Span

__all__ = ["EncodeError", "YamlHandler", "YamlSite", "PROMQL_KEYS", "NEEDLES"]

#: A string outside the known PromQL places is worth a site only when its source has one.
NEEDLES = ("prompt_tokens_recomputed", "recomputed_tokens", "prompt_tokens_by_source")
#: Keys whose string values are PromQL in common configs (rules, KEDA, prometheus-adapter).
PROMQL_KEYS = frozenset({"expr", "query", "promql", "metricsQuery", "seriesQuery"})

_STR_TAG = "tag:yaml.org,2002:str"
# ConfigMap keys whose values are clearly not YAML (scripts, docs): never parsed as YAML.
_NOT_YAML_KEYS = (".py", ".sh", ".txt", ".md", ".go", ".rs", ".tf", ".ini", ".toml", ".conf", ".cfg")
_RULE_FILE = re.compile(r"(?m)^[ \t]*groups[ \t]*:")
_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SIMPLE_NAME = re.compile(r"[^\s\"'=]+")
# How deep embedded documents are followed (a ConfigMap's rule file is depth 1).
_MAX_EMBEDDING = 3


class EncodeError(ValueError):
    """A replacement cannot be written at this position of this YAML scalar exactly."""


@dataclass(slots=True)
class YamlSite(Site):
    """A Site whose edits are verified: `edit()` raises EncodeError rather than produce an edit
    that would not parse back to the intended value (use `can_replace` to ask first)."""

    replacer: Callable[[int, int, str], tuple[int, int, str] | None] | None = None

    def edit(self, start: int, end: int, replacement: str) -> Edit:
        if self.replacer is None:
            return Site.edit(self, start, end, replacement)
        if not self.can_edit(start, end):
            raise EncodeError(self.readonly_reason or "the range is templated or not editable")
        result = self.replacer(start, end, replacement)
        if result is None:
            raise EncodeError(f"{replacement!r} cannot be written exactly at this place of the YAML scalar")
        s, e, content = result
        return Edit(Span(s, e), content)

    def can_replace(self, start: int, end: int, replacement: str) -> bool:
        try:
            self.edit(start, end, replacement)
        except EncodeError:
            return False
        return True


# --------------------------------------------------------------------------- loading


def _load(text: str, *, build: bool = True) -> tuple[str, list[Any], list[tuple[int, int]]]:
    """(text that was parsed, documents, template ranges). Templates are blanked only when the
    file needs it: when it does not parse as it is, or when a `{{` sits in YAML structure
    rather than inside a string (Prometheus `{{ $value }}` in annotations is just content).
    Blanking keeps every offset, so the parsed text's positions are the file's. Without
    `build`, the text is only checked (no nodes; the documents list is empty).
    """

    def load(source: str, spans: list[tuple[int, int]] | None = None) -> list[Any]:
        if build:
            return compose_documents(source, scalar_spans=spans)
        check_stream(source, scalar_spans=spans)
        return []

    markers = has_template_markers(text)
    scalar_spans: list[tuple[int, int]] | None = [] if markers else None
    docs: list[Any] | None
    try:
        docs = load(text, scalar_spans)
    except ParseError as err:
        if not markers:
            raise
        raw_error: ParseError | None = err
        docs = None
    else:
        if not markers:
            return text, docs, []
        raw_error = None
    spans = find_template_spans(text)
    if docs is not None and not (spans and _structural(text, spans, scalar_spans or [])):
        return text, docs, []
    if not spans:
        assert raw_error is not None
        raise raw_error
    blank_error: ParseError | None = None
    # Templates inside a line first become a same-length word, so a value such as
    # `> {{ .Values.threshold }}` or a key such as `{{ .Values.name }}:` stays where it is in
    # the YAML structure; then plain spaces (pint's blanking) for layouts a word would break.
    # Lines holding only templates are spaces either way.
    for placeholder in ("x", " "):
        blanked = blank_templates(text, spans, placeholder=placeholder)
        try:
            return blanked, load(blanked), spans
        except ParseError as err:
            blank_error = blank_error or err
    if docs is not None:
        return text, docs, []  # valid YAML as it stands: analyse what YAML sees
    assert blank_error is not None
    raise ParseError(f"{blank_error.message} (with Helm/Jinja templates blanked)", blank_error.offset)


def _structural(text: str, spans: list[tuple[int, int]], scalars: list[tuple[int, int]]) -> bool:
    """Whether any template lies outside every string and every comment."""
    starts = [s for s, _ in scalars]

    def in_scalar(pos: int, end: int) -> bool:
        i = bisect.bisect_right(starts, pos) - 1
        # Scalars do not nest, but a key's span can precede its value's; look back a little.
        for j in range(i, max(i - 3, -1), -1):
            s, e = scalars[j]
            if s <= pos and end <= e:
                return True
        return False

    for s, e in spans:
        if in_scalar(s, e):
            continue
        line_start = max(text.rfind("\n", 0, s), text.rfind("\r", 0, s)) + 1
        k = text.find("#", line_start, s)
        commented = False
        while k != -1:
            if (k == line_start or text[k - 1] in " \t") and not in_scalar(k, k + 1):
                commented = True
                break
            k = text.find("#", k + 1, s)
        if not commented:
            return True
    return False


# --------------------------------------------------------------------------- layers


class _Layer:
    """A text the walker parses: the file itself, or a string embedded in it (a ConfigMap's rule
    file). Knows how its offsets and edits map onto the file."""

    __slots__ = ("text", "file_offsets", "outer", "parent", "depth", "_hits", "protected_text", "prefix")

    def __init__(
        self,
        text: str,
        *,
        needle_text: str | None = None,
        file_offsets: list[int] | None = None,
        outer: ScalarMap | None = None,
        parent: "_Layer | None" = None,
        prefix: str = "",
    ) -> None:
        self.text = text
        self.file_offsets = file_offsets
        self.outer = outer
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.prefix = prefix
        source = text if needle_text is None else needle_text
        hits: list[int] = []
        for needle in NEEDLES:
            i = source.find(needle)
            while i != -1:
                hits.append(i)
                i = source.find(needle, i + 1)
        hits.sort()
        self._hits = hits
        # Ranges of this layer's text that are protected because of the layers around it.
        self.protected_text: list[tuple[int, int]] = []
        if outer is not None and parent is not None:
            ranges = list(outer.protected)
            if parent.protected_text:
                ranges.extend(_touching(outer.offsets, parent.protected_text))
            self.protected_text = sorted(ranges)

    def mentions(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._hits, start)
        return i < len(self._hits) and self._hits[i] < end

    def to_file(self, offsets: list[int]) -> list[int]:
        fo = self.file_offsets
        if fo is None:
            return offsets
        return [fo[o] for o in offsets]

    def replace_text(self, s: int, e: int, content: str) -> tuple[int, int, str] | None:
        """Map an edit of this layer's text onto the file, verifying it in every outer scalar."""
        layer: _Layer = self
        result: tuple[int, int, str] | None = (s, e, content)
        while result is not None and layer.outer is not None:
            result = layer.outer.replace(*result)
            assert layer.parent is not None
            layer = layer.parent
        return result

    def encode(self, sm: ScalarMap, r: str) -> str | None:
        out = sm.encode(r)
        layer: _Layer = self
        while out is not None and layer.outer is not None:
            out = layer.outer.encode(out)
            assert layer.parent is not None
            layer = layer.parent
        return out


def _touching(offsets: list[int], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Decoded indices i whose source span [offsets[i], offsets[i+1]) meets one of `ranges`."""
    found: list[tuple[int, int]] = []
    for a, b in ranges:
        lo = bisect.bisect_right(offsets, a) - 1
        hi = bisect.bisect_left(offsets, b)
        lo = max(lo, 0)
        hi = min(hi, len(offsets) - 1)
        if lo < hi:
            found.append((lo, hi))
    return found


# --------------------------------------------------------------------------- the walk


def _str_value(node: Any) -> str | None:
    # Local tags (`!Sub`, `!vault`, ...) wrap strings too.
    if type(node) is Scalar and (node.tag is None or node.tag == _STR_TAG or node.tag.startswith("!")):
        return node.value
    return None


def _child(path: str, key: str) -> str:
    if _SIMPLE_KEY.fullmatch(key):
        return f"{path}{key}" if not path or path.endswith(" ") else f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _fmt_name(name: str | None) -> str:
    if not name:
        return "?"
    return name if _SIMPLE_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _keys(node: Mapping) -> dict[str, Any]:
    return {k.value: v for k, v in node.pairs if type(k) is Scalar}


def _is_rule_groups(node: Any) -> bool:
    return type(node) is Sequence and any(
        type(g) is Mapping and type(_keys(g).get("rules")) is Sequence for g in node.items
    )


class _Builder:
    def __init__(self, text: str, template_regions: list[tuple[int, int]]) -> None:
        self.text = text
        self.regions = template_regions
        self.region_starts = [s for s, _ in template_regions]
        self.sites: list[Site] = []
        self.rules: list[dict[str, Any]] = []
        self.visited: set[int] = set()
        # `visited` holds ids: every composed node must stay alive until the walk ends, or an
        # id could be reused by a node of the next embedded document.
        self._alive: list[Any] = []

    # -- traversal -----------------------------------------------------------------------

    def walk_stream(self, layer: _Layer, docs: list[Any], prefix: str) -> None:
        for i, root in enumerate(docs):
            if root is None:
                continue
            path = prefix + (f"doc[{i}] " if len(docs) > 1 else "")
            if type(root) is Scalar:
                if id(root) not in self.visited:
                    self.visited.add(id(root))
                    self._string(layer, root, path.rstrip() or "(document)", container="other")
            else:
                self.walk(layer, root, path)

    def walk(self, layer: _Layer, root: Any, path: str) -> None:
        # Iterative, and every node is visited once: aliases (billion laughs) cost nothing.
        stack: list[tuple[Any, str]] = [(root, path)]
        visited = self.visited
        while stack:
            node, path = stack.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            # Children are visited in document order, so a node reached through an alias
            # first gets the locator of its anchor.
            children: list[tuple[Any, str]] = []
            if type(node) is Mapping:
                self._mapping(layer, node, path, children)
            elif type(node) is Sequence:
                self._sequence(layer, node, path, children)
            elif type(node) is Scalar:
                self._string(layer, node, path, container="other")
            stack.extend(reversed(children))

    def _mapping(self, layer: _Layer, node: Mapping, path: str, stack: list) -> None:
        keys = _keys(node)
        kind = _str_value(keys.get("kind"))
        if kind and "apiVersion" in keys:
            meta = keys.get("metadata")
            name = self._name(layer, _keys(meta).get("name")) if type(meta) is Mapping else None
            sep = "" if not path or path.endswith(" ") else " "
            path = f"{path}{sep}{kind}/{name} " if name else f"{path}{sep}{kind} "
        handled: set[str] = set()
        if kind in ("ConfigMap", "Secret"):
            for field in ("data", "stringData"):
                data = keys.get(field)
                if type(data) is Mapping and id(data) not in self.visited:
                    self.visited.add(id(data))
                    for k, v in data.pairs:
                        if type(k) is Scalar and type(v) is Scalar and id(v) not in self.visited:
                            self.visited.add(id(v))
                            self._embedded(layer, v, _child(_child(path, field), k.value), k.value)
                handled.add(field)
            handled.add("binaryData")
        groups = keys.get("groups")
        if _is_rule_groups(groups) and id(groups) not in self.visited:
            self.visited.add(id(groups))
            self._groups(layer, groups, _child(path, "groups"), stack)
            handled.add("groups")
        if ("alert" in keys or "record" in keys) and "expr" in keys:
            self._rule(layer, node, keys, path.rstrip() or "(rule)", None, None, stack)
            return
        for k, v in node.pairs:
            if type(k) is not Scalar:
                stack.append((k, path))
                stack.append((v, path))
                continue
            if k.value in handled:
                continue
            child = _child(path, self._key(layer, k))
            if layer.mentions(k.start, k.end) and id(k) not in self.visited:
                self.visited.add(id(k))
                self._string(layer, k, child + " (key)", container="dict-key", flow=node.flow, key=True)
            if type(v) is Scalar:
                if id(v) not in self.visited:
                    self.visited.add(id(v))
                    self._value(layer, v, child, k.value, flow=node.flow)
            else:
                stack.append((v, child))

    def _sequence(self, layer: _Layer, node: Sequence, path: str, stack: list) -> None:
        for i, item in enumerate(node.items):
            child = f"{path.rstrip()}[{i}]" if path.strip() else f"[{i}]"
            if type(item) is Scalar:
                if id(item) not in self.visited:
                    self.visited.add(id(item))
                    self._string(layer, item, child, container="sequence", seq=node, index=i, flow=node.flow)
            else:
                stack.append((item, child))

    # -- rule files ----------------------------------------------------------------------

    def _groups(self, layer: _Layer, groups: Sequence, gpath: str, stack: list) -> None:
        for g, group in enumerate(groups.items):
            gp = f"{gpath}[{g}]"
            if type(group) is not Mapping or id(group) in self.visited:
                continue
            self.visited.add(id(group))
            gkeys = _keys(group)
            gname = self._name(layer, gkeys.get("name"))
            rules = gkeys.get("rules")
            for k, v in group.pairs:
                if type(k) is Scalar and k.value == "rules" and type(v) is Sequence:
                    continue
                key = self._key(layer, k)
                if type(v) is Scalar:
                    if id(v) not in self.visited:
                        self.visited.add(id(v))
                        self._value(layer, v, _child(gp, key), key)
                else:
                    stack.append((v, _child(gp, key)))
            if type(rules) is not Sequence or id(rules) in self.visited:
                continue
            self.visited.add(id(rules))
            for r, rule in enumerate(rules.items):
                rp = f"{gp}.rules[{r}]"
                if type(rule) is Mapping and id(rule) not in self.visited:
                    self.visited.add(id(rule))
                    self._rule(layer, rule, _keys(rule), rp, gname, (g, r), stack)
                elif type(rule) is not Scalar:
                    stack.append((rule, rp))

    def _rule(
        self,
        layer: _Layer,
        rule: Mapping,
        keys: dict[str, Any],
        path: str,
        group: str | None,
        index: tuple[int, int] | None,
        stack: list,
    ) -> None:
        if "alert" in keys or "record" in keys:
            kind = "alert" if "alert" in keys else "record"
            name = self._name(layer, keys[kind])
            grafana = False
        elif type(keys.get("data")) is Sequence:
            kind, name, grafana = "alert", self._name(layer, keys.get("title")), True
        else:
            self._mapping(layer, rule, path, stack)
            return
        head = f"{path} {kind}={_fmt_name(name)}"
        info = {"kind": kind, "name": name, "group": group, "index": index}
        self.rules.append({**info, "locator": head, "grafana": grafana})
        for k, v in rule.pairs:
            if type(k) is not Scalar:
                continue
            key = k.value
            if key == "expr" and not grafana and type(v) is Scalar:
                self.visited.add(id(v))
                if v.value.strip():
                    self._site(layer, v, SiteKind.PROMQL, f"{head} expr", {"rule": info, "field": "expr"})
            elif key in ("annotations", "labels") and type(v) is Mapping and id(v) not in self.visited:
                self.visited.add(id(v))
                self._labels(layer, v, head, key, info, stack)
            elif key == "data" and grafana and id(v) not in self.visited:
                self.visited.add(id(v))
                self._grafana_data(layer, v, head, path, info, stack)
            elif key == kind or (grafana and key == "title"):
                continue
            elif type(v) is Scalar:
                if id(v) not in self.visited:
                    self.visited.add(id(v))
                    self._value(layer, v, f"{head} {key}", key, rule=info)
            else:
                stack.append((v, _child(path, key)))

    def _labels(self, layer: _Layer, node: Mapping, head: str, field: str, info: dict, stack: list) -> None:
        for k, v in node.pairs:
            key = self._key(layer, k)
            where = f"{field}.{key}" if _SIMPLE_KEY.fullmatch(key) else f"{field}[{json.dumps(key)}]"
            if type(v) is Scalar:
                if id(v) in self.visited:
                    continue
                self.visited.add(id(v))
                if layer.mentions(v.start, v.end) and _str_value(v) is not None:
                    self._site(layer, v, SiteKind.TEXT, f"{head} {where}", {"rule": info, "field": where})
            else:
                stack.append((v, f"{head} {where}"))

    def _grafana_data(self, layer: _Layer, data: Any, head: str, path: str, info: dict, stack: list) -> None:
        if type(data) is not Sequence:
            stack.append((data, _child(path, "data")))
            return
        for i, item in enumerate(data.items):
            if type(item) is not Mapping or id(item) in self.visited:
                continue
            self.visited.add(id(item))
            ikeys = _keys(item)
            ref_id = _str_value(ikeys.get("refId"))
            for k, v in item.pairs:
                key = k.value if type(k) is Scalar else "?"
                if key == "model" and type(v) is Mapping and id(v) not in self.visited:
                    self.visited.add(id(v))
                    for mk, mv in v.pairs:
                        mkey = mk.value if type(mk) is Scalar else "?"
                        where = f"data[{i}].model.{mkey}"
                        if mkey == "expr" and type(mv) is Scalar:
                            self.visited.add(id(mv))
                            if mv.value.strip():
                                context = {"rule": info, "field": where, "ref_id": ref_id}
                                self._site(layer, mv, SiteKind.PROMQL, f"{head} {where}", context)
                        elif type(mv) is Scalar:
                            if id(mv) not in self.visited:
                                self.visited.add(id(mv))
                                self._value(layer, mv, f"{head} {where}", mkey, rule=info)
                        else:
                            stack.append((mv, f"{head} {where}"))
                elif type(v) is Scalar:
                    if id(v) not in self.visited:
                        self.visited.add(id(v))
                        self._value(layer, v, f"{head} data[{i}].{key}", key, rule=info)
                else:
                    stack.append((v, f"{head} data[{i}].{key}"))

    # -- strings -------------------------------------------------------------------------

    def _value(
        self, layer: _Layer, node: Scalar, path: str, key: str, *, flow: bool = False, rule: dict | None = None
    ) -> None:
        """A mapping value: PromQL by key, or any string that mentions a needle."""
        value = _str_value(node)
        if value is None:
            return
        if key in PROMQL_KEYS and value.strip():
            # Under a PromQL key a bare metric name is a PromQL selector, not a name as data.
            if guess_kind(value) is not SiteKind.TEXT:
                context: dict[str, Any] = {"field": key}
                if rule is not None:
                    context["rule"] = rule
                self._site(layer, node, SiteKind.PROMQL, path, context, flow=flow)
                return
        self._string(layer, node, path, container="other", flow=flow)

    def _string(
        self,
        layer: _Layer,
        node: Scalar,
        path: str,
        *,
        container: str,
        seq: Sequence | None = None,
        index: int = 0,
        flow: bool = False,
        key: bool = False,
    ) -> None:
        """Any other string: a site when its source mentions a needle; embedded rule files and
        dashboards are followed."""
        value = _str_value(node)
        if value is None:
            return
        mentions = layer.mentions(node.start, node.end)
        if not key and layer.depth < _MAX_EMBEDDING:
            if "\n" in value and "groups" in value and _RULE_FILE.search(value):
                if self._embedded_yaml(layer, node, path, flow=flow):
                    return
            # A dashboard held in a string (grafana-operator `spec.json`, Helm values).
            if mentions and value.lstrip().startswith("{") and value.rstrip().endswith("}"):
                if self._dashboard(layer, node, path, flow=flow):
                    return
        if not mentions or not value.strip():
            return
        kind = guess_kind(value)
        context: dict[str, Any] = {}
        if kind is SiteKind.NAME:
            context["container"] = container
            context["definition"] = None
            context["element_removal"] = (
                self._removal(layer, seq, index) if container == "sequence" and seq is not None else None
            )
        self._site(layer, node, kind, path, context, flow=flow, key=key)

    def _embedded(self, layer: _Layer, node: Scalar, path: str, name: str) -> None:
        """A ConfigMap/Secret value: a dashboard, a rule file (or other YAML), or text."""
        value = _str_value(node)
        if value is None or not value.strip() or layer.depth >= _MAX_EMBEDDING:
            if value is not None and value.strip():
                self._string(layer, node, path, container="other")
            return
        lowered = name.lower()
        if lowered.endswith(".json") or value.lstrip().startswith(("{", "[")):
            if self._dashboard(layer, node, path):
                return
        elif not lowered.endswith(_NOT_YAML_KEYS):
            if self._embedded_yaml(layer, node, path):
                return
        if layer.mentions(node.start, node.end):
            kind = guess_kind(value)
            context: dict[str, Any] = {}
            if kind is SiteKind.NAME:
                context = {"container": "other", "definition": None, "element_removal": None}
            self._site(layer, node, kind, path, context)

    def _embedded_yaml(self, layer: _Layer, node: Scalar, path: str, *, flow: bool = False) -> bool:
        sm = map_scalar(layer.text, node, flow=flow)
        if sm is None:
            return False
        try:
            docs = compose_documents(sm.value)
        except ParseError:
            return False
        if not any(type(d) in (Mapping, Sequence) for d in docs):
            return False
        self._alive.append(docs)
        inner = _Layer(
            sm.value,
            file_offsets=layer.to_file(sm.offsets),
            outer=sm,
            parent=layer,
            prefix=path.rstrip() + " ",
        )
        self.walk_stream(inner, docs, inner.prefix)
        return True

    def _dashboard(self, layer: _Layer, node: Scalar, path: str, *, flow: bool = False) -> bool:
        hook = _dashboard_hook()
        if hook is None:
            return False
        sm = map_scalar(layer.text, node, flow=flow)
        if sm is None:
            return False

        def outer_encode(r: str, _sm: ScalarMap = sm, _layer: _Layer = layer) -> str:
            out = _layer.encode(_sm, r)
            if out is None:
                raise EncodeError(f"{r!r} cannot be written in this YAML {_sm.style_name} scalar")
            return out

        try:
            sites = hook(sm.value, layer.to_file(sm.offsets), outer_encode, path.rstrip() + " ")
        except (ParseError, ValueError):
            return False
        if not sites:
            return False
        self.sites.extend(sites)
        return True

    # -- sites ---------------------------------------------------------------------------

    def _key(self, layer: _Layer, node: Any) -> str:
        """A mapping key as shown in locators."""
        if type(node) is not Scalar:
            return "?"
        return self._name(layer, node) or node.value

    def _name(self, layer: _Layer, node: Any) -> str | None:
        """A short string for locators and context (rule, group, object names), with any
        template text put back (`{{ .Release.Name }}-cache`, not the blanked form)."""
        value = _str_value(node)
        if value is None or not self.regions or layer.parent is not None:
            return value
        if not self._touches_templates(node.start, node.end):
            return value
        sm = map_scalar(layer.text, node)
        if sm is None:
            return value
        return self._with_templates(sm.value, sm.offsets, [])[0]

    def _site(
        self,
        layer: _Layer,
        node: Scalar,
        kind: SiteKind,
        locator: str,
        context: dict[str, Any],
        *,
        flow: bool = False,
        key: bool = False,
    ) -> None:
        sm = map_scalar(layer.text, node, flow=flow, key=key)
        if layer.depth:
            context.setdefault("embedded_in", layer.prefix.rstrip())
        if sm is None:
            self.sites.append(self._readonly_site(layer, node, kind, locator, context))
            return
        context.setdefault("yaml_style", sm.style_name)
        value = sm.value
        offsets = layer.to_file(sm.offsets)
        protected = list(sm.protected)
        if layer.protected_text:
            protected.extend(_touching(sm.offsets, layer.protected_text))
        post_to_pre: list[int] | None = None
        if self.regions and self._touches_templates(offsets[0], offsets[-1]):
            value, offsets, protected, post_to_pre = self._with_templates(value, offsets, protected)
            context["templated"] = True
        protected.extend(spans_in_value(value))

        def replacer(a: int, b: int, r: str, _sm: ScalarMap = sm, _layer: _Layer = layer,
                     _map: list[int] | None = post_to_pre) -> tuple[int, int, str] | None:  # fmt: skip
            if _map is not None:
                a, b = _map[a], _map[b]
            result = _sm.replace(a, b, r)
            return None if result is None else _layer.replace_text(*result)

        def encode(r: str, _sm: ScalarMap = sm, _layer: _Layer = layer) -> str:
            out = _layer.encode(_sm, r)
            if out is None:
                raise EncodeError(f"{r!r} cannot be written in this YAML {_sm.style_name} scalar")
            return out

        verbatim = offsets[-1] - offsets[0] == len(value) and offsets == list(range(offsets[0], offsets[-1] + 1))
        self.sites.append(
            YamlSite(
                value=value,
                kind=kind,
                locator=locator,
                base=offsets[0],
                offsets=None if verbatim else offsets,
                encode=encode,
                protected=_merge(protected),
                context=context,
                replacer=replacer,
            )
        )

    def _readonly_site(self, layer: _Layer, node: Scalar, kind: SiteKind, locator: str, context: dict) -> YamlSite:
        # The loader's value with approximate positions: reported, never edited.
        n = len(node.value)
        approx = [min(node.start + i, node.end) for i in range(n + 1)]
        return YamlSite(
            value=node.value,
            kind=kind,
            locator=locator,
            offsets=layer.to_file(approx),
            editable=False,
            readonly_reason="the characters of this YAML scalar cannot be mapped to the file exactly",
            context=context,
        )

    def _touches_templates(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_right(self.region_starts, hi) - 1
        while i >= 0:
            s, e = self.regions[i]
            if e <= lo:
                return False
            if s <= hi:
                return True
            i -= 1
        return False

    def _with_templates(
        self, value: str, offsets: list[int], protected: list[tuple[int, int]]
    ) -> tuple[str, list[int], list[tuple[int, int]], list[int]]:
        """Put the original template text back where the parsed (blanked) text had blanks.

        Returns the new value, its offsets and protected ranges, and the map from new indices
        to indices of the parsed value (for edits, which are verified on the parsed text).
        """
        text = self.text
        regions = self.regions
        out: list[str] = []
        offs: list[int] = []
        post_to_pre: list[int] = []
        pre_to_post: list[int] = []
        templated: list[tuple[int, int]] = []
        size = 0
        n = len(value)
        i = 0
        while i < n:
            o = offsets[i]
            r = bisect.bisect_right(self.region_starts, o) - 1
            if r >= 0 and o < regions[r][1]:
                rs, re_ = regions[r]
                j = i
                while j < n and rs <= offsets[j] < re_:
                    pre_to_post.append(size)
                    j += 1
                stop = max(o, min(re_, offsets[j]))
                segment = text[o:stop]
                out.append(segment)
                offs.extend(range(o, stop))
                post_to_pre.extend([i] * len(segment))
                templated.append((size, size + len(segment)))
                size += len(segment)
                i = j
                continue
            pre_to_post.append(size)
            out.append(value[i])
            offs.append(o)
            post_to_pre.append(i)
            size += 1
            i += 1
        pre_to_post.append(size)
        offs.append(offsets[n])
        post_to_pre.append(n)
        moved = [(pre_to_post[a], pre_to_post[b]) for a, b in protected]
        return "".join(out), offs, moved + templated, post_to_pre

    # -- element removal -----------------------------------------------------------------

    def _removal(self, layer: _Layer, seq: Sequence, index: int) -> tuple[Edit, ...] | None:
        """Edits deleting one element of a sequence cleanly, or None (the last element, or a
        layout this does not understand)."""
        items = seq.items
        if len(items) < 2:
            return None
        if any(not (seq.start <= it.start <= it.end <= seq.end) for it in items):
            return None  # an alias: its node lives elsewhere
        text = layer.text
        span = _flow_item_span(text, items, index) if seq.flow else _block_item_span(text, items[index])
        if span is None:
            return None
        s, e = span
        if layer.parent is None and self.regions and self._touches_templates(s, e):
            return None
        result = layer.replace_text(s, e, "")
        if result is None:
            return None
        return (Edit(Span(result[0], result[1]), result[2]),)


_ITEM_PREFIX = re.compile(r"[ \t]*-[ \t]+")
_LINE_REST = re.compile(r"[ \t]*(?:#[^\r\n\x85\u2028\u2029]*)?")
_COMMA_AFTER = re.compile(r"[ \t]*,[ \t\r\n]*")
_COMMA_BEFORE = re.compile(r"[ \t\r\n]*,[ \t\r\n]*")


def _block_item_span(text: str, item: Any) -> tuple[int, int] | None:
    """The whole `- item  # comment` line(s) with the line break."""
    line_start = max(text.rfind(b, 0, item.start) for b in BREAKS) + 1
    if not _ITEM_PREFIX.fullmatch(text, line_start, item.start):
        return None
    rest = _LINE_REST.match(text, item.end)
    assert rest is not None
    end = rest.end()
    if end < len(text):
        if text[end] not in BREAKS:
            return None
        return line_start, end + (2 if text.startswith("\r\n", end) else 1)
    if line_start == 0:
        return None
    # The last line of a file without a final newline: take the line break before it.
    start = line_start - (2 if text.startswith("\r\n", line_start - 2) else 1)
    return start, end


def _flow_item_span(text: str, items: list[Any], index: int) -> tuple[int, int] | None:
    """The item and one adjacent comma (the following one; the preceding one for the last)."""
    item = items[index]
    if index < len(items) - 1:
        nxt = items[index + 1]
        if _COMMA_AFTER.fullmatch(text, item.end, nxt.start):
            return item.start, nxt.start
        return None
    prev = items[index - 1]
    if _COMMA_BEFORE.fullmatch(text, prev.end, item.start):
        return prev.end, item.end
    return None


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[0] < r[1]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return tuple(merged)


def _dashboard_hook():  # type: ignore[no-untyped-def]
    """The Grafana handler's embedded-dashboard entry point, when it is available."""
    for module in ("migrator.formats.json_format", "migrator.formats.grafana"):
        try:
            mod = __import__(module, fromlist=["dashboard_sites_from_string"])
            return mod.dashboard_sites_from_string
        except (ImportError, AttributeError):
            continue
    return None


# --------------------------------------------------------------------------- the handler


def _site_order(site: Site) -> tuple[int, int]:
    if site.offsets is None:
        return site.base, site.base + len(site.value)
    return site.offsets[0], site.offsets[-1]


class YamlHandler:
    name = "yaml"

    def parse(self, path: str, text: str) -> Document:
        parsed, docs, regions = _load(text)
        builder = _Builder(text, regions)
        layer = _Layer(parsed, needle_text=text)
        with no_gc():
            builder.walk_stream(layer, docs, "")
        sites = builder.sites
        sites.sort(key=_site_order)
        document = Document(path=path, text=text, format=self.name, sites=sites)
        document.extra["yaml_documents"] = len(docs)
        document.extra["yaml_nodes"] = docs  # for node-wide suppression comments (yaml_suppression_scopes)
        document.extra["templated"] = bool(regions)
        document.extra["template_regions"] = regions
        document.extra["prometheus_rules"] = builder.rules
        return document

    def validate(self, text: str) -> None:
        _load(text, build=False)
