"""The cheap first look at a Python file: does anything in it need the concrete syntax tree?

libcst costs about fifteen times what the interpreter's own `ast` does, and most Python files
a scan reads (they passed the prefilter on a word in an import or a comment) hold no string a
rule cares about. `ast` finds the candidates (a string whose source or value contains a
needle, a string in a PromQL place); only files with one, or with a rule whose words they
contain, are parsed with libcst. The test is a superset of what the libcst pass keeps, so it
never loses a site: the libcst pass makes the exact decision.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from migrator.formats.base import SiteNeeds
from migrator.formats.python_sites import PROMQL_KEYS

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_STRING_LIKE = (ast.Constant, ast.JoinedStr, ast.Call, ast.BinOp)


def compile_quietly(source: str) -> Any:
    """Parse to an AST (never execute), without printing the SyntaxWarnings of the scanned code
    (`"\\d"` escapes, `0x1for`) to the user's terminal."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(source, "<check>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)


def has_string_candidates(body: str, needs: SiteNeeds) -> bool:
    """Whether a string in `body` may become a site. True too when `ast` cannot read the file
    (syntax newer than this interpreter, an error): libcst then decides, or reports it."""
    try:
        tree = compile_quietly(body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    needles = needs.needles
    # A needle in a literal's source is a needle in the file: without one, only escapes could
    # hide a needle, and decoded values are checked anyway.
    segments = _Segments(body) if any(n in body for n in needles) else None
    mentions = needs.mentions
    try:
        for node in ast.walk(tree):
            kind = type(node)
            if kind is ast.Constant:
                value = node.value
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                elif not isinstance(value, str):
                    continue
                if mentions(value) or (segments is not None and mentions(segments.source(node))):
                    return True
            elif kind is ast.JoinedStr:
                # Its literal parts are Constants of their own; the source covers the fields.
                if segments is not None and mentions(segments.source(node)):
                    return True
            elif kind is ast.keyword:
                if node.arg in PROMQL_KEYS and isinstance(node.value, _STRING_LIKE):
                    return True
            elif kind is ast.Dict:
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value in PROMQL_KEYS and isinstance(value, _STRING_LIKE):
                        return True
    except RecursionError:
        return True
    return False


class _Segments:
    """Source text of an AST node from its positions (columns are UTF-8 byte offsets)."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.starts = [0] + [m.end() for m in _LINE_BREAK.finditer(body)]
        self.ascii = body.isascii()

    def offset(self, line: int, column: int) -> int:
        start = self.starts[line - 1]
        if self.ascii:
            return start + column
        end = self.starts[line] if line < len(self.starts) else len(self.body)
        text = self.body[start:end]
        if text.isascii():
            return start + column
        return start + len(text.encode("utf-8")[:column].decode("utf-8", errors="ignore"))

    def source(self, node: Any) -> str:
        if node.end_lineno is None or node.end_col_offset is None:
            return ""
        return self.body[self.offset(node.lineno, node.col_offset) : self.offset(node.end_lineno, node.end_col_offset)]
