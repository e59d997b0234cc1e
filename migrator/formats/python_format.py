"""Python source. Parsed, never imported or executed."""

from __future__ import annotations

import ast

from migrator.formats.base import Document, ParseError
from migrator.model import LineIndex


class PythonHandler:
    name = "python"

    def parse(self, path: str, text: str) -> Document:
        self.validate(text)
        return Document(path=path, text=text, format=self.name)

    def validate(self, text: str) -> None:
        try:
            ast.parse(text.lstrip("\ufeff"))
        except SyntaxError as err:
            index = LineIndex(text)
            row = min(max(err.lineno or 1, 1), index.line_count)
            col = max((err.offset or 1) - 1, 0)
            raise ParseError(f"invalid Python: {err.msg}", index.line_start(row) + col) from None
