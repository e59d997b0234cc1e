"""Turns a parsed JSON tree into sites: recognises the shape of the document (Grafana dashboards
in every export shape, Perses, Grafana's v2 schema, Cloud Monitoring dashboards and alert
policies, Prometheus rules and Grafana-managed alert rules written as JSON, Kubernetes objects
and lists wrapping any of them, JSON documents embedded in strings), walks it with the walker
that knows it, then lets the needle fallback (`json_sites`) make sites of any other string that
mentions a needle.

Rules (`context.rule` = `RulePlace`, `document.rules`): a Prometheus rule written as JSON gets
the same context as in YAML (`field` "expr"); a Grafana-managed alert's queries get a
`RulePlace` (kind "alert") and a `GrafanaPlace` (kind "alert", uid = the alert rule's uid,
refId, datasource) — never a `target_removal`: removing a query would break the condition that
names it by refId.

Dashboards held in strings (grafana-operator `spec.json`, a ConfigMap's `data`, a YAML file's
ConfigMap through `dashboard_sites_from_string`) are parsed in their own text and their sites
composed back onto the outer file (`json_sites.Composer`).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from migrator.formats.base import GrafanaPlace, ParseError, RulePlace, Site, SiteContext, SiteKind, SiteNeeds
from migrator.formats.cloud_monitoring import CloudMonitoringWalker
from migrator.formats.grafana_datasources import is_prometheus_datasource
from migrator.formats.json_index import JsonIndex, json_pointer
from migrator.formats.json_scan import no_gc, parse, to_value
from migrator.formats.json_sites import Composer, Encoder, one_line
from migrator.formats.json_strings import JsonStyle, decode_string

__all__ = ["JsonWalker", "build_sites", "dashboard_sites_from_string", "load"]

_DASHBOARD_KINDS = ("GrafanaDashboard", "Dashboard", "PersesDashboard")


def load(text: str) -> tuple[Any, JsonIndex]:
    """Parse a JSON text: its value (as `json.loads` gives it) and the index of its positions.
    Raises ParseError with the message and offset `json.loads` reports; a leading BOM is
    skipped (offsets stay file offsets)."""
    start = 1 if text.startswith("\ufeff") else 0
    try:
        # The C decoder builds a million small objects on a big dashboard; the cyclic collector
        # would walk them over and over (see base.no_gc).
        with no_gc():
            value = json.loads(text[start:] if start else text)
    except json.JSONDecodeError as err:
        raise ParseError(err.msg, err.pos + start) from None
    except RecursionError:
        # Valid JSON may be deeper than the C decoder's recursion limit: the iterative scanner
        # decides, and its tree gives the same value.
        value = to_value(text, parse(text, start))
    return value, JsonIndex(text, start)


class JsonWalker(CloudMonitoringWalker):
    def run(self) -> list[Site]:
        root = self.root
        if type(root) is dict:
            self.walk_any(root, [])
        elif type(root) is list:
            for i, item in enumerate(root):
                if type(item) is dict:
                    self.walk_any(item, [i])
        self.needle_fallback()
        return self.sites

    def walk_any(self, o: dict[str, Any], path: list[Any]) -> None:
        """Recognise the shape of a top-level object (or an element of a top-level array)."""
        kind = self.s(o.get("kind"))
        spec = self.obj(o.get("spec"))
        dashboard = self.obj(o.get("dashboard"))
        if dashboard is not None:  # API export: {"dashboard": {...}, "meta": {...}}
            self.walk_dashboard(dashboard, path + ["dashboard"])
            return
        items = self.arr(o.get("items"))
        if kind == "List" and items is not None:  # kubectl get -o json
            for i, item in enumerate(items):
                if type(item) is dict:
                    self.walk_any(item, path + ["items", i])
            return
        if kind == "ConfigMap":
            self.walk_configmap(o, path)
            return
        if spec is not None and self.is_cloud_dashboard(spec):  # Config Connector MonitoringDashboard
            self.walk_cloud_dashboard(spec, path + ["spec"])
            return
        if spec is not None and kind in _DASHBOARD_KINDS:
            name = self.s(self.at(o, "metadata", "name"))
            embedded = spec.get("json")
            if type(embedded) is str:  # grafana-operator: the dashboard as a JSON string
                self.walk_embedded(path + ["spec", "json"])
            elif type(spec.get("panels")) is dict or kind == "PersesDashboard":
                self.walk_perses(spec, path + ["spec"], name)
            elif type(spec.get("elements")) is dict:  # Grafana dashboard schema v2
                self.walk_v2(spec, path + ["spec"], name)
            else:
                self.walk_dashboard(spec, path + ["spec"], uid_fallback=name)
            return
        if self.looks_like_dashboard(o):
            self.walk_dashboard(o, path)
            return
        if self.is_cloud_dashboard(o):
            self.walk_cloud_dashboard(o, path)
            return
        if self.is_alert_policy(o):
            self.walk_alert_policy(o, path)
            return
        model = self.obj(o.get("model"))
        if model is not None:  # a library panel export: {"uid", "name", "model": {panel}}
            self.walk_panels([(model, path + ["model"])])
            return
        if self.arr(o.get("groups")) is not None or self.arr(o.get("rules")) is not None:
            self.walk_rule_groups(o, path)
            return
        # The ruler API: {"<folder>": [{"name": ..., "rules": [...]}, ...], ...}
        for name, value in self.members(o, path):
            groups = self.arr(value)
            if groups and all(self.arr(self.at(g, "rules")) is not None for g in groups):
                for gi, group in enumerate(groups):
                    self.walk_rule_group(group, path + [name, gi])

    def looks_like_dashboard(self, o: dict[str, Any]) -> bool:
        return (
            self.arr(o.get("panels")) is not None
            or self.arr(o.get("rows")) is not None
            or self.obj(o.get("templating")) is not None
            or "schemaVersion" in o
            or "__elements" in o
            or "libraryPanels" in o
        )

    # ------------------------------------------------------------------ embedded JSON

    def walk_configmap(self, o: dict[str, Any], path: list[Any]) -> None:
        data = self.obj(o.get("data"))
        for name, value in self.members(data, path + ["data"]) if data is not None else ():
            if type(value) is str and value.lstrip().startswith(("{", "[")):
                self.walk_embedded(path + ["data", name])

    def walk_embedded(self, path: list[Any]) -> None:
        """A JSON document inside a JSON string: parse the decoded value, compose sites back."""
        loc = self.locate(path)
        value, offsets = decode_string(self.text, loc.start, loc.end)
        inner = _walker_for_text(value, self.needs)
        if inner is None:
            return  # not JSON after all: the needle fallback sees the string as text
        self.sited[loc.start] = loc.end
        self.dashboards.extend(inner.dashboards)
        self.rules.extend(inner.rules)
        composer = Composer(offsets, self.style.for_string(self.text, loc.start, loc.end).encode, json_pointer(path))
        self.sites.extend(composer.site(s) for s in inner.sites)

    # ------------------------------------------------------------------ rules

    def walk_rule_groups(self, o: dict[str, Any], path: list[Any]) -> None:
        groups = self.arr(o.get("groups"))
        if groups is not None:
            for gi, group in enumerate(groups):
                if type(group) is dict:
                    self.walk_rule_group(group, path + ["groups", gi])
        elif self.arr(o.get("rules")) is not None:  # a single group
            self.walk_rule_group(o, path)

    def walk_rule_group(self, group: dict[str, Any], path: list[Any]) -> None:
        rules = self.arr(group.get("rules"))
        if rules is None:
            return
        group_name = self.s(group.get("name"))
        group_index = path[-1] if path and isinstance(path[-1], int) else 0
        for ri, rule in enumerate(rules):
            if type(rule) is not dict:
                continue
            rpath = path + ["rules", ri]
            grafana_alert = self.obj(rule.get("grafana_alert"))  # the ruler API's shape
            holder, hpath = (grafana_alert, rpath + ["grafana_alert"]) if grafana_alert is not None else (rule, rpath)
            data = self.arr(holder.get("data"))
            if data is not None:
                self.walk_alert_data(holder, hpath, data, group_name, (group_index, ri))
                continue
            alert, record = self.s(rule.get("alert")), self.s(rule.get("record"))
            place = None
            if alert or record:
                place = RulePlace(kind="alert" if alert else "record", name=alert or record, group=group_name, index=(group_index, ri))
                self.rules.append(place)
            expr = rule.get("expr")
            if type(expr) is str and expr:  # a Prometheus rule written as JSON
                label = f" {place.kind}={place.name}" if place else ""
                index = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rpath).lstrip(".")
                context = SiteContext(rule=place, field="expr", json_path=json_pointer(rpath + ["expr"]))
                self.add(rpath + ["expr"], SiteKind.PROMQL, f"{index}{label} expr", context)

    def walk_alert_data(
        self, holder: dict[str, Any], path: list[Any], data: list[Any], group_name: str | None, index: tuple[int, int]
    ) -> None:
        """Unified-alerting queries: `data[].model.expr` for a Prometheus datasource."""
        uid = self.s(holder.get("uid"))
        title = self.s(holder.get("title"))
        rule = RulePlace(kind="alert", name=title, group=group_name, index=index)
        self.rules.append(rule)
        entries = []
        for di, item in enumerate(data):
            model = self.obj(self.at(item, "model"))
            expr = self.at(model, "expr")
            if type(expr) is not str:
                continue
            ds = model.get("datasource")  # type: ignore[union-attr]
            ds_uid = self.s(self.at(item, "datasourceUid"))
            if ds is None and ds_uid is not None:
                ds = {"uid": ds_uid}
            entries.append((di, item, expr, ds))
        for di, item, expr, ds in entries:
            ref_id = self.scalar(item.get("refId"))
            dpath = path + ["data", di]
            epath = dpath + ["model", "expr"]
            pointer = json_pointer(epath)
            siblings = tuple(e[2] for e in entries if e[0] != di and e[2])
            place = GrafanaPlace(uid=uid, ref_id=ref_id, datasource=ds, path=json_pointer(dpath), kind="alert", sibling_exprs=siblings)
            context = SiteContext(rule=rule, grafana=place, field=f"data[{di}].model.expr", json_path=pointer)
            parts = [f'alert rule "{one_line(title)}"'] if title else []
            if ref_id not in (None, ""):
                parts.append(f"refId {ref_id}")
            locator = pointer + (f" ({', '.join(parts)})" if parts else "")
            is_expression = isinstance(ds, dict) and (ds.get("uid") == "__expr__" or ds.get("type") == "__expr__")
            if is_expression or not is_prometheus_datasource(ds, self.ds_vars):
                self.not_prometheus(expr, epath, locator, context)
            elif expr:
                self.add(epath, SiteKind.PROMQL, locator, context)


# --------------------------------------------------------------------------- entry points


def _walker_for_text(text: str, needs: SiteNeeds) -> JsonWalker | None:
    """The walked sites of a JSON text, or None when it is not JSON."""
    try:
        root, index = load(text)
    except ParseError:
        return None
    walker = JsonWalker(text, root, index, JsonStyle.detect(text), needs)
    walker.run()
    return walker


def build_sites(text: str, root: Any, index: JsonIndex, style: JsonStyle, needs: SiteNeeds) -> JsonWalker:
    """Walk a parsed JSON file: `.sites`, `.dashboards` ((uid, title) pairs), `.rules`."""
    walker = JsonWalker(text, root, index, style, needs)
    walker.run()
    return walker


def dashboard_sites_from_string(
    value: str,
    outer_offsets: Sequence[int],
    outer_encode: Encoder,
    locator_prefix: str,
    *,
    needs: SiteNeeds,
    strict: bool = False,
    dashboards: list[tuple[str | None, str | None]] | None = None,
    rules: list[RulePlace] | None = None,
) -> list[Site]:
    """Sites of a JSON document (a dashboard, usually) held in a decoded string of another file.

    `outer_offsets[i]` is the file offset of decoded character i of `value` (with
    `outer_offsets[len(value)]` its end) and `outer_encode` re-escapes text for that string:
    exactly what a Site of the outer format has. Returned sites — their offsets, encoders and
    every edit and span in their context (`Container.removal`/`span`,
    `GrafanaPlace.target_removal`) — are composed onto the outer file; locators are prefixed
    and `context.embedded_in` says where the document was. When `value` is not JSON: [] (or a
    ParseError at the file offset when `strict`). `dashboards` and `rules`, when given, are
    extended with what the document holds (for the outer `Document`'s fields).
    """
    try:
        root, index = load(value)
    except ParseError as err:
        if not strict:
            return []
        offset = outer_offsets[min(max(err.offset, 0), len(value))]
        raise ParseError(f"embedded JSON: {err.message}", offset) from None
    walker = build_sites(value, root, index, JsonStyle.detect(value), needs)
    if dashboards is not None:
        dashboards.extend(walker.dashboards)
    if rules is not None:
        rules.extend(walker.rules)
    composer = Composer(outer_offsets, outer_encode, locator_prefix)
    return [composer.site(s) for s in walker.sites]
