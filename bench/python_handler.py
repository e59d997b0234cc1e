"""Benchmark: the Python handler against `ast.parse` and `libcst.parse_module`.

    python bench/python_handler.py [--modules 1000] [--seed 11]

Builds realistic modules by joining two to five of the Python sample inputs
(`samples/*/*/input.py`), in two corpora: as they are (metric names, era-(a) stats code:
every module has something for a rule), and neutralised (the same code with the metric names
and the era-(a) words replaced, plus an `import vllm` line: what most files of a repository
using vLLM look like after passing the byte prefilter). Reports the total time of each step
per corpus (CPU time, best of three rounds). Performance is checked here, never in timed unit
tests.
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Era-(a) and metric words replaced in the neutralised corpus (code, not metric names, stays).
NEUTRAL = {
    "vllm": "acme",
    "recomputed": "reused",
    "num_cached_tokens": "num_hit_tokens",
    "update_from_output": "update_from_batch",
}


def sample_sources() -> list[str]:
    sources = []
    for path in sorted(ROOT.glob("samples/*/*/input.py")):
        text = path.read_text(encoding="utf-8")
        try:
            ast.parse(text)
        except SyntaxError:
            continue  # the parse-error sample
        sources.append(text)
    return sources


def build_modules(sources: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    modules = []
    for _ in range(count):
        parts = rng.sample(sources, rng.randint(2, min(5, len(sources))))
        # `from __future__` must stay first: hoist it once.
        bodies = [re.sub(r"(?m)^from __future__ import .*\n", "", p) for p in parts]
        modules.append("from __future__ import annotations\n\n" + "\n\n".join(bodies))
    return modules


def neutralise(module: str) -> str:
    for old, new in NEUTRAL.items():
        module = module.replace(old, new)
    return "import vllm\n" + module


def timed(label: str, modules: list[str], step, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """CPU time of this process (other processes on a shared machine do not count), best of
    `repeat` rounds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for module in modules:
            step(module)
        best = min(best, time.process_time() - start)
    print(f"  {label:<38} {best:8.2f} s  {best / len(modules) * 1000:7.2f} ms/module")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import libcst as cst
    from libcst.metadata import ByteSpanPositionProvider, MetadataWrapper

    from migrator.config import Settings
    from migrator.formats.base import SiteNeeds
    from migrator.formats.python_format import PythonHandler
    from migrator.rule import site_needs
    from migrator.rules.vmm101_recomputed_tokens_field import RecomputedTokensField
    from migrator.rules.vmm102_legacy_prompt_token_formula import LegacyPromptTokenFormula

    # The needles a full run gives the Python handler: "vllm" (every catalogue name) and the
    # Python rules' words, with their node callbacks.
    rules_needs = site_needs([RecomputedTokensField(), LegacyPromptTokenFormula()], "python", Settings())
    needs = SiteNeeds(
        needles=tuple(sorted(set(rules_needs.needles) | {"vllm"})),
        python=rules_needs.python,
        python_words=rules_needs.python_words,
    )
    handler = PythonHandler()

    def spans(module: str) -> None:
        MetadataWrapper(cst.parse_module(module), unsafe_skip_copy=True).resolve(ByteSpanPositionProvider)

    modules = build_modules(sample_sources(), args.modules, args.seed)
    corpora = {"as sampled (every module has hits)": modules, "neutralised (no hits)": [neutralise(m) for m in modules]}
    for name, corpus in corpora.items():
        lines = sum(m.count("\n") for m in corpus)
        parsed = [handler.parse("m.py", m, needs) for m in corpus]
        print(
            f"{name}: {len(corpus)} modules, {lines} lines; {sum(len(d.sites) for d in parsed)} sites, "
            f"{sum(len(refs) for d in parsed for refs in d.collected.values())} rule nodes"
        )
        timed("ast.parse", corpus, ast.parse, args.repeat)
        timed("libcst.parse_module", corpus, cst.parse_module, args.repeat)
        timed("libcst.parse_module + byte spans", corpus, spans, args.repeat)
        timed("PythonHandler.parse", corpus, lambda m: handler.parse("m.py", m, needs), args.repeat)


if __name__ == "__main__":
    main()
