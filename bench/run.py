"""Benchmark of `vllm-metrics-migrator` against baselines measured in the same run.

    python bench/run.py                 # every row, 1,000-file corpora, 5 interleaved rounds
    python bench/run.py --quick         # 200-file corpora, 3 rounds, no 54 MB row (a few minutes)
    python bench/run.py --rows python,rules --runs 7 --json results.json
    python bench/run.py --profile dashboards:check   # one tool command under cProfile

Each row times the tool and its baseline interleaved (A B A B ...), reports medians and their
ratio with a PASS/FAIL beside the goal (never an assertion), and the tool's CPU time against wall
time and peak RSS. Corpora are generated from `samples/` outside the repository and reused while
unchanged. Performance is checked here, never in timed unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import report  # noqa: E402
from measure import CommandFailed, harness_rss_mb, interleaved  # noqa: E402
from rows import FULL_ONLY, ROWS, Row, Setup  # noqa: E402

TOOL_NAME = "vllm-metrics-migrator"


def resolve_tool(given: str | None) -> tuple[Path, str]:
    """The console script to run and the interpreter it runs on (which also runs the baselines)."""
    if given:
        found = shutil.which(given) or (given if Path(given).is_file() else None)
        if found is None:
            raise SystemExit(f"--tool {given}: no such executable")
        script = Path(found)
    else:
        script = Path(sys.executable).parent / TOOL_NAME
        if not script.is_file():
            on_path = shutil.which(TOOL_NAME)
            if on_path is None:
                raise SystemExit(f"no {TOOL_NAME} next to {sys.executable} or on PATH: run with the venv's python, or pass --tool")
            print(f"note: no {TOOL_NAME} next to {sys.executable}; using {on_path} from PATH", file=sys.stderr)
            script = Path(on_path)
    with open(script, "rb") as f:
        first = f.readline().decode(errors="replace")
    interpreter = first[2:].strip().split()[0] if first.startswith("#!") and first[2:].strip() else ""
    if "python" not in Path(interpreter).name or not Path(interpreter).exists():
        interpreter = sys.executable
    return script.resolve(), interpreter


def prefilter_anchors(python: str, root: Path) -> tuple[tuple[str, ...], str]:
    """The substrings the tool's prefilter scans every file for, asked of the tool itself (an
    internal API: if it moved, fall back to the removed metric's name and say so)."""
    probe = (
        "import json, sys; from pathlib import Path\n"
        "from migrator.config import load_settings\n"
        "from migrator.runner import prefilter_needles\n"
        "needles = prefilter_needles(load_settings(start=Path(sys.argv[1])))\n"
        "print(json.dumps(sorted(n.decode() for n in needles)))\n"
    )
    done = subprocess.run([python, "-c", probe, str(root)], capture_output=True, text=True)
    if done.returncode == 0:
        return tuple(json.loads(done.stdout)), "the anchors of the tool's prefilter, asked of migrator.runner"
    return (corpus.REMOVED_NEEDLE,), "fallback: migrator.runner's prefilter API was not found"


def findings_count(row: Row, label: str) -> int | None:
    """How many findings the tool reports for a `check` command of the row (a sanity check that
    the corpus holds what the row says), or None for commands that change files."""
    command = next(c for c in row.commands if c.label == label)
    argv = list(command.argv)
    if "check" not in argv or "--fix" in argv:
        return None
    at = argv.index("check") + 1
    argv[at:at] = ["--output-format", "json-lines", "--exit-zero"]
    # Counted line by line: holding tens of MB of output would raise the harness's RSS for good,
    # and with it the floor of every later peak-RSS measurement (see measure.harness_rss_mb).
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(argv, cwd=command.cwd, stdout=subprocess.PIPE, stderr=stderr)
        assert proc.stdout is not None
        count = sum(1 for line in proc.stdout if line.strip())
        if proc.wait() != 0:
            stderr.seek(0)
            tail = stderr.read()[-2000:].decode(errors="replace")
            raise CommandFailed(f"{label}: `{' '.join(argv)}` exited {proc.returncode}\n{tail}")
    return count


def byte_compile(python: str) -> str:
    """Compile the tool's modules to bytecode once, as `pip install` does for a real install.

    An editable install writes `.pyc` files on first import, unless PYTHONDONTWRITEBYTECODE is
    set (it is on some machines, this one included): then every measured run would compile the
    tool from source, ~30 ms that no installed copy pays. The baselines' libraries (click,
    PyYAML) were compiled by pip already."""
    where = subprocess.run(
        [python, "-c", "import migrator, rules, os; print(os.path.dirname(migrator.__file__)); print(os.path.dirname(rules.__file__))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([python, "-m", "compileall", "-q", *where], capture_output=True, text=True, env=env)
    return "compiled" if done.returncode == 0 else f"not compiled ({(done.stderr or done.stdout).strip()[:200]})"


def environment(script: Path, python: str) -> dict:
    def output(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True)
        return (done.stdout or done.stderr).strip()

    return {
        "tool": str(script),
        "tool_python": python,
        "tool_python_version": output([python, "-c", "import sys; print(sys.version.split()[0])"]),
        "tool_version": output([str(script), "--version"]),
        "commit": output(["git", "-C", str(corpus.REPO), "describe", "--always", "--dirty"]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "grep": output(["grep", "--version"]).splitlines()[0],
        "load_average_at_start": os.getloadavg(),
        "harness_rss_mb": round(harness_rss_mb(), 1),
    }


def profile(setup: Setup, target: str, profiler: str, top: int, keep: Path | None) -> None:
    key, _, label = target.partition(":")
    if key not in ROWS:
        raise SystemExit(f"--profile {target}: rows are {', '.join(ROWS)}")
    row = ROWS[key](setup)
    label = label or row.tool_labels[0]
    if label not in row.tool_labels:
        raise SystemExit(f"--profile {key}:{label}: the tool commands of {key} are {', '.join(row.tool_labels)}")
    command = next(c for c in row.commands if c.label == label)
    if command.prepare is not None:
        command.prepare()
    script, *args = command.argv
    # A profiler sees only its own process: with the tool's process pool the work would show
    # as time waiting on a lock. One job keeps every file in the profiled process.
    env = {**os.environ, "VLLM_METRICS_MIGRATOR_JOBS": "1"}
    print(f"profiling {key}:{label} ({row.corpus}) with {profiler}, in one process", flush=True)
    if profiler == "pyinstrument":
        if subprocess.run([setup.python, "-c", "import pyinstrument"], capture_output=True).returncode:
            raise SystemExit(f"pyinstrument is not installed for {setup.python}")
        with tempfile.TemporaryDirectory() as scratch:
            tree = Path(scratch) / "profile.txt"
            subprocess.run([setup.python, "-m", "pyinstrument", "-o", str(tree), script, *args],
                           cwd=command.cwd, env=env, stdout=subprocess.DEVNULL, check=False)
            print(tree.read_text())  # a call tree, not a flat list
        return
    import pstats  # only here: it would add to the harness's RSS

    with tempfile.TemporaryDirectory() as scratch:
        stats_file = keep.resolve() if keep else Path(scratch) / "tool.prof"
        start = time.perf_counter()
        subprocess.run(
            [setup.python, "-m", "cProfile", "-o", str(stats_file), script, *args],
            cwd=command.cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            check=False,
        )
        print(f"wall time under the profiler: {time.perf_counter() - start:.2f} s\n")
        stats = pstats.Stats(str(stats_file))
        stats.sort_stats("cumulative").print_stats(top)
        print(f"-- the same run, top {top} by own time --")
        stats.sort_stats("tottime").print_stats(top)
        if keep:
            print(f"profile kept in {stats_file} (python -m pstats {stats_file})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200-file corpora, 3 rounds, skip full-only rows")
    parser.add_argument("--runs", type=int, help="interleaved rounds per row (default: 5, or 3 with --quick)")
    parser.add_argument("--rows", help=f"comma-separated rows to run (default: all): {', '.join(ROWS)}")
    parser.add_argument("--tool", help=f"the {TOOL_NAME} executable (default: the one next to this Python)")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    # Outside the repository: the tool honours .gitignore, which hides bench/out/.
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vmm-bench", help="where corpora are generated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-cap-mb", type=int, default=8192, help="address-space limit of each measured process")
    parser.add_argument("--profile", metavar="ROW[:COMMAND]", help="run one tool command of a row under a profiler and print the hot spots")
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument"), default="cprofile",
                        help="pyinstrument must be installed in the tool's environment")
    parser.add_argument("--top", type=int, default=25, help="functions to list with --profile")
    parser.add_argument("--profile-out", type=Path, help="keep the cProfile data of --profile here")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    script, python = resolve_tool(args.tool)
    args.out.mkdir(parents=True, exist_ok=True)
    bytecode = byte_compile(python)
    anchors, anchors_source = prefilter_anchors(python, args.out)
    setup = Setup(tool=[str(script)], python=python, out=args.out, quick=args.quick, seed=args.seed,
                  anchors=anchors, anchors_source=anchors_source)
    if args.profile:
        profile(setup, args.profile, args.profiler, args.top, args.profile_out)
        return 0

    keys = args.rows.split(",") if args.rows else [k for k in ROWS if not (args.quick and k in FULL_ONLY)]
    unknown = [k for k in keys if k not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {', '.join(unknown)}: rows are {', '.join(ROWS)}")
    rounds = args.runs or (3 if args.quick else 5)
    env = environment(script, python)
    env["tool_bytecode"] = bytecode
    report.print_header(env, quick=args.quick, rounds=rounds, skipped=[k for k in ROWS if k not in keys])

    results, failed = [], False
    for key in keys:
        started = time.perf_counter()
        print(f"\n[{key}] generating the corpus ...", file=sys.stderr, flush=True)
        row = ROWS[key](setup)
        try:
            counts = {label: findings_count(row, label) for label in row.tool_labels}
            for label, count in counts.items():
                if count is not None and (count > 0) != row.expect_findings:
                    expected = "some" if row.expect_findings else "none"
                    row.notes.append(f"WARNING: {label} reports {count} findings, the row expects {expected}: the corpus is not as described")
            series = interleaved(
                row.commands,
                row.rounds or rounds,
                warmup=row.warmup,
                memory_cap_mb=args.memory_cap_mb,
                progress=lambda msg: print(f"[{key}] {msg}", file=sys.stderr, flush=True),
            )
        except CommandFailed as error:
            print(f"\n{key}: FAILED TO RUN\n{error}", flush=True)
            results.append({"key": key, "error": str(error)})
            failed = True
            continue
        result = report.row_result(row, series, counts, time.perf_counter() - started)
        report.print_row(result)
        results.append(result)

    env["load_average_at_end"] = os.getloadavg()
    env["harness_rss_mb_at_end"] = round(harness_rss_mb(), 1)
    report.print_summary(results, env)
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "quick": args.quick, "rounds": rounds, "rows": results}, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    # Goals are reported, never asserted: the exit status only says whether every row ran.
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
