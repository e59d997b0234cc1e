"""Python source, through libcst. Parsed once, never imported or executed.

One walk over the concrete syntax tree collects everything the rules need: string literals
that may mention a metric (turned into sites, see `python_strings`), reads and keywords of the
era-(a) `recomputed_tokens` field, and the shapes of the era-(a) accounting formula. Rules read
those lists from `document.extra["python"]` instead of walking the tree again: on large files
the walk, not the rules, is what costs.

libcst is imported only inside `parse`/`validate`, so a run over Markdown or JSON never pays
for it. Its byte spans are UTF-8 byte offsets; the engine works in code points, so spans are
converted (by arithmetic on the few non-ASCII characters, not a per-byte table).
"""

from __future__ import annotations

import ast
import bisect
import re
import sys
from dataclasses import dataclass
from typing import Any, Iterable

from migrator.formats.base import Document, ParseError, SiteKind, guess_kind
from migrator.model import Edit, LineIndex, Span

# A string is worth a site when its source mentions one of these (or sits in a PromQL place).
STRING_TRIGGERS = ("prompt_tokens_recomputed", "recomputed_tokens", "prompt_tokens_by_source")
# Keyword arguments and dict keys that hold PromQL whatever the string looks like.
PROMQL_KEYS = frozenset({"expr", "query", "promql", "expression", "rule_expr"})
PROMETHEUS_INSTRUMENTS = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"})
# vLLM's own metrics code calls prometheus_client through attributes like `self._counter_cls`.
_INSTRUMENT_ALIAS = re.compile(r"(?i)_?(counter|gauge|histogram|summary)(_cls|_class|_type)?")
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
# Names that patch scripts give the vLLM source they quote.
_PATCH_NAME_WORDS = frozenset({"PATCH", "PATCHED", "SNIPPET", "SOURCE", "SRC", "CODE", "UNPATCHED"})
_PATCH_WHOLE_NAMES = frozenset({"OLD", "NEW", "BEFORE", "AFTER", "ORIGINAL", "REPLACEMENT"})
_CODE_MARKERS = ("def ", "class ", "self.")


class _Offsets:
    """UTF-8 byte offsets (libcst) to code-point offsets (engine), plus the BOM shift."""

    def __init__(self, body: str, shift: int) -> None:
        self.shift = shift
        self.byte_pos: list[int] = []  # byte offset just after each non-ASCII char
        self.extra: list[int] = []  # cumulative extra bytes up to and including that char
        if body.isascii():
            return
        total = 0
        byte = 0
        last = 0
        for match in re.finditer(r"[^\x00-\x7f]", body):
            byte += match.start() - last
            width = len(match.group().encode("utf-8"))
            byte += width
            last = match.end()
            total += width - 1
            self.byte_pos.append(byte)
            self.extra.append(total)

    def char(self, byte_offset: int) -> int:
        if not self.byte_pos:
            return byte_offset + self.shift
        k = bisect.bisect_right(self.byte_pos, byte_offset)
        return byte_offset - (self.extra[k - 1] if k else 0) + self.shift


@dataclass(slots=True)
class NodeRef:
    """A node the rules care about, with its ancestors (outermost first) and where it is."""

    node: Any
    ancestors: tuple[Any, ...]
    span: Span
    locator: str
    kind: str = ""  # for recomputed refs: "attribute" | "keyword" | "getattr" | "field"


class PythonInfo:
    """Helpers over one parsed module, shared by the handler and the Python rules."""

    def __init__(self, text: str, module: Any, wrapper: Any, byte_spans: Any, offsets: _Offsets) -> None:
        self.text = text
        self.module = module
        self.wrapper = wrapper
        self.byte_spans = byte_spans
        self.offsets = offsets
        self.imports: dict[str, str] = {}  # local name -> qualified name

    def span(self, node: Any) -> Span:
        """The node's own code-point span (parentheses around it excluded)."""
        b = self.byte_spans[node]
        return Span(self.offsets.char(b.start), self.offsets.char(b.start + b.length))

    def outer_span(self, node: Any) -> Span:
        """The node's span including its own parentheses (and the space inside them)."""
        inner = self.span(node)
        lpar = getattr(node, "lpar", ())
        rpar = getattr(node, "rpar", ())
        start = self.span(lpar[0]).start if lpar else inner.start
        end = self.span(rpar[-1]).end if rpar else inner.end
        return Span(start, end)

    def source(self, node: Any, outer: bool = False) -> str:
        span = self.outer_span(node) if outer else self.span(node)
        return self.text[span.start : span.end]

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

    def qualified_names(self, node: Any) -> set[str]:
        """What a Name/Attribute refers to through the file's imports (aliases resolved).

        libcst's QualifiedNameProvider does the same with full scope analysis, at about a
        second per 2,600 lines; import aliases are all the rules need, so a table built during
        the one walk answers instead. Shadowing by a local assignment is not tracked.
        """
        dotted = self.dotted(node)
        if dotted is None:
            return set()
        head, _, rest = dotted.partition(".")
        if head in self.imports:
            base = self.imports[head]
            return {f"{base}.{rest}" if rest else base}
        return {dotted}

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


def _compile_quietly(source: str):  # type: ignore[no-untyped-def]
    """Parse to an AST (never execute), without printing the SyntaxWarnings of the scanned code
    (`"\\d"` escapes, `0x1for`) to the user's terminal."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(source, "<check>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)


# What Python 3.11's parser says about PEP 701 f-strings (3.12), which libcst parses.
_NEWER_FSTRING_SYNTAX = ("f-string", "unterminated string literal", "unterminated triple-quoted string literal")


def _cpython_rejects(body: str) -> Exception | None:
    """Why CPython refuses `body` (None when it accepts it, or when the refusal is only syntax
    newer than this interpreter: the caller then relies on libcst alone)."""
    try:
        _compile_quietly(body)
    except ValueError as err:  # NUL characters on older interpreters (a SyntaxError on newer ones)
        return err
    except SyntaxError as err:
        if sys.version_info < (3, 12) and str(err.msg).startswith(_NEWER_FSTRING_SYNTAX):
            return None
        return err
    except (RecursionError, MemoryError) as err:
        return err
    return None


class PythonHandler:
    name = "python"

    def parse(self, path: str, text: str) -> Document:
        import libcst as cst
        from libcst.metadata import ByteSpanPositionProvider, MetadataWrapper

        shift = 1 if text.startswith("\ufeff") else 0
        body = text[shift:]
        try:
            module = cst.parse_module(body)
        except Exception as err:  # noqa: BLE001 - libcst's native parser raises several types
            raise self._parse_error(text, err) from None
        # libcst accepts some text CPython refuses (a NUL byte after the binary sniff, `b"é"`):
        # such a file is not Python, so it is a parse error, never checked or written.
        cpython_error = _cpython_rejects(body)
        if cpython_error is not None:
            raise self._error_from_compile(text, cpython_error)
        try:
            wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
            byte_spans = wrapper.resolve(ByteSpanPositionProvider)
            info = PythonInfo(text, module, wrapper, byte_spans, _Offsets(body, shift))
            collector = _collector(info)
            module.visit(collector)
        except RecursionError:
            raise ParseError("invalid Python: nesting too deep to analyse", 0) from None
        info.imports = collector.imports
        sites = _SiteBuilder(info, collector).build()
        extra = {
            "python": {
                "module": module,
                "wrapper": wrapper,
                "byte_spans": byte_spans,
                "info": info,
                "imports": collector.imports,
                "string_sites": sites,
                "recomputed_refs": collector.recomputed,
                "comparisons": collector.comparisons,
                "additive_chains": collector.chains,
                "update_calls": collector.update_calls,
            }
        }
        return Document(path=path, text=text, format=self.name, sites=list(sites), extra=extra)

    def validate(self, text: str) -> None:
        """Both parsers must accept the text: CPython (compiled to an AST only, never
        executed) and libcst. CPython rejects what libcst lets through (a NUL byte, `b"é"`,
        `f(**a, *b)`), and a file CPython rejects is not Python whatever libcst says. The one
        exception is syntax newer than the running interpreter that libcst knows (PEP 701
        f-strings on Python 3.11), accepted when libcst parses it."""
        import libcst as cst

        body = text[1:] if text.startswith("\ufeff") else text
        cpython_error = _cpython_rejects(body)
        try:
            cst.parse_module(body)
        except Exception:  # noqa: BLE001 - libcst's native parser raises several types
            raise self._error_from_compile(text, cpython_error) if cpython_error else self._parse_error(text, None) from None
        if cpython_error is not None:
            raise self._error_from_compile(text, cpython_error)

    def _parse_error(self, text: str, err: Exception | None) -> ParseError:
        # CPython's messages are the ones users know ("'(' was never closed"); use them when
        # the interpreter rejects the file too, libcst's position otherwise.
        body = text[1:] if text.startswith("\ufeff") else text
        try:
            _compile_quietly(body)
        except (SyntaxError, ValueError) as compile_err:
            return self._error_from_compile(text, compile_err)
        except (RecursionError, MemoryError):
            return ParseError("invalid Python: nesting too deep to parse", 0)
        line = getattr(err, "raw_line", 1)
        column = getattr(err, "raw_column", 0)
        message = getattr(err, "message", str(err)).splitlines()[0] if err is not None else "libcst cannot parse it"
        return ParseError(f"invalid Python: {message}", _offset_of(text, line, column))

    @staticmethod
    def _error_from_compile(text: str, err: Exception) -> ParseError:
        if isinstance(err, SyntaxError) and err.lineno is None and "\0" in text:
            return ParseError(f"invalid Python: {err.msg}", text.find("\0"))  # NUL: no position given
        if isinstance(err, SyntaxError):
            column = max((err.offset or 1) - 1, 0)
            return ParseError(f"invalid Python: {err.msg}", _offset_of(text, err.lineno or 1, column))
        if isinstance(err, ValueError):
            # compile() refuses NUL characters with a ValueError.
            return ParseError(f"invalid Python: {err}", max(text.find("\0"), 0))
        return ParseError("invalid Python: nesting too deep to parse", 0)


def _offset_of(text: str, line: int, column: int) -> int:
    index = LineIndex(text)
    row = min(max(line, 1), index.line_count)
    start = index.line_start(row)
    if row == 1 and text.startswith("\ufeff"):
        start += 1
    line_end = len(text) if row == index.line_count else index.line_start(row + 1) - 1
    return min(start + max(column, 0), line_end)


# -------------------------------------------------------------------------------- the walk


def _collector(info: PythonInfo) -> Any:
    """The single walk: a plain libcst visitor that keeps the ancestor stack by hand and
    dispatches on the node type through one dict lookup."""
    import libcst as cst

    handlers, leaves = _handlers(cst)
    return _collector_class(cst)(info, handlers, leaves)


def _collector_class(cst: Any) -> type:
    if "class" in _HANDLER_CACHE:
        return _HANDLER_CACHE["class"]

    class Collector(cst.CSTVisitor):
        def __init__(self, info: PythonInfo, handlers: dict[type, Any], leaves: frozenset[type]) -> None:
            self.info = info
            self.text = info.text
            self.handlers = handlers
            self.leaves = leaves
            self.stack: list[Any] = []
            self.strings: list[tuple[Any, tuple[Any, ...]]] = []
            self.templates: dict[int, str] = {}  # id(string node) -> "format" | "percent"
            self.template_names: dict[str, str] = {}  # NAME used as NAME.format(...) / NAME % x
            self.imports: dict[str, str] = {}
            self.recomputed: list[NodeRef] = []
            self.comparisons: list[NodeRef] = []
            self.chains: list[NodeRef] = []
            self.update_calls: list[NodeRef] = []

        def on_visit(self, node: Any) -> bool:
            kind = type(node)
            handler = self.handlers.get(kind)
            if handler is not None:
                handler(self, node)
            self.stack.append(node)
            return kind not in self.leaves

        def on_leave(self, original_node: Any) -> None:
            self.stack.pop()

        def ref(self, node: Any, kind: str = "") -> NodeRef:
            ancestors = tuple(self.stack)
            return NodeRef(node, ancestors, self.info.span(node), self.info.locator(ancestors), kind)

    _HANDLER_CACHE["class"] = Collector
    return Collector


_HANDLER_CACHE: dict[str, Any] = {}


def _handlers(cst: Any) -> tuple[dict[type, Any], frozenset[type]]:
    """Per-node-type callbacks of the walk (built once; needs libcst imported)."""
    if "handlers" in _HANDLER_CACHE:
        return _HANDLER_CACHE["handlers"]

    string_types = (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)

    def on_string(c: Any, node: Any) -> None:
        if c.stack and isinstance(c.stack[-1], cst.ConcatenatedString):
            return  # a piece of a concatenation: handled with the whole expression
        c.strings.append((node, tuple(c.stack)))

    def on_attribute(c: Any, node: Any) -> None:
        if node.attr.value == "recomputed_tokens":
            c.recomputed.append(c.ref(node, "attribute"))

    def on_arg(c: Any, node: Any) -> None:
        if node.keyword is not None and node.keyword.value == "recomputed_tokens":
            c.recomputed.append(c.ref(node, "keyword"))

    def on_call(c: Any, node: Any) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            attr = func.attr.value
            if attr == "format":
                if isinstance(func.value, string_types):
                    c.templates[id(func.value)] = "format"
                elif isinstance(func.value, cst.Name):
                    c.template_names[func.value.value] = "format"
            elif attr == "update_from_output":
                c.update_calls.append(c.ref(node))
        elif isinstance(func, cst.Name):
            if func.value == "update_from_output":
                c.update_calls.append(c.ref(node))
            elif func.value in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2:
                name = node.args[1].value
                if isinstance(name, cst.SimpleString) and name.evaluated_value == "recomputed_tokens":
                    ancestors = tuple(c.stack) + (node, node.args[1])
                    c.recomputed.append(
                        NodeRef(name, ancestors, c.info.span(name), c.info.locator(ancestors), "getattr")
                    )

    add_sub = (cst.Add, cst.Subtract)

    def on_binary(c: Any, node: Any) -> None:
        op = node.operator
        if isinstance(op, cst.Modulo):
            if isinstance(node.left, string_types):
                c.templates[id(node.left)] = "percent"
            elif isinstance(node.left, cst.Name):
                c.template_names.setdefault(node.left.value, "percent")
            return
        if not isinstance(op, add_sub):
            return
        parent = c.stack[-1] if c.stack else None
        if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, add_sub):
            return  # not the root of its +/- chain
        span = c.info.span(node)
        if "recomputed" in c.text[span.start : span.end]:
            c.chains.append(c.ref(node))

    def on_comparison(c: Any, node: Any) -> None:
        if not any(isinstance(t.operator, cst.Equal) for t in node.comparisons):
            return
        operands = [node.left] + [t.comparator for t in node.comparisons]
        if any(_plus_minus_one(cst, o) for o in operands):
            c.comparisons.append(c.ref(node))

    def on_ann_assign(c: Any, node: Any) -> None:
        target = node.target
        if isinstance(target, cst.Name) and target.value == "recomputed_tokens":
            if any(isinstance(a, cst.ClassDef) for a in c.stack):
                c.recomputed.append(c.ref(target, "field"))

    def on_import(c: Any, node: Any) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            full = c.info.dotted(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                c.imports[alias.asname.name.value] = full
            else:
                head = full.split(".")[0]
                c.imports.setdefault(head, head)

    def on_import_from(c: Any, node: Any) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = ("." * len(node.relative)) + (c.info.dotted(node.module) or "" if node.module else "")
        for alias in node.names:
            name = c.info.dotted(alias.name) or ""
            local = alias.asname.name.value if alias.asname is not None else name
            c.imports[local] = f"{module}.{name}" if module and not module.endswith(".") else module + name

    handlers = {
        cst.SimpleString: on_string,
        cst.FormattedString: on_string,
        cst.ConcatenatedString: on_string,
        cst.Attribute: on_attribute,
        cst.Arg: on_arg,
        cst.Call: on_call,
        cst.BinaryOperation: on_binary,
        cst.Comparison: on_comparison,
        cst.AnnAssign: on_ann_assign,
        cst.Import: on_import,
        cst.ImportFrom: on_import_from,
    }
    leaves = frozenset(
        {
            cst.SimpleWhitespace,
            cst.ParenthesizedWhitespace,
            cst.TrailingWhitespace,
            cst.EmptyLine,
            cst.Newline,
            cst.Comment,
            cst.Comma,
        }
    )
    _HANDLER_CACHE["handlers"] = (handlers, leaves)
    return handlers, leaves


def _plus_minus_one(cst: Any, node: Any) -> bool:
    if not isinstance(node, cst.BinaryOperation):
        return False
    one = lambda n: isinstance(n, cst.Integer) and n.value == "1"  # noqa: E731
    if isinstance(node.operator, cst.Add):
        return one(node.left) or one(node.right)
    return isinstance(node.operator, cst.Subtract) and one(node.right)


# ------------------------------------------------------------------------------ sites


class _SiteBuilder:
    def __init__(self, info: PythonInfo, collector: Any) -> None:
        self.info = info
        self.c = collector
        self.text = info.text

    def build(self) -> list[Any]:
        sites = []
        for node, ancestors in self.c.strings:
            site = self._site(node, ancestors)
            if site is not None:
                sites.append(site)
        return sites

    # -- one string expression ---------------------------------------------------------
    def _site(self, node: Any, ancestors: tuple[Any, ...]) -> Any:
        from migrator.formats.python_strings import build_string_site

        span = self.info.span(node)
        raw = self.text[span.start : span.end]
        # Cheap tests first: most strings of a file mention nothing and sit nowhere special.
        if not any(t in raw for t in STRING_TRIGGERS):
            if not (self._mentions_when_decoded(node) or self._maybe_promql_place(ancestors)):
                return None
        place = self._place(node, ancestors)
        if not place["promql"] and not any(t in raw for t in STRING_TRIGGERS):
            if not self._mentions_when_decoded(node):
                return None
        template = self.c.templates.get(id(node))
        if template is None and place["assigned_to"] in self.c.template_names:
            template = self.c.template_names[place["assigned_to"]]
        pieces = self._pieces(node, template)
        if not pieces:
            return None
        context = {
            "container": place["container"],
            "element_removal": place["element_removal"],
            "container_span": place["container_span"],
            "definition": place["definition"],
            "keyword": place["keyword"],
            "callee": place["callee"],
            "assigned_to": place["assigned_to"],
            "dict_key": place["dict_key"],
            "template": template or ("f-string" if any(p.style.fstring for p in pieces) else None),
        }
        locator = self.info.locator(ancestors)
        if place["detail"]:
            locator = f"{locator}: {place['detail']}"
        site = build_string_site(self.text, pieces, kind=SiteKind.TEXT, locator=locator, context=context)
        if place["promql"]:
            site.kind = SiteKind.PROMQL
        elif place["definition"]:
            site.kind = SiteKind.NAME
        else:
            site.kind = guess_kind(site.value)
        if self._quotes_source(site.value, place):
            site.editable = False
            site.readonly_reason = READONLY_PATCH_REASON
        return site

    def _mentions_when_decoded(self, node: Any) -> bool:
        """A trigger hidden by escapes (`prompt\\x5ftokens`) or split across the pieces of an
        implicit concatenation. A single literal is evaluated (libcst does it through the AST);
        a concatenation is checked on its pieces' bodies joined without the gaps."""
        import libcst as cst

        if isinstance(node, cst.ConcatenatedString):
            # Bodies joined without the gaps; escapes inside them are rare enough to ignore.
            joined = "".join(self.text[p.body_start : p.body_end] for p in self._pieces(node, None))
            return any(t in joined for t in STRING_TRIGGERS)
        if not isinstance(node, cst.SimpleString) or "\\" not in node.value:
            return False
        try:
            value = node.evaluated_value
        except Exception:  # noqa: BLE001 - an odd literal is simply not a candidate
            return False
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        return isinstance(value, str) and any(t in value for t in STRING_TRIGGERS)

    def _maybe_promql_place(self, ancestors: tuple[Any, ...]) -> bool:
        import libcst as cst

        parent = ancestors[-1] if ancestors else None
        if isinstance(parent, cst.Arg):
            return parent.keyword is not None and parent.keyword.value in PROMQL_KEYS
        # Dict values, and templates whose use (`.format(...)`, `%`) is the real place.
        return isinstance(parent, (cst.DictElement, cst.Attribute, cst.BinaryOperation))

    def _pieces(self, node: Any, template: str | None) -> list[Any]:
        import libcst as cst

        from migrator.formats.python_strings import Piece, style_of_simple

        flat: list[Any] = []
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, cst.ConcatenatedString):
                stack.append(current.right)
                stack.append(current.left)
            else:
                flat.append(current)
        pieces = []
        for piece in flat:
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

    # -- where the string sits --------------------------------------------------------
    def _place(self, node: Any, ancestors: tuple[Any, ...]) -> dict[str, Any]:
        import libcst as cst

        place: dict[str, Any] = {
            "container": "other",
            "element_removal": None,
            "container_span": None,
            "definition": None,
            "keyword": None,
            "callee": None,
            "assigned_to": None,
            "dict_key": None,
            "promql": False,
            "replace_arg": False,
            "detail": "",
        }
        expr = node
        level = len(ancestors) - 1
        # A template's use (`"...".format(x)`, `"..." % x`) stands where the string would.
        if level >= 1 and isinstance(ancestors[level], cst.Attribute) and isinstance(ancestors[level - 1], cst.Call):
            if ancestors[level].attr.value == "format" and ancestors[level - 1].func is ancestors[level]:
                expr, level = ancestors[level - 1], level - 2
        elif level >= 0 and isinstance(ancestors[level], cst.BinaryOperation):
            if isinstance(ancestors[level].operator, cst.Modulo) and ancestors[level].left is node:
                expr, level = ancestors[level], level - 1
        if level < 0:
            return place
        parent = ancestors[level]
        grand = ancestors[level - 1] if level >= 1 else None
        owner = self._assigned_name(ancestors, level)
        if isinstance(parent, cst.Element) and isinstance(grand, (cst.List, cst.Set, cst.Tuple)):
            container = {cst.List: "list", cst.Set: "set", cst.Tuple: "tuple"}[type(grand)]
            place["container"] = container
            place["container_span"] = self.info.outer_span(grand)
            index = next(i for i, e in enumerate(grand.elements) if e is parent)
            place["detail"] = f"{owner or container}[{index}]"
            place["assigned_to"] = owner
            if self._keeps_live_element(grand.elements, index):
                place["element_removal"] = self._element_removal(grand, index, container == "tuple")
        elif isinstance(parent, cst.DictElement):
            owner_dict = grand
            if parent.key is expr:
                place["container"] = "dict-key"
                place["container_span"] = self.info.outer_span(owner_dict)
                place["detail"] = f"{owner or 'dict'} key"
                place["assigned_to"] = owner
                if isinstance(owner_dict, cst.Dict):
                    index = next(i for i, e in enumerate(owner_dict.elements) if e is parent)
                    if self._keeps_live_element(owner_dict.elements, index):
                        place["element_removal"] = self._element_removal(owner_dict, index, False)
            else:
                key = parent.key
                if isinstance(key, cst.SimpleString):
                    try:
                        key_value = key.evaluated_value
                    except Exception:  # noqa: BLE001
                        key_value = None
                    if isinstance(key_value, str):
                        place["dict_key"] = key_value
                        place["promql"] = key_value in PROMQL_KEYS
                        place["detail"] = f"{owner or 'dict'}[{key_value!r}]"
        elif isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
            place["container"] = "call-arg"
            callee = self.info.dotted(grand.func)
            place["callee"] = callee
            keyword = parent.keyword.value if parent.keyword is not None else None
            place["keyword"] = keyword
            positional = [a for a in grand.args if a.keyword is None and not a.star]
            position = next((i for i, a in enumerate(positional) if a is parent), None)
            place["promql"] = keyword in PROMQL_KEYS
            place["definition"] = self._definition(grand, keyword, position)
            where = f"{keyword}=" if keyword else f"argument {position + 1 if position is not None else '*'}"
            place["detail"] = f"{(callee or 'call').rsplit('.', 1)[-1]}({where})"
            if isinstance(grand.func, cst.Attribute) and grand.func.attr.value == "replace" and position in (0, 1):
                place["replace_arg"] = True
        elif owner:
            place["assigned_to"] = owner
            place["detail"] = owner
        return place

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

    def _definition(self, call: Any, keyword: str | None, position: int | None) -> str | None:
        import libcst as cst

        if not (keyword == "name" or (keyword is None and position == 0)):
            return None
        func = call.func
        for qualified in self.info.qualified_names(func):
            module, _, last = qualified.rpartition(".")
            if module.startswith("prometheus_client") and last in PROMETHEUS_INSTRUMENTS:
                return "prometheus_client"
        last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        if isinstance(func, cst.Attribute) and last in OTEL_FACTORIES:
            return "opentelemetry"
        if _INSTRUMENT_ALIAS.fullmatch(last or "") and (last in PROMETHEUS_INSTRUMENTS or "_" in last):
            return "prometheus_client"
        return None

    def _quotes_source(self, value: str, place: dict[str, Any]) -> bool:
        if place["replace_arg"]:
            return True
        if "\n" in value and any(marker in value for marker in _CODE_MARKERS):
            return True
        name = place["assigned_to"]
        if name and place["container"] == "other":
            last = name.rsplit(".", 1)[-1].upper()
            if last in _PATCH_WHOLE_NAMES or _PATCH_NAME_WORDS & set(last.split("_")):
                return True
        return False

    # -- removing one element of a literal container -----------------------------------
    def _keeps_live_element(self, elements, index: int) -> bool:  # type: ignore[no-untyped-def]
        """Removing one entry is a fix only while the collection keeps an entry that is not the
        removed metric; a collection of nothing but its spellings is for a person to delete."""
        return any(
            "prompt_tokens_recomputed" not in self.info.source(e) for i, e in enumerate(elements) if i != index
        )

    def _element_removal(self, container: Any, index: int, is_tuple: bool) -> tuple[Edit, ...] | None:
        spans = [self.info.span(e) for e in container.elements]
        return element_removal_edits(self.text, [(s.start, s.end) for s in spans], index, is_tuple=is_tuple)


# ----------------------------------------------------------------------------- removal

_AFTER_ELEMENT = re.compile(r"[ \t]*(,)?")
_REST_OF_LINE = re.compile(r"[ \t]*(?:#[^\r\n]*)?(?:\r\n|\n|\r|$)")


def _line_start(text: str, pos: int) -> int:
    return max(text.rfind("\n", 0, pos), text.rfind("\r", 0, pos)) + 1


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
    one element keeps a trailing comma (or it would stop being a tuple). `inside` is the
    region between the brackets, needed only to empty a call's argument list.
    """
    n = len(items)
    if not 0 <= index < n:
        return None
    start, end = items[index]
    after = _AFTER_ELEMENT.match(text, end)
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
    line_start = _line_start(text, start)
    rest = _REST_OF_LINE.match(text, comma_end)
    if text[line_start:start].strip() == "" and rest is not None:
        # Alone on its line (a trailing comment belongs to it): the whole line goes.
        edits.append(Edit(Span(line_start, rest.end()), ""))
    elif index < n - 1:
        next_start = items[index + 1][0]
        between = text[end:next_start]
        if "#" in between:
            stop = _AFTER_ELEMENT.match(text, comma_end)
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
            prev_comma = _AFTER_ELEMENT.match(text, prev_end)
            edits.append(Edit(Span(prev_comma.end() if prev_comma else prev_end, comma_end), ""))
        else:
            edits.append(Edit(Span(prev_end, end), ""))
    if is_tuple and n == 2 and index == 0:
        survivor_end = items[1][1]
        tail = _AFTER_ELEMENT.match(text, survivor_end)
        if tail is None or tail.group(1) is None:
            edits.append(Edit(Span(survivor_end, survivor_end), ","))
    return tuple(edits)


# ------------------------------------------------------------------- arithmetic helpers
# Shared by the Python rules: the era-(a) identities are +/- chains of stats fields.


class NotEvaluable(Exception):
    """The expression uses something other than known fields, numbers and + - * /.
    `args[0]` is the offending node, or the unknown field's name."""


def _ops(cst: Any) -> dict[type, str]:
    return {
        cst.Add: "+",
        cst.Subtract: "-",
        cst.Multiply: "*",
        cst.Divide: "/",
        cst.FloorDivide: "//",
    }


def enclosing_arithmetic(node: Any, ancestors: tuple[Any, ...]) -> Any:
    """The largest arithmetic expression (+ - * / //, unary minus) that contains `node`."""
    import libcst as cst

    ops = _ops(cst)
    top = node
    for parent in reversed(ancestors):
        if isinstance(parent, cst.BinaryOperation) and type(parent.operator) in ops:
            top = parent
        elif isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, (cst.Minus, cst.Plus)):
            top = parent
        else:
            break
    return top


def additive_terms(node: Any, sign: int = 1) -> list[tuple[Any, int]]:
    """Flatten a +/- chain (through parentheses) into (term, sign) pairs."""
    import libcst as cst

    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract)):
        right_sign = sign if isinstance(node.operator, cst.Add) else -sign
        return additive_terms(node.left, sign) + additive_terms(node.right, right_sign)
    return [(node, sign)]


def term_removal_edits(info: PythonInfo, node: Any, ancestors: tuple[Any, ...]) -> tuple[Edit, ...] | None:
    """Edits deleting `node` and its operator from the +/- operation it is an operand of,
    keeping every other byte; None when it is not such an operand (or is `node - x`)."""
    import libcst as cst

    if not ancestors:
        return None
    parent = ancestors[-1]
    if not (isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, (cst.Add, cst.Subtract))):
        return None
    text = info.text
    term = info.outer_span(node)
    if parent.right is node:
        keep_end = info.outer_span(parent.left).end
        operator = info.span(parent.operator)
        line_start = _line_start(text, operator.start)
        rest = _REST_OF_LINE.match(text, term.end)
        if text[line_start : operator.start].strip() == "" and rest is not None and rest.group().strip() == "":
            # `    - stats.recomputed_tokens` on a line of its own: the line goes, and a
            # comment ending the previous line stays where it was.
            return (Edit(Span(line_start, rest.end()), ""),)
        return (Edit(Span(keep_end, term.end), ""),)
    if parent.left is node and isinstance(parent.operator, cst.Add):
        return (Edit(Span(term.start, info.outer_span(parent.right).start), ""),)
    return None


def evaluate(node: Any, values: dict[str, Any], removed: Any = None) -> Any:
    """Evaluate an arithmetic expression over `values` (field name -> number), with the
    operand `removed` taken out of its +/- operation. Never `eval`: only numbers, attribute
    reads of known fields, `get_by_source("...")` and + - * / // are understood.
    Returns a Fraction, or None for a division by zero."""
    import libcst as cst
    from fractions import Fraction

    def ev(n: Any) -> Any:
        if isinstance(n, cst.BinaryOperation):
            op = type(n.operator)
            if removed is not None and n.right is removed and op in (cst.Add, cst.Subtract):
                return ev(n.left)
            if removed is not None and n.left is removed and op is cst.Add:
                return ev(n.right)
            a, b = ev(n.left), ev(n.right)
            if a is None or b is None:
                return None
            if op is cst.Add:
                return a + b
            if op is cst.Subtract:
                return a - b
            if op is cst.Multiply:
                return a * b
            if op in (cst.Divide, cst.FloorDivide):
                if b == 0:
                    return None
                return a / b if op is cst.Divide else Fraction(a // b)
            raise NotEvaluable(f"operator {type(n.operator).__name__}")
        if isinstance(n, cst.UnaryOperation) and isinstance(n.operator, (cst.Minus, cst.Plus)):
            v = ev(n.expression)
            return None if v is None else (-v if isinstance(n.operator, cst.Minus) else v)
        if isinstance(n, (cst.Integer, cst.Float)):
            return Fraction(n.evaluated_value)
        if isinstance(n, cst.Attribute):
            return field(n.attr.value)
        if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "get_by_source":
            if len(n.args) == 1 and isinstance(n.args[0].value, cst.SimpleString):
                source = n.args[0].value.evaluated_value
                return field({"local_compute": "computed"}.get(source, source))
        raise NotEvaluable(n)

    def field(name: str) -> Any:
        if name not in values:
            raise NotEvaluable(name)
        return Fraction(values[name])

    return ev(node)
