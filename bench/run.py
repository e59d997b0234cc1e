"""Benchmark: `vllm-metrics-migrator check` against `grep -rlF` on a synthetic repository.

    python bench/run.py [--files 20000] [--hits 20] [--runs 5] [--out bench/out]

Generates a tree of mixed JSON dashboards, YAML rule files, Python modules and Markdown pages
(a few of them referencing the removed metric), then reports the median wall time of each
command over several runs and the tool's peak RSS. Targets: no-hit tree ≤ 1.5× grep, peak RSS
≤ 150 MB. Performance is checked here, never in timed unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REMOVED = "vllm:prompt_tokens_recomputed_total"


def _dashboard(rng: random.Random, hit: bool) -> str:
    metric = REMOVED if hit else rng.choice(
        ["vllm:prompt_tokens_cached_total", "vllm:generation_tokens_total", "vllm:num_requests_running"]
    )
    panels = [
        {
            "id": i,
            "title": f"Panel {i}",
            "type": "timeseries",
            "targets": [{"refId": "A", "expr": f'sum(rate({metric}{{model_name=~"$model"}}[$__rate_interval]))'}],
        }
        for i in range(rng.randint(3, 12))
    ]
    return json.dumps({"title": "vLLM", "uid": f"d{rng.randrange(10**9)}", "panels": panels}, indent=2) + "\n"


def _rules(rng: random.Random, hit: bool) -> str:
    metric = REMOVED if hit else "vllm:prompt_tokens_total"
    rules = "".join(
        f"      - alert: Alert{i}\n        expr: sum(rate({metric}[5m])) > {rng.randint(1, 999)}\n"
        f"        for: 10m\n        labels:\n          severity: warning\n"
        for i in range(rng.randint(2, 8))
    )
    return f"groups:\n  - name: vllm\n    rules:\n{rules}"


def _python(rng: random.Random, hit: bool) -> str:
    name = REMOVED if hit else "vllm:generation_tokens_total"
    body = "".join(f"def handler_{i}(x):\n    return x * {i}\n\n\n" for i in range(rng.randint(5, 30)))
    return f'"""Scraper."""\n\nMETRIC = "{name}"\n\n\n{body}'


def _markdown(rng: random.Random, hit: bool) -> str:
    extra = f"\nThe counter `{REMOVED}` tracked recomputation.\n" if hit else ""
    return "# Notes\n\n" + "Lorem ipsum dolor sit amet.\n" * rng.randint(5, 60) + extra


MAKERS = {".json": _dashboard, ".yaml": _rules, ".py": _python, ".md": _markdown}


def generate(root: Path, files: int, hits: int, seed: int = 7) -> None:
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(seed)
    hit_indexes = set(rng.sample(range(files), hits)) if hits else set()
    exts = list(MAKERS)
    for i in range(files):
        folder = root / f"team{i % 40}" / f"svc{i % 17}"
        folder.mkdir(parents=True, exist_ok=True)
        ext = exts[i % len(exts)]
        (folder / f"file{i}{ext}").write_text(MAKERS[ext](rng, i in hit_indexes), encoding="utf-8")


def timed(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """Wall time in seconds and peak RSS in KiB of one run of `cmd`."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {code}")
    return elapsed, usage.ru_maxrss


def measure(tree: Path, runs: int) -> dict[str, float]:
    tool = [sys.executable, "-m", "migrator", "check", "--exit-zero", "--output-format", "concise", "."]
    grep = ["grep", "-rlF", "prompt_tokens_recomputed", "."]
    # One warm-up each so both read from the page cache.
    timed(tool, tree)
    timed(grep, tree)
    tool_times, grep_times, rss = [], [], []
    for _ in range(runs):
        t, r = timed(tool, tree)
        tool_times.append(t)
        rss.append(r)
        grep_times.append(timed(grep, tree)[0])
    tool_median = statistics.median(tool_times)
    grep_median = statistics.median(grep_times)
    return {
        "tool_median_s": round(tool_median, 4),
        "grep_median_s": round(grep_median, 4),
        "ratio": round(tool_median / grep_median, 2),
        "peak_rss_mb": round(max(rss) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--hits", type=int, default=20, help="files with references in the hit tree")
    parser.add_argument("--runs", type=int, default=5)
    # Outside the repository: its .gitignore must not hide the tree from the tool.
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vmm-bench")
    args = parser.parse_args()

    results = {}
    for label, hits in (("no-hit", 0), ("with-hits", args.hits)):
        tree = args.out / label
        generate(tree, args.files, hits)
        results[label] = measure(tree, args.runs)
        print(f"{label:10s} files={args.files} " + " ".join(f"{k}={v}" for k, v in results[label].items()))
    no_hit = results["no-hit"]
    ok = no_hit["ratio"] <= 1.5 and max(r["peak_rss_mb"] for r in results.values()) <= 150
    print(json.dumps(results, indent=2))
    print("targets met" if ok else "TARGETS MISSED (no-hit ratio ≤ 1.5, peak RSS ≤ 150 MB)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
