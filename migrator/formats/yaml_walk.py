"""The walk over a YAML node graph: which strings become sites, of which kind, with what context.

See `yaml_format` for the shapes recognised. The walk is iterative and visits every node once, so
aliases (billion laughs) cost nothing; a node reached through an alias first gets the locator of
its anchor.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from migrator.formats.base import ParseError, RulePlace, SiteContext, SiteKind, SiteNeeds, guess_kind
from migrator.formats.yaml_compose import Mapping, Scalar, Sequence, compose_documents
from migrator.formats.yaml_containers import Containers
from migrator.formats.generated import CONTROLLER_GEN_ANNOTATION, controller_gen_reason
from migrator.formats.yaml_rules import (
    MERGED_KEYS_BUDGET, RuleFileWalk, is_merge_key, is_rule, is_rule_groups, merge_sources, merged_keys,
    merged_rules,
)
from migrator.formats.yaml_scalars import ScalarMap, map_scalar
from migrator.formats.yaml_sites import EncodeError, Layer, SiteFactory, child_path, mapping_keys, str_value

#: Keys whose string values are PromQL in common configs (rules, KEDA, prometheus-adapter).
PROMQL_KEYS = frozenset({"expr", "query", "promql", "metricsQuery", "seriesQuery"})

# ConfigMap keys whose values are clearly not YAML (scripts, docs): never parsed as YAML.
_NOT_YAML_KEYS = (".py", ".sh", ".txt", ".md", ".go", ".rs", ".tf", ".ini", ".toml", ".conf", ".cfg")
_RULE_FILE = re.compile(r"(?m)^[ \t]*groups[ \t]*:")
# prometheus-adapter's `metricsQuery` is a Go template with `<<` `>>` delimiters.
_ADAPTER_TEMPLATE = re.compile(r"<<.*?>>")
# A hyphenated word (`vllm-overview`, `vllm-0.6.2`) parses as a PromQL subtraction, but outside
# the keys known to hold PromQL it is an object name, an image tag, a label value.
_HYPHENATED = re.compile(r"[\w.:]+(?:-[\w.:]+)+")
# How deep embedded documents are followed (a ConfigMap's rule file is depth 1).
_MAX_EMBEDDING = 3

# Roles of mappings whose meaning comes from where they sit, recorded by their parent.
_KEDA_METADATA = "keda-trigger-metadata"  # ScaledObject/ScaledJob `triggers[].metadata`
_ADAPTER_NAME = "adapter-name"  # prometheus-adapter `rules[].name`
_HPA_METRIC = "hpa-metric"  # HPA `metrics[].{external,pods,object}.metric`
_HPA_V2BETA_SOURCE = "hpa-v2beta-source"  # autoscaling/v2beta1 `metrics[].external` etc.
# The key of each role's mapping that holds a metric name whatever it looks like: the
# Stackdriver adapter's `prometheus.googleapis.com|<metric>|gauge` is one, though no PromQL.
# prometheus-adapter's `name.matches` is a regex over series names, written as a name.
_NAME_KEY = {_HPA_METRIC: "name", _HPA_V2BETA_SOURCE: "metricName", _ADAPTER_NAME: "matches"}
# The key of each role's mapping that is a free-form label chosen by the user: KEDA's
# `metricName` and the adapter's `name.as` name the metric these tools *export* to the HPA, not
# a Prometheus series, so a vLLM rename never requires changing them and they are no sites.
_FREE_FORM_KEY = {_KEDA_METADATA: "metricName", _ADAPTER_NAME: "as"}


def _adapter_templates(value: str) -> list[tuple[int, int]]:
    return [m.span() for m in _ADAPTER_TEMPLATE.finditer(value)]


def _owner(path: str) -> str | None:
    return path.strip() or None


class Walker(RuleFileWalk):
    def __init__(self, text: str, template_regions: list[tuple[int, int]], needs: SiteNeeds) -> None:
        self.factory = SiteFactory(text, template_regions)
        self.containers = Containers(self.factory)
        self.needs = needs
        self.rules: list[RulePlace] = []
        self.dashboards: list[tuple[str | None, str | None]] = []
        self.labels: list[tuple[int, int]] = []  # see Document.labels
        self.embedded: list[tuple[list[Any], str, list[int]]] = []  # see Document.yaml_embedded
        self.generated: str | None = None
        self._check_generated = CONTROLLER_GEN_ANNOTATION in text
        self.roles: dict[int, str] = {}
        # prometheus-adapter rules' naming, by the id of their `seriesQuery` and `name.matches`.
        self.adapter_naming: dict[int, tuple[str | None, str | None]] = {}
        self.visited: set[int] = set()
        # Scalars first met through an alias (`*name` before the walk reached `&name`): they
        # get a site at their anchor when the walk gets there, else at the alias, at the end.
        self._deferred: list[tuple[Any, Callable[[], None]]] = []
        # Mappings merged into a rule (`<<: *base`), by id: their strings are the rule's, so the
        # walk leaves them to it and walks what the rule did not take at the end.
        self._rule_merge_sources: set[int] = set()
        self.merged_rules: set[int] = set()  # rules with a merge key, by id (see merged_rules)
        self.merge_budget = [MERGED_KEYS_BUDGET]
        self._deferred_sources: list[tuple[Layer, Mapping, str]] = []
        # `visited` holds ids: every composed node must stay alive until the walk ends, or an
        # id could be reused by a node of the next embedded document.
        self._alive: list[Any] = []

    @property
    def sites(self) -> list[Any]:
        return self.factory.sites

    # -- traversal -----------------------------------------------------------------------

    def walk_stream(self, layer: Layer, docs: list[Any], prefix: str) -> None:
        if "<<" in layer.text:
            rules, sources = merged_rules(docs)
            self.merged_rules |= rules
            self._rule_merge_sources |= sources
        for i, root in enumerate(docs):
            if root is None:
                continue
            path = prefix + (f"doc[{i}] " if len(docs) > 1 else "")
            if type(root) is Scalar:
                if id(root) not in self.visited:
                    self.visited.add(id(root))
                    self._string(layer, root, path.rstrip() or "(document)")
            else:
                self.walk(layer, root, path)

    def finish(self) -> None:
        while self._deferred_sources:
            layer, source, path = self._deferred_sources.pop(0)
            self._rule_merge_sources.discard(id(source))
            self.walk(layer, source, path)
        for node, visit in self._deferred:
            if id(node) not in self.visited:
                self.visited.add(id(node))
                visit()
        self._deferred.clear()

    def walk(self, layer: Layer, root: Any, path: str) -> None:
        stack: list[tuple[Any, str]] = [(root, path)]
        visited = self.visited
        while stack:
            node, path = stack.pop()
            if id(node) in visited:
                continue
            if id(node) in self._rule_merge_sources:
                self._deferred_sources.append((layer, node, path))
                continue
            visited.add(id(node))
            # Children are visited in document order.
            children: list[tuple[Any, str]] = []
            if type(node) is Mapping:
                self._mapping(layer, node, path, children)
            elif type(node) is Sequence:
                self._sequence(layer, node, path, children)
            elif type(node) is Scalar:
                self._string(layer, node, path)
            stack.extend(reversed(children))

    def _mapping(self, layer: Layer, node: Mapping, path: str, stack: list) -> None:
        keys = mapping_keys(node)
        kind = str_value(keys.get("kind"))
        if kind and "apiVersion" in keys:
            meta = keys.get("metadata")
            meta_keys = mapping_keys(meta) if type(meta) is Mapping else {}
            name = self.factory.name(layer, meta_keys.get("name"))
            sep = "" if not path or path.endswith(" ") else " "
            path = f"{path}{sep}{kind}/{name} " if name else f"{path}{sep}{kind} "
            if self._check_generated and layer.depth == 0 and self.generated is None:
                self._note_generated(kind, keys, meta_keys)
        handled: set[str] = set()
        if kind in ("ConfigMap", "Secret"):
            for field in ("data", "stringData"):
                data = keys.get(field)
                if type(data) is Mapping and id(data) not in self.visited:
                    self.visited.add(id(data))
                    for k, v in data.pairs:
                        if type(k) is Scalar and type(v) is Scalar and id(v) not in self.visited:
                            self.visited.add(id(v))
                            self._embedded(layer, v, child_path(child_path(path, field), k.value), k.value)
                handled.add(field)
            handled.add("binaryData")
        groups = keys.get("groups")
        if is_rule_groups(groups) and id(groups) not in self.visited:
            self.visited.add(id(groups))
            self._groups(layer, groups, child_path(path, "groups"), stack)
            handled.add("groups")
        if is_rule(keys) or id(node) in self.merged_rules:
            rule_keys = merged_keys(node, self.merge_budget) if id(node) in self.merged_rules else keys
            self._rule(layer, node, rule_keys, path.rstrip() or "(rule)", None, None, stack)
            return
        self._note_roles(keys)
        role = self.roles.get(id(node))
        for index, (k, v) in enumerate(node.pairs):
            if type(k) is not Scalar:
                stack.append((k, path))
                stack.append((v, path))
                continue
            if k.value in handled:
                continue
            if is_merge_key(k) and self._merged_into(v, path, stack):
                continue
            if role is not None and k.value == _FREE_FORM_KEY.get(role) and type(v) is Scalar:
                self.visited.add(id(v))  # a label the user chose, not a metric (see _FREE_FORM_KEY)
                start, end = layer.to_file([v.start, v.end])
                self.labels.append((start, end))
                continue
            child = child_path(path, self._key(layer, k))
            if id(k) not in self.visited and layer.mentions(k):
                self.visited.add(id(k))
                container = (node, index, _owner(path))
                self._string(layer, k, child + " (key)", flow=node.flow, key=True, container=container)
            if type(v) is Scalar:
                if id(v) not in self.visited:
                    name_key = role is not None and k.value == _NAME_KEY.get(role)

                    def visit(v: Scalar = v, child: str = child, key: str = k.value, name_key: bool = name_key) -> None:
                        self._value(layer, v, child, key, flow=node.flow, name=name_key)

                    if v.start < k.start:  # an alias
                        self._deferred.append((v, visit))
                    else:
                        self.visited.add(id(v))
                        visit()
            else:
                stack.append((v, child))

    def _merged_into(self, value: Any, path: str, stack: list) -> bool:
        """The mappings a merge key (`<<: *defaults`, `<<: [*a, *b]`, `<<: {...}`) pulls into
        the mapping at `path` are walked as that mapping's own keys (`prod.metric`, not
        `prod["<<"].metric`); the walk meets each node once, so an anchor merged in many places
        gives one site, at its text, named after the first mapping that has it."""
        sources = merge_sources(value)
        if not sources or (type(value) is Sequence and len(sources) != len(value.items)):
            return False  # not a valid merge: walked as written
        if type(value) is Sequence:
            self.visited.add(id(value))
        # Pushed last-first: the stack pops the first source first.
        stack.extend((source, path) for source in reversed(sources))
        return True

    def _sequence(self, layer: Layer, node: Sequence, path: str, stack: list) -> None:
        previous_end = node.start
        for i, item in enumerate(node.items):
            child = f"{path.rstrip()}[{i}]" if path.strip() else f"[{i}]"
            if type(item) is Scalar:
                if id(item) not in self.visited:

                    def visit(item: Scalar = item, child: str = child, i: int = i) -> None:
                        self._string(layer, item, child, flow=node.flow, container=(node, i, _owner(path)))

                    if item.start < previous_end:  # an alias
                        self._deferred.append((item, visit))
                    else:
                        self.visited.add(id(item))
                        visit()
            else:
                stack.append((item, child))
            previous_end = max(previous_end, item.end)

    def _note_roles(self, keys: dict[str, Any]) -> None:
        """Record the role of child mappings whose meaning depends on this one's shape."""
        triggers = keys.get("triggers")
        if type(triggers) is Sequence:
            for trigger in triggers.items:
                if type(trigger) is Mapping:
                    tkeys = mapping_keys(trigger)
                    metadata = tkeys.get("metadata")
                    if type(metadata) is Mapping and str_value(tkeys.get("type")):
                        self.roles[id(metadata)] = _KEDA_METADATA
        source_type = str_value(keys.get("type"))
        if source_type:
            # An HPA MetricSpec: `type: External` with its source under `external`.
            source = keys.get(source_type[:1].lower() + source_type[1:])
            if type(source) is Mapping:
                skeys = mapping_keys(source)
                metric = skeys.get("metric")
                if type(metric) is Mapping:
                    self.roles[id(metric)] = _HPA_METRIC
                if "metricName" in skeys:
                    self.roles[id(source)] = _HPA_V2BETA_SOURCE
        name = keys.get("name")
        series_query = keys.get("seriesQuery")
        if type(series_query) is Scalar:
            naming: tuple[str | None, str | None] = (None, None)
            if type(name) is Mapping:
                self.roles[id(name)] = _ADAPTER_NAME
                name_keys = mapping_keys(name)
                matches = name_keys.get("matches")
                naming = (str_value(matches), str_value(name_keys.get("as")))
                if type(matches) is Scalar:
                    self.adapter_naming[id(matches)] = naming
            self.adapter_naming[id(series_query)] = naming

    def _note_generated(self, kind: str, keys: dict[str, Any], meta_keys: dict[str, Any]) -> None:
        annotations = meta_keys.get("annotations")
        if type(annotations) is not Mapping:
            return
        version = mapping_keys(annotations).get(CONTROLLER_GEN_ANNOTATION)
        if version is None:
            return
        spec = keys.get("spec")
        spec_keys = mapping_keys(spec) if type(spec) is Mapping else {}
        names = spec_keys.get("names")
        crd_kind = str_value(mapping_keys(names).get("kind")) if type(names) is Mapping else None
        self.generated = controller_gen_reason(
            str_value(version), kind, crd_kind, str_value(spec_keys.get("group"))
        )

    # -- strings -------------------------------------------------------------------------

    def _value(
        self,
        layer: Layer,
        node: Scalar,
        path: str,
        key: str,
        *,
        flow: bool = False,
        rule: RulePlace | None = None,
        name: bool = False,
    ) -> None:
        """A mapping value: PromQL by key, a metric name by place, or any string that mentions a
        needle."""
        value = str_value(node)
        if value is None:
            return
        if name:
            if value.strip() and layer.mentions(node):
                context = SiteContext(rule=rule, field=key, adapter_naming=self.adapter_naming.get(id(node)))
                self.factory.add(layer, node, SiteKind.NAME, path, context, flow=flow)
            return
        if key in PROMQL_KEYS and value.strip():
            if key == "metricsQuery" and "<<" in value:
                # A prometheus-adapter template: PromQL around `<<.Series>>` placeholders,
                # which are protected like Helm regions.
                if layer.mentions(node):
                    context = SiteContext(rule=rule, field=key, templated=True)
                    self.factory.add(
                        layer, node, SiteKind.PROMQL, path, context, flow=flow, also_protect=_adapter_templates
                    )
                return
            # Under a PromQL key a bare metric name is a PromQL selector, not a name as data.
            if guess_kind(value) is not SiteKind.TEXT:
                context = SiteContext(rule=rule, field=key, adapter_naming=self.adapter_naming.get(id(node)))
                self.factory.add(layer, node, SiteKind.PROMQL, path, context, flow=flow)
                return
        self._string(layer, node, path, flow=flow, field=key, rule=rule)

    def _string(
        self,
        layer: Layer,
        node: Scalar,
        path: str,
        *,
        flow: bool = False,
        key: bool = False,
        field: str | None = None,
        rule: RulePlace | None = None,
        container: tuple[Sequence | Mapping, int, str | None] | None = None,
    ) -> None:
        """Any other string: a site when its text mentions a needle; embedded rule files and
        dashboards are followed."""
        value = str_value(node)
        if value is None:
            return
        mentions = layer.mentions(node)
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
        kind = _guess(value, key=key)
        context = SiteContext(rule=rule, field=field)
        if kind is SiteKind.TEXT and field is not None:
            context.prose = field
        if container is not None:
            collection, index, owner = container
            if type(collection) is Sequence:
                context.container = self.containers.of_item(layer, collection, index, owner)
            else:
                context.container = self.containers.of_key(layer, collection, index, owner)
        self.factory.add(layer, node, kind, path, context, flow=flow, key=key)

    def _embedded(self, layer: Layer, node: Scalar, path: str, name: str) -> None:
        """A ConfigMap/Secret value: a dashboard, a rule file (or other YAML), or text."""
        value = str_value(node)
        if value is None or not value.strip() or layer.depth >= _MAX_EMBEDDING:
            if value is not None and value.strip():
                self._string(layer, node, path, field=name)
            return
        lowered = name.lower()
        if lowered.endswith(".json") or value.lstrip().startswith(("{", "[")):
            if self._dashboard(layer, node, path):
                return
        elif not lowered.endswith(_NOT_YAML_KEYS):
            if self._embedded_yaml(layer, node, path):
                return
        if layer.mentions(node):
            kind = _guess(value)
            context = SiteContext(field=name, prose=name if kind is SiteKind.TEXT else None)
            self.factory.add(layer, node, kind, path, context)

    def _embedded_yaml(self, layer: Layer, node: Scalar, path: str, *, flow: bool = False) -> bool:
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
        inner = Layer(
            sm.value,
            self.needs,
            file_offsets=layer.to_file(sm.offsets),
            outer=sm,
            parent=layer,
            prefix=path.rstrip() + " ",
        )
        assert inner.file_offsets is not None
        self.embedded.append((docs, inner.text, inner.file_offsets))
        self.walk_stream(inner, docs, inner.prefix)
        return True

    def _dashboard(self, layer: Layer, node: Scalar, path: str, *, flow: bool = False) -> bool:
        from migrator.formats.json_format import dashboard_sites_from_string  # only for dashboards

        sm = map_scalar(layer.text, node, flow=flow)
        if sm is None:
            return False

        def outer_encode(r: str, _sm: ScalarMap = sm, _layer: Layer = layer) -> str:
            out = _layer.encode(_sm, r)
            if out is None:
                raise EncodeError(f"{r!r} cannot be written in this YAML {_sm.style_name} scalar")
            return out

        found: list[tuple[str | None, str | None]] = []
        embedded_in = path.rstrip()
        try:
            offsets = layer.to_file(sm.offsets)
            sites = dashboard_sites_from_string(
                sm.value, offsets, outer_encode, embedded_in + " ",
                needs=self.needs, dashboards=found, rules=self.rules,  # Grafana alert rules in JSON
            )
        except (ParseError, ValueError):
            return False
        if not sites:
            return False
        for site in sites:
            if site.context.embedded_in is None:
                site.context.embedded_in = embedded_in
        self.sites.extend(sites)
        self.dashboards.extend(found)
        return True

    def _key(self, layer: Layer, node: Any) -> str:
        """A mapping key as shown in locators."""
        if type(node) is not Scalar:
            return "?"
        return self.factory.name(layer, node) or node.value


def _guess(value: str, *, key: bool = False) -> SiteKind:
    """The kind of a string outside the places known to hold PromQL."""
    kind = guess_kind(value)
    if kind is SiteKind.PROMQL and (key or _HYPHENATED.fullmatch(value.strip())):
        return SiteKind.TEXT  # a key names something (`vllm-rules:`); it is never a query
    return kind


