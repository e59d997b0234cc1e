"""Byte-minimal deletions in Python source: one element of a comma-separated list.

Pure text work on spans the handler already knows; no syntax tree and no libcst here, so the
container contexts of string sites and the Python rules (a keyword argument, a +/- term) use
the same line and separator handling.
"""

from __future__ import annotations

import re

from migrator.model import Edit, Span, disjoint_edits, removal_runs

AFTER_ELEMENT = re.compile(r"[ \t]*(,)?")
# The rest of a line after an element or term: blanks, an optional comment, the line break.
REST_OF_LINE = re.compile(r"[ \t]*(?:#[^\r\n]*)?(?:\r\n|\n|\r|$)")


def line_start(text: str, pos: int) -> int:
    newline = text.rfind("\n", 0, pos)
    # A lone CR after the last LF (old Mac line ends): searched for only back to that LF, or
    # every call would scan a CR-free file back to its start.
    return max(newline, text.rfind("\r", newline + 1, pos)) + 1


def element_removal_edits(
    text: str,
    items: list[tuple[int, int]],
    index: int,
    *,
    is_tuple: bool = False,
    inside: tuple[int, int] | None = None,
) -> tuple[Edit, ...] | None:
    """Edits removing `items[index]` (an element, dict entry or call argument, spans without
    their comma) cleanly from a comma-separated list, or None when that is not possible.

    An element on a line of its own goes with its whole line, comma and trailing comment
    included; on a shared line it goes with the separator to its neighbour. A tuple left with
    one element keeps a trailing comma (or it would stop being a tuple). Removing the only
    element is refused (a collection is never emptied) unless `inside`, the region between a
    call's parentheses, says the list is an argument list that may become empty.
    """
    n = len(items)
    if not 0 <= index < n:
        return None
    start, end = items[index]
    after = AFTER_ELEMENT.match(text, end)
    has_comma = after is not None and after.group(1) is not None
    comma_end = after.end() if has_comma else end
    if n == 1:
        if inside is None:
            return None
        lo, hi = inside
        if "#" in text[lo:hi]:
            return None
        return (Edit(Span(lo, hi), ""),)

    edits: list[Edit] = []
    first_column = line_start(text, start)
    rest = REST_OF_LINE.match(text, comma_end)
    if text[first_column:start].strip() == "" and rest is not None:
        # Alone on its line (a trailing comment belongs to it): the whole line goes.
        edits.append(Edit(Span(first_column, rest.end()), ""))
    elif index < n - 1:
        next_start = items[index + 1][0]
        between = text[end:next_start]
        if "#" in between:
            stop = AFTER_ELEMENT.match(text, comma_end)
            edits.append(Edit(Span(start, stop.end() if stop else comma_end), ""))
        else:
            edits.append(Edit(Span(start, next_start), ""))
    else:
        prev_end = items[index - 1][1]
        between = text[prev_end:start]
        if "#" in between or "\n" in between or "\r" in between:
            edits.append(Edit(Span(start, comma_end), ""))
        elif is_tuple and n == 2:
            # ("a", "b") -> ("a",): keep the comma after the survivor.
            prev_comma = AFTER_ELEMENT.match(text, prev_end)
            edits.append(Edit(Span(prev_comma.end() if prev_comma else prev_end, comma_end), ""))
        else:
            edits.append(Edit(Span(prev_end, end), ""))
    if is_tuple and n == 2 and index == 0:
        survivor_end = items[1][1]
        tail = AFTER_ELEMENT.match(text, survivor_end)
        if tail is None or tail.group(1) is None:
            edits.append(Edit(Span(survivor_end, survivor_end), ","))
    return tuple(edits)


def elements_removal_edits(
    text: str, items: list[tuple[int, int]], indices: tuple[int, ...], *, is_tuple: bool = False
) -> tuple[Edit, ...] | None:
    """Edits removing several elements at once (`indices`, never all of them), or None.

    Each run of consecutive elements goes as one element spanning them (with the separators and
    comments between them), removed from between the elements that stay around it exactly as
    `element_removal_edits` removes one: so a run alone on its lines takes those lines, a run
    at the end takes the separator before it, and a tuple left with one element keeps a comma.
    """
    n = len(items)
    runs = removal_runs(indices, n)
    if runs is None:
        return None
    single_survivor = n - sum(last - first + 1 for first, last in runs) == 1
    edits: list[Edit] = []
    for first, last in runs:
        local = [items[first - 1]] if first > 0 else []
        local.append((items[first][0], items[last][1]))
        if last < n - 1:
            local.append(items[last + 1])
        run = element_removal_edits(text, local, 1 if first > 0 else 0, is_tuple=is_tuple and single_survivor)
        if run is None:
            return None
        edits.extend(run)
    return disjoint_edits(edits)

