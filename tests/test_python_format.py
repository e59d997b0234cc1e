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

from migrator.config import Settings
from migrator.engine import apply_edits, lint_text
from migrator.formats.base import ParseError, SiteKind
from migrator.formats.python_format import PythonHandler
from migrator.model import Applicability
from migrator.promql.parser import parse as parse_promql

NAME = "prompt_tokens_recomputed"


def parse(src: str):  # type: ignore[no-untyped-def]
    return PythonHandler().parse("t.py", textwrap.dedent(src))


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
    doc = PythonHandler().parse("t.py", src)
    site = only_site(doc)
    assert site.value == "\nvllm:prompt_tokens_recomputed\n"
    assert raw_of(doc, site, *name_range(site)) == NAME
    assert raw_of(doc, site, 0, 1) == "\r\n"


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
    assert site.context["template"] == "format"
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
    edits = site.context["element_removal"]
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
    got = [(s.context["container"], s.context["element_removal"] is not None) for s in doc.sites]
    assert got == [("list", False), ("set", True), ("tuple", True), ("dict-key", False), ("call-arg", False)]
    assert all(s.kind is SiteKind.NAME for s in doc.sites)
    assert doc.sites[1].locator == "module: S[0]"


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
    got = [s.context["definition"] for s in doc.sites]
    assert got == ["prometheus_client", "prometheus_client", "prometheus_client", "opentelemetry", "opentelemetry", None]
    assert doc.extra["python"]["imports"]["C"] == "prometheus_client.Counter"


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
        PythonHandler().parse("t.py", 'x = 1\ny = foo(\n"vllm:prompt_tokens_recomputed"\n')
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


# ---------------------------------------------------------------- the Python rules


def _lint(src: str, code: str):  # type: ignore[no-untyped-def]
    result = lint_text("t.py", textwrap.dedent(src), Settings(), "python")
    return [f for f in result.findings if f.code == code]


def test_vmm101_oracle_classifies_term_removal() -> None:
    (identity,) = _lint("c = s.local_cache_hit + s.external_kv_transfer - s.recomputed_tokens\n", "VMM101")
    assert identity.fix.applicability is Applicability.SAFE
    (plus,) = _lint("c = s.cached_tokens + s.recomputed_tokens\n", "VMM101")
    assert plus.fix.applicability is Applicability.UNSAFE
    assert "-1 per fully cached request (canonical cases 5, 6)" in plus.message
    (ratio,) = _lint("c = (s.cached_tokens + s.recomputed_tokens) / s.total\n", "VMM101")
    assert ratio.fix.applicability is Applicability.UNSAFE
    assert "1 -> 0.999" in ratio.message
    fixed = apply_edits("c = (s.cached_tokens + s.recomputed_tokens) / s.total\n", list(ratio.fix.edits))
    assert fixed == "c = (s.cached_tokens) / s.total\n"
    (unknown,) = _lint("c = cached + s.recomputed_tokens\n", "VMM101")
    assert unknown.fix.applicability is Applicability.UNSAFE and "not verified" in unknown.message


def test_vmm101_display_only_shapes() -> None:
    findings = _lint(
        """
        assert stats.recomputed_tokens == 1
        counter.inc(stats.recomputed_tokens)
        logger.info("recomputed %d", stats.recomputed_tokens)
        stats.recomputed_tokens = 0
        """,
        "VMM101",
    )
    assert [f.fix.applicability for f in findings] == [Applicability.DISPLAY_ONLY] * 4
    advice = [f.fix.message for f in findings]
    assert "assertion" in advice[0] and "counter.inc" in advice[1] and "log" in advice[2] and "writes" in advice[3]


def test_vmm101_keyword_on_other_callee_is_unsafe() -> None:
    (finding,) = _lint("make(recomputed_tokens=0)\n", "VMM101")
    assert finding.fix.applicability is Applicability.UNSAFE
    # A file's own PromptTokenStats (a vendored copy) may still take the field.
    (local,) = _lint("class PromptTokenStats: ...\nPromptTokenStats(recomputed_tokens=0)\n", "VMM101")
    assert local.fix.applicability is Applicability.UNSAFE
    (aliased,) = _lint(
        "import vllm.v1.metrics.stats as s\ns.PromptTokenStats(total=1, recomputed_tokens=0)\n", "VMM101"
    )
    assert aliased.fix.applicability is Applicability.SAFE


def test_vmm101_suppression_comment() -> None:
    assert not _lint("x = s.recomputed_tokens  # vllm-metrics-migrator: ignore[VMM101]\n", "VMM101")
    assert not _lint("x = s.recomputed_tokens  # noqa: VMM101\n", "VMM101")


def test_vmm102_shapes() -> None:
    findings = _lint(
        """
        r = 1 if num_cached_tokens + 1 == prompt_len else 0
        local = num_cached_tokens + r_recomputed - num_external_computed_tokens
        stats.update_from_output(num_cached_tokens=a, num_external_computed_tokens=b, prompt_len=c)
        stats.update_from_output(prefill)
        ok = a + 1 == b
        """,
        "VMM102",
    )
    assert len(findings) == 3
    assert "num_local_cached_tokens=a - b" in findings[2].fix.message
