"""Rule files within the YAML walk: Prometheus rule groups and Grafana unified-alerting rules.

Mixed into `yaml_walk.Walker`: this part knows the structure of rules (`groups[].rules[]`,
`alert`/`record` with `expr`, annotations and labels, Grafana's `data[].model.expr`) and hands
everything else back to the walker's generic traversal (`_mapping`, `_value`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from migrator.formats.base import GrafanaPlace, ParseError, RulePlace, SiteContext, SiteKind
from migrator.formats.yaml_compose import Mapping, Scalar, Sequence
from migrator.formats.yaml_sites import SIMPLE_KEY, Layer, SiteFactory, child_path, mapping_keys, str_value

_SIMPLE_NAME = re.compile(r"[^\s\"'=]+")


def _fmt_name(name: str | None) -> str:
    if not name:
        return "?"
    return name if _SIMPLE_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def is_rule_groups(node: Any) -> bool:
    return type(node) is Sequence and any(
        type(g) is Mapping and type(mapping_keys(g).get("rules")) is Sequence for g in node.items
    )


_MERGE_TAG = "tag:yaml.org,2002:merge"


def is_merge_key(node: Any) -> bool:
    """A YAML merge key: a plain `<<` (a quoted "<<" is an ordinary key)."""
    return type(node) is Scalar and node.value == "<<" and (
        (node.style is None and node.tag is None) or node.tag == _MERGE_TAG
    )


def merge_sources(value: Any) -> list[Mapping]:
    """The mappings a merge key pulls in, in priority order (`<<: [*a, *b]`: a's keys win)."""
    if type(value) is Mapping:
        return [value]
    if type(value) is Sequence:
        return [item for item in value.items if type(item) is Mapping]
    return []


#: How many merged-in keys one file's rules may take in all. Chains of merge keys cost the product
#: of their lengths (go-yaml, which Prometheus uses, refuses such files as excessive aliasing).
MERGED_KEYS_BUDGET = 200_000


def merged_pairs(node: Mapping, budget: list[int] | None = None) -> list[tuple[Any, Any]]:
    """The pairs of a mapping with its merge keys applied, as YAML merge defines them: a key
    written in the mapping wins over a merged one, an earlier source over a later one. Merged
    pairs take the place of their `<<` key; the nodes are the merged mapping's own (their
    positions are the anchor's). `budget` (one count, shared by a file's calls) is spent on
    every merged mapping; past it the file is refused (ParseError)."""
    if not any(is_merge_key(k) for k, _ in node.pairs):
        return node.pairs
    seen_keys = {k.value for k, _ in node.pairs if type(k) is Scalar and not is_merge_key(k)}
    out: list[tuple[Any, Any]] = []
    expanding = {id(node)}

    def merge_in(value: Any) -> None:
        # Depth first, in order, without recursion (merge chains may be thousands long).
        pending = list(reversed(merge_sources(value)))
        while pending:
            source = pending.pop()
            if id(source) in expanding:  # already merged (or an impossible cycle)
                continue
            expanding.add(id(source))
            if budget is not None:
                budget[0] -= len(source.pairs)
                if budget[0] < 0:
                    raise ParseError(
                        f"YAML merge keys expand to more than {MERGED_KEYS_BUDGET} keys (excessive aliasing)", node.start
                    )
            for k, v in source.pairs:
                if type(k) is Scalar and not is_merge_key(k) and k.value not in seen_keys:
                    seen_keys.add(k.value)
                    out.append((k, v))
            for k, v in reversed(source.pairs):
                if is_merge_key(k):
                    pending.extend(reversed(merge_sources(v)))

    for k, v in node.pairs:
        if is_merge_key(k):
            merge_in(v)
        else:
            out.append((k, v))
    return out


def merged_keys(node: Mapping, budget: list[int] | None = None) -> dict[str, Any]:
    """`mapping_keys` with merge keys applied (see `merged_pairs`)."""
    return {k.value: v for k, v in merged_pairs(node, budget) if type(k) is Scalar}


def is_rule(keys: dict[str, Any]) -> bool:
    return ("alert" in keys or "record" in keys) and "expr" in keys


def merged_rules(docs: list[Any]) -> tuple[set[int], set[int]]:
    """The rules that have a merge key (their keys are `merged_keys`), and the mappings merged into a rule
    that are no rule themselves (`base: &base {expr: ...}`, then `- <<: *base` with `alert: C`),
    by id. The strings of the latter belong to the rule that pulls them in, so the walk leaves
    them to it (see `Walker.walk`). Linear in the node graph: an anchor is complete before any
    alias to it, so taking mappings in the order they end sees every source before its users."""
    mappings: list[Mapping] = []
    seen: set[int] = set()
    stack = [d for d in docs if d is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is Mapping:
            mappings.append(node)
            for k, v in node.pairs:
                stack.append(k)
                stack.append(v)
        elif type(node) is Sequence:
            stack.extend(node.items)
    mappings.sort(key=lambda m: m.end)
    # (names a rule: alert or record, has an expr), merged keys included.
    flags: dict[int, tuple[bool, bool]] = {}
    direct: dict[int, list[Mapping]] = {}
    for m in mappings:
        named = expr = False
        merged: list[Mapping] = []
        for k, v in m.pairs:
            if is_merge_key(k):
                merged.extend(merge_sources(v))
            elif type(k) is Scalar:
                named = named or k.value in ("alert", "record")
                expr = expr or k.value == "expr"
        for source in merged:
            source_named, source_expr = flags.get(id(source), (False, False))
            named, expr = named or source_named, expr or source_expr
        flags[id(m)] = (named, expr)
        if merged:
            direct[id(m)] = merged
    rules = {i for i in direct if all(flags[i])}
    sources: set[int] = set()
    for i in rules:
        pending = list(direct[i])
        while pending:
            source = pending.pop()
            if all(flags[id(source)]) or id(source) in sources:
                continue  # a rule in its own right, or already followed
            sources.add(id(source))
            pending.extend(direct.get(id(source), ()))
    return rules, sources


def _plain(node: Any) -> Any:
    """A small YAML value as Python data (datasource references): strings and mappings."""
    if type(node) is Scalar:
        return node.value
    if type(node) is Mapping:
        return {k.value: v.value for k, v in node.pairs if type(k) is Scalar and type(v) is Scalar}
    return None


def _is_prometheus(datasource: Any) -> bool:
    if datasource is None:
        return True
    if isinstance(datasource, dict) and "__expr__" in (datasource.get("uid"), datasource.get("type")):
        return False  # a server-side expression (math, reduce, threshold) over other queries
    for module in ("migrator.formats.grafana_datasources", "migrator.formats.grafana"):
        try:
            check = __import__(module, fromlist=["is_prometheus_datasource"]).is_prometheus_datasource
        except (ImportError, AttributeError):
            continue
        return bool(check(datasource))
    return True


class RuleFileWalk:
    """The rule-file part of the walker (see the module docstring)."""

    factory: SiteFactory
    visited: set[int]
    rules: list[RulePlace]
    labels: list[tuple[int, int]]
    merged_rules: set[int]
    merge_budget: list[int]
    _mapping: Callable[..., None]
    _value: Callable[..., None]
    _key: Callable[[Layer, Any], str]

    def _groups(self, layer: Layer, groups: Sequence, gpath: str, stack: list) -> None:
        for g, group in enumerate(groups.items):
            gp = f"{gpath}[{g}]"
            if type(group) is not Mapping or id(group) in self.visited:
                continue
            self.visited.add(id(group))
            gkeys = mapping_keys(group)
            gname = self.factory.name(layer, gkeys.get("name"))
            rules = gkeys.get("rules")
            for k, v in group.pairs:
                if type(k) is Scalar and k.value == "rules" and type(v) is Sequence:
                    continue
                key = self._key(layer, k)
                if type(v) is Scalar:
                    if id(v) not in self.visited:
                        self.visited.add(id(v))
                        self._value(layer, v, child_path(gp, key), key)
                else:
                    stack.append((v, child_path(gp, key)))
            if type(rules) is not Sequence or id(rules) in self.visited:
                continue
            self.visited.add(id(rules))
            for r, rule in enumerate(rules.items):
                rp = f"{gp}.rules[{r}]"
                if type(rule) is Mapping and id(rule) not in self.visited:
                    self.visited.add(id(rule))
                    keys = merged_keys(rule, self.merge_budget) if id(rule) in self.merged_rules else mapping_keys(rule)
                    self._rule(layer, rule, keys, rp, gname, (g, r), stack)
                elif type(rule) is not Scalar:
                    stack.append((rule, rp))

    def _rule(
        self,
        layer: Layer,
        rule: Mapping,
        keys: dict[str, Any],
        path: str,
        group: str | None,
        index: tuple[int, int] | None,
        stack: list,
    ) -> None:
        if "alert" in keys or "record" in keys:
            kind = "alert" if "alert" in keys else "record"
            name = self.factory.name(layer, keys[kind])
            grafana = False
        elif type(keys.get("data")) is Sequence:
            kind, name, grafana = "alert", self.factory.name(layer, keys.get("title")), True
        else:
            self._mapping(layer, rule, path, stack)
            return
        head = f"{path} {kind}={_fmt_name(name)}"
        place = RulePlace(kind, name, group, index)
        self.rules.append(place)
        # Keys pulled in through a merge key (`<<: *base`) are the rule's own: their locators
        # name this rule, their positions are where the text is (the anchor's definition).
        for k, v in merged_pairs(rule, self.merge_budget):
            if type(k) is not Scalar:
                continue
            key = k.value
            if key == "expr" and not grafana and type(v) is Scalar:
                self.visited.add(id(v))
                if v.value.strip():
                    self.factory.add(layer, v, SiteKind.PROMQL, f"{head} expr", SiteContext(rule=place, field="expr"))
            elif key in ("annotations", "labels") and type(v) is Mapping and id(v) not in self.visited:
                self.visited.add(id(v))
                self._labels(layer, v, head, key, place, stack)
            elif key == "data" and grafana and id(v) not in self.visited:
                self.visited.add(id(v))
                self._grafana_data(layer, v, head, path, place, mapping_keys(rule), stack)
            elif key == kind or (grafana and key == "title"):
                if key == "record" and type(v) is Scalar:
                    # The name of the series this rule defines: the user's, not a reference to a
                    # vLLM metric and not prose, even when it keeps an old name alive (a shim).
                    start, end = layer.to_file([v.start, v.end])
                    self.labels.append((start, end))
                    place.name_at = start
                continue
            elif type(v) is Scalar:
                if id(v) not in self.visited:
                    self.visited.add(id(v))
                    self._value(layer, v, f"{head} {key}", key, rule=place)
            else:
                stack.append((v, child_path(path, key)))

    def _labels(self, layer: Layer, node: Mapping, head: str, field: str, place: RulePlace, stack: list) -> None:
        for k, v in node.pairs:
            key = self._key(layer, k)
            where = f"{field}.{key}" if SIMPLE_KEY.fullmatch(key) else f"{field}[{json.dumps(key)}]"
            if type(v) is Scalar:
                if id(v) in self.visited:
                    continue
                self.visited.add(id(v))
                if str_value(v) is not None and layer.mentions(v):
                    context = SiteContext(rule=place, field=where, prose=key)
                    self.factory.add(layer, v, SiteKind.TEXT, f"{head} {where}", context)
            else:
                stack.append((v, f"{head} {where}"))

    def _grafana_data(
        self, layer: Layer, data: Any, head: str, path: str, place: RulePlace, rule_keys: dict[str, Any], stack: list
    ) -> None:
        """Grafana unified-alerting queries (`data[].model.expr`). An alert's query is no panel
        target: removing it would break the condition that names it by refId."""
        if type(data) is not Sequence:
            stack.append((data, child_path(path, "data")))
            return
        queries: list[tuple[int, Scalar, str | None, Any]] = []
        for i, item in enumerate(data.items):
            if type(item) is not Mapping:
                continue
            ikeys = mapping_keys(item)
            model = ikeys.get("model")
            expr = mapping_keys(model).get("expr") if type(model) is Mapping else None
            if type(expr) is Scalar and str_value(expr) is not None:
                datasource = _plain(mapping_keys(model).get("datasource"))  # type: ignore[arg-type]
                ds_uid = str_value(ikeys.get("datasourceUid"))
                if datasource is None and ds_uid is not None:
                    datasource = {"uid": ds_uid}
                queries.append((i, expr, str_value(ikeys.get("refId")), datasource))
        exprs = {id(q[1]) for q in queries}
        uid = str_value(rule_keys.get("uid"))
        for i, item in enumerate(data.items):
            if type(item) is not Mapping or id(item) in self.visited:
                continue
            self.visited.add(id(item))
            for k, v in item.pairs:
                key = k.value if type(k) is Scalar else "?"
                if key == "model" and type(v) is Mapping and id(v) not in self.visited:
                    self.visited.add(id(v))
                    for mk, mv in v.pairs:
                        mkey = mk.value if type(mk) is Scalar else "?"
                        where = f"data[{i}].model.{mkey}"
                        if id(mv) in exprs:
                            self.visited.add(id(mv))
                            self._alert_query(layer, queries, mv, f"{head} {where}", where, place, uid)
                        elif type(mv) is Scalar:
                            if id(mv) not in self.visited:
                                self.visited.add(id(mv))
                                self._value(layer, mv, f"{head} {where}", mkey, rule=place)
                        else:
                            stack.append((mv, f"{head} {where}"))
                elif type(v) is Scalar:
                    if id(v) not in self.visited:
                        self.visited.add(id(v))
                        self._value(layer, v, f"{head} data[{i}].{key}", key, rule=place)
                else:
                    stack.append((v, f"{head} data[{i}].{key}"))

    def _alert_query(
        self, layer: Layer, queries: list, node: Scalar, locator: str, where: str, place: RulePlace, uid: str | None
    ) -> None:
        _, _, ref_id, datasource = next(q for q in queries if q[1] is node)
        siblings = tuple(q[1].value for q in queries if q[1] is not node and q[1].value.strip())
        grafana = GrafanaPlace(uid=uid, ref_id=ref_id, datasource=datasource, kind="alert", sibling_exprs=siblings)
        context = SiteContext(rule=place, grafana=grafana, field=where)
        if not _is_prometheus(datasource):
            if layer.mentions(node):
                context.not_prometheus = True
                site = self.factory.add(layer, node, SiteKind.TEXT, locator, context)
                site.editable = False
                site.readonly_reason = "the query is for a datasource that is not Prometheus"
            return
        if node.value.strip():
            self.factory.add(layer, node, SiteKind.PROMQL, locator, context)
