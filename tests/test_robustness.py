"""Bad input never crashes the engine and a fix never produces a file that does not parse.

Mutations of the real-shaped sample inputs (inserted brackets, quotes, escapes, template
regions, metric names, CRLF; deleted and duplicated runs) go through lint and both fix levels.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.config import Settings
from migrator.formats import detect_format, handler_for
from migrator.runner import RunOptions, process_text

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
INPUTS = sorted(p for p in SAMPLES.glob("VMM*/*/input.*") if p.suffix in (".json", ".yaml", ".py", ".md"))
FRAGMENTS = list('{}[]()"\'\\:,-#|> \n\t$=~+*/0') + [
    "vllm:prompt_tokens_recomputed_total", "{{ .Values.x }}", "\\u003e", "\r\n", "é", "- ", "recomputed_tokens",
]


@st.composite
def mutated(draw):  # type: ignore[no-untyped-def]
    path = draw(st.sampled_from(INPUTS))
    text = path.read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if op == "insert":
            text = text[:i] + draw(st.sampled_from(FRAGMENTS)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)) :]
        else:
            piece = text[i : i + draw(st.integers(1, 40))]
            j = draw(st.integers(0, len(text)))
            text = text[:j] + piece + text[j:]
    return path.name, text


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_inputs_never_crash_and_fixes_always_parse(case):  # type: ignore[no-untyped-def]
    name, text = case
    lint = process_text(name, text, Settings(), RunOptions())
    assert all(f.span.end <= len(text) for f in lint.findings)
    for unsafe in (False, True):
        result = process_text(name, text, Settings(), RunOptions(fix=True, unsafe=unsafe))
        if result.fixed is None:
            continue
        handler_for(detect_format(name, result.fixed[:512])).validate(result.fixed)
        again = process_text(name, result.fixed, Settings(), RunOptions(fix=True, unsafe=unsafe))
        assert again.fixed is None, "a second fix run changed the file again"
