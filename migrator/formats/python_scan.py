"""Compiling scanned Python to an AST, quietly and without executing anything."""

from __future__ import annotations

import ast
from typing import Any


def compile_quietly(source: str) -> Any:
    """Parse to an AST (never execute), without printing the SyntaxWarnings of the scanned code
    (`"\\d"` escapes, `0x1for`) to the user's terminal."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(source, "<check>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
