"""Any other text file (Markdown, Go, TypeScript, Java, shell, Rust, jsonnet, Terraform, txt):
no structure the tool parses, so no sites; rules scan the text itself."""

from __future__ import annotations

from migrator.formats.base import Document, SiteNeeds


class TextHandler:
    name = "text"

    def parse(self, path: str, text: str, needs: SiteNeeds) -> Document:
        return Document(path=path, text=text, format=self.name)

    def validate(self, text: str) -> None:
        return None
