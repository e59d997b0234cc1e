"""Which Python string literals become sites, and where each one sits.

A string expression (implicit concatenations are one expression) becomes a site when it sits
in a place that holds PromQL whatever it looks like (a keyword argument or dict key in
`PROMQL_KEYS`), or when its source, or its decoded value, contains one of the needles the
enabled rules asked for (`SiteNeeds.needles`). The format knows no metric and no rule: it
describes the place (call, keyword, dict key, assignment, template, the instrument a metric
definition goes through, the literal collection the string is an element of) and leaves every
decision to the rules.

The tree is the interpreter's `ast` (`python_tree`); the literal pieces are read from the
source text (`python_literals`) and decoded with exact offsets (`python_strings`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from migrator.formats.base import Container, Site, SiteContext, SiteKind, SiteNeeds, guess_kind
from migrator.formats.python_edits import element_removal_edits, elements_removal_edits
from migrator.formats.python_tree import PythonInfo, is_string
from migrator.model import Span

# Keyword arguments and dict keys that hold PromQL whatever the string looks like.
PROMQL_KEYS = frozenset({"expr", "query", "promql", "expression", "rule_expr"})
PROMETHEUS_INSTRUMENTS = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"})
# vLLM's own metrics code calls prometheus_client through attributes like `self._counter_cls`.
INSTRUMENT_ALIAS = re.compile(r"(?i)_?(counter|gauge|histogram|summary)(_cls|_class|_type)?")
OTEL_FACTORIES = frozenset(
    {
        "create_counter",
        "create_up_down_counter",
        "create_histogram",
        "create_gauge",
        "create_observable_counter",
        "create_observable_gauge",
        "create_observable_up_down_counter",
    }
)
READONLY_PATCH_REASON = "quotes vLLM source code (a patch script); edit it by hand"
# Names that patch scripts give the source they quote.
_PATCH_NAME_WORDS = frozenset({"PATCH", "PATCHED", "SNIPPET", "SOURCE", "SRC", "CODE", "UNPATCHED"})
_PATCH_WHOLE_NAMES = frozenset({"OLD", "NEW", "BEFORE", "AFTER", "ORIGINAL", "REPLACEMENT"})
_CODE_MARKERS = ("def ", "class ", "self.")
# Stands for an f-string field in a spanless decoded value: no needle contains it.
FIELD_MARK = "\x00"
_COLLECTIONS = {ast.List: "list", ast.Set: "set", ast.Tuple: "tuple"}
# The parents under which a string that names no needle may still be in a PromQL place.
_MAYBE_PROMQL_PARENTS = (ast.keyword, ast.Dict, ast.Attribute, ast.BinOp)


@dataclass(slots=True)
class Place:
    """Where a string expression sits, found from its ancestors."""

    expr: Any  # the string, or the template use (`"...".format(x)`, `"..." % x`) standing for it
    assigned_to: str | None = None
    plain: bool = False  # not an element, dict key or value, or call argument
    promql: bool = False
    detail: str = ""
    keyword: str | None = None
    callee: str | None = None
    dict_key: str | None = None
    definition: str | None = None
    replace_arg: bool = False  # an argument of `.replace(old, new)`: a patch script's quote
    collection: Any = None  # the list/set/tuple/dict literal it is an element or key of
    collection_kind: str = ""
    index: int = 0
    owner: str | None = None  # what holds that collection, for messages
    prose: str | None = None  # "docstring": a statement of its own, text for people
    alternatives: Any = None  # the conditional expression it is a branch of, or a scope (compared)
    compared: bool = False  # compared in a conditional's test


class StringSites:
    """What both Python trees (the interpreter's `ast`, and libcst for newer syntax) do alike
    with the strings a walk kept: place each, decode its pieces, and make the site. A tree's
    builder supplies `_place`, `_pieces`, `_container`, `_alternatives_span` and `_guard`."""

    info: Any
    text: str
    generated: str | None
    mentioned: dict[int, bool]

    def build(self, walk: Any) -> list[Any]:
        sites = []
        for node, ancestors in walk.strings:
            site = self._site(node, ancestors, walk)
            if site is not None:
                sites.append(site)
        # The walk goes in field order (dict keys before values, decorators after the body):
        # sites go in file order.
        sites.sort(key=lambda site: site.piece_literals[0][0])
        return sites

    def _site(self, node: Any, ancestors: tuple[Any, ...], walk: Any) -> Site | None:
        from migrator.formats.python_strings import build_string_site

        place = self._place(node, ancestors)
        if not place.promql and not self.mentioned.get(id(node)):
            return None
        template = walk.templates.get(id(node))
        if template is None and place.plain and place.assigned_to in walk.template_names:
            template = walk.template_names[place.assigned_to]
        pieces = self._pieces(node, template)
        if not pieces:
            return None
        context = SiteContext(
            container=self._container(place),
            field=place.keyword or place.dict_key,
            definition=place.definition,
            callee=place.callee,
            keyword=place.keyword,
            assigned_to=place.assigned_to,
            dict_key=place.dict_key,
            template=template or ("f-string" if any(p.style.fstring for p in pieces) else None),
            prose=place.prose,
            alternatives=self._alternatives_span(place.alternatives),
            compared=place.compared,
            guard=self._guard(ancestors),
        )
        locator = self.info.locator(ancestors)
        if place.detail:
            locator = f"{locator}: {place.detail}"
        site = build_string_site(self.text, pieces, kind=SiteKind.TEXT, locator=locator, context=context)
        finish_site(site, place, self.generated)
        return site

    def _definition(self, call: Any, keyword: str | None, position: int | None) -> str | None:
        """The instrument library when the string is the name a metric is defined under."""
        if not (keyword == "name" or (keyword is None and position == 0)):
            return None
        for qualified in self.info.qualified_names(call.func):
            module, _, last = qualified.rpartition(".")
            if module.startswith("prometheus_client") and last in PROMETHEUS_INSTRUMENTS:
                return "prometheus_client"
        return instrument_library(*self._callee_name(call.func))

    def _callee_name(self, func: Any) -> tuple[str, bool]:
        """(the called name's last part, whether it is an attribute)."""
        raise NotImplementedError

    def _place(self, node: Any, ancestors: tuple[Any, ...]) -> "Place":
        raise NotImplementedError

    def _pieces(self, node: Any, template: str | None) -> list[Any]:
        raise NotImplementedError

    def _container(self, place: "Place") -> Container | None:
        raise NotImplementedError

    def _alternatives_span(self, node: Any) -> Any:
        raise NotImplementedError

    def _guard(self, ancestors: tuple[Any, ...]) -> Span | None:
        raise NotImplementedError


class SiteBuilder(StringSites):
    """Turns the string expressions of one walk into sites. `wants` runs during the walk
    (cheap: the value and the source text); `build` after it, on the few strings kept."""

    def __init__(self, info: PythonInfo, needs: SiteNeeds, generated: str | None = None) -> None:
        self.info = info
        self.needs = needs
        self.text = info.text
        self.generated = generated
        self.mentioned: dict[int, bool] = {}  # id(node) -> its source or value has a needle
        # id(collection) -> (element values, element spans, outer span, Container.removal_of)
        self.collections: dict[int, tuple[Any, list[tuple[int, int]], Any]] = {}
        # (id(parent), id(its field) or 0 for a call's positional arguments) -> id(item) -> index
        self.indexes: dict[tuple[int, int], dict[int, int]] = {}
        # A needle in a literal's source is a needle in the file: without one, only escapes
        # and concatenation can make one, and decoded values are checked anyway.
        self.in_text = bool(needs.needles) and needs.mentions(info.text)

    # -- during the walk ---------------------------------------------------------------
    def wants(self, node: Any, path: list[Any]) -> bool:
        mentioned = self._mentions(node, path)
        if mentioned:
            self.mentioned[id(node)] = True
            return True
        return bool(path) and isinstance(path[-1], _MAYBE_PROMQL_PARENTS)

    def _mentions(self, node: Any, path: list[Any]) -> bool:
        if not self.needs.needles:
            return False
        mentions = self.needs.mentions
        if type(node) is ast.Constant:
            value = node.value
            if mentions(value if type(value) is str else value.decode("latin-1")):
                return True
        elif mentions(joined_value(node)[0]):
            return True
        if not self.in_text:
            return False
        start, end = self.info.positions.span(node)
        if mentions(self.text[start:end]):
            return True
        # libcst's view of a concatenation or f-string includes the parentheses around it
        # and any comment inside them: a needle there counts too.
        parent = path[-1] if path else None
        if parent is None or not hasattr(parent, "end_col_offset"):
            return False
        p_start, p_end = self.info.positions.span(parent)
        if not mentions(self.text[p_start:start] + "\0" + self.text[end:p_end]):
            return False
        if type(node) is ast.Constant and _single_literal(self.text, start, end):
            return False
        outer = self.info.outer_span(node)
        return mentions(self.text[outer.start : outer.end])

    # -- after the walk ----------------------------------------------------------------
    def _pieces(self, node: Any, template: str | None) -> list[Any]:
        from migrator.formats.python_literals import pieces_of

        start, end = self.info.positions.span(node)
        return pieces_of(self.text, start, end, template)

    def _guard(self, ancestors: tuple[Any, ...]) -> Span | None:
        return _guard_span(self.info, ancestors)

    # -- where the string sits ---------------------------------------------------------
    def _place(self, node: Any, ancestors: tuple[Any, ...]) -> Place:
        expr = node
        level = len(ancestors) - 1
        # A template's use (`"...".format(x)`, `"..." % x`) stands where the string would.
        parent = ancestors[level] if level >= 0 else None
        if level >= 1 and type(parent) is ast.Attribute and type(ancestors[level - 1]) is ast.Call:
            if parent.attr == "format" and ancestors[level - 1].func is parent:
                expr, level = ancestors[level - 1], level - 2
        elif type(parent) is ast.BinOp and type(parent.op) is ast.Mod and parent.left is node:
            expr, level = parent, level - 1
        place = Place(expr)
        if level < 0:
            place.plain = True
            return place
        parent = ancestors[level]
        if type(parent) is ast.Expr and parent.value is expr and expr is node:
            # A string that is a statement of its own (a docstring, a block of notes) is
            # evaluated and dropped: it is documentation, and prose is a person's to reword.
            place.plain = True
            place.prose = "docstring"
            return place
        if type(parent) is ast.IfExp and parent.test is not expr:
            place.alternatives = parent
        grand = ancestors[level - 1] if level >= 1 else None
        # `name == "..."`, or `name in ("...", ...)`: the string, or the collection it is in.
        compare = level if type(parent) is ast.Compare else None
        if type(grand) is ast.Compare and type(parent) in _COLLECTIONS:
            compare = level - 1
        if compare is not None and _compared_in_test(ancestors, compare):
            place.compared = True
            place.alternatives = _scope(ancestors)
        owner = self._assigned_name(ancestors, level)
        place.assigned_to = owner
        kind = type(parent)
        if kind in _COLLECTIONS and not _is_slice_tuple(self.info, parent, grand):
            name = _COLLECTIONS[kind]
            index = self._index_in(parent, parent.elts, expr)
            place.detail = f"{owner or name}[{index}]"
            self._in_collection(place, parent, name, index, ancestors, level)
        elif kind is ast.Dict:
            index = self._index_in(parent, parent.keys, expr)
            if index is not None:
                place.detail = f"{owner or 'dict'} key"
                self._in_collection(place, parent, "dict-key", index, ancestors, level)
            else:
                key = parent.keys[self._index_in(parent, parent.values, expr)]
                key_value = plain_string(key) if key is not None else None
                if key is None:  # `{**"..."}`: not an entry of its own
                    place.plain = True
                    place.detail = owner or ""
                elif key_value is not None:
                    place.dict_key = key_value
                    place.promql = key_value in PROMQL_KEYS
                    place.detail = f"{owner or 'dict'}[{key_value!r}]"
        elif (kind is ast.keyword or kind is ast.Starred) and type(grand) is ast.Call:
            self._argument(place, grand, parent.arg if kind is ast.keyword else None, None)
        elif kind is ast.Call and expr is not parent.func:
            self._argument(place, parent, None, self._position(parent, expr))
        else:
            place.plain = True
            place.detail = owner or ""
        return place

    def _alternatives_span(self, node: Any) -> Any:
        if node is None:
            return None
        if type(node) is ast.Module:
            return Span(0, len(self.text))
        return self.info.span(node)

    def _index_in(self, parent: Any, items: list[Any], node: Any) -> int | None:
        """Where `node` is in `items` (a field of `parent`), from a table built once per
        field: a literal of thousands of names must not cost a scan per name."""
        key = (id(parent), id(items))
        table = self.indexes.get(key)
        if table is None:
            table = self.indexes[key] = {id(item): i for i, item in enumerate(items) if item is not None}
        return table.get(id(node))

    def _position(self, call: Any, node: Any) -> int | None:
        """The position of `node` among the call's positional arguments (`*x` not counted)."""
        key = (id(call), 0)
        table = self.indexes.get(key)
        if table is None:
            positional = [a for a in call.args if type(a) is not ast.Starred]
            table = self.indexes[key] = {id(a): i for i, a in enumerate(positional)}
        return table.get(id(node))

    def _argument(self, place: Place, call: Any, keyword: str | None, position: int | None) -> None:
        callee = self.info.dotted(call.func)
        place.callee = callee
        place.keyword = keyword
        place.promql = keyword in PROMQL_KEYS
        place.definition = self._definition(call, keyword, position)
        where = f"{keyword}=" if keyword else f"argument {position + 1 if position is not None else '*'}"
        place.detail = f"{(callee or 'call').rsplit('.', 1)[-1]}({where})"
        if type(call.func) is ast.Attribute and call.func.attr == "replace" and position in (0, 1):
            place.replace_arg = True

    def _in_collection(
        self, place: Place, collection: Any, kind: str, index: int, ancestors: tuple[Any, ...], level: int
    ) -> None:
        """Record the collection at `ancestors[level]` and what holds it (for messages)."""
        place.collection, place.collection_kind, place.index = collection, kind, index
        holder = ancestors[level - 1] if level >= 1 else None
        call = ancestors[level - 2] if level >= 2 else None
        if type(holder) is ast.keyword and type(call) is ast.Call:
            callee = (self.info.dotted(call.func) or "call").rsplit(".", 1)[-1]
            place.owner = f"{callee}({holder.arg}=)" if holder.arg is not None else f"{callee}(...)"
        elif type(holder) is ast.Starred and type(call) is ast.Call:
            place.owner = f"{(self.info.dotted(call.func) or 'call').rsplit('.', 1)[-1]}(...)"
        elif type(holder) is ast.Call and collection is not holder.func:
            place.owner = f"{(self.info.dotted(holder.func) or 'call').rsplit('.', 1)[-1]}(...)"
        elif type(holder) is ast.Dict and self._index_in(holder, holder.values, collection) is not None:
            key = holder.keys[self._index_in(holder, holder.values, collection)]
            key_value = plain_string(key) if key is not None else None
            place.owner = key_value if key_value is not None else place.assigned_to
        else:
            place.owner = place.assigned_to

    def _container(self, place: Place) -> Container | None:
        """The collection's description; element positions are computed for kept sites only,
        once per collection (a list of twenty names holds twenty sites)."""
        collection = place.collection
        if collection is None:
            return None
        shared = self.collections.get(id(collection))
        if shared is None:
            info = self.info
            if place.collection_kind == "dict-key":
                values = [plain_string(k) if k is not None else None for k in collection.keys]
            else:
                values = [plain_string(e) if type(e) is not ast.Starred else None for e in collection.elts]
            spans = info.element_spans(collection)
            shared = self.collections[id(collection)] = (
                tuple(values),
                spans,
                info.outer_span(collection),
                removal_of(self.text, spans, type(collection) is ast.Tuple),
            )
        values, spans, span, remove_many = shared
        return Container(
            kind=place.collection_kind,
            index=place.index,
            values=values,
            removal=element_removal_edits(self.text, spans, place.index, is_tuple=type(collection) is ast.Tuple),
            span=span,
            owner=place.owner,
            removal_of=remove_many,
        )

    def _assigned_name(self, ancestors: tuple[Any, ...], level: int) -> str | None:
        """The NAME of `NAME = <expr containing the string>` for the nearest assignment."""
        for node in reversed(ancestors[: level + 1]):
            kind = type(node)
            if kind is ast.Assign:
                targets = node.targets
                if len(targets) == 1 and type(targets[0]) in (ast.Name, ast.Attribute):
                    return self.info.dotted(targets[0])
                return None
            if kind is ast.AnnAssign:
                return self.info.dotted(node.target)
            if isinstance(node, ast.stmt) or kind is ast.Lambda:
                return None
        return None

    def _callee_name(self, func: Any) -> tuple[str, bool]:
        if type(func) is ast.Attribute:
            return func.attr, True
        return (func.id if type(func) is ast.Name else ""), False


_EQUALITY_OPS = (ast.In, ast.NotIn, ast.Eq, ast.NotEq)
_CONDITIONALS = (ast.If, ast.While, ast.IfExp, ast.Assert)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Module)


def _compared_in_test(ancestors: tuple[Any, ...], level: int) -> bool:
    """Whether the comparison at `ancestors[level]` tests membership or equality and is (under
    `and`/`or`/`not`) the test of an `if`/`elif`/`while`/`assert`/conditional expression."""
    compare = ancestors[level]
    if not all(type(op) in _EQUALITY_OPS for op in compare.ops):
        return False
    child = compare
    for node in reversed(ancestors[:level]):
        kind = type(node)
        if kind is ast.BoolOp or (kind is ast.UnaryOp and type(node.op) is ast.Not):
            child = node
            continue
        return kind in _CONDITIONALS and node.test is child
    return False


def _guard_span(info: PythonInfo, ancestors: tuple[Any, ...]) -> Span | None:
    """The test of the nearest `if`/`while` statement whose body or `else` holds the string."""
    child = None
    for node in reversed(ancestors):
        kind = type(node)
        if (kind is ast.If or kind is ast.While) and child is not None and child is not node.test:
            return info.span(node.test)
        if kind in _SCOPES or kind is ast.ClassDef:
            return None
        child = node
    return None


def _scope(ancestors: tuple[Any, ...]) -> Any:
    """The innermost function (or lambda) holding the string, else the module."""
    return next(node for node in reversed(ancestors) if type(node) in _SCOPES)


def removal_of(text: str, spans: list[tuple[int, int]], is_tuple: bool):  # type: ignore[no-untyped-def]
    """`Container.removal_of` for a literal collection with these element spans."""

    def remove(indices: tuple[int, ...]):  # type: ignore[no-untyped-def]
        return elements_removal_edits(text, spans, indices, is_tuple=is_tuple)

    return remove


def instrument_library(last: str, attribute: bool) -> str | None:
    """The library a call named `last` defines metrics with, when its name says so."""
    if attribute and last in OTEL_FACTORIES:
        return "opentelemetry"
    if INSTRUMENT_ALIAS.fullmatch(last or "") and (last in PROMETHEUS_INSTRUMENTS or "_" in last):
        return "prometheus_client"
    return None


def finish_site(site: Site, place: Any, generated: str | None) -> None:
    """The site's kind and whether it may be edited, from its place."""
    if place.prose:
        site.kind = SiteKind.TEXT
    elif place.promql:
        site.kind = SiteKind.PROMQL
    elif place.definition:
        site.kind = SiteKind.NAME
    else:
        site.kind = guess_kind(site.value)
    if generated is not None:
        site.editable = False
        site.readonly_reason = generated
    elif quotes_source(site.value, place):
        site.editable = False
        site.readonly_reason = READONLY_PATCH_REASON


def quotes_source(value: str, place: Any) -> bool:
    """A patch script quoting the source it rewrites: its strings are not the program's data."""
    if place.replace_arg:
        return True
    if "\n" in value and any(marker in value for marker in _CODE_MARKERS):
        return True
    name = place.assigned_to
    if name and place.plain:
        last = name.rsplit(".", 1)[-1].upper()
        if last in _PATCH_WHOLE_NAMES or _PATCH_NAME_WORDS & set(last.split("_")):
            return True
    return False


def _is_slice_tuple(info: PythonInfo, node: Any, parent: Any) -> bool:
    """`d["a", "b"]`: the tuple ast reads in a subscript is not a tuple literal of the source."""
    return type(node) is ast.Tuple and type(parent) is ast.Subscript and parent.slice is node and not info.parenthesized(node)


def _single_literal(text: str, start: int, end: int) -> bool:
    from migrator.formats.python_literals import single_literal

    return single_literal(text, start, end)


def joined_value(node: Any) -> tuple[str, bool]:
    """(value, has fields) of an f-string; fields stand as FIELD_MARK."""
    out = []
    fields = False
    for part in node.values:
        if type(part) is ast.Constant:
            out.append(part.value)
        else:
            out.append(FIELD_MARK)
            fields = True
    return "".join(out), fields


def plain_string(node: Any) -> str | None:
    """The value of a literal that is a plain string (no f-string fields), else None."""
    kind = type(node)
    if kind is ast.Constant:
        value = node.value
        if type(value) is str:
            return value
        if type(value) is bytes:
            return value.decode("latin-1")
        return None
    if kind is ast.JoinedStr:
        value, fields = joined_value(node)
        return None if fields else value
    return None


__all__ = ["Place", "SiteBuilder", "StringSites", "PROMQL_KEYS", "is_string"]
