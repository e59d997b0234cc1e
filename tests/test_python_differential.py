"""The `ast`-built Python sites equal the libcst-built ones (the fallback for syntax newer than
the interpreter), so the two paths cannot drift.

Runs over every Python sample input, tricky snippets, and a fixed set of standard-library
modules, with the rules' own needles and with broad needles that make most strings sites.
`VMM_PYTHON_DIFFERENTIAL=all` widens it to every module of the installed packages and the
standard library (minutes).
"""

from __future__ import annotations

import os
import sysconfig
import warnings
from pathlib import Path

import pytest
from python_differential import differences

from migrator.config import Settings
from migrator.engine import needs_for
from migrator.formats.base import ParseError, SiteNeeds

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
BROAD = SiteNeeds(needles=("a", "e", "_", "%", "{", "vllm"))
STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Small, varied standard-library packages: fixed, so a run costs a few seconds.
STDLIB_PICK = ("json", "email/mime", "http", "logging", "concurrent/futures", "wsgiref", "xmlrpc")

SNIPPETS = [
    'L = [(  # c (\n  "vllm:a"  ), "b", *more, ("vllm:" "c")]\n',
    'x = d["vllm:a", "b"]\ny = d[("vllm:a", "b")]\nz = d[("vllm:a"), "b"]\n',
    'D = {**base, "vllm:a": 1, ("vllm:b"): (2), **{"vllm:c": 3}}\n',
    'f(*["vllm:a", "b"], **{"expr": "up"}, key=("vllm:x"),)\nclass C("vllm:base", meta="vllm:k"): pass\n',
    'q = f"{x!r:>{w}} {{vllm}} {y=} {\'vllm:n\'} {z:{\'a\'}}"\nr = rf"\\d{x}vllm" b"vllm\\x3a"\n',
    'Q = ("sum(vllm:a)"  # vllm comment\n     f" + {x}"\n     \'tail\')\nT = "vllm:{}".format(1)\nP = "vllm:%s" % x\n',
    '\ufeffX = "café vllm:é"\r\nY = """\r\nvllm:x\r\n"""\r\n',
    '@route("vllm:a")\nasync def h(p="vllm:b", *, k=lambda: "vllm:c"):\n    return [s for s in ("vllm:d", "e") if s]\n',
    'match e:\n    case {"name": "vllm:a"} | ["vllm:b", *_]:\n        pass\nif (n := "vllm:w"):\n    pass\n',
    'Counter = object\nimport prometheus_client as pc\nA = pc.Counter("vllm:a", "h")\nB = meter.create_counter(name="vllm:b")\nC = self._gauge_cls("vllm:c")\n',
    'PATCH = "vllm:a"\ntext = text.replace("vllm:b", "vllm:c")\nSRC = """\ndef f(self):\n    self.x("vllm:d")\n"""\n',
    'x = ("vllm:a",)\ny = "vllm:a", "b"\nz = ("a", "vllm:b")\nw = [\n    "a",\n    "vllm:b",  # gone\n]\n',
    'T = "vllm:%(a)s %% {b}" % m\nU = ("vllm:" "{x}").format(x=1)\nV = f"vllm" "{x}".format(x=1)\n',
    'print(("vllm:a"))\nassert x, "vllm:msg"\nraise E("vllm:" f"{e}") from None\nx: "vllm:ann" = "vllm:v"\n',
    # Comparisons in the tests of conditionals (release switches) and elsewhere.
    'm = "vllm:a" if "vllm:b" in n else "vllm:b"\n@d\nasync def f(s):\n    if "vllm:b" in s and not (q != "vllm:c"):\n'
    '        return s["vllm:b"]\n    elif q in ("vllm:d", "e"):\n        pass\n    while n == "vllm:e": pass\n'
    '    assert "vllm:f" not in z, "vllm:g"\ng = lambda n: "vllm:h" if n == "vllm:i" else [s for s in n if s == "vllm:j"]\n'
    'if x < "vllm:k" or x == "vllm:l": pass\n',
    # PEP 701 (Python 3.12): compared for real where this interpreter's ast reads it.
    'q = f"{"vllm:a"} {f\'{"vllm:b"}\'}"\nr = f"{x:{"w"}} vllm"\ns = f"""{\n    x  # vllm comment\n} vllm"""\n',
]


def _needs() -> list[SiteNeeds]:
    return [needs_for(Settings(), "python"), BROAD]


def _check(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for needs in _needs():
            try:
                found = differences(text, needs)
            except ParseError:
                return  # neither builder reads a broken file (the handler reports it)
            assert not found, "\n".join(found[:10])


@pytest.mark.parametrize("snippet", SNIPPETS, ids=range(len(SNIPPETS)))
def test_snippets(snippet: str) -> None:
    _check(snippet)


def test_sample_inputs() -> None:
    for path in sorted(SAMPLES.glob("*/*/input.py")):
        _check(path.read_text(encoding="utf-8"))


def _real_world() -> list[Path]:
    if os.environ.get("VMM_PYTHON_DIFFERENTIAL") == "all":
        roots = [STDLIB, *map(Path, {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})]
        return sorted(p for root in roots for p in root.rglob("*.py") if "test" not in p.parts)
    return sorted(p for pick in STDLIB_PICK for p in (STDLIB / pick).glob("*.py"))


@pytest.mark.parametrize("path", _real_world(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_real_world_modules(path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        pytest.skip("not UTF-8 text")
    _check(text)


def test_plain_literals_fast_path_builds_the_same_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    """`build_string_site` builds literals without fields or templates on a fast path; it
    gives exactly what the general path gives."""
    from python_differential import ast_sites, describe

    from migrator.formats import python_strings

    texts = [*SNIPPETS, *(p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*/*/input.py")))]
    texts.append('A = ("vllm:\\x61\\N{EM DASH}" r"\\d" b"vllm\\n" """\r\nvllm\r\n""" "" f"{{vllm}}")\n')
    fast = []
    for text in texts:
        try:
            fast.append([describe(s) for s in ast_sites(text, BROAD)])
        except ParseError:
            fast.append(None)
    monkeypatch.setattr(python_strings, "_is_plain", lambda pieces: False)
    for text, expected in zip(texts, fast):
        if expected is not None:
            assert [describe(s) for s in ast_sites(text, BROAD)] == expected
