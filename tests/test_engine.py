"""The pure core: edit splicing, fix passes, re-validation, suppression, and safe writing."""

from __future__ import annotations

import gc
import os
import stat
from pathlib import Path

import pytest

from migrator import engine, rule
from migrator.config import Settings
from migrator.files import read_if_contains
from migrator.safe_write import WriteRefused, write_fixed
from migrator.model import Applicability, Edit, Fix, Severity, Span
from migrator.rule import Rule
from migrator.runner import RunOptions, run


class RenameToCached(Rule):
    """Test rule: rewrites the removed name to the cached counter (a stand-in fixable rule)."""

    code = "VMM990"
    name = "test-rename"
    severity = Severity.ERROR
    needle_words = ("prompt_tokens_recomputed",)

    def check(self, ctx):
        text = ctx.doc.text
        start = text.find("vllm:prompt_tokens_recomputed_total")
        while start != -1:
            span = Span(start, start + len("vllm:prompt_tokens_recomputed_total"))
            fix = Fix(Applicability.SAFE, "use the cached counter", (Edit(span, "vllm:prompt_tokens_cached_total"),))
            yield ctx.finding(self, span, "removed metric", fix=fix)
            start = text.find("vllm:prompt_tokens_recomputed_total", span.end)


class BreakJson(Rule):
    """Test rule: an unsafe fix whose result does not parse; the engine must refuse it."""

    code = "VMM991"
    name = "test-break"
    needle_words = ("prompt_tokens_recomputed",)

    def check(self, ctx):
        index = ctx.doc.text.find("{")
        if index != -1 and ctx.doc.format == "json":
            span = Span(index, index + 1)
            yield ctx.finding(self, span, "bad", fix=Fix(Applicability.UNSAFE, "breaks", (Edit(span, "["),)))


@pytest.fixture
def fake_rules(monkeypatch):
    rules = (RenameToCached(), BreakJson())
    monkeypatch.setattr(engine, "all_rules", lambda: rules)
    monkeypatch.setattr(rule, "all_rules", lambda: rules)
    return rules


def test_apply_edits_splices_and_keeps_everything_else():
    text = "a\r\nbb\r\nccc\r\n"
    edits = [Edit(Span(3, 5), "XYZ"), Edit(Span(0, 0), "\ufeff")]
    assert engine.apply_edits(text, edits) == "\ufeffa\r\nXYZ\r\nccc\r\n"
    with pytest.raises(ValueError):
        engine.apply_edits(text, [Edit(Span(0, 2), ""), Edit(Span(1, 3), "")])


def test_fix_preserves_crlf_and_bom(fake_rules):
    text = '\ufeff# runbook\r\nquery: rate(vllm:prompt_tokens_recomputed_total[5m])\r\n'
    result = engine.fix_text("x.yaml", text, Settings(), "yaml")
    assert result.text == '\ufeff# runbook\r\nquery: rate(vllm:prompt_tokens_cached_total[5m])\r\n'
    assert [f.code for f in result.fixed] == ["VMM990"]
    assert result.findings == []


def test_fix_refuses_edits_whose_output_does_not_parse(fake_rules):
    text = '{"expr": "vllm:prompt_tokens_recomputed_total"}'
    result = engine.fix_text("d.json", text, Settings(), "json", unsafe=True)
    # The safe rename applies; the unsafe edit that would break the JSON never does.
    assert result.text == '{"expr": "vllm:prompt_tokens_cached_total"}'
    assert all(f.code != "VMM991" for f in result.fixed)


def test_overlapping_fixes_are_deferred_to_a_later_pass(fake_rules):
    text = "vllm:prompt_tokens_recomputed_total vllm:prompt_tokens_recomputed_total"
    result = engine.fix_text("x.txt", text, Settings(), "text", unsafe=True)  # nothing is safe in text
    assert result.text == "vllm:prompt_tokens_cached_total vllm:prompt_tokens_cached_total"


def test_a_fix_pass_lets_the_previous_parse_go_before_parsing_again(fake_rules, monkeypatch):
    # A large file's document and findings must not be alive twice at the peak of `--fix`.
    from migrator.formats.base import Document

    text = '{"expr": "vllm:prompt_tokens_recomputed_total"}'
    alive_at_each_parse = []
    lint_text = engine.lint_text

    def counting(path, text, settings, fmt):  # type: ignore[no-untyped-def]
        gc.collect()
        alive_at_each_parse.append(sum(1 for o in gc.get_objects() if type(o) is Document and o.path == path))
        return lint_text(path, text, settings, fmt)

    monkeypatch.setattr(engine, "lint_text", counting)
    # (A path no other test uses: documents other tests left to the collector do not count.)
    result = engine.fix_text("twice-parsed.json", text, Settings(), "json", unsafe=True)
    assert result.text == '{"expr": "vllm:prompt_tokens_cached_total"}'
    assert len(alive_at_each_parse) >= 2  # the refused fix is looked at again on the fixed text
    assert alive_at_each_parse == [0] * len(alive_at_each_parse)


def test_parse_error_is_a_finding_with_line_and_column():
    result = engine.lint_text("r.yaml", "groups:\n  - name: a\n   rules: [\n", Settings(), "yaml")
    assert result.document is None
    (finding,) = result.findings
    assert finding.code == "VMM000" and "line" in finding.message


@pytest.mark.parametrize(
    "comment",
    [
        "# vllm-metrics-migrator: ignore[VMM900]",
        "# vllm-metrics-migrator: ignore",
        "# noqa: VMM900",
    ],
)
def test_inline_suppression_same_line_and_line_above(comment):
    same = f"x vllm:prompt_tokens_recomputed_total {comment}\n"
    above = f"{comment}\nx vllm:prompt_tokens_recomputed_total\n"
    for text in (same, above):
        assert engine.lint_text("n.txt", text, Settings(), "text").findings == []


def test_suppression_of_another_code_does_not_hide():
    text = "x vllm:prompt_tokens_recomputed_total  # vllm-metrics-migrator: ignore[VMM001]\n"
    assert [f.code for f in engine.lint_text("n.txt", text, Settings(), "text").findings] == ["VMM900"]


def _rows(path: str, text: str, fmt: str) -> list[tuple[str, int]]:
    from migrator.model import LineIndex

    index = LineIndex(text)
    return [(f.code, index.position(f.span.start)[0]) for f in engine.lint_text(path, text, Settings(), fmt).findings]


def test_a_trailing_directive_covers_its_own_line_only():
    text = (
        "a = stats.recomputed_tokens  # noqa: VMM101\n"
        "b = stats.recomputed_tokens\n"
    )
    assert _rows("m.py", text, "python") == [("VMM101", 2)]


def test_a_directive_on_its_own_line_covers_the_next_line_only():
    text = (
        "# vllm-metrics-migrator: ignore[VMM101]\n"
        "a = stats.recomputed_tokens\n"
        "b = stats.recomputed_tokens\n"
    )
    assert _rows("m.py", text, "python") == [("VMM101", 3)]
    stacked = "# noqa: VMM101\n# vllm-metrics-migrator: ignore[VMM007]\na = stats.recomputed_tokens\n"
    assert _rows("m.py", stacked, "python") == []


def test_noqa_is_case_insensitive_as_in_flake8_and_ruff():
    text = 'a = "vllm:gpu_cache_usage_perc"  # NOQA: vmm010\nb = "vllm:gpu_cache_usage_perc"  # noqa: VMM005\n'
    assert _rows("m.py", text, "python") == [("VMM010", 2)]


def test_a_bare_noqa_written_for_another_linter_does_not_silence_a_finding():
    text = 'a = "vllm:gpu_cache_usage_perc"  # noqa\nb = "vllm:gpu_cache_usage_perc"  # noqa: E501\n'
    assert _rows("m.py", text, "python") == [("VMM010", 1), ("VMM010", 2)]


def test_a_directive_covers_a_multiline_python_string_from_above_or_after_its_end():
    """No comment can sit inside a triple-quoted string: a directive on the line above it or
    trailing its last line covers all of it (ruff's rule), and no further."""
    body = '"""\nsum(vllm:gpu_cache_usage_perc)\n"""'
    after = f"G = {body}  # noqa: VMM010\nH = {body}\n"
    assert _rows("m.py", after, "python") == [("VMM010", 5)]
    above = f"# vllm-metrics-migrator: ignore[VMM010]\nG = {body}\nH = {body}\n"
    assert _rows("m.py", above, "python") == [("VMM010", 6)]
    concatenated = 'Q = ("vllm:gpu_cache_usage_perc"\n     " > 0.9")  # noqa: VMM010\n'
    assert _rows("m.py", concatenated, "python") == []


def test_a_directive_inside_a_python_string_is_text_not_a_comment():
    text = (
        'F = "vllm:gpu_cache_usage_perc # noqa: VMM010"\n'
        "G = f\"{d['vllm:gpu_cache_usage_perc']} # vllm-metrics-migrator: ignore\"\n"
        'H = "vllm:gpu_cache_usage_perc"  # noqa: VMM010\n'
    )
    assert _rows("m.py", text, "python") == [("VMM010", 1), ("VMM010", 2)]


RULES_WITH_BLOCK_EXPR = """groups:
  - name: vllm
    rules:
      # vllm-metrics-migrator: ignore[VMM001]
      - alert: RecomputeSpike
        annotations:
          summary: spike
        expr: |
          sum(rate(vllm:prompt_tokens_recomputed_total[5m]))
            > 100
      - alert: RecomputeGone
        expr: |
          absent(vllm:prompt_tokens_recomputed_total) == 0
"""


def test_a_yaml_directive_above_a_list_item_covers_the_whole_item():
    """pint's scope: a block scalar cannot hold a comment, so the comment above the rule covers
    its `expr` lines further down; the next rule is not covered."""
    rows = _rows("rules.yaml", RULES_WITH_BLOCK_EXPR, "yaml")
    assert ("VMM001", 9) not in rows
    assert [r for _, r in rows] and all(r >= 11 for _, r in rows)


def test_a_yaml_directive_above_a_key_covers_its_value():
    text = RULES_WITH_BLOCK_EXPR.replace("      # vllm-metrics-migrator: ignore[VMM001]\n", "").replace(
        "        expr: |\n          sum", "        # vllm-metrics-migrator: ignore\n        expr: |\n          sum"
    )
    rows = _rows("rules.yaml", text, "yaml")
    assert all(r >= 12 for _, r in rows) and rows
    # The same comment trailing the key covers only the key's line, not the block below it.
    trailing = RULES_WITH_BLOCK_EXPR.replace("      # vllm-metrics-migrator: ignore[VMM001]\n", "").replace(
        "        expr: |\n          sum", "        expr: |  # vllm-metrics-migrator: ignore\n          sum"
    )
    assert ("VMM001", 8) in _rows("rules.yaml", trailing, "yaml")


def test_a_yaml_directive_reaches_the_next_node_across_blank_lines_and_comments():
    """pint's rule: a comment belongs to the next node. An empty line (or another comment)
    between the directive and the rule does not detach it; the next node stops it."""
    spaced = RULES_WITH_BLOCK_EXPR.replace(
        "      # vllm-metrics-migrator: ignore[VMM001]\n",
        "      # vllm-metrics-migrator: ignore[VMM001]\n\n      # the spike alert\n\n",
    )
    rows = _rows("rules.yaml", spaced, "yaml")
    assert rows and all(r >= 14 for _, r in rows)  # the covered rule ends on line 13
    # Never past a node: above `- name:` it covers that group (the directive's own next node),
    # not a later one.
    text = (
        "groups:\n  # vllm-metrics-migrator: ignore[VMM010]\n\n  - name: a\n    rules: []\n"
        "  - name: b\n    rules:\n      - alert: B\n        expr: vllm:gpu_cache_usage_perc > 0.9\n"
    )
    assert _rows("rules.yaml", text, "yaml") == [("VMM010", 9)]
    # A directive with nothing after it covers nothing; outside YAML the next line stays the rule.
    assert _rows("n.txt", "x vllm:prompt_tokens_recomputed_total\n# vllm-metrics-migrator: ignore\n\n", "text") == [
        ("VMM900", 1)
    ]
    assert _rows("n.txt", "# vllm-metrics-migrator: ignore\n\nx vllm:prompt_tokens_recomputed_total\n", "text") == [
        ("VMM900", 3)
    ]


def test_ignore_file_directive():
    text = "# vllm-metrics-migrator: ignore-file\nvllm:prompt_tokens_recomputed_total\n"
    assert engine.lint_text("n.txt", text, Settings(), "text").findings == []


def test_yaml_ignore_file_counts_only_as_a_comment_not_inside_a_string():
    # A runbook annotation that tells people how to silence the linter is not the directive:
    # honouring it would pass a file whose rules are broken.
    rule = "      - alert: A\n        expr: vllm:gpu_cache_usage_perc > 0.9\n"
    quoted = (
        "groups:\n  - name: g\n    rules:\n" + rule
        + "        annotations:\n          description: |\n"
        "            To silence the linter: # vllm-metrics-migrator: ignore-file\n"
        + "      - alert: B\n        expr: 'up # vllm-metrics-migrator: ignore-file'\n"
    )
    assert _rows("rules.yaml", quoted, "yaml") == [("VMM010", 5)]
    # As a comment (on its own line, or trailing a key) it still covers the file.
    for comment in ("# vllm-metrics-migrator: ignore-file\n", "x: 1  # vllm-metrics-migrator: ignore-file\n"):
        assert _rows("rules.yaml", quoted + comment, "yaml") == []


CONFIGMAP_RULES = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: rules
data:
  vllm.yaml: |
    groups:
      - name: a
        rules:
          # vllm-metrics-migrator: ignore[VMM010]
          - alert: Kv
            expr: |
              max(vllm:gpu_cache_usage_perc)
                > 0.9
          - alert: Other
            expr: vllm:gpu_cache_usage_perc > 0.5
"""


def test_a_directive_above_a_node_of_a_rule_file_in_a_configmap_covers_that_node():
    assert _rows("cm.yaml", CONFIGMAP_RULES, "yaml") == [("VMM010", 16)]
    # The embedded file's comments are comments: its ignore-file covers the file; quoted in
    # one of its annotations, it is text.
    commented = CONFIGMAP_RULES.replace("    groups:\n", "    # vllm-metrics-migrator: ignore-file\n    groups:\n")
    assert _rows("cm.yaml", commented, "yaml") == []
    quoted = CONFIGMAP_RULES + "            annotations: {runbook: 'silence: # vllm-metrics-migrator: ignore-file'}\n"
    assert _rows("cm.yaml", quoted, "yaml") == [("VMM010", 16)]


def test_write_fixed_keeps_permissions(tmp_path: Path):
    target = tmp_path / "rules.yaml"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    write_fixed(str(target), b"new\n", b"old\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]  # no temporary file left


@pytest.mark.parametrize(
    "on_disk",
    [b"x" * (3 << 20), b"x" * (3 << 20) + b"y", b"x" * ((3 << 20) - 1), b"x" * (2 << 20) + b"y" + b"x" * ((1 << 20) - 1)],
    ids=["as-read", "grew", "shrank", "changed-in-a-later-chunk"],
)
def test_write_fixed_overwrites_only_the_exact_content_it_read(tmp_path: Path, on_disk: bytes):
    read = b"x" * (3 << 20)  # larger than one read of the comparison
    target = tmp_path / "big.json"
    target.write_bytes(on_disk)
    if on_disk == read:
        write_fixed(str(target), b"new", read)
        assert target.read_bytes() == b"new"
    else:
        with pytest.raises(WriteRefused, match="changed on disk"):
            write_fixed(str(target), b"new", read)
        assert target.read_bytes() == on_disk


def test_write_fixed_refuses_symlinks_in_any_component(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("keep")
    inside = tmp_path / "repo"
    inside.mkdir()
    (inside / "link.txt").symlink_to(outside / "x.txt")
    (inside / "linked-folder").symlink_to(outside)
    with pytest.raises(WriteRefused, match="symbolic link"):
        write_fixed(str(inside / "link.txt"), b"changed", b"keep")
    with pytest.raises(WriteRefused, match="symbolic link"):
        write_fixed(str(inside / "linked-folder" / "x.txt"), b"changed", b"keep")
    assert (outside / "x.txt").read_text() == "keep"


def test_prefilter_reads_large_files_completely(tmp_path: Path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 200_000 + b"vllm:prompt_tokens_recomputed_total\n")
    assert read_if_contains(str(big), (b"prompt_tokens_recomputed",)) is not None
    small = tmp_path / "small.txt"
    small.write_bytes(b"nothing here")
    assert read_if_contains(str(small), (b"prompt_tokens_recomputed",)) is None


def test_run_fix_writes_only_changed_files_and_second_run_is_a_no_op(fake_rules, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("rate(vllm:prompt_tokens_recomputed_total[5m])\n")
    (tmp_path / "b.yaml").write_text("nothing\n")
    before = (tmp_path / "b.yaml").stat().st_mtime_ns
    report = run(["."], Settings(), RunOptions(fix=True))
    assert [r.path for r in report.changed] == ["a.yaml"]
    assert (tmp_path / "a.yaml").read_text() == "rate(vllm:prompt_tokens_cached_total[5m])\n"
    assert (tmp_path / "b.yaml").stat().st_mtime_ns == before
    again = run(["."], Settings(), RunOptions(fix=True))
    assert again.changed == []


def test_binary_and_undecodable_files_are_skipped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blob.bin").write_bytes(b"\0\1prompt_tokens_recomputed")
    (tmp_path / "latin1.txt").write_bytes("vllm:prompt_tokens_recomputed_total caf\xe9".encode("latin-1"))
    report = run(["."], Settings(), RunOptions())
    notes = {r.path: r.note for r in report.results}
    assert notes == {"blob.bin": "skipped: binary file", "latin1.txt": "skipped: not valid UTF-8"}


LATIN1_MODULE = '# -*- coding: latin-1 -*-\n"""Café."""\nS = "é vllm:gpu_cache_usage_perc"  # é\n'


def test_python_declaring_latin1_is_checked_and_fixed_in_latin1(tmp_path, monkeypatch):
    """PEP 263: a coding declaration makes non-UTF-8 bytes valid Python; the file is checked
    and written back in its own encoding, byte for byte outside the fix."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scraper.py").write_bytes(LATIN1_MODULE.encode("latin-1"))
    (tmp_path / "undeclared.py").write_bytes(LATIN1_MODULE.split("\n", 1)[1].encode("latin-1"))
    report = run(["."], Settings(), RunOptions())
    assert {r.path: r.note for r in report.results if r.note} == {"undeclared.py": "skipped: not valid UTF-8"}
    (finding,) = [f for r in report.results if r.path == "scraper.py" for f in r.findings]
    assert (finding.code, finding.fix.applicability) == ("VMM010", Applicability.SAFE)
    run(["."], Settings(), RunOptions(fix=True))
    fixed = LATIN1_MODULE.replace("gpu_cache", "kv_cache").encode("latin-1")
    assert (tmp_path / "scraper.py").read_bytes() == fixed
    assert run(["."], Settings(), RunOptions(fix=True)).changed == []


def test_taken_spans_agree_with_pairwise_overlap():
    """The bisection structure behind fix selection answers exactly like Span.overlaps."""
    import random

    from migrator.engine import _Taken

    rng = random.Random(5)
    for _ in range(300):
        taken, spans = _Taken(), []
        for _ in range(rng.randint(0, 12)):
            a = rng.randint(0, 40)
            span = Span(a, a + rng.choice([0, 0, 1, 2, 5, 15]))
            if not any(span.overlaps(t) for t in spans):
                spans.append(span)
                taken.add(span)
        for _ in range(20):
            a = rng.randint(0, 45)
            probe = Span(a, a + rng.choice([0, 1, 3, 8]))
            assert taken.overlaps(probe) == any(probe.overlaps(t) for t in spans), (spans, probe)


def _comparable(findings):  # type: ignore[no-untyped-def]
    return [
        (f.code, f.span, f.message, f.severity, f.locator,
         (f.fix.applicability, f.fix.message, f.fix.edits, f.fix.scope) if f.fix else None)
        for f in findings
    ]


SAMPLE_INPUTS = sorted(Path(__file__).resolve().parent.parent.glob("samples/VMM*/*/input.*"))


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
def test_findings_after_a_fix_are_what_a_lint_of_the_fixed_text_gives(unsafe):
    """A fix run may skip the lint of its own output when the fixes only swapped text in place;
    what it reports must then be exactly what that lint would have said."""
    from migrator.formats import detect_format

    for path in SAMPLE_INPUTS:
        if (path.parent / "settings.toml").exists() or (path.parent / "context").exists():
            continue
        text = path.read_text(encoding="utf-8")
        fmt = detect_format(path.name, text[:512])
        outcome = engine.fix_text(path.name, text, Settings(), fmt, unsafe=unsafe)
        again = engine.lint_text(path.name, outcome.text, Settings(), fmt)
        assert _comparable(outcome.findings) == _comparable(again.findings), path


REMOVED_ONLY = {
    "allow.yaml": "allow:\n  - vllm:prompt_tokens_recomputed_total\n  - vllm:num_requests_swapped\n  - vllm_prompt_tokens_recomputed_total\n",
    "allow.json": '{"allow": ["vllm:prompt_tokens_recomputed_total", "vllm:num_requests_swapped", "vllm_prompt_tokens_recomputed_total"]}\n',
    "allow.py": 'ALLOW = [\n    "vllm:prompt_tokens_recomputed_total",\n    "vllm:num_requests_swapped",\n    "vllm_prompt_tokens_recomputed_total",\n]\n',
}


@pytest.mark.parametrize("name", sorted(REMOVED_ONLY))
def test_a_collection_of_removed_names_is_reported_never_emptied(name):
    """One element-removal policy for every format: entries go one per pass while a live entry
    remains; a list that held only removed names keeps them (no empty list, no `allow:` null)."""
    from migrator.formats import detect_format

    text = REMOVED_ONLY[name]
    fmt = detect_format(name, text)
    outcome = engine.fix_text(name, text, Settings(), fmt, unsafe=True)
    assert outcome.text == text
    assert [f.code for f in outcome.findings] == ["VMM005", "VMM005", "VMM005"]
    # With a live entry beside them, both removed names go and the live one stays.
    live = text.replace("vllm:num_requests_swapped", "vllm:num_requests_swapped\", \"vllm:num_requests_running") \
        if fmt != "yaml" else text + "  - vllm:num_requests_running\n"
    if fmt == "python":
        live = text.replace('    "vllm:num_requests_swapped",\n', '    "vllm:num_requests_swapped",\n    "vllm:num_requests_running",\n')
    fixed = engine.fix_text(name, live, Settings(), fmt, unsafe=True).text
    assert "vllm:num_requests_running" in fixed
    assert "prompt_tokens_recomputed_total" not in fixed and "vllm:num_requests_swapped" not in fixed


def test_a_name_inside_a_helm_template_action_is_reported_with_its_change_and_never_edited():
    text = (
        '{{- $m := "vllm:prompt_tokens_recomputed_total" }}\n'
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: A\n"
        '        expr: rate({{ printf "vllm:gpu_cache_usage_perc" }}[5m]) > 0\n'
    )
    result = engine.lint_text("rules.yaml", text, Settings(), "yaml")
    by_code = {f.code: f for f in result.findings}
    assert sorted(by_code) == ["VMM005", "VMM010"]  # data a template writes out, not prose (VMM008)
    renamed, removed = by_code["VMM010"], by_code["VMM005"]
    assert text[renamed.span.start : renamed.span.end] == "vllm:gpu_cache_usage_perc"
    assert "renamed `vllm:kv_cache_usage_perc`" in renamed.message and "v0.12.0" in renamed.message
    for finding in (renamed, removed):
        assert "inside a template action" in finding.message
        assert finding.fix is not None and not finding.fix.edits, finding.fix
    assert engine.fix_text("rules.yaml", text, Settings(), "yaml", unsafe=True).text == text
