"""The two ways the Python handler builds string sites, side by side.

The handler reads Python with the interpreter's `ast`; libcst reads only what this interpreter
cannot (syntax newer than itself). Both must turn the same module into the same sites: same
values, kinds, file offsets, protected ranges, locators, contexts (containers with their
removal edits and spans) and encoders. `tests/test_python_differential.py` runs this over the
samples and real-world modules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from migrator.formats.base import SiteNeeds
from migrator.formats.python_format import PythonHandler, generated_reason


def ast_sites(text: str, needs: SiteNeeds) -> list[Any]:
    return PythonHandler().parse("m.py", text, needs).sites


def cst_sites(text: str, needs: SiteNeeds) -> list[Any]:
    import libcst as cst

    from migrator.formats.python_cst_sites import SiteBuilder
    from migrator.formats.python_cst_tree import PythonInfo, walk

    shift = 1 if text.startswith("\ufeff") else 0
    info = PythonInfo(text, cst.parse_module(text[shift:]), shift)
    builder = SiteBuilder(info, needs, generated_reason(text[shift:]))
    return builder.build(walk(info, builder.wants))


# Replacements whose encodings the two builders must agree on (quotes, braces, escapes).
_PROBES = ("x", 'a"b', "c'd", "{e}", "%f", "g\\h", "\n")


def describe(site: Any) -> dict[str, Any]:
    """Everything a rule can see of a site, encoders included (as what they write)."""
    context = dataclasses.asdict(site.context)
    container = site.context.container
    if container is not None:
        # A function: compared by what it removes (pairs, runs, all but one, every element).
        n = len(container.values)
        sets = [(0, 1), (0, 2), tuple(range(1, n)), tuple(range(n - 1)), tuple(range(n)), (n - 1,)]
        context["container"]["removal_of"] = [container.removal_of(s) if container.removal_of else None for s in sets]
    n = len(site.value)
    encoded = []
    for probe in _PROBES:
        for start, end in ((0, n), (0, min(n, 1))):
            try:
                edit = site.edit(start, end, probe)
            except ValueError as err:
                encoded.append(type(err).__name__)
            else:
                encoded.append((edit.span.start, edit.span.end, edit.content))
    return {
        "value": site.value,
        "kind": site.kind,
        "locator": site.locator,
        "offsets": site.offsets,
        "ends": site.ends,
        "protected": site.protected,
        "editable": site.editable,
        "readonly_reason": site.readonly_reason,
        "pieces": (site.piece_literals, site.piece_starts, site.piece_ends, site.unit_pieces),
        "context": context,
        "encoded": encoded,
    }


def differences(text: str, needs: SiteNeeds) -> list[str]:
    """What differs between the two builders' sites for `text` (empty when they agree)."""
    mine = [describe(s) for s in ast_sites(text, needs)]
    theirs = [describe(s) for s in cst_sites(text, needs)]
    out = []
    if len(mine) != len(theirs):
        out.append(f"{len(mine)} sites from ast, {len(theirs)} from libcst: "
                   f"{sorted(set(d['value'] for d in mine) ^ set(d['value'] for d in theirs))[:5]}")
    for a, b in zip(mine, theirs):
        for key in a:
            if a[key] != b[key]:
                out.append(f"{key} of {a['value'][:60]!r} ({a['locator']}): ast {a[key]!r:.300} libcst {b[key]!r:.300}")
    return out
