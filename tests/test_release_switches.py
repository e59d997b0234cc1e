"""Python code that tells vLLM releases apart by comparing with a metric's old name: the
comparison (and the code it guards) is a release switch, reported but never renamed; a
comparison with no replacement nearby is renamed only as an unsafe fix."""

from __future__ import annotations

import textwrap

from migrator import engine
from migrator.config import Settings
from migrator.engine import apply_edits
from migrator.model import Applicability

OLD = "vllm:gpu_cache_usage_perc"
NEW = "vllm:kv_cache_usage_perc"


def findings_at(src: str) -> dict[int, object]:
    """VMM010 findings by the 1-based line they start on."""
    src = textwrap.dedent(src)
    found = engine.lint_text("t.py", src, Settings(), "python").findings
    return {src.count("\n", 0, f.span.start) + 1: f for f in found if f.code == "VMM010"}


def test_membership_test_beside_the_replacement_is_a_release_switch() -> None:
    found = findings_at(f'''\
        def kv_metric(names):
            return "{NEW}" if "{OLD}" in names else "{OLD}"


        def usage(scraped):
            if "{OLD}" in scraped:
                return scraped["{OLD}"]
            return scraped["{NEW}"]


        def is_kv(name):
            if name == "{OLD}":
                return True
            elif name != "{NEW}":
                return False
            while "{OLD}" not in seen:
                pass
            assert not (name == "{OLD}")
        ''')
    assert sorted(found) == [2, 6, 7, 12, 16, 18]  # line 2 holds two: one kept per line here
    for line, finding in found.items():
        assert finding.fix is not None and finding.fix.applicability is Applicability.DISPLAY_ONLY, line
        assert not finding.fix.edits
    tests = [f for f in found.values() if "release switch" in f.fix.message]
    assert len(tests) >= 5  # every compared name, and the branch it guards, say so


def test_code_guarded_by_a_release_switch_is_not_renamed() -> None:
    found = findings_at(f'''\
        def usage(scraped):
            if "{OLD}" in scraped:
                return scraped["{OLD}"]
            return scraped["{NEW}"]
        ''')
    body = found[3]
    assert body.fix.applicability is Applicability.DISPLAY_ONLY
    assert "release switch" in body.fix.message


def test_code_under_a_test_of_something_else_is_still_renamed() -> None:
    found = findings_at(f'''\
        def usage(scraped, verbose):
            if verbose:
                return scraped["{OLD}"]
            return scraped["{NEW}"]
        ''')
    assert found[3].fix.applicability is Applicability.SAFE


def test_comparison_without_the_replacement_nearby_is_an_unsafe_rename() -> None:
    src = textwrap.dedent(f'''\
        def is_kv(name):
            if name == "{OLD}" or name in ("{OLD}", "other"):
                return True
            return False
        ''')
    found = engine.lint_text("t.py", src, Settings(), "python").findings
    renames = [f for f in found if f.code == "VMM010"]
    assert len(renames) == 2
    for finding in renames:
        assert finding.fix.applicability is Applicability.UNSAFE
        assert "compares the name with data" in finding.fix.message
        assert NEW in apply_edits(src, list(finding.fix.edits))


def test_a_comparison_outside_a_test_stays_a_plain_rename() -> None:
    found = findings_at(f'''\
        def is_kv(name):
            matches = name == "{OLD}"
            return matches
        ''')
    assert found[2].fix.applicability is Applicability.SAFE


def test_fix_leaves_a_release_switch_as_it_is() -> None:
    src = textwrap.dedent(f'''\
        def usage(scraped):
            if "{OLD}" in scraped:
                return scraped["{OLD}"]
            return scraped["{NEW}"]
        ''')
    result = engine.fix_text("t.py", src, Settings(), "python", unsafe=True)
    assert result.text == src and not result.fixed
