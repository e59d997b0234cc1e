"""Any other text file (Markdown, Go, shell, Rust, jsonnet, Terraform, txt): no structure."""

from __future__ import annotations

from migrator.formats.base import Document


class TextHandler:
    name = "text"

    def parse(self, path: str, text: str) -> Document:
        return Document(path=path, text=text, format=self.name)

    def validate(self, text: str) -> None:
        return None
