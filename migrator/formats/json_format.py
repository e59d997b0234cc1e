"""JSON files (Grafana dashboards and anything else in JSON)."""

from __future__ import annotations

import json

from migrator.formats.base import Document, ParseError


def _offset_of(text: str, err: json.JSONDecodeError) -> int:
    return err.pos


class JsonHandler:
    name = "json"

    def parse(self, path: str, text: str) -> Document:
        self.validate(text)
        return Document(path=path, text=text, format=self.name)

    def validate(self, text: str) -> None:
        body = text[1:] if text.startswith("\ufeff") else text
        try:
            json.loads(body)
        except json.JSONDecodeError as err:
            raise ParseError(f"invalid JSON: {err.msg}", err.pos + (len(text) - len(body))) from None
        except RecursionError:
            raise ParseError("invalid JSON: nesting too deep", 0) from None
