"""One parsed Python module (the interpreter's `ast`) and its single walk.

`PythonInfo` is what Python rules get (`document.python`): the module, code-point spans of its
nodes (with or without their parentheses), sources, parents, dotted and import-resolved names,
locators and clean element removal. `walk` is the one pass over the tree: it gathers what the
format itself needs (string expressions, `.format`/`%` template uses, the import table) and
calls the callbacks rules registered for node types (`SiteNeeds.python`, by `ast` class name),
keeping the nodes they accept as `NodeRef`s.

Nothing here imports libcst: a check of a Python file runs on the standard library alone.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from migrator.formats.python_edits import element_removal_edits
from migrator.formats.python_positions import Positions, has_position, positioned_children, significant
from migrator.model import Edit, Span

STRING_NODES = (ast.Constant, ast.JoinedStr)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def is_string(node: Any) -> bool:
    """A string expression: a str or bytes literal (implicit concatenations included) or an
    f-string."""
    kind = type(node)
    if kind is ast.Constant:
        return type(node.value) is str or type(node.value) is bytes
    return kind is ast.JoinedStr


@dataclass(slots=True)
class NodeRef:
    """A node a rule asked for, with its ancestors (outermost first) and where it is."""

    node: Any
    ancestors: tuple[Any, ...]
    span: Span
    locator: str
    kind: str = ""  # what the rule's callback returned


class ModuleInfo:
    """What the helpers over either Python tree (the interpreter's `ast`, libcst for newer
    syntax) do alike, given each tree's `text`, `imports`, `span`, `outer_span` and `dotted`."""

    text: str
    imports: dict[str, str]  # local name -> qualified name

    def span(self, node: Any) -> Span:
        raise NotImplementedError

    def outer_span(self, node: Any) -> Span:
        raise NotImplementedError

    def dotted(self, node: Any) -> str | None:
        raise NotImplementedError

    def source(self, node: Any, outer: bool = False) -> str:
        span = self.outer_span(node) if outer else self.span(node)
        return self.text[span.start : span.end]

    def qualified_names(self, node: Any) -> set[str]:
        """What a Name/Attribute refers to through the file's imports (aliases resolved).

        Import aliases are all the rules need, so a table built during the one walk answers
        (libcst's QualifiedNameProvider does full scope analysis at about a second per 2,600
        lines). Shadowing by a local assignment is not tracked.
        """
        dotted = self.dotted(node)
        if dotted is None:
            return set()
        head, _, rest = dotted.partition(".")
        if head in self.imports:
            base = self.imports[head]
            return {f"{base}.{rest}" if rest else base}
        return {dotted}


class PythonInfo(ModuleInfo):
    """Helpers over one parsed module, shared by the handler and the Python rules."""

    def __init__(self, text: str, module: Any, shift: int = 0, layout: str | None = None) -> None:
        self.text = text
        self.module = module
        self.shift = shift  # a BOM before the module's text
        self.imports: dict[str, str] = {}  # local name -> qualified name
        # `layout`: the text the tree was parsed from, when it differs from `text` only inside
        # literals of the same length (its byte columns are what `ast` counted).
        self.positions = Positions(layout if layout is not None else text, shift)
        # id(node) -> its parent, filled by the walk (a dict, not an attribute on the nodes,
        # so that the tree stays free of reference cycles and goes when the document goes).
        self.parents: dict[int, Any] = {}
        self._children: dict[int, tuple[list[Any], dict[int, int]]] = {}
        self._own: dict[int, set[int]] = {}

    positions_resolved = True  # positions come with the tree: nothing is computed lazily

    # -- positions ---------------------------------------------------------------------

    def span(self, node: Any) -> Span:
        """The node's own code-point span (parentheses around it excluded; a parenthesized
        tuple's own pair included, as `ast` gives it)."""
        start, end = self.positions.span(node)
        return Span(start, end)

    def outer_span(self, node: Any) -> Span:
        """The node's span including the parentheses that wrap it (and the space inside them)."""
        start, end = self.positions.span(node)
        # What precedes the node on its own line is code, never a comment: unless it is a
        # `(` (or the line holds nothing before the node), no parenthesis wraps it.
        text = self.text
        before = start - 1
        while before >= 0 and text[before] in " \t":
            before -= 1
        if before >= 0 and text[before] not in "(\r\n":
            return Span(start, end)
        opens, closes = self._wrapping(node, start, end)
        depth = min(len(opens), len(closes))
        if depth:
            return Span(opens[depth - 1], closes[depth - 1] + 1)
        return Span(start, end)

    def parenthesized(self, node: Any) -> bool:
        """Whether the node has parentheses of its own or around it (a tuple `("a", "b")`,
        unlike the slice of `d["a", "b"]`)."""
        if isinstance(node, ast.Tuple):
            start, end = self.positions.span(node)
            if not node.elts:
                return True
            first = self.outer_span(node.elts[0]).start
            return any(c == "(" for _, c in significant(self.text, start, first))
        outer = self.outer_span(node)
        return outer != self.span(node)

    def parent(self, node: Any) -> Any:
        return self.parents.get(id(node))

    def _wrapping(self, node: Any, start: int, end: int) -> tuple[list[int], list[int]]:
        """Offsets of the `(` before the node and the `)` after it, innermost first, that may
        wrap it (the caller pairs them up)."""
        parent = self.parent(node)
        while parent is not None and not has_position(parent):
            parent = self.parent(parent)
        text = self.text
        if parent is None or isinstance(parent, (ast.FormattedValue, ast.JoinedStr)):
            # Inside an f-string field (older interpreters give field parts no positions of
            # their own; fields hold no comments): read outward from the node.
            return _parens_back(text, start), _parens_forward(text, end)
        siblings, where = self._positioned(parent)
        p_start, p_end = self.positions.span(parent)
        index = where.get(id(node))
        if index is None:  # not a child the tree walk recorded: no parentheses known
            return [], []
        low = self.positions.span(siblings[index - 1])[1] if index else p_start
        high = self.positions.span(siblings[index + 1])[0] if index + 1 < len(siblings) else p_end
        opens = [i for i, c in reversed(significant(text, min(low, start), start))]
        opens = _run(opens, text, "(")
        closes = _run([i for i, _ in significant(text, end, max(high, end))], text, ")")
        own = self._own_parens(parent)
        if own:
            opens = [i for i in opens if i not in own]
            closes = [i for i in closes if i not in own]
        return opens, closes

    def _positioned(self, parent: Any) -> tuple[list[Any], dict[int, int]]:
        """The parent's positioned children in source order, and each one's index (a list
        literal of 20,000 names must not cost a scan per element)."""
        key = id(parent)
        found = self._children.get(key)
        if found is None:
            children = positioned_children(parent)
            children.sort(key=lambda n: self.positions.span(n))
            found = self._children[key] = (children, {id(c): i for i, c in enumerate(children)})
        return found

    def _own_parens(self, parent: Any) -> set[int]:
        """The parentheses of a call's (or class's) argument list (once per parent: finding
        them reads the whole argument list)."""
        key = id(parent)
        own = self._own.get(key)
        if own is None:
            own = self._own[key] = self._find_own_parens(parent)
        return own

    def _find_own_parens(self, parent: Any) -> set[int]:
        if isinstance(parent, ast.Call):
            func_end = self.positions.span(parent.func)[1]
            end = self.positions.span(parent)[1]
            opening = next((i for i, c in significant(self.text, func_end, end) if c == "("), None)
            return {i for i in (opening, end - 1) if i is not None}
        if isinstance(parent, ast.ClassDef) and (parent.bases or parent.keywords):
            start = self.positions.span(parent)[0]
            enclosed = sorted((self.positions.span(n) for n in [*parent.bases, *parent.keywords]))
            first, last = enclosed[0][0], enclosed[-1][1]
            opening = next((i for i, c in significant(self.text, start, first) if c == "("), None)
            body = self.positions.span(parent.body[0])[0] if parent.body else len(self.text)
            after = significant(self.text, last, body)
            colon = next((k for k, (_, c) in enumerate(after) if c == ":"), len(after))
            closing = next((i for i, c in reversed(after[:colon]) if c == ")"), None)
            return {i for i in (opening, closing) if i is not None}
        return set()

    def operator_span(self, node: Any) -> Span:
        """Where the operator of a binary operation is written."""
        left_end = self.outer_span(node.left).end
        right_start = self.outer_span(node.right).start
        chars = significant(self.text, left_end, right_start)
        start = chars[0][0]
        return Span(start, chars[-1][0] + 1)

    # -- names -------------------------------------------------------------------------

    def dotted(self, node: Any) -> str | None:
        """`a.b.c` for a Name/Attribute chain, else None."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(node.id)
        return ".".join(reversed(parts))

    def locator(self, ancestors: Iterable[Any]) -> str:
        """`function Class.method`, `class Class` or `module`: the enclosing definition."""
        names: list[str] = []
        kind = "module"
        for node in ancestors:
            if isinstance(node, _FUNCTIONS):
                names.append(node.name)
                kind = "function"
            elif isinstance(node, ast.ClassDef):
                names.append(node.name)
                kind = "class"
        return f"{kind} {'.'.join(names)}" if names else "module"

    def ancestors(self, node: Any) -> tuple[Any, ...]:
        chain = []
        parent = self.parent(node)
        while parent is not None:
            chain.append(parent)
            parent = self.parent(parent)
        return tuple(reversed(chain))

    def ref(self, node: Any, ancestors: tuple[Any, ...], kind: str = "") -> NodeRef:
        return NodeRef(node, ancestors, self.span(node), self.locator(ancestors), kind)

    # -- clean removal of one element -------------------------------------------------

    def element_spans(self, collection: Any) -> list[tuple[int, int]]:
        """Each element of a list/set/tuple literal, or each entry (`key: value`, `**more`) of
        a dict literal, with its parentheses and without its comma."""
        if isinstance(collection, ast.Dict):
            spans: list[tuple[int, int]] = []
            low = self.span(collection).start
            for key, value in zip(collection.keys, collection.values):
                end = self.outer_span(value)
                if key is not None:
                    spans.append((self.outer_span(key).start, end.end))
                else:
                    stars = [i for i, c in significant(self.text, spans[-1][1] if spans else low, end.start) if c == "*"]
                    spans.append((stars[-2] if len(stars) >= 2 else end.start, end.end))
            return spans
        return [(s.start, s.end) for s in map(self.outer_span, collection.elts)]

    def element_removal(self, collection: Any, index: int) -> tuple[Edit, ...] | None:
        """Edits removing element `index` of a list/set/tuple literal or entry `index` of a
        dict literal; None when it is the only one (a collection is never emptied)."""
        return element_removal_edits(
            self.text, self.element_spans(collection), index, is_tuple=isinstance(collection, ast.Tuple)
        )

    def arguments(self, call: Any) -> list[Any]:
        """A call's arguments in source order: positional ones (`ast.Starred` for `*x`) and
        `ast.keyword`s (`**x` too)."""
        return sorted([*call.args, *call.keywords], key=lambda n: self.positions.span(n))

    def argument_span(self, argument: Any) -> Span:
        return self.span(argument) if isinstance(argument, (ast.keyword, ast.Starred)) else self.outer_span(argument)

    def argument_removal(self, call: Any, index: int) -> tuple[Edit, ...] | None:
        """Edits removing argument `index` (of `arguments(call)`); the list may become empty."""
        spans = [self.argument_span(a) for a in self.arguments(call)]
        open_paren = self.text.find("(", self.outer_span(call.func).end)
        close_paren = self.span(call).end - 1
        return element_removal_edits(
            self.text, [(s.start, s.end) for s in spans], index, inside=(open_paren + 1, close_paren)
        )


def _run(offsets: list[int], text: str, char: str) -> list[int]:
    """The leading offsets of `offsets` whose character is `char`."""
    out = []
    for i in offsets:
        if text[i] != char:
            break
        out.append(i)
    return out


def _parens_back(text: str, pos: int) -> list[int]:
    out = []
    i = pos - 1
    while i >= 0 and text[i] in " \t\r\n(":
        if text[i] == "(":
            out.append(i)
        i -= 1
    return out


def _parens_forward(text: str, pos: int) -> list[int]:
    out = []
    i = pos
    while i < len(text) and text[i] in " \t\r\n)":
        if text[i] == ")":
            out.append(i)
        i += 1
    return out


# ----------------------------------------------------------------------------- the walk

RuleCallback = Callable[[Any, PythonInfo, tuple[Any, ...]], Any]


@dataclass(slots=True)
class WalkResult:
    # String expressions the site builder wanted, with their ancestors.
    strings: list[tuple[Any, tuple[Any, ...]]] = field(default_factory=list)
    templates: dict[int, str] = field(default_factory=dict)  # id(string node) -> "format" | "percent"
    template_names: dict[str, str] = field(default_factory=dict)  # NAME used as NAME.format(...) / NAME % x
    collected: dict[str, list[NodeRef]] = field(default_factory=dict)


_FIELDS: dict[type, tuple[str, ...]] = {}  # a node type's fields that may hold nodes, last first
# Fields that never hold a node worth visiting (operators and contexts are shared singletons).
_SKIPPED_FIELDS = frozenset({"ctx", "op", "ops", "type_comment", "kind", "conversion"})


def _reversed_fields(kind: type) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(n for n in reversed(kind._fields) if n not in _SKIPPED_FIELDS)
    return names


def walk(
    info: PythonInfo,
    wants_string: Callable[[Any, list[Any]], bool],
    rule_callbacks: dict[type, list[tuple[str, RuleCallback]]],
) -> WalkResult:
    """The single walk over the module, depth first in field order (not always source order:
    a dict's keys come before its values; consumers sort by position). `wants_string(node,
    path)` says whether a string expression may become a site; `rule_callbacks` maps an `ast`
    class to the (rule code, callback) pairs registered for it. Every visited node gets its
    parent (`PythonInfo.parent`)."""
    result = WalkResult()
    imports = info.imports
    parents = info.parents
    collected = result.collected
    strings = result.strings
    templates = result.templates
    template_names = result.template_names
    AST = ast.AST
    Constant, JoinedStr, FormattedValue = ast.Constant, ast.JoinedStr, ast.FormattedValue
    path: list[Any] = []
    nodes: list[Any] = [info.module]
    depths: list[int] = [0]
    pop_node, push_node, pop_depth, push_depth = nodes.pop, nodes.append, depths.pop, depths.append
    fields_of = _FIELDS
    constant_rules = Constant in rule_callbacks
    Name = ast.Name
    name_rules = Name in rule_callbacks
    while nodes:
        node = pop_node()
        depth = pop_depth()
        del path[depth:]
        kind = type(node)
        if kind is Name and not name_rules:
            continue  # a leaf, and the commonest node
        if kind is Constant:
            value_kind = type(node.value)
            if (value_kind is str or value_kind is bytes) and wants_string(node, path):
                strings.append((node, tuple(path)))
            if not constant_rules:
                continue  # a leaf
        if kind is JoinedStr:
            if wants_string(node, path):
                strings.append((node, tuple(path)))
        elif kind is ast.Call:
            func = node.func
            if type(func) is ast.Attribute and func.attr == "format":
                if is_string(func.value):
                    templates[id(func.value)] = "format"
                elif type(func.value) is ast.Name:
                    template_names[func.value.id] = "format"
        elif kind is ast.BinOp:
            if type(node.op) is ast.Mod:
                if is_string(node.left):
                    templates[id(node.left)] = "percent"
                elif type(node.left) is ast.Name:
                    template_names.setdefault(node.left.id, "percent")
        elif kind is ast.Import:
            for alias in node.names:
                if alias.asname is not None:
                    imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    imports.setdefault(head, head)
        elif kind is ast.ImportFrom:
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    break
                local = alias.asname or alias.name
                imports[local] = f"{module}.{alias.name}" if module and not module.endswith(".") else module + alias.name
        callbacks = rule_callbacks.get(kind)
        if callbacks is not None:
            ancestors = tuple(path)
            for code, callback in callbacks:
                found = callback(node, info, ancestors)
                if found:
                    collected.setdefault(code, []).append(info.ref(node, ancestors, found))
        path.append(node)
        depth += 1
        if kind is JoinedStr:
            # Only the fields' expressions: the literal parts are the string's own text.
            children = [v for v in node.values if type(v) is FormattedValue]
        elif kind is FormattedValue:
            children = [node.value]
            if node.format_spec is not None:  # its fields, not the spec as a string of its own
                children += [v for v in node.format_spec.values if type(v) is FormattedValue]
        else:
            # Children are pushed last field first, so that they come off the stack in order.
            names = fields_of.get(kind)
            if names is None:
                names = _reversed_fields(kind)
            for name in names:
                value = getattr(node, name)
                if type(value) is list:
                    for item in reversed(value):
                        if isinstance(item, AST):
                            parents[id(item)] = node
                            push_node(item)
                            push_depth(depth)
                elif isinstance(value, AST):
                    parents[id(value)] = node
                    push_node(value)
                    push_depth(depth)
            continue
        for child in reversed(children):
            parents[id(child)] = node
            push_node(child)
            push_depth(depth)
    for refs in collected.values():
        refs.sort(key=lambda ref: (ref.span.start, -ref.span.end))
    return result


def rule_callbacks(needs_python: Iterable[tuple[str, str, RuleCallback]]) -> dict[type, list[tuple[str, RuleCallback]]]:
    """`SiteNeeds.python` entries by `ast` node class."""
    table: dict[type, list[tuple[str, RuleCallback]]] = {}
    for class_name, code, callback in needs_python:
        node_class = getattr(ast, class_name, None)
        if not isinstance(node_class, type) or not issubclass(node_class, ast.AST):
            raise ValueError(f"rule {code} registers {class_name!r}, which is not a Python `ast` node type")
        table.setdefault(node_class, []).append((code, callback))
    return table
