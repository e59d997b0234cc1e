"""Grafana dashboards (classic JSON model with rows, collapsed rows and library panels; Grafana's
v2 schema; Perses): the places that hold PromQL, and the prose of the panels that query it.

Every panel target, templating query and annotation query for a Prometheus datasource becomes
a site whatever it says; a query for another datasource becomes a read-only TEXT site only when
it mentions a needle. A panel with at least one Prometheus target also gets TEXT sites
(`context.prose` = "title" | "description" | "legendFormat" | "displayName") for the prose that
mentions a needle, with the same `GrafanaPlace` panel identity, so a rule can tie a legend to
the target it changes. What each site knows:

- `context.grafana`: `GrafanaPlace` — dashboard uid, panel id and title, refId, datasource,
  `path` (JSON pointer of the target/variable/annotation object), `kind` ("target",
  "templating", "annotation", "panel" for prose), `hidden`; for targets `target_removal` (edits
  removing the target, None when the panel keeps no other target with a query) and
  `sibling_exprs` (the panel's other queries); for a templating `definition`,
  `duplicate_of_query`;
- `context.field`: the key holding the string; `context.json_path`: its JSON pointer.
"""

from __future__ import annotations

from typing import Any, Callable

from migrator.formats.base import Container, GrafanaPlace, SiteContext, SiteKind
from migrator.formats.grafana_datasources import PROMETHEUS_TYPES, is_mixed, is_prometheus_datasource
from migrator.formats.json_scan import (
    JArray,
    JObject,
    JString,
    Node,
    element_removal_span,
    json_pointer,
    string_value,
    to_python,
)
from migrator.formats.json_sites import SiteBuilder, one_line
from migrator.model import Edit, Span

__all__ = ["DashboardWalker", "Panel", "is_prometheus_datasource", "panel_locator", "removal_of"]

_EMPTY = JObject(0)


class Panel:
    """What a panel-level site says about its panel (a Grafana panel, a Perses panel, a Cloud
    Monitoring widget)."""

    __slots__ = ("node", "path", "panel_id", "title", "datasource", "has_promql")

    def __init__(self, node: JObject, path: list[Any], panel_id: Any, title: str | None, datasource: Any) -> None:
        self.node = node
        self.path = path
        self.panel_id = panel_id
        self.title = title
        self.datasource = datasource
        self.has_promql = False


def panel_locator(pointer: str, panel: Panel | None, ref_id: Any = None, what: str = "panel") -> str:
    parts = []
    if panel is not None and panel.title:
        parts.append(f'{what} "{one_line(panel.title)}"')
    elif panel is not None:
        parts.append(what)
    if panel is not None and panel.panel_id is not None:
        parts.append(f"id {panel.panel_id}")
    if ref_id not in (None, ""):
        parts.append(f"refId {ref_id}")
    return f"{pointer} ({', '.join(parts)})" if parts else pointer


def removal_of(array: JArray, index: int, keeps_another: bool) -> tuple[Edit, ...] | None:
    """Edits removing element `index` of a panel's targets, or None when no other target with a
    query would be left (a panel without queries is for a person to delete)."""
    if not keeps_another:
        return None
    start, end = element_removal_span(array, index)
    return (Edit(Span(start, end), ""),)


# A query found by a schema-specific locator: (query node, path inside the query object, refId,
# datasource, is it Prometheus).
Located = tuple[Node | None, list[Any], Any, Any, bool]


class DashboardWalker(SiteBuilder):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.uid: str | None = None
        self.ds_vars: dict[str, str] = {}

    def place(self, panel: Panel | None, **fields: Any) -> GrafanaPlace:
        return GrafanaPlace(
            uid=self.uid,
            panel_id=panel.panel_id if panel else None,
            panel_title=panel.title if panel else None,
            **fields,
        )

    # ------------------------------------------------------------------ classic dashboards

    def walk_dashboard(self, d: JObject, path: list[Any], uid_fallback: str | None = None) -> None:
        previous = (self.uid, self.ds_vars)
        self.uid = self.s(d.get("uid")) or uid_fallback
        self.dashboards.append((self.uid, self.s(d.get("title"))))
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
            holder = d.get(key)
            if type(holder) is JObject:
                members = list(zip(holder.names, holder.values))
            elif type(holder) is JArray:
                members = list(enumerate(holder.items))  # type: ignore[arg-type]
            else:
                continue
            for name, element in members:
                model = self.obj(element.get("model")) if type(element) is JObject else None
                if model is not None:
                    panels.append((model, path + [key, name, "model"]))
        self.walk_panels(panels)
        self.walk_templating(d, path)
        self.walk_annotations(d, path)
        self.uid, self.ds_vars = previous

    def datasource_variables(self, d: JObject) -> dict[str, str]:
        """Datasource variables → plugin id, from templating and the export's `__inputs`."""
        found: dict[str, str] = {}
        sources = []
        inputs = self.arr(d.get("__inputs")) or self.arr(self.at(self.root, "__inputs"))
        if inputs is not None:
            sources += [(i, "name", "pluginId") for i in inputs.items]
        variables = self.arr(self.at(d, "templating", "list"))
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

    def walk_panels(self, panels: list[tuple[JObject, list[Any]]]) -> None:
        stack = list(reversed(panels))
        while stack:
            panel, path = stack.pop()
            self.walk_panel(panel, path)
            children = self.arr(panel.get("panels"))  # a (collapsed) row's panels
            if children is not None:
                stack.extend(
                    (p, path + ["panels", i])  # type: ignore[misc]
                    for i, p in reversed(list(enumerate(children.items)))
                    if type(p) is JObject
                )
            model = self.obj(self.at(panel, "libraryPanel", "model"))
            if model is not None:
                stack.append((model, path + ["libraryPanel", "model"]))

    def panel_info(self, panel: JObject, path: list[Any]) -> Panel:
        pid = self.scalar(panel.get("id"))
        if isinstance(pid, bool) or not isinstance(pid, (int, str)):
            pid = None
        return Panel(panel, path, pid, self.s(panel.get("title")), self.datasource(panel.get("datasource")))

    def datasource(self, node: Node | None) -> Any:
        """A datasource reference's value; its strings are consumed (they name a datasource,
        never a metric, and a big dashboard repeats them on every target)."""
        t = type(node)
        if t is JString:
            self.sited[node.start] = node.end  # type: ignore[union-attr]
            return string_value(self.text, node)  # type: ignore[arg-type]
        if t is JObject:
            sited = self.sited
            for member in node.values:  # type: ignore[union-attr]
                if type(member) is JString:
                    sited[member.start] = member.end
        return None if node is None else to_python(self.text, node)

    def walk_panel(self, panel_node: JObject, path: list[Any]) -> None:
        targets = self.arr(panel_node.get("targets"))
        if targets is None:
            return
        panel = self.panel_info(panel_node, path)
        panel_ds = None if is_mixed(panel.datasource) else panel.datasource
        # First pass: which targets have an expr, and from which datasource.
        entries = []
        for i, target in enumerate(targets.items):
            if type(target) is not JObject:
                continue
            expr = target.get("expr")
            if type(expr) is not JString:
                continue
            own_ds = self.datasource(target.get("datasource"))
            ds = own_ds if own_ds is not None and not is_mixed(own_ds) else panel_ds
            entries.append((i, target, expr, ds, self.s(expr)))
        with_expr = [e for e in entries if e[4]]
        for i, target, expr, ds, value in entries:
            tpath = path + ["targets", i]
            ref_id = self.scalar(target.get("refId"))
            pointer = json_pointer(tpath + ["expr"])
            locator = panel_locator(pointer, panel, ref_id)
            place = self.place(
                panel,
                ref_id=ref_id,
                datasource=ds,
                path=json_pointer(tpath),
                kind="target",
                hidden=self.scalar(target.get("hide")) is True,
            )
            context = SiteContext(grafana=place, field="expr", json_path=pointer)
            if not is_prometheus_datasource(ds, self.ds_vars):
                self.not_prometheus(expr, locator, context)
                continue
            if not value:
                continue
            others = [e for e in with_expr if e[0] != i]
            place.target_removal = removal_of(targets, i, bool(others))
            place.sibling_exprs = tuple(e[4] for e in others)
            self.add(expr, SiteKind.PROMQL, locator, context)
            panel.has_promql = True
        if panel.has_promql:
            self.panel_prose(panel, targets)

    def panel_prose(self, panel: Panel, targets: JArray) -> None:
        """TEXT sites of the panel's title, description, legends and display names that mention
        a needle (the rules pass the words they look for in prose as needles too). Paths are
        built only for the few strings that do: a big dashboard has tens of thousands."""
        p, prose, at = panel.node, self.prose, self.at
        prose(p.get("title"), ("title",), "title", panel)
        prose(p.get("description"), ("description",), "description", panel)
        for i, target in enumerate(targets.items):
            if type(target) is JObject:
                legend = target.get("legendFormat")
                if type(legend) is JString:
                    prose(legend, ("targets", i, "legendFormat"), "legendFormat", panel, self.scalar(target.get("refId")))
        field_config = p.get("fieldConfig")
        if type(field_config) is JObject:
            prose(at(field_config, "defaults", "displayName"), ("fieldConfig", "defaults", "displayName"), "displayName", panel)
            overrides = field_config.get("overrides")
            for oi, override in enumerate(overrides.items if type(overrides) is JArray else ()):
                base = ("fieldConfig", "overrides", oi)
                prose(at(override, "matcher", "options"), base + ("matcher", "options"), "displayName", panel)
                props = at(override, "properties")
                for pi, prop in enumerate(props.items if type(props) is JArray else ()):
                    if self.s(at(prop, "id")) in ("displayName", "displayNameFromDS"):
                        prose(at(prop, "value"), base + ("properties", pi, "value"), "displayName", panel)
        aliases = p.get("seriesOverrides")  # the old graph panel
        for ai, alias in enumerate(aliases.items if type(aliases) is JArray else ()):
            prose(at(alias, "alias"), ("seriesOverrides", ai, "alias"), "displayName", panel)

    def prose(
        self, node: Node | None, where: tuple[Any, ...], prose: str, panel: Panel, ref_id: Any = None, what: str = "panel"
    ) -> None:
        """A TEXT site of a panel's prose at `panel.path + where`, when it mentions a needle."""
        if type(node) is not JString or node.start in self.sited or not self.mentions(node):
            return
        pointer = json_pointer(panel.path + list(where))
        place = self.place(panel, ref_id=ref_id, datasource=panel.datasource, path=json_pointer(panel.path), kind="panel")
        context = SiteContext(grafana=place, prose=prose, field=where[-1], json_path=pointer)
        self.add(node, SiteKind.TEXT, panel_locator(pointer, panel, ref_id, what), context)

    def walk_templating(self, d: JObject, path: list[Any]) -> None:
        variables = self.arr(self.at(d, "templating", "list"))
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
            suffix = f' (variable "{one_line(name)}")' if name else ""
            query_value = self.s(query)
            prometheus = is_prometheus_datasource(ds, self.ds_vars)
            for node, npath, is_definition in ((query, qpath, False), (var.get("definition"), vpath + ["definition"], True)):
                if type(node) is not JString:
                    continue
                pointer = json_pointer(npath)
                place = self.place(None, ref_id=ref_id, datasource=ds, path=json_pointer(vpath), kind="templating")
                context = SiteContext(grafana=place, field=npath[-1], json_path=pointer)
                if not prometheus:
                    self.not_prometheus(node, pointer + suffix, context)
                    continue
                value = self.s(node)
                if not value:
                    continue
                place.duplicate_of_query = is_definition and value == query_value
                self.add(node, SiteKind.GRAFANA_QUERY, pointer + suffix, context)

    def walk_annotations(self, d: JObject, path: list[Any]) -> None:
        items = self.arr(self.at(d, "annotations", "list"))
        if items is None:
            return
        for i, ann in enumerate(items.items):
            if type(ann) is not JObject:
                continue
            apath = path + ["annotations", "list", i]
            name = self.s(ann.get("name"))
            ds = self.value(ann.get("datasource"))
            # Newer Grafana: {"target": {"expr": ..., "refId": "Anno"}}.
            for node, npath in ((ann.get("expr"), apath + ["expr"]), (self.at(ann, "target", "expr"), apath + ["target", "expr"])):
                if type(node) is not JString:
                    continue
                pointer = json_pointer(npath)
                locator = pointer + (f' (annotation "{one_line(name)}")' if name else "")
                place = self.place(None, datasource=ds, path=json_pointer(apath), kind="annotation")
                context = SiteContext(grafana=place, field="expr", json_path=pointer)
                if not is_prometheus_datasource(ds, self.ds_vars):
                    self.not_prometheus(node, locator, context)
                elif self.s(node):
                    self.add(node, SiteKind.PROMQL, locator, context)

    # ------------------------------------------------------------------ Perses and Grafana v2

    def walk_queries(
        self,
        queries: JArray,
        qpath: list[Any],
        panel: Panel,
        locate: Callable[[JObject], Located],
        prose: tuple[tuple[tuple[Any, ...], str], ...],
        legend: tuple[str, ...],
    ) -> None:
        """A panel's list of queries in the Perses and v2 schemas; removal works like targets.
        `prose`: (path in the panel, kind) of its title and description; `legend`: the path of
        a query's legend in the query object."""
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
            pointer = json_pointer(path + sub)
            place = self.place(panel, ref_id=ref_id, datasource=ds, path=json_pointer(path), kind="target")
            context = SiteContext(grafana=place, field=sub[-1], json_path=pointer)
            locator = panel_locator(pointer, panel, ref_id)
            if not prom:
                self.not_prometheus(node, locator, context)
                continue
            if not value:
                continue
            others = [e for e in with_expr if e[0] != i]
            place.target_removal = removal_of(queries, i, bool(others))
            place.sibling_exprs = tuple(e[6] for e in others)
            self.add(node, SiteKind.PROMQL, locator, context)
            panel.has_promql = True
        if not panel.has_promql:
            return
        for where, kind in prose:
            self.prose(self.at(panel.node, *where), where, kind, panel)
        inside = qpath[len(panel.path) :]  # qpath extends the panel's path
        ref_ids = {e[0]: e[3] for e in entries}
        for i, q in enumerate(queries.items):
            self.prose(self.at(q, *legend), (*inside, i, *legend), "legendFormat", panel, ref_ids.get(i))

    def walk_perses(self, spec: JObject, path: list[Any], name: str | None) -> None:
        """Perses: spec.panels.<name>.spec.queries[].spec.plugin.spec.query; variables' expr."""
        previous = self.uid
        self.uid = name
        self.dashboards.append((name, self.s(self.at(spec, "display", "name"))))
        panels = self.obj(spec.get("panels")) or _EMPTY
        for pname, pnode in zip(panels.names, panels.values):
            queries = self.arr(self.at(pnode, "spec", "queries"))
            if queries is None:
                continue
            title = self.s(self.at(pnode, "spec", "display", "name"))
            panel = Panel(pnode, path + ["panels", pname], pname, title, None)  # type: ignore[arg-type]

            def locate(q: JObject) -> Located:
                plugin = self.obj(self.at(q, "spec", "plugin"))
                pkind = self.s(self.at(plugin, "kind"))
                pspec = self.obj(self.at(plugin, "spec"))
                prom = pkind is None or pkind.startswith("Prometheus")
                return self.at(pspec, "query"), ["spec", "plugin", "spec", "query"], None, self.value(self.at(pspec, "datasource")), prom

            prose = ((("spec", "display", "name"), "title"), (("spec", "display", "description"), "description"))
            legend = ("spec", "plugin", "spec", "seriesNameFormat")
            self.walk_queries(queries, panel.path + ["spec", "queries"], panel, locate, prose, legend)
        variables = self.arr(spec.get("variables"))
        for vi, var in enumerate(variables.items if variables else ()):
            plugin = self.obj(self.at(var, "spec", "plugin"))
            pspec = self.obj(self.at(plugin, "spec"))
            if pspec is None or not (self.s(self.at(plugin, "kind")) or "").startswith("Prometheus"):
                continue
            vname = self.s(self.at(var, "spec", "name"))
            vpath = path + ["variables", vi]
            suffix = f' (variable "{one_line(vname)}")' if vname else ""
            place_path = json_pointer(vpath)
            prefix = ["spec", "plugin", "spec"]
            self.variable_site(pspec.get("expr"), vpath + prefix + ["expr"], SiteKind.PROMQL, suffix, place_path)
            matchers = self.arr(pspec.get("matchers"))
            for mi, m in enumerate(matchers.items if matchers else ()):
                site_path = vpath + prefix + ["matchers", mi]
                container = self.container(matchers, mi, False, json_pointer(site_path[:-1]))  # type: ignore[arg-type]
                self.variable_site(m, site_path, SiteKind.PROMQL, suffix, place_path, container=container)
        self.uid = previous

    def variable_site(
        self,
        node: Node | None,
        path: list[Any],
        kind: SiteKind,
        suffix: str,
        place_path: str,
        *,
        container: Container | None = None,
        duplicate_of: str | None = None,
    ) -> None:
        value = self.s(node)
        if not value:
            return
        pointer = json_pointer(path)
        place = self.place(None, path=place_path, kind="templating", duplicate_of_query=value == duplicate_of)
        field = path[-1] if isinstance(path[-1], str) else path[-2]
        context = SiteContext(grafana=place, container=container, field=field, json_path=pointer)
        self.add(node, kind, pointer + suffix, context)  # type: ignore[arg-type]

    def walk_v2(self, spec: JObject, path: list[Any], name: str | None) -> None:
        """Grafana's v2 dashboard schema: spec.elements.<key>.spec.data.spec.queries[]."""
        previous = self.uid
        self.uid = name
        self.dashboards.append((name, self.s(spec.get("title"))))
        elements = self.obj(spec.get("elements")) or _EMPTY
        for ename, element in zip(elements.names, elements.values):
            espec = self.obj(self.at(element, "spec"))
            queries = self.arr(self.at(espec, "data", "spec", "queries"))
            if queries is None:
                continue
            panel = Panel(element, path + ["elements", ename], self.scalar(espec.get("id")), self.s(espec.get("title")), None)  # type: ignore[arg-type, union-attr]

            def locate(q: JObject) -> Located:
                qspec = self.obj(q.get("spec")) or _EMPTY
                query = self.obj(qspec.get("query")) or _EMPTY
                kind = self.s(query.get("kind"))
                if kind == "DataQuery":
                    kind = self.s(query.get("group"))
                ds = self.value(qspec.get("datasource")) or self.value(query.get("datasource"))
                prom = (kind is None or kind in PROMETHEUS_TYPES) and is_prometheus_datasource(ds, self.ds_vars)
                return self.at(query, "spec", "expr"), ["spec", "query", "spec", "expr"], self.scalar(qspec.get("refId")), ds, prom

            prose = ((("spec", "title"), "title"), (("spec", "description"), "description"))
            legend = ("spec", "query", "spec", "legendFormat")
            self.walk_queries(queries, panel.path + ["spec", "data", "spec", "queries"], panel, locate, prose, legend)
        variables = self.arr(spec.get("variables"))
        for vi, var in enumerate(variables.items if variables else ()):
            if type(var) is not JObject or self.s(var.get("kind")) != "QueryVariable":
                continue
            vspec = self.obj(var.get("spec")) or _EMPTY
            qspec = self.obj(self.at(vspec, "query", "spec")) or _EMPTY
            vname = self.s(vspec.get("name"))
            vpath = path + ["variables", vi]
            suffix = f' (variable "{one_line(vname)}")' if vname else ""
            query_key = "query" if type(qspec.get("query")) is JString else "expr"
            query = qspec.get(query_key)
            place_path = json_pointer(vpath)
            self.variable_site(query, vpath + ["spec", "query", "spec", query_key], SiteKind.GRAFANA_QUERY, suffix, place_path)
            self.variable_site(
                vspec.get("definition"), vpath + ["spec", "definition"], SiteKind.GRAFANA_QUERY, suffix, place_path,
                duplicate_of=self.s(query),
            )
        self.uid = previous

