"""prometheus-adapter's names for the metrics it exports.

An adapter rule selects series (`seriesQuery`) and exports each one to the Kubernetes metrics
API under a name derived from the series name: `name.matches` (a regular expression, `.*` when
absent) must match it — a series it does not match is dropped — and `name.as` expands its
groups (`$0` when the regex has no group, `$1` when it has one). An HPA asks for that exported
name, so renaming the series is only as safe as the exported name is stable. This module
works the exported name out the way the adapter's Go code does (`FindStringSubmatchIndex`,
then `Regexp.ExpandString`).
"""

from __future__ import annotations

import re

# Go's Regexp.Expand: `$$`, `${name}`, or `$name` with the longest run of word characters.
_GO_REFERENCE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")

AdapterNaming = tuple[str | None, str | None]  # (`name.matches`, `name.as`)


class _Unknown(Exception):
    pass


def _exported(matches: str | None, as_: str | None, series: str) -> str | None:
    """The name the adapter exports `series` under; None when `matches` drops it."""
    try:
        regex = re.compile(matches or ".*")
    except re.error as err:
        raise _Unknown(f"its `name.matches` regex `{matches}` could not be evaluated here ({err})") from None
    found = regex.search(series)
    if found is None:
        return None
    template = as_
    if not template:
        if regex.groups > 1:
            raise _Unknown("its `name.matches` has several groups and no `name.as`")
        template = "$1" if regex.groups == 1 else "$0"

    def expand(ref: re.Match) -> str:
        if ref.group(0) == "$$":
            return "$"
        name = ref.group(1) or ref.group(2)
        if name.isdigit():
            index = int(name)
            return (found.group(index) or "") if index <= regex.groups else ""
        return (found.group(name) or "") if name in regex.groupindex else ""

    return _GO_REFERENCE.sub(expand, template)


def rename_breaks_export(naming: AdapterNaming, old: str, new: str) -> str | None:
    """Why renaming the series `old` to `new` in an adapter rule is not safe (its exported name
    changes, or the rule would drop it), or None. `name.matches` is taken with the same rename
    applied, since the rule's own `name.matches` gets the same fix."""
    matches, as_ = naming
    try:
        before = _exported(matches, as_, old)
        if before is None:
            return None  # the rule never exported the old series: nothing to keep
        renamed_matches = matches.replace(old, new) if matches else matches
        after = _exported(renamed_matches, as_, new)
    except _Unknown as err:
        return f"prometheus-adapter exports this series under a name taken from it, and {err}"
    if after is None:
        return (
            f"prometheus-adapter's `name.matches` (`{matches}`) does not match `{new}`: the adapter "
            "would drop the series; change the regex with it"
        )
    if after != before:
        return (
            f"prometheus-adapter exports this series as `{before}` and would export it as `{after}` "
            f"(its name comes from `name.matches`/`name.as`): update whatever reads `{before}` (an "
            "HPA's metric name) with it, or set a fixed `name.as`"
        )
    return None
