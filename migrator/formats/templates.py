"""Helm (Go template) and Jinja regions in YAML files.

A Helm chart's rule file is not YAML until it is rendered. Rendering would need the chart's
values and would move every character, so instead (as pint does) the template regions are
*blanked*: each `{{ … }}`, `{% … %}` and `{# … #}` is overwritten with spaces of the same length,
line breaks kept. The blanked text parses as YAML and every offset in it is an offset in the
original file, so sites can be built from the original text at the same positions and the
template ranges marked as protected (reported through, never edited).

The same scanner finds Prometheus alert templates (`{{ $value }}`, `{{ $labels.pod }}`) inside
annotation strings: those files are valid YAML as they are, but the ranges are still templates
that a fix must not touch.
"""

from __future__ import annotations

import bisect
import re

# The line breaks each recent text contains (a few entries: the file and its embedded texts).
_present_breaks: dict[int, tuple[str, str]] = {}


def line_start(text: str, pos: int, breaks: str = "\n\r\x85\u2028\u2029") -> int:
    """Offset of the start of the line holding `pos`.

    Costs the length of that line, not of the text before it: `str.rfind` scans backwards
    until it finds the character, so a break character the text does not contain at all would
    cost a scan of everything before `pos` (per call, on a 20 MB file). Which breaks occur is
    worked out once per text; a line feed is looked for first and bounds the search for others.
    """
    entry = _present_breaks.get(id(text))
    if entry is None or entry[0] is not text:
        if len(_present_breaks) >= 4:
            _present_breaks.clear()
        entry = (text, "".join(b for b in "\n\r\x85\u2028\u2029" if b in text))
        _present_breaks[id(text)] = entry
    start = 0
    for b in entry[1]:
        if b in breaks:
            k = text.rfind(b, start, pos)
            if k >= start:
                start = k + 1
    return start


# Openers and the closer each one needs. Go templates: `{{ … }}` (with `{{-`/`-}}` trimming
# markers inside). Jinja: statements `{% … %}`, expressions `{{ … }}`, comments `{# … #}`.
_OPEN = re.compile(r"\{\{|\{%|\{#")
_CLOSERS = {"{{": "}}", "{%": "%}", "{#": "#}"}

# Characters that decide whether a line holds anything besides templates.
_BLANK = " \t"


def find_template_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Half-open ranges of every complete template action/statement/comment in text[start:end].

    Quoted strings inside an action are skipped, so `{{ "}}" }}` and Helm's escaped Prometheus
    templates (`{{`{{ $value }}`}}`, `{{ "{{" }} $value {{ "}}" }}`) end where Go would end them.
    An opener without its closer is not a template (it is left as text).
    """
    if end is None:
        end = len(text)
    spans: list[tuple[int, int]] = []
    pos = start
    while True:
        m = _OPEN.search(text, pos, end)
        if m is None:
            return spans
        opener = m.group()
        close = _scan_action(text, m.end(), end, _CLOSERS[opener], quotes=opener != "{#")
        if close is None:
            pos = m.start() + 1
            continue
        spans.append((m.start(), close))
        pos = close


_STOPS = {
    ("}}", True): re.compile(r"\}\}|[\"'`]"),
    ("%}", True): re.compile(r"%\}|[\"'`]"),
    ("#}", False): re.compile(r"#\}"),
}


def _scan_action(text: str, i: int, end: int, closer: str, *, quotes: bool) -> int | None:
    """End offset (after the closer) of an action whose body starts at i, or None."""
    stops = _STOPS[(closer, quotes)]
    while True:
        m = stops.search(text, i, end)
        if m is None:
            return None
        if m.group() == closer:
            return m.end()
        j = _skip_quoted(text, m.start(), end)
        if j is None:
            return None
        i = j


def _skip_quoted(text: str, i: int, end: int) -> int | None:
    quote = text[i]
    j = i + 1
    while j < end:
        c = text[j]
        if c == "\\" and quote != "`":
            j += 2
            continue
        if c == quote:
            return j + 1
        if c == "\n" and quote != "`":
            # Go string literals do not span lines: treat the quote as an ordinary character.
            return i + 1
        j += 1
    return None


def has_template_markers(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def blank_templates(
    text: str,
    spans: list[tuple[int, int]],
    *,
    placeholder: str = " ",
    comment_lines: bool = False,
    spaced: frozenset[int] = frozenset(),
) -> str:
    """The text with every span overwritten, line breaks kept, so all offsets stay valid.

    Templates that share their line with other content are filled with `placeholder`; lines
    that hold nothing but templates (`{{- if .Values.x }}`, `{{- end }}`,
    `{{ include … | nindent 4 }}`) are blanked with spaces, so that they vanish from the YAML
    structure whatever the placeholder — or, with `comment_lines`, become comments (`#` where
    each of their lines starts, then spaces): a line of spaces longer than a block scalar's
    indentation is a content line of that scalar, so a `{{- end }}` indented between a rule's
    keys and its `expr: |` content would otherwise end the expression in template text. A
    comment there ends the block scalar, as Helm's rendering (which drops the line) does;
    where a comment cannot stand (inside a multi-line plain scalar) the caller names the
    templates that stay spaces (`spaced`, by start offset). A placeholder other than a space is the fallback for templates in key position
    (`{{ .Values.name }}: x`), where spaces would leave a key-less `: x`.
    """
    if not spans:
        return text
    parts: list[str] = []
    cursor = 0
    starts = [s for s, _ in spans]
    commented_line = -1  # start of the last line that already got its `#`
    for s, e in spans:
        parts.append(text[cursor:s])
        if _alone_on_lines(text, s, e, spans, starts):
            if comment_lines and s not in spaced:
                first = line_start(text, s, "\r\n")
                parts.append(_comment_fill(text[s:e], first_marked=first == commented_line))
                commented_line = line_start(text, e, "\r\n")
            else:
                parts.append(_fill(text[s:e], " "))
        else:
            parts.append(_fill(text[s:e], placeholder))
        cursor = e
    parts.append(text[cursor:])
    return "".join(parts)


def template_only_lines(text: str, spans: list[tuple[int, int]]) -> list[int]:
    """Start offsets of the templates that hold their lines alone (what `comment_lines` turns
    into comments), in order."""
    starts = [s for s, _ in spans]
    return [s for s, e in spans if _alone_on_lines(text, s, e, spans, starts)]


_NOT_BREAK = re.compile(r"[^\r\n\x85\u2028\u2029]")
_LINE_PIECE = re.compile(r"[^\r\n\x85\u2028\u2029]+")


def _fill(region: str, fill: str) -> str:
    # Keep every line-break character (CRLF included) where it was.
    return _NOT_BREAK.sub(fill, region)


def _comment_fill(region: str, *, first_marked: bool) -> str:
    """Spaces, with a `#` opening each line of the region (not the first when an earlier
    template on that line already opened a comment)."""
    def piece(m: re.Match) -> str:
        if first_marked and m.start() == 0:
            return " " * len(m.group())
        return "#" + " " * (len(m.group()) - 1)

    return _LINE_PIECE.sub(piece, region)


def _alone_on_lines(text: str, s: int, e: int, spans: list[tuple[int, int]], starts: list[int]) -> bool:
    """Whether the template's first and last lines hold only templates and blanks."""
    first = line_start(text, s, "\r\n")
    line_end = text.find("\n", e)
    if line_end == -1:
        line_end = len(text)
    k = text.find("\r", e, line_end)
    if k != -1:
        line_end = k
    pos = first
    # Spans do not overlap and are sorted: only those starting before the line's end matter,
    # and of those only the ones ending after its start (a few before `s`, at most).
    i = bisect.bisect_left(starts, line_end)
    j = i
    while j > 0 and spans[j - 1][1] > first:
        j -= 1
    for a, b in spans[j:i]:
        if text[pos:a].strip(_BLANK):
            return False
        pos = max(pos, b)
    return not text[pos:line_end].strip(_BLANK)


def spans_in_value(value: str) -> list[tuple[int, int]]:
    """Template ranges inside a decoded string (what a site marks protected)."""
    if "{{" not in value and "{%" not in value and "{#" not in value:
        return []
    return find_template_spans(value)
