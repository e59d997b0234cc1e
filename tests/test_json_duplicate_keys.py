"""A JSON object with a key twice: parsers (and Grafana) keep the last, so the earlier one does
nothing. Findings in it are warnings with the panel's locator, and no fix ever edits it."""

from __future__ import annotations

from migrator.config import Settings
from migrator.engine import fix_text, lint_document, lint_text
from migrator.formats.json_format import JsonHandler
from migrator.model import Applicability, Edit, Severity
from migrator.rule import Rule, all_rules, site_needs


def _dashboard(*targets: str) -> str:
    return (
        '{"uid": "u", "title": "vLLM", "panels": [{"id": 7, "title": "KV", "type": "timeseries",\n'
        ' "targets": [' + ", ".join(targets) + "]}]}\n"
    )


def _found(text: str, code: str):  # type: ignore[no-untyped-def]
    return [f for f in lint_text("d.json", text, Settings(), "json").findings if f.code == code]


def test_a_stale_name_in_the_ignored_duplicate_is_a_warning_with_the_panel_and_no_fix():
    text = _dashboard('{"refId": "A", "expr": "vllm:gpu_cache_usage_perc", "expr": "vllm:kv_cache_usage_perc", "legendFormat": "{{pod}}"}')
    (finding,) = _found(text, "VMM010")
    assert finding.severity is Severity.WARNING
    assert 'panel "KV", id 7, refId A' in finding.locator
    assert "duplicate `expr` key" in finding.message and "last one wins" in finding.message
    assert finding.fix is not None and finding.fix.applicability is Applicability.DISPLAY_ONLY and not finding.fix.edits
    assert fix_text("d.json", text, Settings(), "json", unsafe=True).text == text


def test_the_duplicate_that_counts_is_reported_and_fixed_as_usual():
    text = _dashboard('{"refId": "A", "expr": "vllm:kv_cache_usage_perc", "expr": "vllm:gpu_cache_usage_perc", "legendFormat": "{{pod}}"}')
    (finding,) = _found(text, "VMM010")
    assert finding.severity is Severity.ERROR and finding.fix.applicability is Applicability.SAFE
    fixed = fix_text("d.json", text, Settings(), "json").text
    assert fixed == text.replace('"expr": "vllm:gpu_cache_usage_perc"', '"expr": "vllm:kv_cache_usage_perc"')


def test_removing_a_whole_target_that_holds_an_ignored_duplicate_is_still_offered():
    text = _dashboard(
        '{"refId": "A", "expr": "vllm:gpu_cache_usage_perc", "expr": "vllm:num_requests_swapped", "legendFormat": "{{pod}}"}',
        '{"refId": "B", "expr": "vllm:num_requests_running", "legendFormat": "{{pod}}"}',
    )
    (finding,) = _found(text, "VMM001")
    assert finding.fix is not None and finding.fix.edits and finding.fix.applicability is Applicability.UNSAFE


class _EditsEverything(Rule):
    """Test rule: proposes replacing every `vllm:` it finds, by raw offsets (no site)."""

    code = "VMM990"
    name = "edits-everything"
    severity = Severity.ERROR

    def check(self, ctx):  # type: ignore[no-untyped-def]
        from migrator.model import Fix, Span

        start = ctx.doc.text.find("vllm:gpu")
        span = Span(start, start + len("vllm:gpu"))
        yield ctx.finding(self, span, "x", fix=Fix(Applicability.SAFE, "edit", (Edit(span, "vllm:kv"),)))


def test_no_fix_edits_inside_an_ignored_duplicate_even_from_raw_offsets():
    text = _dashboard('{"refId": "A", "expr": "vllm:gpu_cache_usage_perc", "expr": "vllm:kv_cache_usage_perc"}')
    document = JsonHandler().parse("d.json", text, site_needs(all_rules(), "json", Settings()))
    (finding,) = lint_document(document, Settings(), (_EditsEverything(),)).findings
    assert finding.fix.applicability is Applicability.DISPLAY_ONLY and not finding.fix.edits
