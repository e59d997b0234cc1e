"""Hand-written PromQL lexer that keeps exact character offsets.

The lexer is tolerant of the templating found around PromQL in the wild:

* Grafana variables (``$var``, ``${var}``, ``${var:fmt}``, ``[[var]]``) may appear
  wherever an identifier or a duration may appear; a word that contains one is
  emitted as a ``TVAR`` token instead of ``IDENT``.
* Helm/Jinja regions (``{{ ... }}`` and ``{% ... %}``) are single opaque
  ``TEMPLATE`` tokens; inside quoted strings they are ordinary string content
  (and may contain quote characters).
* ``# comments`` run to the end of the line and are skipped.

Tokens are lexed in two modes, like the Prometheus lexer: inside ``[...]`` only
durations (possibly templated) and the few operators of a Prometheus 3 duration
expression (``[5m * 2]``, ``[1h:step()]``) are recognised, so that
``[$__rate_interval:1m]`` does not glue ``:1m`` onto the variable.  Numbers may
use Prometheus 3 digit separators (``1_000``, ``0x_ff``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "PromQLSyntaxError",
    "Token",
    "tokenize",
    "GRAFANA_VARIABLE_PATTERN",
    "TEMPLATE_PATTERN",
    "GRAFANA_VARIABLE_RE",
    "TEMPLATE_RE",
    "DURATION_RE",
    "NUMBER_RE",
    "duration_seconds",
    "contains_template",
]


class PromQLSyntaxError(ValueError):
    """Invalid PromQL. ``offset`` is the character offset of the problem."""

    def __init__(self, message: str, offset: int, text: str | None = None):
        self.message = message
        self.offset = offset
        self.text = text
        super().__init__(f"{message} (at offset {offset})")

    @property
    def line(self) -> int | None:
        """1-based line number of ``offset`` when the source text is known."""
        if self.text is None:
            return None
        return self.text.count("\n", 0, self.offset) + 1

    @property
    def column(self) -> int | None:
        """1-based column of ``offset`` when the source text is known."""
        if self.text is None:
            return None
        return self.offset - (self.text.rfind("\n", 0, self.offset) + 1) + 1


class Token(NamedTuple):
    kind: str  # IDENT TVAR TEMPLATE STRING NUMBER DURATION DUR EOF, or the operator text
    text: str
    start: int
    end: int


# Grafana variable syntaxes: ${name}, ${name:format}, ${name.field}, $name, [[name]], [[name:fmt]]
GRAFANA_VARIABLE_PATTERN = r"\$\{[^{}\s]+\}|\$\w+|\[\[\w+(?::\w+)?\]\]"
# Helm / Jinja regions.  Non-greedy, may span lines.
# (Bounded length keeps lexing linear on pathological input such as "{{{{{{...".)
TEMPLATE_PATTERN = r"(?s:\{\{.{0,4000}?\}\}|\{%.{0,4000}?%\})"
# Inside a quoted string a template region must stay on one line.
_STRING_TEMPLATE = r"\{\{[^\n]{0,1000}?\}\}|\{%[^\n]{0,1000}?%\}"

GRAFANA_VARIABLE_RE = re.compile(GRAFANA_VARIABLE_PATTERN, re.ASCII)
TEMPLATE_RE = re.compile(TEMPLATE_PATTERN)
DURATION_RE = re.compile(r"(?:\d+(?:ms|[smhdwy]))+", re.ASCII)
# Prometheus 3 allows one ``_`` between digits (and right after ``0x``) as a digit separator.
_DIGITS = r"\d+(?:_\d+)*"
NUMBER_RE = re.compile(
    r"0[xX]_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
    rf"|(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?",
    re.ASCII,
)

_V = GRAFANA_VARIABLE_PATTERN
_STRING = (
    r'"(?:[^"\\{\n]++|\\.|' + _STRING_TEMPLATE + r'|\{)*+"'
    r"|'(?:[^'\\{\n]++|\\.|" + _STRING_TEMPLATE + r"|\{)*+'"
    r"|`[^`]*+`"
)

_NORMAL = re.compile(
    r"(?P<WS>\s+|\#[^\n]*)"
    rf"|(?P<TEMPLATE>{TEMPLATE_PATTERN})"
    rf"|(?P<STRING>{_STRING})"
    r"|(?P<DURATION>(?:\d+(?:ms|[smhdwy]))+(?!\w))"
    rf"|(?P<NUMBER>{NUMBER_RE.pattern})"
    rf"|(?P<WORD>(?:[A-Za-z_:][\w:]*+|{_V})(?:[\w:]++|{_V})*+)"
    r"|(?P<OP>==|!=|>=|<=|=~|!~|[-+*/%^=<>(){}\[\],:@])"
    r"|(?P<BAD>.)",
    re.ASCII | re.DOTALL,
)

_BRACKET = re.compile(
    r"(?P<WS>\s+|\#[^\n]*)"
    rf"|(?P<DUR>(?:[\w.]++|{_V}|{TEMPLATE_PATTERN})++)"
    r"|(?P<OP>[:\](),+\-*/%^])"
    r"|(?P<BAD>.)",
    re.ASCII | re.DOTALL,
)

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])", re.ASCII)


def duration_seconds(text: str) -> float:
    """Seconds in a literal Prometheus duration such as ``1h30m`` (no validation)."""
    return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text)))


def contains_template(text: str) -> bool:
    """True if *text* contains a Grafana variable or a Helm/Jinja region."""
    return GRAFANA_VARIABLE_RE.search(text) is not None or TEMPLATE_RE.search(text) is not None


def _bad(text: str, pos: int) -> PromQLSyntaxError:
    ch = text[pos]
    if ch in "\"'`":
        return PromQLSyntaxError("unterminated quoted string", pos, text)
    if ch == "!":
        return PromQLSyntaxError("unexpected character after '!'", pos, text)
    return PromQLSyntaxError(f"unexpected character {ch!r}", pos, text)


def tokenize(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Lex ``text[start:end]``; offsets are relative to *text*.  Ends with an EOF token."""
    if end is None:
        end = len(text)
    out: list[Token] = []
    append = out.append
    pos = start
    normal_match = _NORMAL.match
    bracket_match = _BRACKET.match
    in_bracket = False
    while pos < end:
        m = (bracket_match if in_bracket else normal_match)(text, pos, end)
        kind = m.lastgroup
        npos = m.end()
        if kind == "WS":
            pos = npos
            continue
        tok_text = m.group()
        if kind == "OP":
            kind = tok_text
            if tok_text == "[":
                in_bracket = True
            elif tok_text == "]":
                in_bracket = False
        elif kind == "WORD":
            kind = "TVAR" if ("$" in tok_text or "[[" in tok_text) else "IDENT"
        elif kind == "NUMBER" or kind == "DURATION":
            if npos < end and (text[npos].isalnum() or text[npos] == "_"):
                raise PromQLSyntaxError(f"bad number or duration syntax {text[pos:npos + 1]!r}", pos, text)
        elif kind == "BAD":
            raise _bad(text, pos)
        append(Token(kind, tok_text, pos, npos))
        pos = npos
    out.append(Token("EOF", "", end, end))
    return _merge_templated_words(out) if _needs_merge(out) else out


def _needs_merge(tokens: list[Token]) -> bool:
    for t in tokens:
        if t.kind == "TEMPLATE":
            return True
    return False


def _ends_with_template(t: Token) -> bool:
    return t.kind == "TEMPLATE" or (t.kind == "TVAR" and t.text.endswith(("}}", "%}")))


def _merge_templated_words(tokens: list[Token]) -> list[Token]:
    """Glue ``vllm_{{ .Values.x }}_total``-style names into one TVAR token.

    Directly adjacent tokens are glued when a template region is followed by a
    word or another template, or when a word ending in ``_`` or ``:`` is followed
    by a template.  A template right after a plain name (``up{{ .Values.sel }}``)
    is left alone: that is usually an injected matcher list, which the parser
    attaches to the selector.  A run of templates only stays a TEMPLATE token.
    """
    out: list[Token] = []
    for t in tokens:
        if out and t.start == out[-1].end:
            a = out[-1]
            glue = (_ends_with_template(a) and t.kind in ("IDENT", "TVAR", "TEMPLATE")) or (
                t.kind == "TEMPLATE" and a.kind in ("IDENT", "TVAR") and a.text[-1] in "_:"
            )
            if glue:
                kind = "TEMPLATE" if a.kind == "TEMPLATE" and t.kind == "TEMPLATE" else "TVAR"
                out[-1] = Token(kind, a.text + t.text, a.start, t.end)
                continue
        out.append(t)
    return out
