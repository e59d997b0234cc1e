"""YAML files: Prometheus rules, PrometheusRule objects, ConfigMaps, multi-document streams."""

from __future__ import annotations

import yaml

from migrator.formats.base import Document, ParseError

# Only the safe loader, ever: tags that construct Python objects are refused by it.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlHandler:
    name = "yaml"

    def parse(self, path: str, text: str) -> Document:
        self.validate(text)
        return Document(path=path, text=text, format=self.name)

    def validate(self, text: str) -> None:
        try:
            for _ in yaml.load_all(text, Loader=_Loader):
                pass
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            raise ParseError(f"invalid YAML: {err.problem or err}", mark.index if mark else 0) from None
        except yaml.YAMLError as err:
            raise ParseError(f"invalid YAML: {err}", 0) from None
