"""What Grafana's query objects hold, beyond the walk: which fields of a templating query
object are queries, and which targets keep a panel showing something once one is removed
(visible queries, and the server-side expressions that read others by refId).

Shared by the classic and v2 walkers in `grafana.py`; nothing here locates text.
"""

from __future__ import annotations

import re
from typing import Any

from migrator.formats.base import SiteKind
from migrator.formats.json_sites import one_line

# The fields of Grafana's Prometheus variable query object that hold a query: `query` and
# `classicQuery` a templating query (`label_values(...)`), `varQuery` the PromQL of
# `query_result`, `seriesQuery` a series selector, `metric` the metric of `label_values`.
VARIABLE_QUERY_FIELDS = (
    ("query", SiteKind.GRAFANA_QUERY),
    ("classicQuery", SiteKind.GRAFANA_QUERY),
    ("varQuery", SiteKind.PROMQL),
    ("seriesQuery", SiteKind.PROMQL),
    ("metric", SiteKind.PROMQL),
)


def field_name(key: str) -> str:
    """The field a rule sees: `__legacyStringValue` is the variable's query (its name says how
    Grafana stores it, not that it keeps old metric names)."""
    return "query" if key == "__legacyStringValue" else key


def shows_a_query(target: Any) -> bool:
    """A target the panel draws: not hidden, with a query (`expr`) or a server-side expression."""
    if type(target) is not dict or target.get("hide") is True:
        return False
    return any(type(target.get(key)) is str and target.get(key) for key in ("expr", "expression"))


def v2_as_target(q: Any) -> Any:
    """A v2 `PanelQuery` as a classic target: its query's spec (`expr`, `expression`, ...)
    with the query's `refId` and `hidden`."""
    qspec = q.get("spec") if type(q) is dict else None
    if type(qspec) is not dict:
        return None
    body = qspec.get("query")
    body = body.get("spec") if type(body) is dict else None
    return {**(body if type(body) is dict else {}), "refId": qspec.get("refId"), "hide": qspec.get("hidden")}


def removal_blocked(ref_id: Any, used_by: dict[str, str], others: list[Any], visible: set[int] | None, i: int) -> str | None:
    """Why target `i` is not removed although the panel has `others` (and what to do instead)."""
    users = used_by.get(ref_id) if type(ref_id) is str else None
    if users:
        return f"expression {users} reads this target; rewrite that expression without it"
    if others and visible is not None and not visible - {i}:
        return "the panel's other targets are hidden, so it would be empty; delete the panel"
    return None


_EXPRESSION_REF = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)")


def expression_users(targets: list[Any]) -> dict[str, str]:
    """refId -> the first server-side expression target (`math` `$A / $B`, `reduce`/`resample`
    of `A`, `SELECT … FROM A`, classic conditions on `A`) that reads it, as `refId (`expression`)`
    for messages."""
    users: dict[str, str] = {}
    for target in targets:
        if type(target) is not dict:
            continue
        expression = target.get("expression")
        read: list[str] = []
        if type(expression) is str and expression.strip():
            found = [a or b for a, b in _EXPRESSION_REF.findall(expression)]
            # `reduce`/`resample`/`threshold` name one refId bare; a SQL expression names tables.
            read += found if "$" in expression else re.findall(r"[A-Za-z0-9_]+", expression)
        conditions = target.get("conditions")
        for condition in conditions if type(conditions) is list else ():
            params = condition.get("query", {}).get("params") if type(condition) is dict and type(condition.get("query")) is dict else None
            if type(params) is list and params and type(params[0]) is str:
                read.append(params[0])
        if not read:
            continue
        ref_id = target.get("refId")
        label = f"{ref_id} (`{one_line(expression)}`)" if type(expression) is str and expression.strip() else f"{ref_id}"
        for name in read:
            users.setdefault(name, label)
    return users
