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
from migrator.formats.grafana_queries import (
    VARIABLE_QUERY_FIELDS,
    expression_users,
    field_name,
    removal_blocked,
    shows_a_query,
    v2_as_target,
)
from migrator.formats.json_index import JsonIndex, Loc, json_pointer
from migrator.formats.json_sites import SiteBuilder, one_line
from migrator.model import Edit, Span

__all__ = ["DashboardWalker", "Panel", "is_prometheus_datasource", "panel_locator", "removal_of"]

_EMPTY: dict[str, Any] = {}


class Panel:
    """What a panel-level site says about its panel (a Grafana panel, a Perses panel, a Cloud
    Monitoring widget)."""

    __slots__ = ("node", "path", "panel_id", "title", "datasource", "has_promql")

    def __init__(self, node: dict[str, Any], path: list[Any], panel_id: Any, title: str | None, datasource: Any) -> None:
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


def removal_of(index: JsonIndex, array: list[Any] | Loc, element: int, keeps_another: bool) -> tuple[Edit, ...] | None:
    """Edits removing element `element` of the array at `array` (its path, or where it is: a
    panel's targets), or None when no other target with a query would be left (a panel
    without queries is for a person to delete)."""
    if not keeps_another:
        return None
    loc = array if type(array) is Loc else index.locate(array)  # type: ignore[arg-type]
    start, end = index.element_removal_span(loc, element)
    return (Edit(Span(start, end), ""),)


# A query found by a schema-specific locator: (query value, path inside the query object, refId,
# datasource, is it Prometheus).
Located = tuple[Any, list[Any], Any, Any, bool]


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

    def walk_dashboard(self, d: dict[str, Any], path: list[Any], uid_fallback: str | None = None) -> None:
        previous = (self.uid, self.ds_vars)
        self.uid = self.s(d.get("uid")) or uid_fallback
        self.dashboards.append((self.uid, self.s(d.get("title"))))
        self.ds_vars = self.datasource_variables(d)
        panels: list[tuple[dict[str, Any], list[Any]]] = []
        top = self.arr(d.get("panels"))
        if top is not None:
            panels += [(p, path + ["panels", i]) for i, p in enumerate(top) if type(p) is dict]
        rows = self.arr(d.get("rows"))
        if rows is not None:
            for ri, row in enumerate(rows):
                row_panels = self.arr(row.get("panels")) if type(row) is dict else None
                if row_panels is not None:
                    panels += [(p, path + ["rows", ri, "panels", i]) for i, p in enumerate(row_panels) if type(p) is dict]
        for key in ("__elements", "libraryPanels"):
            holder = d.get(key)
            if type(holder) is dict:
                members = list(self.members(holder, path + [key]))
            elif type(holder) is list:
                members = list(enumerate(holder))  # type: ignore[arg-type]
            else:
                continue
            for name, element in members:
                model = self.obj(element.get("model")) if type(element) is dict else None
                if model is not None:
                    panels.append((model, path + [key, name, "model"]))
        self.walk_panels(panels)
        self.walk_templating(d, path)
        self.walk_annotations(d, path)
        self.uid, self.ds_vars = previous

    def datasource_variables(self, d: dict[str, Any]) -> dict[str, str]:
        """Datasource variables → plugin id, from templating and the export's `__inputs`."""
        found: dict[str, str] = {}
        sources = []
        inputs = self.arr(d.get("__inputs")) or self.arr(self.at(self.root, "__inputs"))
        if inputs is not None:
            sources += [(i, "name", "pluginId") for i in inputs]
        variables = self.arr(self.at(d, "templating", "list"))
        if variables is not None:
            sources += [(v, "name", "query") for v in variables]
        for item, name_key, plugin_key in sources:
            if type(item) is not dict:
                continue
            if plugin_key == "query" and self.s(item.get("type")) != "datasource":
                continue
            name, plugin = self.s(item.get(name_key)), self.s(item.get(plugin_key))
            if name and plugin:
                found[name] = plugin
        return found

    def walk_panels(self, panels: list[tuple[dict[str, Any], list[Any]]]) -> None:
        stack = list(reversed(panels))
        while stack:
            panel, path = stack.pop()
            self.walk_panel(panel, path)
            children = self.arr(panel.get("panels"))  # a (collapsed) row's panels
            if children is not None:
                stack.extend(
                    (p, path + ["panels", i]) for i, p in reversed(list(enumerate(children))) if type(p) is dict
                )
            model = self.obj(self.at(panel, "libraryPanel", "model"))
            if model is not None:
                stack.append((model, path + ["libraryPanel", "model"]))

    def panel_info(self, panel: dict[str, Any], path: list[Any]) -> Panel:
        pid = self.scalar(panel.get("id"))
        if isinstance(pid, bool) or not isinstance(pid, (int, str)):
            pid = None
        return Panel(panel, path, pid, self.s(panel.get("title")), panel.get("datasource"))

    def walk_panel(self, panel_node: dict[str, Any], path: list[Any]) -> None:
        targets = self.arr(panel_node.get("targets"))
        if targets is None:
            return
        panel = self.panel_info(panel_node, path)
        panel_ds = None if is_mixed(panel.datasource) else panel.datasource
        # First pass: which targets have an expr, and from which datasource.
        entries = []
        for i, target in enumerate(targets):
            if type(target) is not dict:
                continue
            expr = target.get("expr")
            if type(expr) is not str:
                continue
            own_ds = target.get("datasource")
            ds = own_ds if own_ds is not None and not is_mixed(own_ds) else panel_ds
            entries.append((i, target, expr, ds))
        with_expr = [e for e in entries if e[2]]
        # What keeps the panel showing something once a target is removed: another visible query.
        visible = {i for i, target in enumerate(targets) if shows_a_query(target)}
        used_by = expression_users(targets)
        display_names = self.display_names(panel_node)
        targets_loc = None
        for i, target, expr, ds in entries:
            tpath = path + ["targets", i]
            ref_id = self.scalar(target.get("refId"))
            target_pointer = json_pointer(tpath)
            pointer = target_pointer + "/expr"
            locator = panel_locator(pointer, panel, ref_id)
            place = self.place(
                panel,
                ref_id=ref_id,
                datasource=ds,
                path=target_pointer,
                kind="target",
                hidden=target.get("hide") is True,
                legend=self.s(target.get("legendFormat")) or "",
                result_format=self.s(target.get("format")),
                display_names=display_names,
            )
            context = SiteContext(grafana=place, field="expr", json_path=pointer)
            if not is_prometheus_datasource(ds, self.ds_vars):
                self.not_prometheus(expr, tpath + ["expr"], locator, context)
                continue
            if not expr:
                continue
            if targets_loc is None:
                targets_loc = self.locate(path + ["targets"])
            others = [e for e in with_expr if e[0] != i]
            place.removal_blocked = removal_blocked(ref_id, used_by, others, visible, i)
            keeps = bool(others) and place.removal_blocked is None
            place.target_removal = removal_of(self.index, targets_loc, i, keeps)
            place.sibling_exprs = tuple(e[2] for e in others)
            expr_loc = self.index.child(self.index.child(targets_loc, i), "expr")
            self.add(expr_loc, SiteKind.PROMQL, locator, context)
            panel.has_promql = True
        if panel.has_promql:
            self.panel_prose(panel, targets)

    def display_names(self, panel_node: dict[str, Any]) -> tuple[str, ...]:
        """The panel's display-name settings (field config defaults and overrides), which may
        replace or template its targets' legends."""
        at, found = self.at, []
        field_config = self.obj(panel_node.get("fieldConfig"))
        if field_config is not None:
            found.append(at(field_config, "defaults", "displayName"))
            overrides = field_config.get("overrides")
            for override in overrides if type(overrides) is list else ():
                props = at(override, "properties")
                for prop in props if type(props) is list else ():
                    if self.s(at(prop, "id")) in ("displayName", "displayNameFromDS"):
                        found.append(at(prop, "value"))
        return tuple(v for v in found if type(v) is str and v)

    def panel_prose(self, panel: Panel, targets: list[Any]) -> None:
        """TEXT sites of the panel's title, description, legends and display names that mention
        a needle (the rules pass the words they look for in prose as needles too). Paths are
        built only for the few strings that do: a big dashboard has tens of thousands."""
        p, prose, at = panel.node, self.prose, self.at
        prose(p.get("title"), ("title",), "title", panel)
        prose(p.get("description"), ("description",), "description", panel)
        for i, target in enumerate(targets):
            if type(target) is dict:
                legend = target.get("legendFormat")
                if type(legend) is str:
                    prose(legend, ("targets", i, "legendFormat"), "legendFormat", panel, self.scalar(target.get("refId")))
        field_config = p.get("fieldConfig")
        if type(field_config) is dict:
            prose(at(field_config, "defaults", "displayName"), ("fieldConfig", "defaults", "displayName"), "displayName", panel)
            overrides = field_config.get("overrides")
            for oi, override in enumerate(overrides if type(overrides) is list else ()):
                base = ("fieldConfig", "overrides", oi)
                prose(at(override, "matcher", "options"), base + ("matcher", "options"), "displayName", panel)
                props = at(override, "properties")
                for pi, prop in enumerate(props if type(props) is list else ()):
                    if self.s(at(prop, "id")) in ("displayName", "displayNameFromDS"):
                        prose(at(prop, "value"), base + ("properties", pi, "value"), "displayName", panel)
        aliases = p.get("seriesOverrides")  # the old graph panel
        for ai, alias in enumerate(aliases if type(aliases) is list else ()):
            prose(at(alias, "alias"), ("seriesOverrides", ai, "alias"), "displayName", panel)

    def prose(
        self, value: Any, where: tuple[Any, ...], prose: str, panel: Panel, ref_id: Any = None, what: str = "panel"
    ) -> None:
        """A TEXT site of a panel's prose at `panel.path + where`, when it mentions a needle."""
        if type(value) is not str or not self.might_mention(value):
            return
        path = panel.path + list(where)
        if not self.mentions(value, path) or self.locate(path).start in self.sited:
            return
        pointer = json_pointer(path)
        place = self.place(panel, ref_id=ref_id, datasource=panel.datasource, path=json_pointer(panel.path), kind="panel")
        context = SiteContext(grafana=place, prose=prose, field=where[-1], json_path=pointer)
        self.add(path, SiteKind.TEXT, panel_locator(pointer, panel, ref_id, what), context)

    def walk_templating(self, d: dict[str, Any], path: list[Any]) -> None:
        variables = self.arr(self.at(d, "templating", "list"))
        if variables is None:
            return
        for i, var in enumerate(variables):
            if type(var) is not dict:
                continue
            vtype = self.s(var.get("type"))
            if vtype not in (None, "query"):
                continue
            vpath = path + ["templating", "list", i]
            name = self.s(var.get("name"))
            ds = var.get("datasource")
            query = var.get("query")
            qpath = vpath + ["query"]
            ref_id = None
            queries: list[tuple[Any, list[Any], SiteKind]] = [(query, qpath, SiteKind.GRAFANA_QUERY)]
            if type(query) is dict:  # {"query": "...", "refId": "PrometheusVariableQueryEditor-VariableQuery"}
                ref_id = self.scalar(query.get("refId"))
                # Grafana 10+ keeps the editor's fields beside (or instead of) `query`, and runs
                # the one its `qryType` names: every one that holds PromQL is a site.
                queries = [(query.get(key), qpath + [key], kind) for key, kind in VARIABLE_QUERY_FIELDS]
                query = next((v for v, _, k in queries if k is SiteKind.GRAFANA_QUERY and type(v) is str), None)
            suffix = f' (variable "{one_line(name)}")' if name else ""
            query_value = self.s(query)
            prometheus = is_prometheus_datasource(ds, self.ds_vars)
            candidates = [(value, npath, False, kind) for value, npath, kind in queries]
            candidates.append((var.get("definition"), vpath + ["definition"], True, SiteKind.GRAFANA_QUERY))
            for value, npath, is_definition, kind in candidates:
                if type(value) is not str:
                    continue
                pointer = json_pointer(npath)
                place = self.place(None, ref_id=ref_id, datasource=ds, path=json_pointer(vpath), kind="templating")
                context = SiteContext(grafana=place, field=npath[-1], json_path=pointer)
                if not prometheus:
                    self.not_prometheus(value, npath, pointer + suffix, context)
                    continue
                if not value:
                    continue
                place.duplicate_of_query = is_definition and value == query_value
                self.add(npath, kind, pointer + suffix, context)

    def walk_annotations(self, d: dict[str, Any], path: list[Any]) -> None:
        items = self.arr(self.at(d, "annotations", "list"))
        if items is None:
            return
        for i, ann in enumerate(items):
            if type(ann) is not dict:
                continue
            apath = path + ["annotations", "list", i]
            name = self.s(ann.get("name"))
            ds = ann.get("datasource")
            # Newer Grafana: {"target": {"expr": ..., "refId": "Anno"}}.
            for value, npath in ((ann.get("expr"), apath + ["expr"]), (self.at(ann, "target", "expr"), apath + ["target", "expr"])):
                if type(value) is not str:
                    continue
                pointer = json_pointer(npath)
                locator = pointer + (f' (annotation "{one_line(name)}")' if name else "")
                place = self.place(None, datasource=ds, path=json_pointer(apath), kind="annotation")
                context = SiteContext(grafana=place, field="expr", json_path=pointer)
                if not is_prometheus_datasource(ds, self.ds_vars):
                    self.not_prometheus(value, npath, locator, context)
                elif value:
                    self.add(npath, SiteKind.PROMQL, locator, context)

    # ------------------------------------------------------------------ Perses and Grafana v2

    def walk_queries(
        self,
        queries: list[Any],
        qpath: list[Any],
        panel: Panel,
        locate: Callable[[dict[str, Any]], Located],
        prose: tuple[tuple[tuple[Any, ...], str], ...],
        legend: tuple[str, ...],
        as_target: Callable[[Any], Any] | None = None,
    ) -> None:
        """A panel's list of queries in the Perses and v2 schemas; removal works like targets.
        `prose`: (path in the panel, kind) of its title and description; `legend`: the path of
        a query's legend in the query object; `as_target`: a query in the shape of a classic
        target (`refId`, `hide`, `expr`/`expression`), when the schema can hide queries or
        compute expressions of them."""
        shaped = [as_target(q) for q in queries] if as_target is not None else None
        visible = {i for i, t in enumerate(shaped) if shows_a_query(t)} if shaped is not None else None
        used_by = expression_users(shaped) if shaped is not None else {}
        entries = []
        for i, q in enumerate(queries):
            if type(q) is not dict:
                continue
            value, sub, ref_id, ds, prom = locate(q)
            if type(value) is str:
                entries.append((i, value, sub, ref_id, ds, prom))
        with_expr = [e for e in entries if e[1]]
        for i, value, sub, ref_id, ds, prom in entries:
            path = qpath + [i]
            vpath = path + sub
            pointer = json_pointer(vpath)
            place = self.place(panel, ref_id=ref_id, datasource=ds, path=json_pointer(path), kind="target")
            place.legend = self.s(self.at(queries[i], *legend)) or ""
            context = SiteContext(grafana=place, field=sub[-1], json_path=pointer)
            locator = panel_locator(pointer, panel, ref_id)
            if not prom:
                self.not_prometheus(value, vpath, locator, context)
                continue
            if not value:
                continue
            others = [e for e in with_expr if e[0] != i]
            place.removal_blocked = removal_blocked(ref_id, used_by, others, visible, i)
            keeps = bool(others) and place.removal_blocked is None
            place.target_removal = removal_of(self.index, qpath, i, keeps)
            place.sibling_exprs = tuple(e[1] for e in others)
            self.add(vpath, SiteKind.PROMQL, locator, context)
            panel.has_promql = True
        if not panel.has_promql:
            return
        for where, kind in prose:
            self.prose(self.at(panel.node, *where), where, kind, panel)
        inside = qpath[len(panel.path) :]  # qpath extends the panel's path
        ref_ids = {e[0]: e[3] for e in entries}
        for i, q in enumerate(queries):
            self.prose(self.at(q, *legend), (*inside, i, *legend), "legendFormat", panel, ref_ids.get(i))

    def walk_perses(self, spec: dict[str, Any], path: list[Any], name: str | None) -> None:
        """Perses: spec.panels.<name>.spec.queries[].spec.plugin.spec.query; variables' expr."""
        previous = self.uid
        self.uid = name
        self.dashboards.append((name, self.s(self.at(spec, "display", "name"))))
        panels = self.obj(spec.get("panels"))
        for pname, pnode in self.members(panels, path + ["panels"]) if panels is not None else ():
            queries = self.arr(self.at(pnode, "spec", "queries"))
            if queries is None:
                continue
            title = self.s(self.at(pnode, "spec", "display", "name"))
            panel = Panel(pnode, path + ["panels", pname], str(pname), title, None)

            def locate(q: dict[str, Any]) -> Located:
                plugin = self.obj(self.at(q, "spec", "plugin"))
                pkind = self.s(self.at(plugin, "kind"))
                pspec = self.obj(self.at(plugin, "spec"))
                prom = pkind is None or pkind.startswith("Prometheus")
                return self.at(pspec, "query"), ["spec", "plugin", "spec", "query"], None, self.at(pspec, "datasource"), prom

            prose = ((("spec", "display", "name"), "title"), (("spec", "display", "description"), "description"))
            legend = ("spec", "plugin", "spec", "seriesNameFormat")
            self.walk_queries(queries, panel.path + ["spec", "queries"], panel, locate, prose, legend)
        variables = self.arr(spec.get("variables"))
        for vi, var in enumerate(variables if variables else ()):
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
            for mi, m in enumerate(matchers if matchers else ()):
                site_path = vpath + prefix + ["matchers", mi]
                if not self.s(m):
                    continue
                container = self.container(self.locate(site_path[:-1]), mi, json_pointer(site_path[:-1]))
                self.variable_site(m, site_path, SiteKind.PROMQL, suffix, place_path, container=container)
        self.uid = previous

    def variable_site(
        self,
        value: Any,
        path: list[Any],
        kind: SiteKind,
        suffix: str,
        place_path: str,
        *,
        container: Container | None = None,
        duplicate_of: str | None = None,
    ) -> None:
        if not self.s(value):
            return
        pointer = json_pointer(path)
        place = self.place(None, path=place_path, kind="templating", duplicate_of_query=value == duplicate_of)
        field = field_name(path[-1] if isinstance(path[-1], str) else path[-2])
        context = SiteContext(grafana=place, container=container, field=field, json_path=pointer)
        self.add(path, kind, pointer + suffix, context)

    def walk_v2(self, spec: dict[str, Any], path: list[Any], name: str | None) -> None:
        """Grafana's v2 dashboard schema: spec.elements.<key>.spec.data.spec.queries[]."""
        previous = self.uid
        self.uid = name
        self.dashboards.append((name, self.s(spec.get("title"))))
        elements = self.obj(spec.get("elements"))
        for ename, element in self.members(elements, path + ["elements"]) if elements is not None else ():
            espec = self.obj(self.at(element, "spec"))
            queries = self.arr(self.at(espec, "data", "spec", "queries"))
            if queries is None:
                continue
            panel = Panel(element, path + ["elements", ename], self.scalar(espec.get("id")), self.s(espec.get("title")), None)  # type: ignore[union-attr]

            def locate(q: dict[str, Any]) -> Located:
                qspec = self.obj(q.get("spec")) or _EMPTY
                query = self.obj(qspec.get("query")) or _EMPTY
                kind = self.s(query.get("kind"))
                if kind == "DataQuery":
                    kind = self.s(query.get("group"))
                ds = qspec.get("datasource") or query.get("datasource")
                prom = (kind is None or kind in PROMETHEUS_TYPES) and is_prometheus_datasource(ds, self.ds_vars)
                return self.at(query, "spec", "expr"), ["spec", "query", "spec", "expr"], self.scalar(qspec.get("refId")), ds, prom

            prose = ((("spec", "title"), "title"), (("spec", "description"), "description"))
            legend = ("spec", "query", "spec", "legendFormat")
            self.walk_queries(
                queries, panel.path + ["spec", "data", "spec", "queries"], panel, locate, prose, legend, v2_as_target
            )
        variables = self.arr(spec.get("variables"))
        for vi, var in enumerate(variables if variables else ()):
            if type(var) is not dict or self.s(var.get("kind")) != "QueryVariable":
                continue
            vspec = self.obj(var.get("spec")) or _EMPTY
            vquery = self.obj(vspec.get("query")) or _EMPTY
            qspec = self.obj(vquery.get("spec")) or _EMPTY
            vname = self.s(vspec.get("name"))
            vpath = path + ["variables", vi]
            suffix = f' (variable "{one_line(vname)}")' if vname else ""
            place_path = json_pointer(vpath)
            kind = self.s(vquery.get("kind"))
            if kind == "DataQuery":
                kind = self.s(vquery.get("group"))
            ds = vquery.get("datasource") or qspec.get("datasource")
            if (kind is not None and kind not in PROMETHEUS_TYPES) or not is_prometheus_datasource(ds, self.ds_vars):
                for key, value in [(k, v) for k, v in qspec.items() if type(v) is str] + [("definition", vspec.get("definition"))]:
                    npath = vpath + ["spec", "definition"] if key == "definition" else vpath + ["spec", "query", "spec", key]
                    if type(value) is str and value:
                        place = self.place(None, datasource=ds, path=place_path, kind="templating")
                        context = SiteContext(grafana=place, field=field_name(key), json_path=json_pointer(npath))
                        self.not_prometheus(value, npath, json_pointer(npath) + suffix, context)
                continue
            # A string query is `__legacyStringValue` (Grafana's v1 → v2 conversion), `query` or
            # `expr`; the v10 editor's fields may sit beside it.
            fields = (("__legacyStringValue", SiteKind.GRAFANA_QUERY), ("expr", SiteKind.GRAFANA_QUERY), *VARIABLE_QUERY_FIELDS)
            query = None
            for key, site_kind in fields:
                value = qspec.get(key)
                if type(value) is not str:
                    continue
                if site_kind is SiteKind.GRAFANA_QUERY and query is None:
                    query = value
                self.variable_site(value, vpath + ["spec", "query", "spec", key], site_kind, suffix, place_path)
            self.variable_site(
                vspec.get("definition"), vpath + ["spec", "definition"], SiteKind.GRAFANA_QUERY, suffix, place_path,
                duplicate_of=self.s(query),
            )
        self.uid = previous
