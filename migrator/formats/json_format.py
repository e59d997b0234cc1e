"""JSON files: Grafana dashboards (every export shape), Cloud Monitoring dashboards, alert rules,
anything else in JSON.

Parsing is the C `json` module (`json_walk.load`): the walkers read the values it gives, and
positions are found in the text only for what becomes a site (`json_index`). The walk that turns
values into sites is `json_walk` (shapes, rules, embedded documents) over `grafana` and
`cloud_monitoring` (dashboards) and `json_sites` (sites, containers, the needle fallback). Valid
JSON nested deeper than the C decoder's recursion limit goes through the iterative scanner in
`json_scan` instead, for parsing and for validating fixed output alike.
"""

from __future__ import annotations

import json
from typing import Any

from migrator.formats import json_scan
from migrator.formats.base import Document, ParseError, SiteNeeds
from migrator.formats.generated import CONTROLLER_GEN_ANNOTATION, controller_gen_reason, generated_message, header_marker
from migrator.formats.json_strings import JsonStyle
from migrator.formats.json_walk import build_sites, dashboard_sites_from_string, load

__all__ = ["JsonHandler", "dashboard_sites_from_string"]

def generated_reason(text: str, root: Any) -> str | None:
    """Why the file must not be edited by hand, and where to make the change instead. JSON has
    no comments: the generator's marker sits in a string near the top."""
    marker = header_marker(text[:4000], None)  # "the first lines": a minified file has one
    if marker is not None:
        return generated_message(marker)
    if CONTROLLER_GEN_ANNOTATION in text:
        objects = [root] if type(root) is dict else []
        items = root.get("items") if type(root) is dict else None
        if type(items) is list:
            objects += [i for i in items if type(i) is dict]
        for obj in objects:
            metadata = obj.get("metadata")
            annotations = metadata.get("annotations") if type(metadata) is dict else None
            if type(annotations) is dict and CONTROLLER_GEN_ANNOTATION in annotations:
                spec = obj.get("spec") if type(obj.get("spec")) is dict else {}
                names = spec.get("names") if type(spec.get("names")) is dict else {}
                return controller_gen_reason(
                    str(annotations[CONTROLLER_GEN_ANNOTATION]), str(obj.get("kind") or ""),
                    names.get("kind"), spec.get("group"),
                )
    return None


class JsonHandler:
    name = "json"

    def parse(self, path: str, text: str, needs: SiteNeeds) -> Document:
        try:
            root, index = load(text)
        except ParseError as err:
            raise ParseError(f"invalid JSON: {err.message}", err.offset) from None
        style = JsonStyle.detect(text)
        with json_scan.no_gc():
            walker = build_sites(text, root, index, style, needs)
        generated = generated_reason(text, root)
        if generated is not None:
            for site in walker.sites:
                site.editable = False
                site.readonly_reason = generated
        return Document(
            path=path,
            text=text,
            format=self.name,
            sites=walker.sites,
            dashboards=walker.dashboards,
            rules=walker.rules,
            generated=generated,
        )

    def validate(self, text: str) -> None:
        body = text[1:] if text.startswith("\ufeff") else text
        try:
            with json_scan.no_gc():  # the decoded value is thrown away; see base.no_gc
                json.loads(body)
        except json.JSONDecodeError as err:
            raise ParseError(f"invalid JSON: {err.msg}", err.pos + (len(text) - len(body))) from None
        except RecursionError:
            # Valid JSON may be deeper than the C decoder's recursion limit; the scanner is
            # iterative and settles it either way.
            try:
                json_scan.parse(text)
            except ParseError as err:
                raise ParseError(f"invalid JSON: {err.message}", err.offset) from None
