"""Any other text file (Markdown, Go, TypeScript, Java, shell, Rust, jsonnet, Terraform, txt).

No parser for the file's language: rules scan the text itself (VMM900). Known formats embedded
in it — YAML in a heredoc, YAML/JSON/PromQL in a Markdown code block — are read by their own
handlers (`embedded`), so a KEDA trigger in a Terraform heredoc gets the same analysis as in a
YAML file. Fixes in such a file are never safe: the file as a whole cannot be re-parsed.
"""

from __future__ import annotations

from migrator.formats.base import Document, SiteNeeds
from migrator.model import Applicability, Span


class TextHandler:
    name = "text"

    def parse(self, path: str, text: str, needs: SiteNeeds) -> Document:
        from migrator.formats.embedded import embedded_sites

        document = Document(path=path, text=text, format=self.name)
        if needs.needles and needs.mentions(text) and ("<<" in text or "```" in text or "~~~" in text):
            sites, covered = embedded_sites(path, text, needs)
            document.sites = sites
            document.embedded = [Span(a, b) for a, b in covered]
        document.fix_ceiling = Applicability.UNSAFE
        return document

    def validate(self, text: str) -> None:
        from migrator.formats.embedded import validate_regions

        validate_regions(text)
