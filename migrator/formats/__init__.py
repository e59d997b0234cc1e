"""Format detection and the handler registry. Parsing lives in this package and only here."""

from __future__ import annotations

import os

from migrator.formats.base import Document, FormatHandler, ParseError, Site, SiteKind

__all__ = ["Document", "FormatHandler", "ParseError", "Site", "SiteKind", "detect_format", "handler_for"]

EXTENSION_FORMATS = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".py": "python",
    ".pyi": "python",
}

_handlers: dict[str, FormatHandler] = {}


def detect_format(path: str, head: str) -> str:
    """Pick a format by extension, falling back to sniffing the first bytes of the content."""
    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSION_FORMATS:
        return EXTENSION_FORMATS[ext]
    first = head.lstrip("\ufeff")
    if first.startswith("#!") and "python" in first.split("\n", 1)[0]:
        return "python"
    if ext in ("", ".tpl") and first.lstrip().startswith(("groups:", "apiVersion:")):
        return "yaml"
    return "text"


def handler_for(fmt: str) -> FormatHandler:
    handler = _handlers.get(fmt)
    if handler is None:
        # Imported lazily so that a run over Markdown never pays for libcst or the YAML composer.
        if fmt == "json":
            from migrator.formats.json_format import JsonHandler as cls
        elif fmt == "yaml":
            from migrator.formats.yaml_format import YamlHandler as cls
        elif fmt == "python":
            from migrator.formats.python_format import PythonHandler as cls
        else:
            from migrator.formats.text import TextHandler as cls
        handler = _handlers[fmt] = cls()
    return handler
