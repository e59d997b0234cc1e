"""JSON files: Grafana dashboards (every export shape), Cloud Monitoring dashboards, alert rules,
anything else in JSON.

Parsing is the position-keeping scanner in `json_scan`; the walk that turns the tree into sites
is `json_walk` (shapes, rules, embedded documents) over `grafana` and `cloud_monitoring`
(dashboards) and `json_sites` (sites, containers, the needle fallback). Validation of fixed
output uses the C json module (fast), falling back to the iterative scanner only when the text
is nested too deeply for it.
"""

from __future__ import annotations

import json

from migrator.formats import json_scan
from migrator.formats.base import Document, ParseError, SiteNeeds
from migrator.formats.json_walk import build_sites, dashboard_sites_from_string

__all__ = ["JsonHandler", "dashboard_sites_from_string"]


class JsonHandler:
    name = "json"

    def parse(self, path: str, text: str, needs: SiteNeeds) -> Document:
        try:
            root = json_scan.parse(text)
        except ParseError as err:
            raise ParseError(f"invalid JSON: {err.message}", err.offset) from None
        style = json_scan.JsonStyle.detect(text)
        with json_scan.no_gc():
            walker = build_sites(text, root, style, needs)
        return Document(
            path=path,
            text=text,
            format=self.name,
            sites=walker.sites,
            dashboards=walker.dashboards,
            rules=walker.rules,
        )

    def validate(self, text: str) -> None:
        body = text[1:] if text.startswith("\ufeff") else text
        try:
            with json_scan.no_gc():  # the decoded value is thrown away; see json_scan.no_gc
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
