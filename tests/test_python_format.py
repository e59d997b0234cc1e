"""The Python handler: string sites with exact offsets, encoders, container context, parsing.

Edited sources are checked with `ast` / `ast.literal_eval` on literals only: scanned code is
never executed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from migrator.engine import apply_edits
from migrator.formats.base import ParseError, SiteKind, SiteNeeds
from migrator.formats.python_format import PythonHandler
from migrator.promql.parser import parse as parse_promql

NAME = "prompt_tokens_recomputed"
# Needles as rules give them; most tests use the metric's stem, so that escapes can hide it.
NEEDS = SiteNeeds(needles=(NAME,))


def parse(src: str, needs: SiteNeeds = NEEDS):  # type: ignore[no-untyped-def]
    return PythonHandler().parse("t.py", textwrap.dedent(src), needs)


def only_site(doc):  # type: ignore[no-untyped-def]
    (site,) = doc.sites
    return site


def raw_of(doc, site, start: int, end: int) -> str:  # type: ignore[no-untyped-def]
    span = site.file_span(start, end)
    return doc.text[span.start : span.end]


def name_range(site) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    i = site.value.index(NAME)
    return i, i + len(NAME)


# ------------------------------------------------------------------------ literal forms


@pytest.mark.parametrize(
    ("literal", "value", "raw_name"),
    [
        ('"vllm:prompt_tokens_recomputed"', "vllm:prompt_tokens_recomputed", NAME),
        ("r'vllm:prompt_tokens_recomputed\\d'", "vllm:prompt_tokens_recomputed\\d", NAME),
        ('b"vllm:prompt_tokens_recomputed"', "vllm:prompt_tokens_recomputed", NAME),
        ('"""\nvllm:prompt_tokens_recomputed\n"""', "\nvllm:prompt_tokens_recomputed\n", NAME),
        ('"a\\n\\tvllm:prompt_tokens_recomputed"', "a\n\tvllm:prompt_tokens_recomputed", NAME),
        # Escapes inside the name itself: each decoded char maps to its whole escape.
        ('"vllm:prompt\\x5ftokens\\u005frecomputed"', "vllm:prompt_tokens_recomputed", "prompt\\x5ftokens\\u005frecomputed"),
        ('"vllm:prompt\\137tokens_recomputed"', "vllm:prompt_tokens_recomputed", "prompt\\137tokens_recomputed"),
        ('"\\N{EM DASH} vllm:prompt_tokens_recomputed"', "\u2014 vllm:prompt_tokens_recomputed", NAME),
        ('"vllm:prompt_tokens_\\\nrecomputed"', "vllm:prompt_tokens_recomputed", "prompt_tokens_\\\nrecomputed"),
    ],
)
def test_literal_offsets(literal: str, value: str, raw_name: str) -> None:
    doc = parse(f"X = {literal}\n")
    site = only_site(doc)
    assert site.value == value
    assert raw_of(doc, site, *name_range(site)) == raw_name
    # Every single decoded character maps to source that decodes to it.
    for i, char in enumerate(site.value):
        source = raw_of(doc, site, i, i + 1)
        if source.startswith("\\") and not literal.startswith("r"):
            assert ast.literal_eval('"' + source + '"') == char
        else:
            assert source.replace("\r\n", "\n") == char


def test_non_ascii_before_the_hit_uses_code_point_offsets() -> None:
    src = 'NOTE = "café 🚀"\nQ = "sum(rate(vllm:prompt_tokens_recomputed_total[5m]))"  # ünïcode\n'
    doc = parse(src)
    site = only_site(doc)
    start, end = name_range(site)
    assert raw_of(doc, site, start, end) == NAME
    assert src.index(NAME) == site.to_file(start)


def test_bom_and_crlf() -> None:
    src = '\ufeffX = 1\r\nQ = """\r\nvllm:prompt_tokens_recomputed\r\n"""\r\n'
    doc = PythonHandler().parse("t.py", src, NEEDS)
    site = only_site(doc)
    assert site.value == "\nvllm:prompt_tokens_recomputed\n"
    assert raw_of(doc, site, *name_range(site)) == NAME
    assert raw_of(doc, site, 0, 1) == "\r\n"


def test_form_feed_at_the_start_keeps_offsets_exact() -> None:
    # libcst drops a leading form feed (its code round trip is not exact); `ast` does not.
    src = '\x0cx = 1\n\x0c\nL = ( "vllm:prompt_tokens_recomputed" ,\n "b")\n'
    doc = PythonHandler().parse("t.py", src, NEEDS)
    site = only_site(doc)
    assert site.value == "vllm:prompt_tokens_recomputed"
    assert raw_of(doc, site, *name_range(site)) == NAME
    fixed = apply_edits(src, list(site.context.container.removal))
    assert ast.literal_eval(fixed.split("=", 2)[2].strip()) == ("b",)


# ----------------------------------------------------------- f-strings and templates


def test_fstring_fields_are_protected_placeholders() -> None:
    doc = parse('Q = f"sum(rate(vllm:prompt_tokens_recomputed_total{{job=\\"{job}\\"}}[{w}]))"\n')
    site = only_site(doc)
    assert site.value == 'sum(rate(vllm:prompt_tokens_recomputed_total{job="${__py0}"}[${__py1}]))'
    assert site.kind is SiteKind.PROMQL
    assert len(site.protected) == 2
    for p_start, p_end in site.protected:
        assert site.value[p_start:p_end].startswith("${__py")
        assert not site.can_edit(p_start + 1, p_end)
    assert raw_of(doc, site, *site.protected[0]) == "{job}"
    assert raw_of(doc, site, *name_range(site)) == NAME
    assert site.can_edit(*name_range(site))
    parse_promql(site.value)


def test_format_template_doubled_braces_decode_to_promql() -> None:
    doc = parse('Q = "rate(vllm:prompt_tokens_recomputed_total{{{sel}}}[5m])".format(sel=s)\n')
    site = only_site(doc)
    assert site.context.template == "format"
    assert site.kind is SiteKind.PROMQL
    (protected,) = site.protected
    assert raw_of(doc, site, *protected) == "{sel}"
    literal_text = site.value[: protected[0]] + site.value[protected[1] :]
    assert literal_text == "rate(vllm:prompt_tokens_recomputed_total{}[5m])"
    parse_promql(site.value)
    # The `{{` before the field is one decoded "{" spanning two source characters.
    brace = site.value.index("{")
    assert raw_of(doc, site, brace, brace + 1) == "{{"


def test_format_template_through_a_name() -> None:
    doc = parse(
        """
        TEMPLATE = "sum(rate(vllm:prompt_tokens_recomputed_total{{model_name='{model}'}}[5m]))"
        query = TEMPLATE.format(model="m")
        """
    )
    site = only_site(doc)
    assert site.value == "sum(rate(vllm:prompt_tokens_recomputed_total{model_name='${__py0}'}[5m]))"


def test_percent_template() -> None:
    doc = parse("Q = \"rate(vllm:prompt_tokens_recomputed_total{job='%s'}[5m]) * 100%%\" % job\n")
    site = only_site(doc)
    assert site.value == "rate(vllm:prompt_tokens_recomputed_total{job='${__py0}'}[5m]) * 100%"
    assert raw_of(doc, site, *site.protected[0]) == "%s"


def test_fstring_without_template_keeps_single_braces_literal() -> None:
    # Not a template: "{x}" in a plain string is text.
    doc = parse('Q = "vllm:prompt_tokens_recomputed{x}"\n')
    assert only_site(doc).value == "vllm:prompt_tokens_recomputed{x}"
    assert only_site(doc).protected == ()


# --------------------------------------------------------------- implicit concatenation


def test_implicit_concatenation_is_one_site_with_a_gap() -> None:
    src = 'Q = ("sum(rate(vllm:prompt_tokens_"\n     \'recomputed_total[5m]))\')\n'
    doc = parse(src)
    site = only_site(doc)
    assert site.value == "sum(rate(vllm:prompt_tokens_recomputed_total[5m]))"
    start, end = name_range(site)
    boundary = site.value.index("recomputed")
    assert (boundary, boundary) in site.protected
    assert not site.can_edit(start, end)  # spans the gap
    with pytest.raises(ValueError):
        site.edit(start, end, "x")
    # Within one piece it works, with that piece's quote style.
    edit = site.edit(boundary, boundary + len("recomputed"), "it's")
    assert apply_edits(src, [edit]).endswith("'it\\'s_total[5m]))')\n")


@pytest.mark.parametrize(
    "src",
    [
        'NAMES = ["vllm:gpu_cache_"\n         "usage_perc"]\n',  # a name
        'Q = ("sum(rate(vllm:gpu_cache_"\n     "usage_perc[5m]))")\n',  # PromQL
    ],
)
def test_a_rename_across_a_concatenation_gap_says_so(src: str) -> None:
    """The fix is refused for the right reason: not templating, the split literal."""
    from migrator.config import Settings
    from migrator.engine import lint_text

    (finding,) = lint_text("t.py", src, Settings(), "python").findings
    assert finding.code == "VMM010" and finding.fix.applicability.value == "display-only"
    assert "implicit concatenation" in finding.fix.message
    assert "templated" not in finding.fix.message


def test_deleting_a_whole_piece_deletes_the_literal() -> None:
    src = 'Q = (\n    "sum(a)"\n    " - sum(vllm:prompt_tokens_recomputed_total)"\n)\n'
    doc = parse(src)
    site = only_site(doc)
    cut = site.value.index(" - ")
    assert site.can_edit(cut, len(site.value))
    fixed = apply_edits(src, [site.edit(cut, len(site.value), "")])
    assert fixed == 'Q = (\n    "sum(a)"\n)\n'


def test_edit_swallowing_a_whole_field_is_allowed_but_not_cutting_into_one() -> None:
    src = 'Q = f"sum(a{{m=\\"{m}\\"}}) + sum(vllm:prompt_tokens_recomputed_total{{m=\\"{m}\\"}})"\n'
    doc = parse(src)
    site = only_site(doc)
    cut = site.value.index(" + ")
    assert site.can_edit(cut, len(site.value))
    second_field = site.protected[1]
    assert not site.can_edit(cut, second_field[0] + 2)
    fixed = apply_edits(src, [site.edit(cut, len(site.value), "")])
    assert fixed == 'Q = f"sum(a{{m=\\"{m}\\"}})"\n'
    # A replacement that keeps a placeholder gets the field's source back.
    keep = site.value[cut:]
    fixed = apply_edits(src, [site.edit(cut, len(site.value), keep.replace("recomputed", "cached"))])
    assert fixed == src.replace("recomputed", "cached")


# ---------------------------------------------------------------------------- encoders


@pytest.mark.parametrize(
    "literal",
    ['"{}"', "'{}'", '"""{}"""', "'''{}'''", 'b"{}"', 'u"{}"'],
)
@pytest.mark.parametrize("replacement", ['vllm:x{a="b"}', "it's \\d", "two\nlines", "tab\tand é"])
def test_encoder_round_trip(literal: str, replacement: str) -> None:
    if literal.startswith("b") and "é" in replacement:
        pytest.skip("not representable in bytes")
    src = "X = " + literal.format("pre vllm:prompt_tokens_recomputed post") + "\n"
    doc = parse(src)
    site = only_site(doc)
    start = site.value.index("vllm:")
    end = start + len("vllm:prompt_tokens_recomputed")
    fixed = apply_edits(src, [site.edit(start, end, replacement)])
    value = ast.literal_eval(fixed[4:].strip())
    expected = f"pre {replacement} post"
    assert value == (expected.encode() if isinstance(value, bytes) else expected)


def test_raw_encoder_refuses_what_it_cannot_write() -> None:
    doc = parse('X = r"vllm:prompt_tokens_recomputed"\n')
    site = only_site(doc)
    assert site.edit(0, 4, "a\\d").content == "a\\d"
    with pytest.raises(ValueError):
        site.edit(0, 4, 'say "hi"')


def test_template_encoders_double_braces() -> None:
    src = 'Q = "vllm:prompt_tokens_recomputed_total{{{sel}}}".format(sel=s)\nF = f"{x} vllm:prompt_tokens_recomputed"\n'
    doc = parse(src)
    template, fstring = doc.sites
    edit = template.edit(0, 4, "{a}")
    assert edit.content == "{{a}}"
    assert fstring.edit(fstring.value.index("vllm"), fstring.value.index("vllm") + 4, "}").content == "}}"
    fixed = apply_edits(src, [edit])
    literal = fixed.split("=", 1)[1].split(".format")[0].strip()
    assert ast.literal_eval(literal).format(sel="S") == "{a}:prompt_tokens_recomputed_total{S}"


# -------------------------------------------------------------------- NAME context


def _removed(src: str, var: str):  # type: ignore[no-untyped-def]
    doc = parse(src)
    (site,) = [s for s in doc.sites if s.value.startswith("vllm:prompt_tokens_recomputed")]
    assert site.context.container is not None
    edits = site.context.container.removal
    assert edits, site.context
    fixed = apply_edits(doc.text, list(edits))
    tree = ast.parse(fixed)  # still compiles
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == var:  # type: ignore[attr-defined]
            return fixed, ast.literal_eval(ast.get_source_segment(fixed, node.value))
    raise AssertionError("assignment gone")


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ('L = ["a", "vllm:prompt_tokens_recomputed", "b"]\n', ["a", "b"]),
        ('L = ["a", "vllm:prompt_tokens_recomputed"]\n', ["a"]),
        ('L = ["vllm:prompt_tokens_recomputed", "a",]\n', ["a"]),
        ('L = [\n    "a",\n    "vllm:prompt_tokens_recomputed",  # gone\n    "b",\n]\n', ["a", "b"]),
        ('L = [\n    "a",\n    "vllm:prompt_tokens_recomputed"\n]\n', ["a"]),
        ('L = ["a",  # keep me\n     "vllm:prompt_tokens_recomputed"]\n', ["a"]),
        ('L = {"a", "vllm:prompt_tokens_recomputed"}\n', {"a"}),
        ('L = ("a", "vllm:prompt_tokens_recomputed")\n', ("a",)),
        ('L = ("vllm:prompt_tokens_recomputed", "a")\n', ("a",)),
        ('L = (\n    "vllm:prompt_tokens_recomputed",\n    "a"\n)\n', ("a",)),
        ('L = "a", "vllm:prompt_tokens_recomputed", "b"\n', ("a", "b")),
        ('L = {"vllm:prompt_tokens_recomputed": 1, "b": 2}\n', {"b": 2}),
        ('L = {\n    "a": 1,\n    "vllm:prompt_tokens_recomputed": [\n        2,\n    ],  # old\n}\n', {"a": 1}),
    ],
)
def test_element_removal(src: str, expected: object) -> None:
    fixed, value = _removed(src, "L")
    assert value == expected
    assert "# keep me" in fixed or "# keep me" not in src


def test_container_context() -> None:
    doc = parse(
        """
        L = ["vllm:prompt_tokens_recomputed"]
        S = {"vllm:prompt_tokens_recomputed", "a"}
        T = ("vllm:prompt_tokens_recomputed", "a")
        D = {"vllm:prompt_tokens_recomputed": 1}
        f("vllm:prompt_tokens_recomputed")
        """
    )
    got = [
        (s.context.container.kind, s.context.container.removal is not None) if s.context.container else None
        for s in doc.sites
    ]
    # The only element of a collection has no removal: a collection is never emptied.
    assert got == [("list", False), ("set", True), ("tuple", True), ("dict-key", False), None]
    assert doc.sites[4].context.callee == "f"
    assert all(s.kind is SiteKind.NAME for s in doc.sites)
    assert doc.sites[1].locator == "module: S[0]"


def test_container_values_show_every_element_decoded() -> None:
    doc = parse(
        """
        KEEP = [
            "vllm:prompt_tokens_recomputed",  # old
            'vllm:prompt_\\x74okens_cached',
            ("vllm:" "prompt_tokens_total"),
            f"vllm:{name}",
            f"plain",
            42,
            *more,
        ]
        """
    )
    (site,) = doc.sites
    container = site.context.container
    assert container.kind == "list" and container.index == 0 and container.owner == "KEEP"
    assert container.values == (
        "vllm:prompt_tokens_recomputed",
        "vllm:prompt_tokens_cached",
        "vllm:prompt_tokens_total",
        None,  # an f-string with a field is not a plain string
        "plain",
        None,
        None,
    )
    span = container.span
    assert doc.text[span.start : span.end].startswith("[") and doc.text[span.start : span.end].endswith("]")
    fixed = apply_edits(doc.text, list(container.removal))
    assert "# old" not in fixed and "prompt_tokens_recomputed" not in fixed
    ast.parse(fixed)


def test_dict_key_container_and_owner_of_nested_collections() -> None:
    doc = parse(
        """
        RENAMES = {"vllm:prompt_tokens_recomputed": "x", **BASE, 3: "y"}
        panel(metrics=["a", "vllm:prompt_tokens_recomputed"])
        CONFIG = {"series": ("vllm:prompt_tokens_recomputed", "b")}
        """
    )
    key, arg, nested = doc.sites
    assert key.context.container.kind == "dict-key"
    assert key.context.container.values == ("vllm:prompt_tokens_recomputed", None, None)
    assert apply_edits(doc.text, list(key.context.container.removal)).startswith('\nRENAMES = {**BASE, 3: "y"}')
    assert arg.context.container.owner == "panel(metrics=)"
    assert nested.context.container.owner == "series"
    assert nested.context.container.values == ("vllm:prompt_tokens_recomputed", "b")


def test_instrument_definitions_through_aliases() -> None:
    doc = parse(
        """
        import prometheus_client as pc
        from prometheus_client import Counter as C
        from opentelemetry import metrics

        A = pc.Counter("vllm:prompt_tokens_recomputed", "h", ["model_name"])
        B = C(name="vllm:prompt_tokens_recomputed", documentation="h")
        class Metrics:
            def __init__(self):
                self.c = self._counter_cls(name="vllm:prompt_tokens_recomputed", documentation="h")
        meter = metrics.get_meter("vllm")
        O = meter.create_counter("vllm.prompt_tokens_recomputed")
        U = meter.create_up_down_counter(name="vllm.prompt_tokens_recomputed")
        N = lookup("vllm:prompt_tokens_recomputed")
        """
    )
    got = [s.context.definition for s in doc.sites]
    assert got == ["prometheus_client", "prometheus_client", "prometheus_client", "opentelemetry", "opentelemetry", None]
    assert doc.python.imports["C"] == "prometheus_client.Counter"


def test_a_router_defining_a_metric_under_an_old_name_is_a_definition() -> None:
    doc = parse(
        """
        from prometheus_client import Gauge

        SWAPPED = Gauge("vllm:num_requests_swapped", "Requests swapped to CPU", ["model_name"])
        """,
        SiteNeeds(needles=("vllm",)),
    )
    (site,) = doc.sites
    assert site.context.definition == "prometheus_client" and site.kind is SiteKind.NAME
    assert site.context.callee == "Gauge" and site.context.assigned_to == "SWAPPED"
    assert site.editable  # whether to rename is the rules' decision


def test_promql_places_by_keyword_and_dict_key() -> None:
    doc = parse(
        """
        Target(expr="vllm:prompt_tokens_recomputed_total", refId="A")
        R = {"expr": "up", "record": "x"}
        """
    )
    kinds = [(s.value, s.kind) for s in doc.sites]
    # `up` has no trigger but sits in a PromQL place; the record name does not.
    assert kinds == [("vllm:prompt_tokens_recomputed_total", SiteKind.PROMQL), ("up", SiteKind.PROMQL)]


@pytest.mark.parametrize("pep701", [False, True], ids=["ast", "libcst"])
def test_docstrings_and_statement_strings_are_prose(pep701: bool) -> None:
    """A string that is a statement of its own (a docstring, a note between statements) is
    documentation: prose, never data a rename would fix. A string used as a value is data."""
    src = textwrap.dedent(
        '''\
        """Scrapes vllm:prompt_tokens_recomputed."""
        def f():
            'Reads vllm:prompt_tokens_recomputed.'
            return "vllm:prompt_tokens_recomputed"
        class C:
            ("Counts vllm:prompt_tokens_recomputed"
             " per engine.")
        "vllm:prompt_tokens_recomputed {}".format(1)
        '''
    )
    if pep701:  # newer syntax than Python 3.11: the libcst builder reads the file
        src += 'x = f"{"a"}"\n'
    doc = PythonHandler().parse("t.py", src, NEEDS)
    assert [(s.kind, s.context.prose) for s in doc.sites] == [
        (SiteKind.TEXT, "docstring"),
        (SiteKind.TEXT, "docstring"),
        (SiteKind.NAME, None),
        (SiteKind.TEXT, "docstring"),
        (SiteKind.TEXT, None),  # a template's use is not a bare string
    ]


@pytest.mark.parametrize("pep701", [False, True], ids=["ast", "libcst"])
def test_a_branch_of_a_conditional_knows_the_conditional(pep701: bool) -> None:
    src = 'Q = "vllm:prompt_tokens_recomputed" if old else "vllm:prompt_tokens_cached"\n'
    src += 'R = ("vllm:prompt_tokens_recomputed" in names) if a else None\n'
    if pep701:
        src += 'x = f"{"a"}"\n'
    doc = PythonHandler().parse("t.py", src, NEEDS)
    q, r = doc.sites
    assert q.context.alternatives is not None
    assert src[q.context.alternatives.start : q.context.alternatives.end] == src[4 : src.index("\n")]
    assert r.context.alternatives is None  # the test's operand, not a branch


def test_a_docstring_naming_a_renamed_metric_is_reported_as_prose_and_never_fixed() -> None:
    from migrator.config import Settings
    from migrator.engine import fix_text, lint_text

    src = '"""Reads vllm:gpu_cache_usage_perc."""\nQ = "vllm:gpu_cache_usage_perc"\n'
    findings = lint_text("t.py", src, Settings(), "python").findings
    assert [(f.code, src[f.span.start : f.span.end]) for f in findings] == [
        ("VMM008", "vllm:gpu_cache_usage_perc"),
        ("VMM010", "vllm:gpu_cache_usage_perc"),
    ]
    fixed = fix_text("t.py", src, Settings(), "python", unsafe=True).text
    assert fixed == '"""Reads vllm:gpu_cache_usage_perc."""\nQ = "vllm:kv_cache_usage_perc"\n'


@pytest.mark.parametrize(
    "src",
    [
        'OLD_SOURCE = """\n        self.counter_prompt_tokens_recomputed.inc(1)\n"""\n',
        'PATCH = "vllm:prompt_tokens_recomputed"\n',
        'X = """\ndef log(self):\n    emit("vllm:prompt_tokens_recomputed")\n"""\n',
        'text = text.replace("vllm:prompt_tokens_recomputed", "")\n',
    ],
)
def test_patch_script_strings_are_read_only(src: str) -> None:
    doc = parse(src)
    site = doc.sites[0]
    assert not site.editable
    assert "patch script" in site.readonly_reason


# ------------------------------------------------------------------------- parsing


def test_syntax_error_position() -> None:
    with pytest.raises(ParseError) as info:
        PythonHandler().parse("t.py", 'x = 1\ny = foo(\n"vllm:prompt_tokens_recomputed"\n', NEEDS)
    assert "never closed" in info.value.message
    assert info.value.offset == len("x = 1\ny = foo")


def test_validate_rejects_broken_output_and_accepts_new_syntax() -> None:
    with pytest.raises(ParseError):
        PythonHandler().validate("def f(:\n")
    PythonHandler().validate('x = f"{"nested"}"\n')  # PEP 701, newer than this interpreter


def test_match_statements_and_pep701_fstrings_parse() -> None:
    doc = parse(
        """
        match event:
            case {"name": "vllm:prompt_tokens_recomputed"}:
                pass
        q = f"{"vllm:prompt_tokens_recomputed"}"
        """
    )
    assert [s.value for s in doc.sites] == ["vllm:prompt_tokens_recomputed", "${__py0}", "vllm:prompt_tokens_recomputed"]


def test_libcst_is_not_imported_for_other_formats() -> None:
    code = (
        "import sys\n"
        "from migrator.config import Settings\n"
        "from migrator.engine import lint_text\n"
        "lint_text('a.md', 'vllm:prompt_tokens_recomputed_total', Settings(), 'text')\n"
        "assert 'libcst' not in sys.modules, 'libcst imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_file_without_candidates_never_loads_libcst() -> None:
    code = (
        "import sys\n"
        "from migrator.formats.base import SiteNeeds\n"
        "from migrator.formats.python_format import PythonHandler\n"
        "needs = SiteNeeds(needles=('vllm',), python=(('Call', 'VMM999', print),), python_words=(('VMM999', ('legacy_call',)),))\n"
        "doc = PythonHandler().parse('t.py', 'import vllm  # vllm\\nx = f(1, key=\"value\")\\n', needs)\n"
        "assert doc.sites == [] and doc.collected == {}\n"
        "assert 'libcst' not in sys.modules, 'libcst imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_checking_python_with_findings_never_loads_libcst() -> None:
    """A check reads Python with the interpreter's `ast` alone (libcst's import alone costs
    more than a pre-commit run may take); only validating a fix may load it."""
    code = (
        "import sys\n"
        "from migrator.config import Settings\n"
        "from migrator.engine import lint_text\n"
        "src = 'import prometheus_client as pc\\n'\n"
        "src += 'C = pc.Counter(\"vllm:prompt_tokens_recomputed\", \"h\")\\n'\n"
        "src += 'c = s.local_cache_hit + s.external_kv_transfer - s.recomputed_tokens\\n'\n"
        "src += 'r = 1 if num_cached_tokens + 1 == prompt_len else 0\\n'\n"
        "result = lint_text('t.py', src, Settings(), 'python')\n"
        "codes = {f.code for f in result.findings}\n"
        "assert {'VMM101', 'VMM102'} <= codes and len(codes) >= 3, codes\n"
        "assert 'libcst' not in sys.modules, 'libcst imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------- needles and gating


def test_needles_come_from_site_needs() -> None:
    src = 'A = "vllm:num_requests_swapped"\nB = "see vllm docs"\nC = "plain"\n'
    assert [s.value for s in parse(src, SiteNeeds(needles=("vllm:",))).sites] == ["vllm:num_requests_swapped"]
    assert [s.value for s in parse(src, SiteNeeds(needles=("vllm",))).sites] == [
        "vllm:num_requests_swapped",
        "see vllm docs",
    ]
    assert parse(src, SiteNeeds(needles=("swapped", "plain"))).sites[1].value == "plain"
    assert parse(src, SiteNeeds()).sites == []


@pytest.mark.parametrize(
    "literal",
    [
        '"vllm:num\\x5frequests_swapped"',  # an escape hides the needle from the source
        '("vllm:num_req" "uests_swapped")',  # split over an implicit concatenation
        "f'vllm:num\\N{LOW LINE}requests_swapped{x}'",
    ],
)
def test_needle_in_the_decoded_value_only(literal: str) -> None:
    (site,) = parse(f"A = {literal}\n", SiteNeeds(needles=("num_requests_swapped",))).sites
    assert "vllm:num_requests_swapped" in site.value


def test_promql_places_need_no_needle() -> None:
    doc = parse(
        """
        Target(expr="up == 0", legendFormat="x")
        ALERT = {"expr": "rate(errors[5m])".format(), "for": "5m"}
        """,
        SiteNeeds(),
    )
    assert [(s.value, s.kind, s.context.field) for s in doc.sites] == [
        ("up == 0", SiteKind.PROMQL, "expr"),
        ("rate(errors[5m])", SiteKind.PROMQL, "expr"),
    ]


def _recording_callbacks(calls: list):  # type: ignore[no-untyped-def]
    def on_attribute(node, info, ancestors):  # type: ignore[no-untyped-def]
        calls.append((node.attr, type(ancestors[-1]).__name__))
        return "legacy" if node.attr == "legacy_field" else None

    return on_attribute


def test_rule_callbacks_keep_node_refs() -> None:
    calls: list = []
    needs = SiteNeeds(
        python=(("Attribute", "VMM999", _recording_callbacks(calls)),),
        python_words=(("VMM999", ("legacy_field",)),),
    )
    src = "class Logger:\n    def record(self, s):\n        return s.legacy_field + s.other\n"
    doc = PythonHandler().parse("t.py", src, needs)
    assert calls == [("legacy_field", "BinOp"), ("other", "BinOp")]
    (ref,) = doc.collected["VMM999"]
    assert ref.kind == "legacy"
    assert src[ref.span.start : ref.span.end] == "s.legacy_field"
    assert ref.locator == "function Logger.record"
    assert doc.python.source(ref.ancestors[-1]) == "s.legacy_field + s.other"


def test_rule_callbacks_skipped_without_the_rules_words() -> None:
    calls: list = []
    needs = SiteNeeds(
        python=(("Attribute", "VMM999", _recording_callbacks(calls)),),
        python_words=(("VMM999", ("legacy_field",)),),
    )
    doc = PythonHandler().parse("t.py", "x = s.other\n", needs)
    assert calls == [] and doc.collected == {}
    # A rule that declared no words always runs.
    doc = PythonHandler().parse("t.py", "x = s.other\n", SiteNeeds(python=needs.python))
    assert calls == [("other", "Assign")]


def test_unknown_node_type_is_a_clear_error() -> None:
    needs = SiteNeeds(python=(("Atribute", "VMM999", print),))
    with pytest.raises(ValueError, match="VMM999 registers 'Atribute'"):
        PythonHandler().parse("t.py", "x = 1\n", needs)


# ------------------------------------------------------------------- read-only files


def test_generated_file_is_read_only() -> None:
    src = '# Code generated by metricsgen from metrics.yaml. DO NOT EDIT.\nNAMES = ["vllm:prompt_tokens_recomputed", "a"]\n'
    doc = parse(src)
    assert doc.generated is not None and "metricsgen from metrics.yaml" in doc.generated
    (site,) = doc.sites
    assert not site.editable and site.readonly_reason == doc.generated
    assert parse('"""Not generated. DO NOT EDIT lightly."""\nX = 1\n').generated is None


def test_patch_script_quoting_vllm_loggers_is_read_only() -> None:
    doc = parse(
        '''
        LOGGERS_PY = """
                self.counter_prompt_tokens_recomputed = make_per_engine(
                    counter_prompt_tokens_recomputed, engine_indexes, model_name)
                self.counter_prompt_tokens_recomputed[engine_idx].inc(pts.recomputed_tokens)
        """
        ''',
        SiteNeeds(needles=("vllm", "recomputed")),
    )
    (site,) = doc.sites
    assert not site.editable and "patch script" in site.readonly_reason


# ------------------------------------------------------------------------- positions


def test_a_rule_may_ask_for_any_ast_node_type() -> None:
    seen: list = []

    def on_compare(node, info, ancestors):  # type: ignore[no-untyped-def]
        seen.append(info.source(node))
        return "compare" if "legacy" in info.source(node) else None

    src = "ok = a == b\nx = legacy + 1 == total  # legacy accounting\n"
    doc = PythonHandler().parse("t.py", src, SiteNeeds(python=(("Compare", "VMM999", on_compare),)))
    assert seen == ["a == b", "legacy + 1 == total"]
    (ref,) = doc.collected["VMM999"]
    assert src[ref.span.start : ref.span.end] == "legacy + 1 == total"


def test_removing_a_dict_entry_calls_it_a_dict() -> None:
    from migrator.config import Settings
    from migrator.engine import lint_text

    src = 'NAMES = {"vllm:num_requests_running": 1, "vllm:num_requests_swapped": 2}\n'
    (finding,) = lint_text("t.py", src, Settings(), "python").findings
    assert finding.code == "VMM005"
    assert finding.fix.message.startswith("Remove the entry from its dict `NAMES` (")
