"""Turns a parsed JSON tree into sites: Grafana dashboards (every shape), alert rules, Perses.

The walker knows where PromQL lives structurally (panel targets, templating queries,
annotations, unified-alerting rule data, Perses queries) and makes a site of every such string;
anything else becomes a site only when its raw text mentions one of the needles below, with
its kind guessed. Dashboards embedded as strings (grafana-operator `spec.json`, a ConfigMap's
`data`, or a YAML ConfigMap via `dashboard_sites_from_string`) are parsed in their own text and
their sites *composed* back onto the file: offsets through the outer string's offset map,
encoders chained (JSON-escape, then the outer string's escaping).

Context keys set here (the contract with the rules):
- dashboard sites: `grafana` = {uid, panel_id, panel_title, ref_id, datasource, path, kind,
  ...}; `path` is the JSON pointer of the target/variable/annotation object; `kind` is
  "target" | "variable" | "annotation" | "prose";
- unified-alerting queries and Prometheus rules written as JSON: the YAML handler's keys,
  `rule` = {kind, name, group, index[, uid]}, `field`, and `ref_id` (no `grafana`: an alert
  query is not a panel target);
- panel targets: `target_removal` (tuple of Edits, or None when the panel keeps no other
  target with an expr) and `sibling_exprs` (decoded exprs of the panel's other targets);
- templating `definition` sites: `duplicate_of_query` (True when identical to the query);
- panel prose (TEXT): `prose` = "title" | "description" | "legendFormat" | "displayName";
- other strings: `container` ("list" | "dict-key" | "other"), `element_removal`, `json_path`.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from migrator.formats.base import ParseError, Site, SiteKind, guess_kind
from migrator.formats.json_scan import (
    JArray,
    JObject,
    JScalar,
    JsonStyle,
    JString,
    Node,
    decode_string,
    element_removal_span,
    find_string_at,
    json_pointer,
    parse,
    string_value,
    to_python,
)
from migrator.model import Edit, Span

__all__ = ["build_sites", "dashboard_sites_from_string", "is_prometheus_datasource", "NEEDLES"]

#: A string outside the known PromQL places is worth a site only when its raw text has one.
NEEDLES = ("prompt_tokens_recomputed", "recomputed_tokens", "prompt_tokens_by_source")

PROMETHEUS_TYPES = frozenset(
    {
        "prometheus",
        "grafana-amazonprometheus-datasource",
        "grafana-azureprometheus-datasource",
        "grafana-prometheus-datasource",
        "victoriametrics-datasource",
        "victoriametrics-metrics-datasource",
    }
)
# Substrings of a datasource uid/name that make it clearly not Prometheus.
_NON_PROMETHEUS_MARKERS = (
    "loki",
    "elasticsearch",
    "opensearch",
    "influx",
    "tempo",
    "mysql",
    "postgres",
    "mssql",
    "graphite",
    "cloudwatch",
    "clickhouse",
    "jaeger",
    "zipkin",
    "pyroscope",
)
# `{"type": "datasource", "uid": "-- Mixed --"}`: the target's own datasource decides.
_MIXED = frozenset({"-- Mixed --", "-- mixed --"})
_VARIABLE_RE = re.compile(r"\$\{(\w+)(?::[\w-]+)?\}|\$(\w+)|\[\[(\w+)(?::[\w-]+)?\]\]")
_PROSE_RE = re.compile(r"recomput", re.IGNORECASE)

Encoder = Callable[[str], str]


def _is_variable(value: str) -> re.Match[str] | None:
    return _VARIABLE_RE.fullmatch(value.strip())


def is_prometheus_datasource(ds: Any, variables: dict[str, str] | None = None) -> bool:
    """False only when a datasource is clearly not Prometheus; unknown/default/`$var` → True.

    `variables` maps datasource-variable names (templating `type: datasource` and `__inputs`)
    to plugin ids, so `${DS_LOKI}` resolves to Loki when the dashboard says so.
    """
    variables = variables or {}
    if ds is None:
        return True
    if isinstance(ds, dict):
        kind = ds.get("type")
        if isinstance(kind, str) and kind and not _is_variable(kind) and kind != "datasource":
            return kind in PROMETHEUS_TYPES
        ref = ds.get("uid")
        if not isinstance(ref, str):
            ref = ds.get("name")
        return _name_is_prometheus(ref, variables) if isinstance(ref, str) else True
    if isinstance(ds, str):
        return _name_is_prometheus(ds, variables)
    return True


def _name_is_prometheus(name: str, variables: dict[str, str]) -> bool:
    m = _is_variable(name)
    if m is not None:
        plugin = variables.get(m.group(1) or m.group(2) or m.group(3) or "")
        if plugin is None:
            return True  # an unresolved variable: assume the common case
        name = plugin
        if plugin in PROMETHEUS_TYPES:
            return True
    lower = name.lower()
    return not any(marker in lower for marker in _NON_PROMETHEUS_MARKERS)


def _is_mixed(ds: Any) -> bool:
    if isinstance(ds, dict):
        return ds.get("uid") in _MIXED
    return isinstance(ds, str) and ds in _MIXED


# --------------------------------------------------------------------------- the walker


class _Panel:
    """What a panel-level site says about its panel."""

    __slots__ = ("node", "path", "panel_id", "title", "datasource", "has_promql")

    def __init__(self, node: JObject, path: list[Any], panel_id: Any, title: str | None, datasource: Any) -> None:
        self.node = node
        self.path = path
        self.panel_id = panel_id
        self.title = title
        self.datasource = datasource
        self.has_promql = False


class _Builder:
    def __init__(self, text: str, root: Node, style: JsonStyle) -> None:
        self.text = text
        self.root = root
        self.style = style
        self.sites: list[Site] = []
        # Start offsets of string tokens already made into sites (or deliberately consumed),
        # so the needle fallback does not make a second site of them.
        self.sited: set[int] = set()
        self.uid: str | None = None
        self.dashboards: list[dict[str, Any]] = []
        self.ds_vars: dict[str, str] = {}

    # ------------------------------------------------------------------ small readers

    def s(self, node: Node | None) -> str | None:
        return string_value(self.text, node) if type(node) is JString else None

    def scalar(self, node: Node | None) -> Any:
        if type(node) is JScalar or type(node) is JString:
            return to_python(self.text, node)
        return None

    @staticmethod
    def obj(node: Node | None) -> JObject | None:
        return node if type(node) is JObject else None  # type: ignore[return-value]

    @staticmethod
    def arr(node: Node | None) -> JArray | None:
        return node if type(node) is JArray else None  # type: ignore[return-value]

    def value(self, node: Node | None) -> Any:
        return None if node is None else to_python(self.text, node)

    def add(
        self,
        node: JString,
        kind: SiteKind,
        locator: str,
        context: dict[str, Any],
        *,
        editable: bool = True,
        readonly_reason: str = "",
    ) -> Site:
        value, offsets = decode_string(self.text, node.start, node.end)
        site = Site(
            value=value,
            kind=kind,
            locator=locator,
            offsets=offsets,
            encode=self.style.for_string(self.text, node).encode,
            editable=editable,
            readonly_reason=readonly_reason,
            context=context,
        )
        self.sites.append(site)
        self.sited.add(node.start)
        return site

    def raw_has_needle(self, node: Node | None) -> bool:
        if node is None:
            return False
        return any(self.text.find(n, node.start, node.end) != -1 for n in NEEDLES)

    # ------------------------------------------------------------------ entry

    def run(self) -> list[Site]:
        root = self.root
        if type(root) is JObject:
            self.walk_any(root, [])
        elif type(root) is JArray:
            for i, item in enumerate(root.items):
                if type(item) is JObject:
                    self.walk_any(item, [i])
        self.needle_fallback()
        return self.sites

    def walk_any(self, o: JObject, path: list[Any]) -> None:
        """Recognise the shape of a top-level object (or an element of a top-level array)."""
        kind = self.s(o.get("kind"))
        spec = self.obj(o.get("spec"))
        dashboard = self.obj(o.get("dashboard"))
        if dashboard is not None:  # API export: {"dashboard": {...}, "meta": {...}}
            self.walk_dashboard(dashboard, path + ["dashboard"])
            return
        if kind == "List" and self.arr(o.get("items")) is not None:  # kubectl get -o json
            for i, item in enumerate(o.get("items").items):  # type: ignore[union-attr]
                if type(item) is JObject:
                    self.walk_any(item, path + ["items", i])
            return
        if kind == "ConfigMap":
            self.walk_configmap(o, path)
            return
        if spec is not None and kind in ("GrafanaDashboard", "Dashboard", "PersesDashboard"):
            name = self.s((self.obj(o.get("metadata")) or JObject(0)).get("name"))
            embedded = spec.get("json")
            if type(embedded) is JString:  # grafana-operator: the dashboard as a JSON string
                self.walk_embedded(embedded, path + ["spec", "json"])
            elif type(spec.get("panels")) is JObject or kind == "PersesDashboard":
                self.walk_perses(spec, path + ["spec"], name)
            elif type(spec.get("elements")) is JObject:  # Grafana dashboard schema v2
                self.walk_v2(spec, path + ["spec"], name)
            else:
                self.walk_dashboard(spec, path + ["spec"], uid_fallback=name)
            return
        if self.looks_like_dashboard(o):
            self.walk_dashboard(o, path)
            return
        model = self.obj(o.get("model"))
        if model is not None:  # a library panel export: {"uid", "name", "model": {panel}}
            self.walk_panels([(model, path + ["model"])], None)
            return
        if self.arr(o.get("groups")) is not None or self.arr(o.get("rules")) is not None:
            self.walk_rule_groups(o, path)
            return
        # The ruler API: {"<folder>": [{"name": ..., "rules": [...]}, ...], ...}
        for key, name, value in zip(o.keys, o.names, o.values):
            groups = self.arr(value)
            if groups is not None and groups.items and all(
                type(g) is JObject and self.arr(g.get("rules")) is not None for g in groups.items
            ):
                for gi, group in enumerate(groups.items):
                    self.walk_rule_group(group, path + [name, gi])  # type: ignore[arg-type]

    def looks_like_dashboard(self, o: JObject) -> bool:
        return (
            self.arr(o.get("panels")) is not None
            or self.arr(o.get("rows")) is not None
            or self.obj(o.get("templating")) is not None
            or o.get("schemaVersion") is not None
            or o.get("__elements") is not None
            or o.get("libraryPanels") is not None
        )

    # ------------------------------------------------------------------ classic dashboards

    def walk_dashboard(self, d: JObject, path: list[Any], uid_fallback: str | None = None) -> None:
        previous = (self.uid, self.ds_vars)
        self.uid = self.s(d.get("uid")) or uid_fallback
        self.dashboards.append({"uid": self.uid, "title": self.s(d.get("title"))})
        self.ds_vars = self.datasource_variables(d)
        panels: list[tuple[JObject, list[Any]]] = []
        top = self.arr(d.get("panels"))
        if top is not None:
            panels += [(p, path + ["panels", i]) for i, p in enumerate(top.items) if type(p) is JObject]  # type: ignore[misc]
        rows = self.arr(d.get("rows"))
        if rows is not None:
            for ri, row in enumerate(rows.items):
                row_panels = self.arr(row.get("panels")) if type(row) is JObject else None
                if row_panels is not None:
                    panels += [
                        (p, path + ["rows", ri, "panels", i])  # type: ignore[misc]
                        for i, p in enumerate(row_panels.items)
                        if type(p) is JObject
                    ]
        for key in ("__elements", "libraryPanels"):
            container = d.get(key)
            if type(container) is JObject:
                members = [(n, v) for n, v in zip(container.names, container.values)]
            elif type(container) is JArray:
                members = list(enumerate(container.items))
            else:
                continue
            for name, element in members:
                model = self.obj(element.get("model")) if type(element) is JObject else None
                if model is not None:
                    panels.append((model, path + [key, name, "model"]))
        self.walk_panels(panels, self.uid)
        self.walk_templating(d, path)
        self.walk_annotations(d, path)
        self.uid, self.ds_vars = previous

    def datasource_variables(self, d: JObject) -> dict[str, str]:
        """Datasource variables → plugin id, from templating and the export's `__inputs`."""
        found: dict[str, str] = {}
        sources = []
        inputs = self.arr(d.get("__inputs")) or self.arr(self.root.get("__inputs") if type(self.root) is JObject else None)
        if inputs is not None:
            sources += [(i, "name", "pluginId") for i in inputs.items]
        templating = self.obj(d.get("templating"))
        variables = self.arr(templating.get("list")) if templating is not None else None
        if variables is not None:
            sources += [(v, "name", "query") for v in variables.items]
        for item, name_key, plugin_key in sources:
            if type(item) is not JObject:
                continue
            if plugin_key == "query" and self.s(item.get("type")) != "datasource":
                continue
            name, plugin = self.s(item.get(name_key)), self.s(item.get(plugin_key))
            if name and plugin:
                found[name] = plugin
        return found

    def walk_panels(self, panels: list[tuple[JObject, list[Any]]], uid: str | None) -> None:
        stack = list(reversed(panels))
        while stack:
            panel, path = stack.pop()
            self.walk_panel(panel, path, uid)
            children = self.arr(panel.get("panels"))  # a (collapsed) row's panels
            if children is not None:
                stack.extend(
                    (p, path + ["panels", i])  # type: ignore[misc]
                    for i, p in reversed(list(enumerate(children.items)))
                    if type(p) is JObject
                )
            library = self.obj(panel.get("libraryPanel"))
            model = self.obj(library.get("model")) if library is not None else None
            if model is not None:
                stack.append((model, path + ["libraryPanel", "model"]))

    def panel_info(self, panel: JObject, path: list[Any]) -> _Panel:
        pid = self.scalar(panel.get("id"))
        if isinstance(pid, bool) or not isinstance(pid, (int, str)):
            pid = None
        return _Panel(panel, path, pid, self.s(panel.get("title")), self.value(panel.get("datasource")))

    def ginfo(self, panel: _Panel | None, **extra: Any) -> dict[str, Any]:
        info = {
            "uid": self.uid,
            "panel_id": panel.panel_id if panel else None,
            "panel_title": panel.title if panel else None,
            "ref_id": None,
            "datasource": None,
            "path": None,
        }
        info.update(extra)
        return info

    @staticmethod
    def panel_locator(pointer: str, panel: _Panel | None, ref_id: Any = None, what: str = "panel") -> str:
        parts = []
        if panel is not None and panel.title:
            parts.append(f'{what} "{_one_line(panel.title)}"')
        elif panel is not None:
            parts.append(what)
        if panel is not None and panel.panel_id is not None:
            parts.append(f"id {panel.panel_id}")
        if ref_id not in (None, ""):
            parts.append(f"refId {ref_id}")
        return f"{pointer} ({', '.join(parts)})" if parts else pointer

    def walk_panel(self, panel_node: JObject, path: list[Any], uid: str | None) -> None:
        targets = self.arr(panel_node.get("targets"))
        if targets is None:
            return
        panel = self.panel_info(panel_node, path)
        panel_ds = None if _is_mixed(panel.datasource) else panel.datasource
        # First pass: which targets have an expr, and from which datasource.
        entries = []
        for i, target in enumerate(targets.items):
            if type(target) is not JObject:
                continue
            expr = target.get("expr")
            if type(expr) is not JString:
                continue
            own_ds = self.value(target.get("datasource"))
            ds = own_ds if own_ds is not None and not _is_mixed(own_ds) else panel_ds
            entries.append((i, target, expr, ds, self.s(expr)))
        with_expr = [e for e in entries if e[4]]
        for i, target, expr, ds, value in entries:
            tpath = path + ["targets", i]
            ref_id = self.scalar(target.get("refId"))
            info = self.ginfo(
                panel,
                ref_id=ref_id,
                datasource=ds,
                path=json_pointer(tpath),
                kind="target",
                hidden=self.scalar(target.get("hide")) is True,
            )
            locator = self.panel_locator(json_pointer(tpath + ["expr"]), panel, ref_id)
            if not is_prometheus_datasource(ds, self.ds_vars):
                self.not_prometheus(expr, locator, info)
                continue
            if not value:
                continue
            others = [e for e in with_expr if e[0] != i]
            removal = None
            if others:
                start, end = element_removal_span(targets, i)
                removal = (Edit(Span(start, end), ""),)
            self.add(
                expr,
                SiteKind.PROMQL,
                locator,
                {"grafana": info, "target_removal": removal, "sibling_exprs": tuple(e[4] for e in others)},
            )
            panel.has_promql = True
        if panel.has_promql:
            self.panel_prose(panel, targets)

    def not_prometheus(self, node: JString, locator: str, info: dict[str, Any]) -> None:
        """A query for another datasource: never PromQL; reported as text if it mentions a needle.

        `info` is a `grafana` info dict, or (with a `rule` key) a whole alert-rule context."""
        if self.raw_has_needle(node):
            context = dict(info) if "rule" in info else {"grafana": info}
            context["not_prometheus"] = True
            self.add(
                node,
                SiteKind.TEXT,
                locator,
                context,
                editable=False,
                readonly_reason="the query is for a datasource that is not Prometheus",
            )
        else:
            self.sited.add(node.start)

    def panel_prose(self, panel: _Panel, targets: JArray) -> None:
        candidates: list[tuple[JString, list[Any], str, Any]] = []
        p = panel.node
        for key in ("title", "description"):
            node = p.get(key)
            if type(node) is JString:
                candidates.append((node, panel.path + [key], key, None))
        for i, target in enumerate(targets.items):
            if type(target) is JObject and type(target.get("legendFormat")) is JString:
                candidates.append(
                    (target.get("legendFormat"), panel.path + ["targets", i, "legendFormat"], "legendFormat",  # type: ignore[arg-type]
                     self.scalar(target.get("refId")))
                )
        field_config = self.obj(p.get("fieldConfig"))
        if field_config is not None:
            defaults = self.obj(field_config.get("defaults"))
            if defaults is not None and type(defaults.get("displayName")) is JString:
                candidates.append(
                    (defaults.get("displayName"), panel.path + ["fieldConfig", "defaults", "displayName"], "displayName", None)  # type: ignore[arg-type]
                )
            overrides = self.arr(field_config.get("overrides"))
            for oi, override in enumerate(overrides.items if overrides is not None else ()):
                if type(override) is not JObject:
                    continue
                base = panel.path + ["fieldConfig", "overrides", oi]
                matcher = self.obj(override.get("matcher"))
                if matcher is not None and type(matcher.get("options")) is JString:
                    candidates.append((matcher.get("options"), base + ["matcher", "options"], "displayName", None))  # type: ignore[arg-type]
                props = self.arr(override.get("properties"))
                for pi, prop in enumerate(props.items if props is not None else ()):
                    if (
                        type(prop) is JObject
                        and self.s(prop.get("id")) in ("displayName", "displayNameFromDS")
                        and type(prop.get("value")) is JString
                    ):
                        candidates.append((prop.get("value"), base + ["properties", pi, "value"], "displayName", None))  # type: ignore[arg-type]
        aliases = self.arr(p.get("seriesOverrides"))  # the old graph panel
        for ai, alias in enumerate(aliases.items if aliases is not None else ()):
            if type(alias) is JObject and type(alias.get("alias")) is JString:
                candidates.append((alias.get("alias"), panel.path + ["seriesOverrides", ai, "alias"], "displayName", None))  # type: ignore[arg-type]
        for node, path, prose, ref_id in candidates:
            if node.start in self.sited:
                continue
            # Searched in the raw text first: decoding every title and legend would cost more.
            if not _PROSE_RE.search(self.text, node.start, node.end) and (
                self.text.find("\\u", node.start, node.end) == -1
                or not _PROSE_RE.search(string_value(self.text, node))
            ):
                continue
            info = self.ginfo(panel, ref_id=ref_id, datasource=panel.datasource, path=json_pointer(panel.path), kind="prose")
            self.add(node, SiteKind.TEXT, self.panel_locator(json_pointer(path), panel, ref_id), {"grafana": info, "prose": prose})

    def walk_templating(self, d: JObject, path: list[Any]) -> None:
        templating = self.obj(d.get("templating"))
        variables = self.arr(templating.get("list")) if templating is not None else None
        if variables is None:
            return
        for i, var in enumerate(variables.items):
            if type(var) is not JObject:
                continue
            vtype = self.s(var.get("type"))
            if vtype not in (None, "query"):
                continue
            vpath = path + ["templating", "list", i]
            name = self.s(var.get("name"))
            ds = self.value(var.get("datasource"))
            query = var.get("query")
            qpath = vpath + ["query"]
            ref_id = None
            if type(query) is JObject:  # {"query": "...", "refId": "PrometheusVariableQueryEditor-VariableQuery"}
                ref_id = self.scalar(query.get("refId"))
                query = query.get("query")
                qpath = qpath + ["query"]
            definition = var.get("definition")
            info = self.ginfo(None, ref_id=ref_id, datasource=ds, path=json_pointer(vpath), kind="variable", variable=name)
            suffix = f' (variable "{_one_line(name)}")' if name else ""
            query_value = self.s(query)
            for node, npath, is_definition in ((query, qpath, False), (definition, vpath + ["definition"], True)):
                if type(node) is not JString:
                    continue
                locator = json_pointer(npath) + suffix
                if not is_prometheus_datasource(ds, self.ds_vars):
                    self.not_prometheus(node, locator, dict(info))
                    continue
                value = self.s(node)
                if not value:
                    continue
                context: dict[str, Any] = {"grafana": dict(info)}
                if is_definition:
                    context["duplicate_of_query"] = value == query_value
                self.add(node, SiteKind.GRAFANA_QUERY, locator, context)

    def walk_annotations(self, d: JObject, path: list[Any]) -> None:
        annotations = self.obj(d.get("annotations"))
        items = self.arr(annotations.get("list")) if annotations is not None else None
        if items is None:
            return
        for i, ann in enumerate(items.items):
            if type(ann) is not JObject:
                continue
            apath = path + ["annotations", "list", i]
            name = self.s(ann.get("name"))
            ds = self.value(ann.get("datasource"))
            places = [(ann.get("expr"), apath + ["expr"])]
            target = self.obj(ann.get("target"))  # newer Grafana: {"target": {"expr": ..., "refId": "Anno"}}
            if target is not None:
                places.append((target.get("expr"), apath + ["target", "expr"]))
            for node, npath in places:
                if type(node) is not JString:
                    continue
                locator = json_pointer(npath) + (f' (annotation "{_one_line(name)}")' if name else "")
                info = self.ginfo(None, datasource=ds, path=json_pointer(apath), kind="annotation", annotation=name)
                if not is_prometheus_datasource(ds, self.ds_vars):
                    self.not_prometheus(node, locator, info)
                elif self.s(node):
                    self.add(node, SiteKind.PROMQL, locator, {"grafana": info, "target_removal": None, "sibling_exprs": ()})

    # ------------------------------------------------------------------ alert rules

    def walk_rule_groups(self, o: JObject, path: list[Any]) -> None:
        groups = self.arr(o.get("groups"))
        if groups is not None:
            for gi, group in enumerate(groups.items):
                if type(group) is JObject:
                    self.walk_rule_group(group, path + ["groups", gi])
        elif self.arr(o.get("rules")) is not None:  # a single group
            self.walk_rule_group(o, path)

    def walk_rule_group(self, group: JObject, path: list[Any]) -> None:
        rules = self.arr(group.get("rules"))
        if rules is None:
            return
        group_name = self.s(group.get("name"))
        for ri, rule in enumerate(rules.items):
            if type(rule) is not JObject:
                continue
            rpath = path + ["rules", ri]
            grafana_alert = self.obj(rule.get("grafana_alert"))  # the ruler API's shape
            holder, hpath = (grafana_alert, rpath + ["grafana_alert"]) if grafana_alert is not None else (rule, rpath)
            group_index = path[-1] if path and isinstance(path[-1], int) else 0
            data = self.arr(holder.get("data"))
            if data is not None:
                self.walk_alert_data(holder, hpath, data, group_name, (group_index, ri))
                continue
            expr = rule.get("expr")
            if type(expr) is JString and self.s(expr):  # a Prometheus rule written as JSON
                alert, record = self.s(rule.get("alert")), self.s(rule.get("record"))
                kind = "alert" if alert else ("record" if record else None)
                label = f" {kind}={alert or record}" if kind else ""
                index = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rpath).lstrip(".")
                # The same `rule` context as the YAML handler gives, so VMM003/VMM004 work alike.
                info = {"kind": kind, "name": alert or record, "group": group_name, "index": (group_index, ri)}
                context = {"rule": info, "field": "expr", "json_path": json_pointer(rpath)}
                self.add(expr, SiteKind.PROMQL, f"{index}{label} expr", context)

    def walk_alert_data(
        self, holder: JObject, path: list[Any], data: JArray, group_name: str | None, index: tuple[int, int]
    ) -> None:
        """Unified-alerting queries. Context as the YAML handler gives (`rule`, `field`, `ref_id`),
        not `grafana`: an alert's query is not a panel target, and removing it would break the
        condition that references it by refId."""
        uid = self.s(holder.get("uid"))
        title = self.s(holder.get("title"))
        rule = {"kind": "alert", "name": title, "group": group_name, "index": index, "uid": uid}
        entries = []
        for di, item in enumerate(data.items):
            model = self.obj(item.get("model")) if type(item) is JObject else None
            expr = model.get("expr") if model is not None else None
            if type(expr) is not JString:
                continue
            ds = self.value(model.get("datasource"))  # type: ignore[union-attr]
            ds_uid = self.s(item.get("datasourceUid"))  # type: ignore[union-attr]
            if ds is None and ds_uid is not None:
                ds = {"uid": ds_uid}
            entries.append((di, item, expr, ds, self.s(expr)))
        for di, item, expr, ds, value in entries:
            ref_id = self.scalar(item.get("refId"))
            dpath = path + ["data", di]
            context = {
                "rule": rule,
                "field": f"data[{di}].model.expr",
                "ref_id": ref_id,
                "datasource": ds,
                "json_path": json_pointer(dpath),
            }
            parts = [f'alert rule "{_one_line(title)}"'] if title else []
            if ref_id not in (None, ""):
                parts.append(f"refId {ref_id}")
            locator = json_pointer(dpath + ["model", "expr"]) + (f" ({', '.join(parts)})" if parts else "")
            is_expression = isinstance(ds, dict) and (ds.get("uid") == "__expr__" or ds.get("type") == "__expr__")
            if is_expression or not is_prometheus_datasource(ds, self.ds_vars):
                self.not_prometheus(expr, locator, context)
                continue
            if not value:
                continue
            context["sibling_exprs"] = tuple(e[4] for e in entries if e[0] != di and e[4])
            self.add(expr, SiteKind.PROMQL, locator, context)

    # ------------------------------------------------------------------ other dashboard schemas

    def walk_queries(
        self,
        queries: JArray,
        qpath: list[Any],
        panel: _Panel,
        locate: Callable[[JObject], tuple[Node | None, list[Any], Any, Any, bool]],
        extra: dict[str, Any],
    ) -> None:
        """Shared by Perses and Grafana v2: `locate(query) -> (expr node, path in query, ref_id,
        datasource, is_prometheus)`; removal works like panel targets."""
        entries = []
        for i, q in enumerate(queries.items):
            if type(q) is not JObject:
                continue
            node, sub, ref_id, ds, prom = locate(q)
            if type(node) is JString:
                entries.append((i, node, sub, ref_id, ds, prom, self.s(node)))
        with_expr = [e for e in entries if e[6]]
        for i, node, sub, ref_id, ds, prom, value in entries:
            path = qpath + [i]
            info = self.ginfo(panel, ref_id=ref_id, datasource=ds, path=json_pointer(path), **extra)
            locator = self.panel_locator(json_pointer(path + sub), panel, ref_id)
            if not prom:
                self.not_prometheus(node, locator, info)  # type: ignore[arg-type]
                continue
            if not value:
                continue
            others = [e for e in with_expr if e[0] != i]
            removal = None
            if others:
                start, end = element_removal_span(queries, i)
                removal = (Edit(Span(start, end), ""),)
            self.add(
                node,  # type: ignore[arg-type]
                SiteKind.PROMQL,
                locator,
                {"grafana": info, "target_removal": removal, "sibling_exprs": tuple(e[6] for e in others)},
            )

    def walk_perses(self, spec: JObject, path: list[Any], name: str | None) -> None:
        """Perses: spec.panels.<name>.spec.queries[].spec.plugin.spec.query; variables' expr."""
        previous = self.uid
        self.uid = name
        self.dashboards.append({"uid": name, "title": self.s((self.obj(spec.get("display")) or JObject(0)).get("name"))})
        panels = self.obj(spec.get("panels"))
        for pname, pnode in zip(panels.names if panels else (), panels.values if panels else ()):
            pspec = self.obj(pnode.get("spec")) if type(pnode) is JObject else None
            queries = self.arr(pspec.get("queries")) if pspec is not None else None
            if queries is None:
                continue
            display = self.obj(pspec.get("display"))  # type: ignore[union-attr]
            panel = _Panel(pnode, path + ["panels", pname], pname, self.s(display.get("name")) if display else None, None)  # type: ignore[arg-type]

            def locate(q: JObject) -> tuple[Node | None, list[Any], Any, Any, bool]:
                plugin = self.obj((self.obj(q.get("spec")) or JObject(0)).get("plugin"))
                pkind = self.s(plugin.get("kind")) if plugin else None
                pspec_ = self.obj(plugin.get("spec")) if plugin else None
                node = pspec_.get("query") if pspec_ is not None else None
                ds = self.value(pspec_.get("datasource")) if pspec_ is not None else None
                prom = pkind is None or pkind.startswith("Prometheus")
                return node, ["spec", "plugin", "spec", "query"], None, ds, prom

            self.walk_queries(queries, panel.path + ["spec", "queries"], panel, locate, {"kind": "target", "perses": True})
        variables = self.arr(spec.get("variables"))
        for vi, var in enumerate(variables.items if variables else ()):
            vspec = self.obj(var.get("spec")) if type(var) is JObject else None
            plugin = self.obj(vspec.get("plugin")) if vspec else None
            pkind = self.s(plugin.get("kind")) if plugin else None
            pspec = self.obj(plugin.get("spec")) if plugin else None
            if pspec is None or not (pkind or "").startswith("Prometheus"):
                continue
            vname = self.s(vspec.get("name"))  # type: ignore[union-attr]
            vpath = path + ["variables", vi]
            places = [(pspec.get("expr"), ["spec", "plugin", "spec", "expr"])]
            matchers = self.arr(pspec.get("matchers"))
            places += [(m, ["spec", "plugin", "spec", "matchers", mi]) for mi, m in enumerate(matchers.items if matchers else ())]
            for node, sub in places:
                if type(node) is JString and self.s(node):
                    info = self.ginfo(None, path=json_pointer(vpath), kind="variable", variable=vname, perses=True)
                    suffix = f' (variable "{_one_line(vname)}")' if vname else ""
                    self.add(node, SiteKind.PROMQL, json_pointer(vpath + sub) + suffix, {"grafana": info})
        self.uid = previous

    def walk_v2(self, spec: JObject, path: list[Any], name: str | None) -> None:
        """Grafana's v2 dashboard schema: spec.elements.<key>.spec.data.spec.queries[]."""
        previous = self.uid
        self.uid = name
        self.dashboards.append({"uid": name, "title": self.s(spec.get("title"))})
        elements = self.obj(spec.get("elements"))
        for ename, element in zip(elements.names, elements.values):  # type: ignore[union-attr]
            espec = self.obj(element.get("spec")) if type(element) is JObject else None
            data = self.obj(espec.get("data")) if espec else None
            dspec = self.obj(data.get("spec")) if data else None
            queries = self.arr(dspec.get("queries")) if dspec else None
            if queries is None:
                continue
            pid = self.scalar(espec.get("id"))  # type: ignore[union-attr]
            panel = _Panel(element, path + ["elements", ename], pid, self.s(espec.get("title")), None)  # type: ignore[union-attr, arg-type]

            def locate(q: JObject) -> tuple[Node | None, list[Any], Any, Any, bool]:
                qspec = self.obj(q.get("spec")) or JObject(0)
                query = self.obj(qspec.get("query")) or JObject(0)
                kind = self.s(query.get("kind"))
                if kind == "DataQuery":
                    kind = self.s(query.get("group"))
                node = (self.obj(query.get("spec")) or JObject(0)).get("expr")
                ds = self.value(qspec.get("datasource")) or self.value(query.get("datasource"))
                prom = (kind is None or kind in PROMETHEUS_TYPES) and is_prometheus_datasource(ds, self.ds_vars)
                return node, ["spec", "query", "spec", "expr"], self.scalar(qspec.get("refId")), ds, prom

            self.walk_queries(queries, panel.path + ["spec", "data", "spec", "queries"], panel, locate, {"kind": "target"})
        variables = self.arr(spec.get("variables"))
        for vi, var in enumerate(variables.items if variables else ()):
            if type(var) is not JObject or self.s(var.get("kind")) != "QueryVariable":
                continue
            vspec = self.obj(var.get("spec")) or JObject(0)
            query = self.obj(vspec.get("query")) or JObject(0)
            qspec = self.obj(query.get("spec")) or JObject(0)
            vname = self.s(vspec.get("name"))
            vpath = path + ["variables", vi]
            suffix = f' (variable "{_one_line(vname)}")' if vname else ""
            query_node = qspec.get("query") if type(qspec.get("query")) is JString else qspec.get("expr")
            query_key = "query" if type(qspec.get("query")) is JString else "expr"
            for node, sub, is_definition in (
                (query_node, ["spec", "query", "spec", query_key], False),
                (vspec.get("definition"), ["spec", "definition"], True),
            ):
                if type(node) is JString and self.s(node):
                    info = self.ginfo(None, path=json_pointer(vpath), kind="variable", variable=vname)
                    context: dict[str, Any] = {"grafana": info}
                    if is_definition:
                        context["duplicate_of_query"] = self.s(node) == self.s(query_node)
                    self.add(node, SiteKind.GRAFANA_QUERY, json_pointer(vpath + sub) + suffix, context)
        self.uid = previous

    # ------------------------------------------------------------------ embedded JSON

    def walk_configmap(self, o: JObject, path: list[Any]) -> None:
        data = self.obj(o.get("data"))
        for name, value in zip(data.names if data else (), data.values if data else ()):
            if type(value) is JString and (self.s(value) or "").lstrip().startswith(("{", "[")):
                self.walk_embedded(value, path + ["data", name])

    def walk_embedded(self, node: JString, path: list[Any]) -> None:
        """A JSON document inside a JSON string: parse the decoded value, compose sites back."""
        value, offsets = decode_string(self.text, node.start, node.end)
        encode = self.style.for_string(self.text, node).encode
        sites, info = _sites_for_text(value, strict=False)
        if sites is None:
            return  # not JSON after all: the needle fallback sees the string as text
        self.sited.add(node.start)
        self.dashboards.extend(info)
        prefix = json_pointer(path)
        self.sites.extend(_compose(s, offsets, encode, prefix) for s in sites)

    # ------------------------------------------------------------------ everything else

    def needle_fallback(self) -> None:
        """Strings outside the known PromQL places whose raw text mentions a needle."""
        text, root = self.text, self.root
        for needle in NEEDLES:
            i = text.find(needle)
            while i != -1:
                hit = find_string_at(text, root, i)
                if hit is None:
                    i = text.find(needle, i + 1)
                    continue
                node = hit.node
                if node.start not in self.sited:
                    self.generic_site(hit)
                i = text.find(needle, node.end)

    def generic_site(self, hit: Any) -> None:
        node, parent = hit.node, hit.parent
        pointer = json_pointer(hit.path)
        removal = None
        if hit.is_key:
            container = "dict-key"
        elif type(parent) is JArray:
            container = "list"
            # Only while the array keeps an entry that is not the removed metric: an array of
            # nothing but its spellings is for a person to delete.
            others = [item for i, item in enumerate(parent.items) if i != hit.index]
            if any("prompt_tokens_recomputed" not in self.text[item.start : item.end] for item in others):
                start, end = element_removal_span(parent, hit.index)
                removal = (Edit(Span(start, end), ""),)
        else:
            container = "other"
        value, offsets = decode_string(self.text, node.start, node.end)
        site = Site(
            value=value,
            kind=guess_kind(value),
            locator=pointer + " (key)" if hit.is_key else pointer,
            offsets=offsets,
            encode=self.style.for_string(self.text, node).encode,
            context={"container": container, "element_removal": removal, "json_path": pointer},
        )
        self.sites.append(site)
        self.sited.add(node.start)


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())


# --------------------------------------------------------------------------- composition


def _compose_edit(edit: Edit, outer_offsets: list[int], outer_encode: Encoder) -> Edit:
    return Edit(Span(outer_offsets[edit.span.start], outer_offsets[edit.span.end]), outer_encode(edit.content))


def _compose_value(value: Any, outer_offsets: list[int], outer_encode: Encoder) -> Any:
    if isinstance(value, Edit):
        return _compose_edit(value, outer_offsets, outer_encode)
    if isinstance(value, tuple) and value and all(isinstance(v, Edit) for v in value):
        return tuple(_compose_edit(v, outer_offsets, outer_encode) for v in value)
    return value


def _compose(site: Site, outer_offsets: list[int], outer_encode: Encoder, prefix: str) -> Site:
    """A site of an inner text (offsets into it) re-expressed in the outer file."""
    inner_encode = site.encode
    inner = site.offsets if site.offsets is not None else range(site.base, site.base + len(site.value) + 1)
    context = {k: _compose_value(v, outer_offsets, outer_encode) for k, v in site.context.items()}
    context.setdefault("embedded_in", prefix)
    return Site(
        value=site.value,
        kind=site.kind,
        locator=prefix + site.locator,
        offsets=[outer_offsets[o] for o in inner],
        editable=site.editable,
        encode=lambda s: outer_encode(inner_encode(s)),
        readonly_reason=site.readonly_reason,
        protected=site.protected,
        context=context,
    )


def _sites_for_text(text: str, *, strict: bool) -> tuple[list[Site] | None, list[dict[str, Any]]]:
    try:
        root = parse(text)
    except ParseError:
        if strict:
            raise
        return None, []
    builder = _Builder(text, root, JsonStyle.detect(text))
    return builder.run(), builder.dashboards


def build_sites(text: str, root: Node, style: JsonStyle) -> tuple[list[Site], list[dict[str, Any]]]:
    """Sites of a parsed JSON file, and the dashboards found ({uid, title} each)."""
    builder = _Builder(text, root, style)
    return builder.run(), builder.dashboards


def dashboard_sites_from_string(
    value: str,
    outer_offsets: list[int],
    outer_encode: Encoder,
    locator_prefix: str,
    *,
    strict: bool = False,
    dashboards: list[dict[str, Any]] | None = None,
) -> list[Site]:
    """Sites of a JSON document (a dashboard, usually) held in a decoded string of another file.

    `outer_offsets[i]` is the file offset of decoded character i of `value` (with
    `outer_offsets[len(value)]` its end) and `outer_encode` re-escapes text for that string:
    exactly what a Site of the outer format has. Returned sites, their edits (e.g.
    `target_removal`) and encoders are composed onto the outer file; locators are prefixed.
    When `value` is not JSON: [] (or ParseError with the file offset when `strict`).
    `dashboards`, when given, is extended with {uid, title} of each dashboard found (for
    the outer document's `extra["grafana"]`).
    """
    try:
        sites, found = _sites_for_text(value, strict=True)
    except ParseError as err:
        if not strict:
            return []
        offset = outer_offsets[min(max(err.offset, 0), len(value))]
        raise ParseError(f"embedded JSON: {err.message}", offset) from None
    if dashboards is not None:
        dashboards.extend(found)
    return [_compose(s, outer_offsets, outer_encode, locator_prefix) for s in sites or ()]
