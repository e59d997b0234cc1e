"""Loading a YAML file that may be a Helm/Jinja template.

Templates are blanked only when the file needs it (see `templates`): when it does not parse as
it is, or when a `{{` sits in YAML structure rather than inside a string (Prometheus
`{{ $value }}` in annotations is just content). Blanking keeps every offset, so the parsed
text's positions are the file's, and every node of the returned graph keeps its start and end
offset in the file (what element removals and scoped directives work from).
"""

from __future__ import annotations

import bisect
from typing import Any

from migrator.formats.base import ParseError
from migrator.formats.templates import (
    blank_templates,
    find_template_spans,
    has_template_markers,
    line_start,
    template_only_lines,
)
from migrator.formats.yaml_compose import check_stream, compose_documents


# How many template lines may turn back from comments to spaces before the comment layout is
# given up (each costs a parse of the file).
_COMMENT_RETRIES = 8


def load_text(text: str, *, build: bool = True) -> tuple[str, list[Any], list[tuple[int, int]]]:
    """(text that was parsed, documents, template ranges). Without `build`, the text is only
    checked (no nodes; the documents list is empty). Raises ParseError with the offset of the
    problem."""

    def load(source: str, spans: list[tuple[int, int]] | None = None) -> list[Any]:
        if build:
            return compose_documents(source, scalar_spans=spans)
        check_stream(source, scalar_spans=spans)
        return []

    markers = has_template_markers(text)
    scalar_spans: list[tuple[int, int]] | None = [] if markers else None
    docs: list[Any] | None
    try:
        docs = load(text, scalar_spans)
    except ParseError as err:
        if not markers:
            raise
        raw_error: ParseError | None = err
        docs = None
    else:
        if not markers:
            return text, docs, []
        raw_error = None
    spans = find_template_spans(text)
    if docs is not None and not (spans and _structural(text, spans, scalar_spans or [])):
        return text, docs, []
    if not spans:
        assert raw_error is not None
        raise raw_error
    blank_error: ParseError | None = None
    # Templates inside a line first become a same-length word, so a value such as
    # `> {{ .Values.threshold }}` or a key such as `{{ .Values.name }}:` stays where it is in
    # the YAML structure; then plain spaces (pint's blanking) for layouts a word would break.
    # Lines holding only templates become comments first (see `blank_templates`); where a
    # comment breaks the parse (inside a multi-line plain scalar) the nearest one before the
    # error becomes spaces again, a few times; then every one of them.
    alone = template_only_lines(text, spans)
    spaced: set[int] = set()
    for _ in range(_COMMENT_RETRIES if alone else 0):
        blanked = blank_templates(text, spans, placeholder="x", comment_lines=True, spaced=frozenset(spaced))
        try:
            return blanked, load(blanked), spans
        except ParseError as err:
            blank_error = blank_error or err
            before = [s for s in alone if s < err.offset and s not in spaced]
            if not before:
                break
            spaced.add(before[-1])
    for placeholder in ("x", " "):
        blanked = blank_templates(text, spans, placeholder=placeholder)
        try:
            return blanked, load(blanked), spans
        except ParseError as err:
            blank_error = blank_error or err
    if docs is not None:
        return text, docs, []  # valid YAML as it stands: analyse what YAML sees
    assert blank_error is not None
    raise ParseError(f"{blank_error.message} (with Helm/Jinja templates blanked)", blank_error.offset)


def _structural(text: str, spans: list[tuple[int, int]], scalars: list[tuple[int, int]]) -> bool:
    """Whether any template lies outside every string and every comment."""
    starts = [s for s, _ in scalars]

    def in_scalar(pos: int, end: int) -> bool:
        i = bisect.bisect_right(starts, pos) - 1
        # Scalars do not nest, but a key's span can precede its value's; look back a little.
        for j in range(i, max(i - 3, -1), -1):
            s, e = scalars[j]
            if s <= pos and end <= e:
                return True
        return False

    for s, e in spans:
        if in_scalar(s, e):
            continue
        first = line_start(text, s, "\r\n")
        k = text.find("#", first, s)
        commented = False
        while k != -1:
            if (k == first or text[k - 1] in " \t") and not in_scalar(k, k + 1):
                commented = True
                break
            k = text.find("#", k + 1, s)
        if not commented:
            return True
    return False
