"""Python string sites from libcst's tree: the fallback for syntax newer than the interpreter.

The handler reads Python with the interpreter's `ast` (`python_sites`); a file that this
interpreter's parser refuses only because its syntax is newer (PEP 701 f-strings on Python
3.11) is read with libcst instead, and its sites are built here, with the same rules for which
strings become sites and the same contexts. `tests/test_python_differential.py` builds both on
the same modules and requires identical sites, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from migrator.formats.base import Container, SiteNeeds
from migrator.formats.python_cst_tree import PythonInfo
from migrator.formats.python_sites import (
    FIELD_MARK,
    PROMQL_KEYS,
    Place,
    StringSites,
    finish_site,
    removal_of,
)
from migrator.model import Span

_FIELD = FIELD_MARK


class SiteBuilder(StringSites):
    """Turns the string expressions of one walk into sites. `wants` runs during the walk
    (cheap, no positions); `build` after it, on the few strings `wants` kept."""

    def __init__(self, info: PythonInfo, needs: SiteNeeds, generated: str | None = None) -> None:
        self.info = info
        self.needs = needs
        self.text = info.text
        self.generated = generated
        self.mentioned: dict[int, bool] = {}  # id(node) -> its source or value has a needle

    # -- during the walk ---------------------------------------------------------------
    def wants(self, node: Any, stack: list[Any]) -> bool:
        mentioned = self._mentions(node)
        self.mentioned[id(node)] = mentioned
        return mentioned or _maybe_promql_place(stack)

    def _mentions(self, node: Any) -> bool:
        import libcst as cst

        if not self.needs.needles:
            return False
        source = node.value if isinstance(node, cst.SimpleString) else self.info.module.code_for_node(node)
        if self.needs.mentions(source):
            return True
        # Escapes (`prompt\x5ftokens`) and implicit concatenation can hide a needle from the
        # source: look at the value the program sees.
        if "\\" not in source and not isinstance(node, cst.ConcatenatedString):
            return False
        decoded = decoded_value(node)
        return decoded is not None and self.needs.mentions(decoded[0])

    # -- after the walk ----------------------------------------------------------------
    def _guard(self, ancestors: tuple[Any, ...]) -> Span | None:
        return _guard_span(self.info, ancestors)

    def _pieces(self, node: Any, template: str | None) -> list[Any]:
        import libcst as cst

        from migrator.formats.python_strings import Piece, style_of_simple

        pieces = []
        for piece in _flatten(node):
            span = self.info.span(piece)
            if isinstance(piece, cst.SimpleString):
                prefix, quote = piece.prefix, piece.quote
                body_start = span.start + len(prefix) + len(quote)
                body_end = span.end - len(quote)
                style = style_of_simple(prefix, quote, self.text[body_start:body_end], template)
                pieces.append(
                    Piece(style, body_start, body_end, [("text", body_start, body_end)], (span.start, span.end))
                )
            elif isinstance(piece, cst.FormattedString):
                quote = piece.end
                prefix = piece.start[: len(piece.start) - len(quote)]
                body_start = span.start + len(piece.start)
                body_end = span.end - len(quote)
                style = style_of_simple(prefix, quote, self.text[body_start:body_end], None)
                parts = []
                for part in piece.parts:
                    p = self.info.span(part)
                    parts.append(("text" if isinstance(part, cst.FormattedStringText) else "field", p.start, p.end))
                pieces.append(Piece(style, body_start, body_end, parts, (span.start, span.end)))
            else:  # a t-string or a future literal kind: not ours to decode
                return []
        return pieces

    # -- where the string sits ---------------------------------------------------------
    def _place(self, node: Any, ancestors: tuple[Any, ...]) -> Place:
        import libcst as cst

        expr = node
        level = len(ancestors) - 1
        # A template's use (`"...".format(x)`, `"..." % x`) stands where the string would.
        if level >= 1 and isinstance(ancestors[level], cst.Attribute) and isinstance(ancestors[level - 1], cst.Call):
            if ancestors[level].attr.value == "format" and ancestors[level - 1].func is ancestors[level]:
                expr, level = ancestors[level - 1], level - 2
        elif level >= 0 and isinstance(ancestors[level], cst.BinaryOperation):
            if isinstance(ancestors[level].operator, cst.Modulo) and ancestors[level].left is node:
                expr, level = ancestors[level], level - 1
        place = Place(expr)
        if level < 0:
            place.plain = True
            return place
        parent = ancestors[level]
        if isinstance(parent, cst.Expr) and parent.value is expr and expr is node:
            place.plain = True  # a docstring: see python_sites
            place.prose = "docstring"
            return place
        if isinstance(parent, cst.IfExp) and parent.test is not expr:
            place.alternatives = parent
        grand = ancestors[level - 1] if level >= 1 else None
        compare = _comparison_level(ancestors, level)
        if compare is not None and _compared_in_test(ancestors, compare):
            place.compared = True
            place.alternatives = _scope(ancestors)
        owner = self._assigned_name(ancestors, level)
        place.assigned_to = owner
        if isinstance(parent, cst.Element) and isinstance(grand, (cst.List, cst.Set, cst.Tuple)):
            kind = {cst.List: "list", cst.Set: "set", cst.Tuple: "tuple"}[type(grand)]
            index = next(i for i, e in enumerate(grand.elements) if e is parent)
            place.detail = f"{owner or kind}[{index}]"
            self._in_collection(place, grand, kind, index, ancestors, level - 1)
        elif isinstance(parent, cst.DictElement):
            if parent.key is expr:
                place.detail = f"{owner or 'dict'} key"
                if isinstance(grand, cst.Dict):
                    index = next(i for i, e in enumerate(grand.elements) if e is parent)
                    self._in_collection(place, grand, "dict-key", index, ancestors, level - 1)
            else:
                key_value = _plain_string(parent.key)
                if key_value is not None:
                    place.dict_key = key_value
                    place.promql = key_value in PROMQL_KEYS
                    place.detail = f"{owner or 'dict'}[{key_value!r}]"
        elif isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
            callee = self.info.dotted(grand.func)
            keyword = parent.keyword.value if parent.keyword is not None else None
            positional = [a for a in grand.args if a.keyword is None and not a.star]
            position = next((i for i, a in enumerate(positional) if a is parent), None)
            place.callee = callee
            place.keyword = keyword
            place.promql = keyword in PROMQL_KEYS
            place.definition = self._definition(grand, keyword, position)
            where = f"{keyword}=" if keyword else f"argument {position + 1 if position is not None else '*'}"
            place.detail = f"{(callee or 'call').rsplit('.', 1)[-1]}({where})"
            if isinstance(grand.func, cst.Attribute) and grand.func.attr.value == "replace" and position in (0, 1):
                place.replace_arg = True
        else:
            place.plain = True
            place.detail = owner or ""
        return place

    def _alternatives_span(self, node: Any) -> Any:
        import libcst as cst

        if node is None:
            return None
        if isinstance(node, cst.Module):
            return Span(0, len(self.text))
        return self.info.span(node)

    def _in_collection(
        self, place: Place, collection: Any, kind: str, index: int, ancestors: tuple[Any, ...], level: int
    ) -> None:
        """Record the collection at `ancestors[level]` and what holds it (for messages)."""
        import libcst as cst

        place.collection, place.collection_kind, place.index = collection, kind, index
        holder = ancestors[level - 1] if level >= 1 else None
        call = ancestors[level - 2] if level >= 2 else None
        if isinstance(holder, cst.Arg) and isinstance(call, cst.Call):
            callee = (self.info.dotted(call.func) or "call").rsplit(".", 1)[-1]
            place.owner = f"{callee}({holder.keyword.value}=)" if holder.keyword is not None else f"{callee}(...)"
        elif isinstance(holder, cst.DictElement) and holder.value is collection:
            key = _plain_string(holder.key)
            place.owner = key if key is not None else place.assigned_to
        else:
            place.owner = place.assigned_to

    def _container(self, place: Place) -> Container | None:
        """The collection's description; positions are computed here, for kept sites only."""
        import libcst as cst

        collection = place.collection
        if collection is None:
            return None
        if place.collection_kind == "dict-key":
            values = [_plain_string(e.key) if isinstance(e, cst.DictElement) else None for e in collection.elements]
        else:
            values = [_plain_string(e.value) if isinstance(e, cst.Element) else None for e in collection.elements]
        spans = [(s.start, s.end) for s in (self.info.span(e) for e in collection.elements)]
        return Container(
            kind=place.collection_kind,
            index=place.index,
            values=tuple(values),
            removal=self.info.element_removal(collection, place.index),
            span=self.info.outer_span(collection),
            owner=place.owner,
            removal_of=removal_of(self.text, spans, isinstance(collection, cst.Tuple)),
        )

    def _assigned_name(self, ancestors: tuple[Any, ...], level: int) -> str | None:
        """The NAME of `NAME = <expr containing the string>` for the nearest assignment."""
        import libcst as cst

        for node in reversed(ancestors[: level + 1]):
            if isinstance(node, cst.Assign):
                targets = [t.target for t in node.targets]
                if len(targets) == 1 and isinstance(targets[0], (cst.Name, cst.Attribute)):
                    return self.info.dotted(targets[0])
                return None
            if isinstance(node, cst.AnnAssign):
                return self.info.dotted(node.target)
            if isinstance(node, (cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return None
        return None

    def _callee_name(self, func: Any) -> tuple[str, bool]:
        import libcst as cst

        last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        return (last if isinstance(last, str) else ""), isinstance(func, cst.Attribute)


def _comparison_level(ancestors: tuple[Any, ...], level: int) -> int | None:
    """Where the comparison is that the string at `ancestors[level]`'s child is an operand of
    (`name == "..."`), or an element of a collection operand of (`name in ("...", ...)`)."""
    import libcst as cst

    at = level
    if isinstance(ancestors[at], cst.Element) and at >= 1 and isinstance(ancestors[at - 1], (cst.List, cst.Set, cst.Tuple)):
        at -= 2
    if at >= 0 and isinstance(ancestors[at], cst.ComparisonTarget):
        at -= 1
    if at >= 0 and isinstance(ancestors[at], cst.Comparison):
        return at
    return None


def _compared_in_test(ancestors: tuple[Any, ...], level: int) -> bool:
    """See `python_sites._compared_in_test`."""
    import libcst as cst

    compare = ancestors[level]
    if not all(isinstance(t.operator, (cst.In, cst.NotIn, cst.Equal, cst.NotEqual)) for t in compare.comparisons):
        return False
    child = compare
    for node in reversed(ancestors[:level]):
        if isinstance(node, cst.BooleanOperation) or (
            isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not)
        ):
            child = node
            continue
        return isinstance(node, (cst.If, cst.While, cst.IfExp, cst.Assert)) and node.test is child
    return False


def _guard_span(info: PythonInfo, ancestors: tuple[Any, ...]) -> Span | None:
    """See `python_sites._guard_span`."""
    import libcst as cst

    child = None
    for node in reversed(ancestors):
        if isinstance(node, (cst.If, cst.While)) and child is not None and child is not node.test:
            return info.span(node.test)
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef, cst.Module)):
            return None
        child = node
    return None


def _scope(ancestors: tuple[Any, ...]) -> Any:
    """The innermost function (or lambda) holding the string, else the module."""
    import libcst as cst

    return next(n for n in reversed(ancestors) if isinstance(n, (cst.FunctionDef, cst.Lambda, cst.Module)))


def _maybe_promql_place(stack: list[Any] | tuple[Any, ...]) -> bool:
    """A cheap superset of the PromQL places `_place` recognises."""
    import libcst as cst

    parent = stack[-1] if stack else None
    if isinstance(parent, cst.Arg):
        return parent.keyword is not None and parent.keyword.value in PROMQL_KEYS
    # Dict values, and templates whose use (`.format(...)`, `%`) is the real place.
    return isinstance(parent, (cst.DictElement, cst.Attribute, cst.BinaryOperation))


def _flatten(node: Any) -> list[Any]:
    """The literal pieces of a string expression, in source order."""
    import libcst as cst

    flat: list[Any] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.ConcatenatedString):
            stack.append(current.right)
            stack.append(current.left)
        else:
            flat.append(current)
    return flat


def decoded_value(node: Any) -> tuple[str, bool] | None:
    """(value, has fields) of a string expression, decoded without positions; f-string fields
    stand as NUL. None for a literal kind this module does not decode (t-strings)."""
    import libcst as cst

    from migrator.formats.python_strings import decode_body, style_of_simple

    out: list[str] = []
    fields = False
    for piece in _flatten(node):
        if isinstance(piece, cst.SimpleString):
            prefix, quote = piece.prefix, piece.quote
            body = piece.value[len(prefix) + len(quote) : len(piece.value) - len(quote)]
            style = style_of_simple(prefix, quote, body, None)
            out.extend(u.char for u in decode_body(body, 0, style))
        elif isinstance(piece, cst.FormattedString):
            quote = piece.end
            style = style_of_simple(piece.start[: len(piece.start) - len(quote)], quote, "", None)
            for part in piece.parts:
                if isinstance(part, cst.FormattedStringText):
                    out.extend(u.char for u in decode_body(part.value, 0, style))
                else:
                    out.append(_FIELD)
                    fields = True
        else:
            return None
    return "".join(out), fields


def _plain_string(node: Any) -> str | None:
    """The value of a literal that is a plain string (no f-string fields), else None."""
    import libcst as cst

    if not isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return None
    decoded = decoded_value(node)
    if decoded is None or decoded[1]:
        return None
    return decoded[0]
