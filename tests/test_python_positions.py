"""Positions of Python nodes: code points from `ast`'s byte columns, and the parentheses
`ast` drops (found from the text between a node and its siblings)."""

from __future__ import annotations

import ast
import textwrap

import pytest

POSITIONS_SOURCE = textwrap.dedent(
    '''\
    # café
    import prometheus_client as pc  # ünïcode


    @decorator(  # why
        "🚀", key={"a": [1, 2]},
    )
    class Logger(Base):
        """Docstring ✓."""

        def record(self, s, *args, **kw) -> None:
            total = (s.a  # first
                     + s.b) - s.c
            print(f"{total!r:>10} é {s.d['x']}", "tail" "more")
            return [x for x in s if x] or {k: v for k, v in kw.items()}
    '''
)


def test_positions_agree_with_libcst_byte_spans() -> None:
    """The libcst fallback (syntax newer than the interpreter) computes code-point spans with
    its own code generation pass; they agree with libcst's byte spans."""
    import libcst as cst
    from libcst.metadata import ByteSpanPositionProvider, MetadataWrapper

    from migrator.formats.python_cst_tree import PythonInfo as CstInfo

    module = cst.parse_module(POSITIONS_SOURCE)
    bytes_ = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ByteSpanPositionProvider)
    info = CstInfo("\ufeff" + POSITIONS_SOURCE, module, shift=1)
    raw = POSITIONS_SOURCE.encode("utf-8")
    for node, span in bytes_.items():
        mine = info.span(node)
        assert info.text[mine.start : mine.end] == raw[span.start : span.start + span.length].decode("utf-8")


def test_ast_positions_are_code_points_after_a_bom() -> None:
    from migrator.formats.python_tree import PythonInfo

    tree = ast.parse(POSITIONS_SOURCE)
    info = PythonInfo("\ufeff" + POSITIONS_SOURCE, tree, shift=1)
    for node in ast.walk(tree):
        segment = ast.get_source_segment(POSITIONS_SOURCE, node)
        if segment is not None and not isinstance(node, (ast.JoinedStr, ast.FormattedValue)):
            assert info.source(node) == segment, ast.dump(node)


@pytest.mark.parametrize(
    ("src", "wanted", "outer"),
    [
        ("x = f(((a)), b)\n", "a", "((a))"),
        ("x = f((a))\n", "a", "(a)"),
        ("x = f(a)\n", "a", "a"),
        ("x = (f)(a)\n", "f", "(f)"),
        ("x = [(  # c (\n  a  ), b]\n", "a", "(  # c (\n  a  )"),
        ("x = ((1, 2))\n", "(1, 2)", "((1, 2))"),  # a tuple's own parentheses are part of it
        ("class C((Base)):\n    pass\n", "Base", "(Base)"),
        ("class C(Base):\n    pass\n", "Base", "Base"),
        ("x = f'{(a)}'\n", "a", "(a)"),
    ],
)
def test_outer_spans_take_the_nodes_own_parentheses(src: str, wanted: str, outer: str) -> None:
    from migrator.formats.python_tree import PythonInfo, walk

    info = PythonInfo(src, ast.parse(src))
    walk(info, lambda node, path: False, {})
    (node,) = [n for n in ast.walk(info.module) if hasattr(n, "end_col_offset") and info.source(n) == wanted]
    assert info.source(node, outer=True) == outer
