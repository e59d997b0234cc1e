"""A second opinion on plain PromQL from the ``promql-parser`` package, made safe to ask.

``promql-parser`` (a Rust binding) recurses along the expression tree: a 5,000-term
sum overflows the thread's stack and kills the process (SIGSEGV, no exception),
and its time grows with the square of the nesting depth (depth 200: ~20 ms, 1,000:
~1.2 s, 5,000: ~9 s).  So it is asked only about expressions at most
:data:`PROMQL_PARSER_MAX_DEPTH` levels deep; deeper ones are reported as "could not
be validated: expression too large".  Beyond :data:`_SMALL_DEPTH` levels the call runs
on a fresh thread with a large stack, so the verdict does not depend on how small
the calling thread's stack is (512 KiB on macOS worker threads).

``promql-parser`` 0.12 knows Prometheus 3's quoted names but not its duration
expressions (``[5m * 2]``, ``offset (1h + 30m)``, ``step()``), digit separators
(``1_000``) or the ``anchored``/``smoothed`` modifiers.  Those are lowered to
Prometheus 2 syntax first (a duration expression becomes its value, or ``5m``), so
promql-parser still checks everything around them; the verdict then carries a note
that the lowered parts were checked by this package's own parser only.  An older
promql-parser that rejects quoted names gets them replaced by plain identifiers the
same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from . import ast
from .durations import is_templated_text
from .lexer import PromQLSyntaxError
from .literals import duration_expr_seconds
from .parser import parse

__all__ = ["PromQLValidation", "check_with_promql_parser", "prometheus3_features", "PROMQL_PARSER_MAX_DEPTH"]

# Deepest tree handed to promql-parser: ~20 ms of its time, ~1 MiB of stack at most.
PROMQL_PARSER_MAX_DEPTH = 200
# Up to this depth the call needs < 128 KiB of stack and runs on the caller's thread.
_SMALL_DEPTH = 32
_BIG_STACK = 64 * 1024 * 1024
_STACK_SIZE_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class PromQLValidation:
    """``valid``: the expression can be shown to be valid PromQL.  ``note``: why the verdict
    is not promql-parser's alone (Prometheus 3 syntax it does not know) or, when not valid,
    why (a syntax error, or "could not be validated: expression too large …")."""

    valid: bool
    note: str | None = None


def check_with_promql_parser(text: str) -> PromQLValidation:
    """Validate plain PromQL (template variables already substituted) with this package's
    parser and with promql-parser."""
    try:
        tree = parse(text)
    except PromQLSyntaxError as err:
        return PromQLValidation(False, f"not valid PromQL: {err.message} (at offset {err.offset})")
    levels = ast.depth(tree)
    if levels > PROMQL_PARSER_MAX_DEPTH:
        return PromQLValidation(False, (
            f"could not be validated: expression too large (nesting depth {levels}; promql-parser "
            f"is only asked about expressions up to {PROMQL_PARSER_MAX_DEPTH} levels deep)"
        ))
    lowered, features = _lower(text, tree, quoted_names=False)
    error = _promql_parser_error(lowered, levels)
    if error is not None and _has_quoted_names(tree, text):
        lowered_names, _ = _lower(text, tree, quoted_names=True)
        if _promql_parser_error(lowered_names, levels) is None:
            error = None
            features.append("quoted (UTF-8) names")
    if error is not None:
        return PromQLValidation(False, f"promql-parser rejects it: {error}")
    if features:
        return PromQLValidation(True, (
            f"its Prometheus 3 syntax ({', '.join(features)}) was checked by this tool's own "
            f"parser only: promql-parser {_promql_parser_version()} does not know it"
        ))
    return PromQLValidation(True)


def prometheus3_features(text: str) -> list[str]:
    """The Prometheus 3-only syntax *text* uses ("quoted (UTF-8) names", "duration
    expressions", "digit separators", "anchored/smoothed modifiers"); empty for Prometheus 2
    syntax or text this package's parser rejects."""
    try:
        tree = parse(text)
    except PromQLSyntaxError:
        return []
    _, features = _lower(text, tree, quoted_names=False)
    if _has_quoted_names(tree, text):
        features.append("quoted (UTF-8) names")
    return features


# ------------------------------------------------------------------ promql-parser
@lru_cache(maxsize=1)
def _promql_parser_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("promql-parser")
    except PackageNotFoundError:
        return "(unknown version)"


def _ask_promql_parser(text: str) -> str | None:
    import promql_parser

    try:
        promql_parser.parse(text)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as err:  # promql-parser may raise a pyo3 PanicException (BaseException)
        return str(err).strip() or type(err).__name__
    return None


def _promql_parser_error(text: str, levels: int) -> str | None:
    """promql-parser's error message, or None when it accepts *text*."""
    if levels <= _SMALL_DEPTH:
        return _ask_promql_parser(text)
    answer: list[str | None] = []
    worker = threading.Thread(target=lambda: answer.append(_ask_promql_parser(text)), name="promql-parser")
    with _STACK_SIZE_LOCK:  # the stack size is process-wide state: set it for this thread only
        try:
            previous = threading.stack_size(_BIG_STACK)
        except (ValueError, RuntimeError):  # the platform refuses: the caller's stack it is
            return _ask_promql_parser(text)
        try:
            worker.start()
        finally:
            threading.stack_size(previous)
    worker.join()
    return answer[0] if answer else "promql-parser did not answer"


# ------------------------------------------------------------------ lowering
def _has_quoted_names(tree: ast.Expr, text: str) -> bool:
    return any(_quoted_name_edits(node, text) for node in ast.walk(tree))


def _is_quoted(text: str, span: ast.Span) -> bool:
    return text[span[0] : span[0] + 1] in ("\"", "'", "`")


def _quoted_name_edits(node: ast.Expr, text: str = "") -> list[tuple[int, int, str]]:
    """Prometheus 2 spellings for a node's quoted (UTF-8) names: label names become plain
    identifiers, a quoted metric name a ``__name__`` matcher."""
    edits: list[tuple[int, int, str]] = []
    if isinstance(node, ast.VectorSelector):
        if node.quoted_name_span is not None:
            edits.append((*node.quoted_name_span, '__name__="p3_name"'))
        for m in node.matchers:
            if m.label_span[1] - m.label_span[0] != len(m.label):  # written as a string
                edits.append((*m.label_span, "p3_label"))
    spans: tuple[ast.Span, ...] = ()
    if isinstance(node, ast.AggregateExpr):
        spans = node.grouping_spans
    elif isinstance(node, ast.BinaryExpr) and node.matching is not None:
        spans = node.matching.label_spans + node.matching.include_spans
    for span in spans:
        if text and _is_quoted(text, span):
            edits.append((*span, "p3_label"))
    return edits


def _duration_text(expr: ast.Expr | None, allow_negative: bool = False) -> str:
    """A plain duration literal standing for a duration expression: its value when known
    without a query (``5m * 2`` -> ``600000ms``), else ``5m``."""
    seconds = duration_expr_seconds(expr)
    if seconds is None or (seconds <= 0 and not allow_negative):
        return "5m"
    ms = round(seconds * 1000)
    if ms == 0:
        return "5m"
    return f"-{-ms}ms" if ms < 0 else f"{ms}ms"


def _plain(expr: ast.Expr | None) -> bool:
    """A literal Prometheus 2 already accepts (a number or duration, no digit separator)."""
    if isinstance(expr, ast.UnaryExpr):
        expr = expr.expr
    if isinstance(expr, ast.Placeholder):
        return True
    return isinstance(expr, ast.NumberLiteral) and "_" not in expr.text


def _feature(expr: ast.Expr) -> str:
    literal = expr.expr if isinstance(expr, ast.UnaryExpr) else expr
    return "digit separators" if isinstance(literal, ast.NumberLiteral) else "duration expressions"


def _lower(text: str, tree: ast.Expr, quoted_names: bool) -> tuple[str, list[str]]:
    """*text* in Prometheus 2 syntax, and the Prometheus 3 features that were lowered."""
    edits: list[tuple[int, int, str]] = []
    features: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.NumberLiteral) and "_" in node.text:
            edits.append((node.start, node.end, node.text.replace("_", "")))
            features.add("digit separators")
        if isinstance(node, (ast.MatrixSelector, ast.SubqueryExpr)):
            for expr in (node.range_expr, getattr(node, "step_expr", None)):
                if expr is not None and not _plain(expr) and not is_templated_text(text[expr.start : expr.end]):
                    edits.append((expr.start, expr.end, _duration_text(expr)))
                    features.add(_feature(expr))
        if isinstance(node, (ast.VectorSelector, ast.MatrixSelector, ast.SubqueryExpr)):
            offset = node.offset_expr
            if offset is not None and not _plain(offset) and node.offset_span is not None:
                edits.append((*node.offset_span, _duration_text(offset, allow_negative=True)))
                features.add(_feature(offset))
        if isinstance(node, (ast.VectorSelector, ast.MatrixSelector)):
            for span in (node.anchored_span, node.smoothed_span):
                if span is not None:
                    edits.append((span[0], span[1], ""))
                    features.add("anchored/smoothed modifiers")
        if quoted_names:
            edits.extend(_quoted_name_edits(node, text))
    if not edits:
        return text, []
    out, cursor = [], 0
    for start, end, new in sorted(edits):
        if start < cursor:
            continue  # inside an edit already made (a separator inside a lowered range)
        out.append(text[cursor:start])
        out.append(new)
        cursor = end
    out.append(text[cursor:])
    return "".join(out), sorted(features)
