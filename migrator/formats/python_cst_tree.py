"""One module parsed by libcst and its single walk: the fallback for syntax newer than the
interpreter (see `python_cst_sites`). `python_tree` is the same for the interpreter's `ast`,
which every other file goes through.

Positions cost a code generation pass over the whole tree; they are computed on the first
`span` request. libcst is imported only inside functions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from migrator.formats.python_edits import element_removal_edits
from migrator.formats.python_tree import ModuleInfo
from migrator.model import Edit, Span


def _span_table(module: Any, shift: int) -> dict[Any, tuple[int, int]]:
    """Code-point (start, end) of every node, from one code generation pass over the module.

    libcst's ByteSpanPositionProvider does the same in UTF-8 bytes, at about three times the
    cost (it encodes every token and builds a frozen dataclass per node); this state records
    plain tuples in code points, through the same codegen hooks that provider uses. The
    tests compare both on a module with non-ASCII text, decorators, f-strings and comments.
    """
    from libcst._nodes.internal import CodegenState

    state = _span_state_class(CodegenState)(
        default_indent=module.default_indent, default_newline=module.default_newline
    )
    state.position = shift
    module._codegen(state)
    return state.spans


_STATE_CLASS: list[type] = []


def _span_state_class(codegen_state: type) -> type:
    if _STATE_CLASS:
        return _STATE_CLASS[0]

    class Recorded:
        """`record_syntactic_position`: a node whose span is not its whole code (a statement
        without its leading lines, a node hoisted from its first/last child)."""

        __slots__ = ("state", "node", "start_node", "end_node", "start")

        def __init__(self, state: Any, node: Any, start_node: Any, end_node: Any) -> None:
            self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

        def __enter__(self) -> None:
            self.start = self.state.position

        def __exit__(self, *exc: Any) -> bool:
            spans = self.state.spans
            start = spans[self.start_node][0] if self.start_node is not None else self.start
            end = spans[self.end_node][1] if self.end_node is not None else self.state.position
            spans[self.node] = (start, end)
            return False

    @dataclass
    class CharSpanState(codegen_state):  # type: ignore[misc, valid-type]
        position: int = 0
        spans: dict[Any, tuple[int, int]] = field(default_factory=dict)
        starts: list[int] = field(default_factory=list)

        def add_indent_tokens(self) -> None:
            super().add_indent_tokens()
            for token in self.indent_tokens:
                self.position += len(token)

        def add_token(self, value: str) -> None:
            self.tokens.append(value)
            self.position += len(value)

        def before_codegen(self, node: Any) -> None:
            self.starts.append(self.position)

        def after_codegen(self, node: Any) -> None:
            start = self.starts.pop()
            if node not in self.spans:  # a syntactic position recorded inside wins
                self.spans[node] = (start, self.position)

        def record_syntactic_position(self, node: Any, *, start_node: Any = None, end_node: Any = None) -> Any:
            return Recorded(self, node, start_node, end_node)

    _STATE_CLASS.append(CharSpanState)
    return CharSpanState


class PythonInfo(ModuleInfo):
    """Helpers over one module parsed by libcst, for its site builder."""

    def __init__(self, text: str, module: Any, shift: int = 0) -> None:
        self.text = text
        self.module = module
        self.shift = shift  # a BOM before the module's text
        self.imports: dict[str, str] = {}  # local name -> qualified name
        self._spans: dict[Any, tuple[int, int]] | None = None

    @property
    def positions_resolved(self) -> bool:
        return self._spans is not None

    def span(self, node: Any) -> Span:
        """The node's own code-point span (parentheses around it excluded). Positions are
        computed for the whole module on first use."""
        if self._spans is None:
            self._spans = _span_table(self.module, self.shift)
        start, end = self._spans[node]
        return Span(start, end)

    def outer_span(self, node: Any) -> Span:
        """The node's span including its own parentheses (and the space inside them)."""
        inner = self.span(node)
        lpar = getattr(node, "lpar", ())
        rpar = getattr(node, "rpar", ())
        start = self.span(lpar[0]).start if lpar else inner.start
        end = self.span(rpar[-1]).end if rpar else inner.end
        return Span(start, end)

    def dotted(self, node: Any) -> str | None:
        """`a.b.c` for a Name/Attribute chain, else None."""
        import libcst as cst

        parts: list[str] = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name):
            return None
        parts.append(node.value)
        return ".".join(reversed(parts))

    def locator(self, ancestors: Iterable[Any]) -> str:
        """`function Class.method`, `class Class` or `module`: the enclosing definition."""
        import libcst as cst

        names: list[str] = []
        kind = "module"
        for node in ancestors:
            if isinstance(node, cst.FunctionDef):
                names.append(node.name.value)
                kind = "function"
            elif isinstance(node, cst.ClassDef):
                names.append(node.name.value)
                kind = "class"
        return f"{kind} {'.'.join(names)}" if names else "module"

    # -- clean removal of one element -------------------------------------------------

    def element_removal(self, collection: Any, index: int) -> tuple[Edit, ...] | None:
        """Edits removing element `index` of a list/set/tuple literal or entry `index` of a
        dict literal; None when it is the only one (a collection is never emptied)."""
        import libcst as cst

        spans = [self.span(e) for e in collection.elements]
        return element_removal_edits(
            self.text, [(s.start, s.end) for s in spans], index, is_tuple=isinstance(collection, cst.Tuple)
        )


# ----------------------------------------------------------------------------- the walk

@dataclass(slots=True)
class WalkResult:
    # String expressions the site builder wanted (pieces of a concatenation are not separate).
    strings: list[tuple[Any, tuple[Any, ...]]] = field(default_factory=list)
    templates: dict[int, str] = field(default_factory=dict)  # id(string node) -> "format" | "percent"
    template_names: dict[str, str] = field(default_factory=dict)  # NAME used as NAME.format(...) / NAME % x


def walk(info: PythonInfo, wants_string: Callable[[Any, list[Any]], bool]) -> WalkResult:
    """The single walk over the module. `wants_string(node, stack)` says whether a string
    expression may become a site. Nodes come in field order, which is not always source order
    (a function's decorators come after its body): consumers sort by position."""
    import libcst as cst

    handlers, leaves = _format_handlers(cst)
    walker = _Walker(info, handlers, leaves, wants_string)
    walker.visit(info.module)
    return walker.result


class _Walker:
    """Depth-first over the dataclass fields of libcst nodes, the ancestor stack kept by
    hand. libcst's own visitor costs three times as much: it rebuilds every node's children
    and looks up `visit_<Type>` methods for each."""

    def __init__(
        self,
        info: PythonInfo,
        handlers: dict[type, Any],
        leaves: tuple[type, ...],
        wants_string: Callable[[Any, list[Any]], bool],
    ) -> None:
        self.info = info
        self.handlers = handlers
        self.leaves = leaves
        self.wants_string = wants_string
        self.result = WalkResult()
        self.stack: list[Any] = []
        # Filled as import statements go by, so callbacks see the imports above them.
        self.imports = info.imports
        self.verdicts: dict[type, bool] = {}

    def visit(self, node: Any) -> None:
        kind = type(node)
        handler = self.handlers.get(kind)
        if handler is not None:
            handler(self, node)
        self.stack.append(node)
        # Whether a child is a libcst node worth visiting (not a leaf) comes from a per-type
        # table: `isinstance` against libcst's abstract node class costs more than the walk.
        verdicts = self.verdicts
        for value in _children(node, kind):
            if type(value) is tuple or type(value) is list:
                for item in value:
                    wanted = verdicts.get(type(item))
                    if wanted is None:
                        wanted = self.verdict(type(item))
                    if wanted:
                        self.visit(item)
            else:
                wanted = verdicts.get(type(value))
                if wanted is None:
                    wanted = self.verdict(type(value))
                if wanted:
                    self.visit(value)
        self.stack.pop()

    def verdict(self, kind: type) -> bool:
        wanted = self.verdicts[kind] = issubclass(kind, _CST_NODE) and not issubclass(kind, self.leaves)
        return wanted


_HANDLERS_CACHE: list[tuple[dict[type, Any], tuple[type, ...]]] = []
_FIELDS: dict[type, tuple[str, ...]] = {}
_CST_NODE: Any = None  # libcst.CSTNode, once libcst is imported


def _children(node: Any, kind: type) -> list[Any]:
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return [getattr(node, name) for name in names]


def _format_handlers(cst: Any) -> tuple[dict[type, Any], tuple[type, ...]]:
    """What the format itself collects during the walk (built once; needs libcst imported)."""
    global _CST_NODE
    if _HANDLERS_CACHE:
        return _HANDLERS_CACHE[0]
    string_types = (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)

    def on_string(w: Any, node: Any) -> None:
        if w.stack and isinstance(w.stack[-1], cst.ConcatenatedString):
            return  # a piece of a concatenation: handled with the whole expression
        if w.wants_string(node, w.stack):
            w.result.strings.append((node, tuple(w.stack)))

    def on_call(w: Any, node: Any) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "format":
            if isinstance(func.value, string_types):
                w.result.templates[id(func.value)] = "format"
            elif isinstance(func.value, cst.Name):
                w.result.template_names[func.value.value] = "format"

    def on_binary(w: Any, node: Any) -> None:
        if isinstance(node.operator, cst.Modulo):
            if isinstance(node.left, string_types):
                w.result.templates[id(node.left)] = "percent"
            elif isinstance(node.left, cst.Name):
                w.result.template_names.setdefault(node.left.value, "percent")

    def on_import(w: Any, node: Any) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            full = w.info.dotted(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                w.imports[alias.asname.name.value] = full
            else:
                head = full.split(".")[0]
                w.imports.setdefault(head, head)

    def on_import_from(w: Any, node: Any) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = ("." * len(node.relative)) + (w.info.dotted(node.module) or "" if node.module else "")
        for alias in node.names:
            name = w.info.dotted(alias.name) or ""
            local = alias.asname.name.value if alias.asname is not None else name
            w.imports[local] = f"{module}.{name}" if module and not module.endswith(".") else module + name

    handlers = {
        cst.SimpleString: on_string,
        cst.FormattedString: on_string,
        cst.ConcatenatedString: on_string,
        cst.Call: on_call,
        cst.BinaryOperation: on_binary,
        cst.Import: on_import,
        cst.ImportFrom: on_import_from,
    }
    # Nodes below which nothing of interest lives: whitespace, comments, commas.
    leaves = (
        cst.SimpleWhitespace,
        cst.ParenthesizedWhitespace,
        cst.TrailingWhitespace,
        cst.EmptyLine,
        cst.Newline,
        cst.Comment,
        cst.Comma,
    )
    _CST_NODE = cst.CSTNode
    _HANDLERS_CACHE.append((handlers, leaves))
    return handlers, leaves
