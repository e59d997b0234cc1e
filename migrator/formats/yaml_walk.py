"""The walk over a YAML node graph: which strings become sites, of which kind, with what context.

See `yaml_format` for the shapes recognised. The walk is iterative and visits every node once, so
aliases (billion laughs) cost nothing; a node reached through an alias first gets the locator of
its anchor.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from typing import Any, Callable

from migrator.formats.base import (
    GrafanaPlace,
    ParseError,
    RulePlace,
    SiteContext,
    SiteKind,
    SiteNeeds,
    guess_kind,
)
from migrator.formats.yaml_compose import Mapping, Scalar, Sequence, compose_documents
from migrator.formats.yaml_containers import Containers
from migrator.formats.yaml_generated import CONTROLLER_GEN_ANNOTATION, controller_gen_reason
from migrator.formats.yaml_scalars import ScalarMap, map_scalar
from migrator.formats.yaml_sites import EncodeError, Layer, SiteFactory, str_value

#: Keys whose string values are PromQL in common configs (rules, KEDA, prometheus-adapter).
PROMQL_KEYS = frozenset({"expr", "query", "promql", "metricsQuery", "seriesQuery"})

# ConfigMap keys whose values are clearly not YAML (scripts, docs): never parsed as YAML.
_NOT_YAML_KEYS = (".py", ".sh", ".txt", ".md", ".go", ".rs", ".tf", ".ini", ".toml", ".conf", ".cfg")
_RULE_FILE = re.compile(r"(?m)^[ \t]*groups[ \t]*:")
_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SIMPLE_NAME = re.compile(r"[^\s\"'=]+")
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
_NAME_KEY = {_HPA_METRIC: "name", _HPA_V2BETA_SOURCE: "metricName"}
# The key of each role's mapping that is a free-form label chosen by the user: KEDA's
# `metricName` and the adapter's `name.as` name the metric these tools *export* to the HPA, not
# a Prometheus series, so a vLLM rename never requires changing them and they are no sites.
_FREE_FORM_KEY = {_KEDA_METADATA: "metricName", _ADAPTER_NAME: "as"}


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


def _adapter_templates(value: str) -> list[tuple[int, int]]:
    return [m.span() for m in _ADAPTER_TEMPLATE.finditer(value)]


def _owner(path: str) -> str | None:
    return path.strip() or None


def _plain(node: Any) -> Any:
    """A small YAML value as Python data (datasource references): strings and mappings."""
    if type(node) is Scalar:
        return node.value
    if type(node) is Mapping:
        return {k.value: v.value for k, v in node.pairs if type(k) is Scalar and type(v) is Scalar}
    return None


class Walker:
    def __init__(self, text: str, template_regions: list[tuple[int, int]], needs: SiteNeeds) -> None:
        self.factory = SiteFactory(text, template_regions)
        self.containers = Containers(self.factory)
        self.needs = needs
        self.rules: list[RulePlace] = []
        self.dashboards: list[tuple[str | None, str | None]] = []
        self.generated: str | None = None
        self._check_generated = CONTROLLER_GEN_ANNOTATION in text
        self.roles: dict[int, str] = {}
        self.visited: set[int] = set()
        # Scalars first met through an alias (`*name` before the walk reached `&name`): they
        # get a site at their anchor when the walk gets there, else at the alias, at the end.
        self._deferred: list[tuple[Any, Callable[[], None]]] = []
        # `visited` holds ids: every composed node must stay alive until the walk ends, or an
        # id could be reused by a node of the next embedded document.
        self._alive: list[Any] = []

    @property
    def sites(self) -> list[Any]:
        return self.factory.sites

    # -- traversal -----------------------------------------------------------------------

    def walk_stream(self, layer: Layer, docs: list[Any], prefix: str) -> None:
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
        keys = _keys(node)
        kind = str_value(keys.get("kind"))
        if kind and "apiVersion" in keys:
            meta = keys.get("metadata")
            meta_keys = _keys(meta) if type(meta) is Mapping else {}
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
        self._note_roles(keys)
        role = self.roles.get(id(node))
        for index, (k, v) in enumerate(node.pairs):
            if type(k) is not Scalar:
                stack.append((k, path))
                stack.append((v, path))
                continue
            if k.value in handled:
                continue
            if role is not None and k.value == _FREE_FORM_KEY.get(role) and type(v) is Scalar:
                self.visited.add(id(v))  # a label the user chose, not a metric (see _FREE_FORM_KEY)
                continue
            child = _child(path, self._key(layer, k))
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
                    tkeys = _keys(trigger)
                    metadata = tkeys.get("metadata")
                    if type(metadata) is Mapping and str_value(tkeys.get("type")):
                        self.roles[id(metadata)] = _KEDA_METADATA
        source_type = str_value(keys.get("type"))
        if source_type:
            # An HPA MetricSpec: `type: External` with its source under `external`.
            source = keys.get(source_type[:1].lower() + source_type[1:])
            if type(source) is Mapping:
                skeys = _keys(source)
                metric = skeys.get("metric")
                if type(metric) is Mapping:
                    self.roles[id(metric)] = _HPA_METRIC
                if "metricName" in skeys:
                    self.roles[id(source)] = _HPA_V2BETA_SOURCE
        name = keys.get("name")
        if type(name) is Mapping and "seriesQuery" in keys:
            self.roles[id(name)] = _ADAPTER_NAME

    def _note_generated(self, kind: str, keys: dict[str, Any], meta_keys: dict[str, Any]) -> None:
        annotations = meta_keys.get("annotations")
        if type(annotations) is not Mapping:
            return
        version = _keys(annotations).get(CONTROLLER_GEN_ANNOTATION)
        if version is None:
            return
        spec = keys.get("spec")
        spec_keys = _keys(spec) if type(spec) is Mapping else {}
        names = spec_keys.get("names")
        crd_kind = str_value(_keys(names).get("kind")) if type(names) is Mapping else None
        self.generated = controller_gen_reason(
            str_value(version), kind, crd_kind, str_value(spec_keys.get("group"))
        )

    # -- rule files ----------------------------------------------------------------------

    def _groups(self, layer: Layer, groups: Sequence, gpath: str, stack: list) -> None:
        for g, group in enumerate(groups.items):
            gp = f"{gpath}[{g}]"
            if type(group) is not Mapping or id(group) in self.visited:
                continue
            self.visited.add(id(group))
            gkeys = _keys(group)
            gname = self.factory.name(layer, gkeys.get("name"))
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
        for k, v in rule.pairs:
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
                self._grafana_data(layer, v, head, path, place, _keys(rule), stack)
            elif key == kind or (grafana and key == "title"):
                continue
            elif type(v) is Scalar:
                if id(v) not in self.visited:
                    self.visited.add(id(v))
                    self._value(layer, v, f"{head} {key}", key, rule=place)
            else:
                stack.append((v, _child(path, key)))

    def _labels(self, layer: Layer, node: Mapping, head: str, field: str, place: RulePlace, stack: list) -> None:
        for k, v in node.pairs:
            key = self._key(layer, k)
            where = f"{field}.{key}" if _SIMPLE_KEY.fullmatch(key) else f"{field}[{json.dumps(key)}]"
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
            stack.append((data, _child(path, "data")))
            return
        queries: list[tuple[int, Scalar, str | None, Any]] = []
        for i, item in enumerate(data.items):
            if type(item) is not Mapping:
                continue
            ikeys = _keys(item)
            model = ikeys.get("model")
            expr = _keys(model).get("expr") if type(model) is Mapping else None
            if type(expr) is Scalar and str_value(expr) is not None:
                datasource = _plain(_keys(model).get("datasource"))  # type: ignore[arg-type]
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
                context = SiteContext(rule=rule, field=key)
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
                self.factory.add(layer, node, SiteKind.PROMQL, path, SiteContext(rule=rule, field=key), flow=flow)
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
        self.walk_stream(inner, docs, inner.prefix)
        return True

    def _dashboard(self, layer: Layer, node: Scalar, path: str, *, flow: bool = False) -> bool:
        hook, hook_parameters = _dashboard_hook()
        if hook is None:
            return False
        sm = map_scalar(layer.text, node, flow=flow)
        if sm is None:
            return False

        def outer_encode(r: str, _sm: ScalarMap = sm, _layer: Layer = layer) -> str:
            out = _layer.encode(_sm, r)
            if out is None:
                raise EncodeError(f"{r!r} cannot be written in this YAML {_sm.style_name} scalar")
            return out

        found: list[Any] = []
        embedded_in = path.rstrip()
        extra: dict[str, Any] = {}
        if "needs" in hook_parameters:
            extra["needs"] = self.needs
        if "rules" in hook_parameters:
            extra["rules"] = self.rules  # Grafana alert rules in JSON
        try:
            offsets = layer.to_file(sm.offsets)
            sites = hook(sm.value, offsets, outer_encode, embedded_in + " ", dashboards=found, **extra)
        except (ParseError, ValueError):
            return False
        if not sites:
            return False
        for site in sites:
            if isinstance(site.context, SiteContext) and site.context.embedded_in is None:
                site.context.embedded_in = embedded_in
        self.sites.extend(sites)
        for dashboard in found:
            if isinstance(dashboard, dict):  # the JSON handler before the typed-context API
                self.dashboards.append((dashboard.get("uid"), dashboard.get("title")))
            else:
                self.dashboards.append(tuple(dashboard))  # type: ignore[arg-type]
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


@functools.lru_cache(maxsize=1)
def _dashboard_hook() -> tuple[Callable[..., Any] | None, frozenset[str]]:
    """The JSON handler's embedded-dashboard entry point, when it is available, and the names of
    its parameters (it takes the rules' `needs` and collects `rules` since the site API of
    issue 11; earlier it took neither)."""
    for module in ("migrator.formats.json_format", "migrator.formats.grafana"):
        try:
            mod = __import__(module, fromlist=["dashboard_sites_from_string"])
            hook = mod.dashboard_sites_from_string
        except (ImportError, AttributeError):
            continue
        return hook, frozenset(inspect.signature(hook).parameters)
    return None, frozenset()


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
