"""Removing stale entries from a collection: one fix run removes every removable entry of a
collection at once (a list of thousands is not left mostly unfixed by the pass limit), never
empties it, keeps entries whose finding is suppressed, and leaves nothing for a second run."""

from __future__ import annotations

import ast
import json
import pickle
import random

import yaml

from migrator import engine
from migrator.config import Settings
from migrator.engine import apply_edits
from migrator.formats.python_edits import elements_removal_edits

LIVE = ("vllm:num_requests_running", "vllm:num_requests_waiting")
REMOVED = ("vllm:num_requests_swapped", "vllm:cpu_cache_usage_perc")


def _names(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(LIVE + REMOVED) for _ in range(count)]


def _live(names: list[str]) -> list[str]:
    return [n for n in names if n in LIVE]


def _fix_twice(name: str, text: str, fmt: str) -> str:
    """One `--fix --unsafe-fixes` run, then checks that a second changes nothing."""
    result = engine.fix_text(name, text, Settings(), fmt, unsafe=True)
    again = engine.fix_text(name, result.text, Settings(), fmt, unsafe=True)
    assert again.text == result.text and not again.fixed
    assert not any(f.fix is not None and f.fix.applies_at(True) for f in again.findings)
    return result.text


def _python_list(names: list[str], seed: int) -> str:
    """A list literal laid out as people write them: one or a few per line, comments."""
    rng = random.Random(seed)
    lines, i = ["METRICS = ["], 0
    while i < len(names):
        k = rng.choice([1, 1, 2, 3])
        line = "    " + ", ".join(f'"{n}"' for n in names[i : i + k])
        i += k
        line += "," if i < len(names) or rng.random() < 0.5 else ""
        lines.append(line + ("  # note" if rng.random() < 0.1 else ""))
    return "\n".join(lines) + "\n]\n"


def test_a_python_list_of_two_thousand_names_is_cleaned_in_one_run() -> None:
    names = _names(2000, 1)
    fixed = _fix_twice("m.py", _python_list(names, 1), "python")
    compile(fixed, "m.py", "exec")
    assert ast.literal_eval(ast.parse(fixed).body[0].value) == _live(names)  # type: ignore[attr-defined]


def test_yaml_sequences_and_json_arrays_are_cleaned_in_one_run() -> None:
    names = _names(2000, 2)
    text = "metrics:\n  keep:\n" + "".join(f"    - {n}\n" for n in names)
    text += "  flow: [" + ", ".join(names[:300]) + "]\n"
    data = yaml.safe_load(_fix_twice("m.yaml", text, "yaml"))
    assert data["metrics"]["keep"] == _live(names)
    assert data["metrics"]["flow"] == _live(names[:300])

    text = '{\n  "metrics": [\n' + ",\n".join(f'    "{n}"' for n in names) + "\n  ],\n"
    text += '  "flat": [' + ", ".join(f'"{n}"' for n in names[:300]) + "]\n}\n"
    data = json.loads(_fix_twice("m.json", text, "json"))
    assert data["metrics"] == _live(names)
    assert data["flat"] == _live(names[:300])


def test_a_collection_is_never_emptied_and_a_suppressed_entry_stays() -> None:
    text = (
        'ONLY_REMOVED = ["vllm:num_requests_swapped", "vllm:cpu_cache_usage_perc"]\n'
        "MIXED = [\n"
        '    "vllm:num_requests_swapped",\n'
        '    "vllm:cpu_cache_usage_perc",  # noqa: VMM005\n'
        '    "vllm:num_requests_running",\n'
        '    "vllm:num_requests_swapped",\n'
        "]\n"
        'T = ("vllm:num_requests_swapped", "vllm:num_requests_running", "vllm:cpu_cache_usage_perc")\n'
    )
    fixed = _fix_twice("m.py", text, "python")
    module = ast.parse(fixed)
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in module.body}  # type: ignore[attr-defined]
    assert values["ONLY_REMOVED"] == ["vllm:num_requests_swapped", "vllm:cpu_cache_usage_perc"]
    assert values["MIXED"] == ["vllm:cpu_cache_usage_perc", "vllm:num_requests_running"]
    assert values["T"] == ("vllm:num_requests_running",)  # still a tuple


def test_runs_of_entries_go_together_whatever_the_layout() -> None:
    """Lists, tuples and sets with one to three entries a line, comments and trailing commas:
    removing any set of entries (never all) leaves exactly the others, in a literal that parses."""
    rng = random.Random(3)
    for case in range(300):
        n = rng.randint(2, 12)
        values = [f"v{i}" for i in range(n)]
        open_, close = rng.choice([("[", "]"), ("(", ")"), ("{", "}")])
        text, spans, i = f"X = {open_}", [], 0
        multiline = rng.random() < 0.7
        if multiline:
            text += "\n"
        while i < n:
            per_line = rng.choice([1, 2, 3]) if multiline else n
            text += "    " if multiline else ""
            for j, value in enumerate(values[i : i + per_line]):
                start = len(text)
                text += f'"{value}"'
                spans.append((start, len(text)))
                last = i + j == n - 1
                if not last or rng.random() < 0.5:
                    text += ","
                if j < min(per_line, n - i) - 1:
                    text += " "
            i += per_line
            if multiline:
                text += ("  # c" if rng.random() < 0.2 else "") + "\n"
        text += close + "\n"
        gone = tuple(sorted(rng.sample(range(n), rng.randint(1, n - 1))))
        edits = elements_removal_edits(text, spans, gone, is_tuple=open_ == "(")
        assert edits is not None, (case, text, gone)
        kept = [v for k, v in enumerate(values) if k not in gone]
        result = ast.literal_eval(ast.parse(apply_edits(text, list(edits))).body[0].value)  # type: ignore[attr-defined]
        expected = {"[": list, "(": tuple, "{": set}[open_](kept)
        assert result == expected, (case, text, gone, apply_edits(text, list(edits)))
    assert elements_removal_edits('X = ["a", "b"]\n', [(5, 8), (10, 13)], (0, 1)) is None  # never all


def test_findings_with_joint_removals_cross_process_boundaries() -> None:
    """Parallel runs send results between processes: the format's function is not sent."""
    text = 'X = ["vllm:num_requests_swapped", "vllm:num_requests_running"]\n'
    (finding,) = [f for f in engine.lint_text("m.py", text, Settings(), "python").findings if f.code == "VMM005"]
    assert finding.fix is not None and finding.fix.joint is not None
    copy = pickle.loads(pickle.dumps(finding))
    assert copy.fix.edits == finding.fix.edits and copy.fix.joint.combine((0,)) is None
    assert copy == finding  # a parallel run's results equal a serial run's
