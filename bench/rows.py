"""The benchmark's rows: for each, the corpus, the tool's commands, the baselines and the goals.

A row's commands run interleaved (see `measure.interleaved`); its goals compare medians of the
same rounds. A goal with no limit is information only.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import corpus
from measure import Command

# Baselines run as `python -c SCRIPT DIR` in a fresh process of the tool's own interpreter, so
# interpreter start-up is paid on both sides; they walk the folder as the tool does.
_WALK = """
import os, sys
def paths(root):
    if os.path.isfile(root):
        yield root
    for top, _, names in os.walk(root):
        for name in names:
            yield os.path.join(top, name)
"""
JSON_LOOP = _WALK + """
import json
for p in paths(sys.argv[1]):
    with open(p, "rb") as f:
        json.loads(f.read())
"""
AST_LOOP = _WALK + """
import ast
for p in paths(sys.argv[1]):
    with open(p, "rb") as f:
        ast.parse(f.read(), p)
"""
LIBCST_LOOP = _WALK + """
import libcst
for p in paths(sys.argv[1]):
    with open(p, "rb") as f:
        libcst.parse_module(f.read())
"""
YAML_LOOP = _WALK + """
import yaml
for p in paths(sys.argv[1]):
    with open(p, "rb") as f:
        list(yaml.load_all(f.read(), Loader=yaml.CSafeLoader))
"""


@dataclass(frozen=True)
class Goal:
    """`numerator / denominator` wall-time ratio (or, with no denominator, the numerator's peak
    RSS in MB) against `limit`; `limit` None = reported for information."""

    numerator: str
    denominator: str | None
    limit: float | None

    @property
    def name(self) -> str:
        return f"{self.numerator} / {self.denominator}" if self.denominator else f"{self.numerator} peak RSS MB"


@dataclass
class Row:
    key: str
    title: str
    corpus: str  # what was measured, in words
    commands: list[Command]
    tool_labels: list[str]  # the commands that run the tool (CPU vs wall is shown for these)
    goals: list[Goal]
    expect_findings: bool = True  # checked once per run: the corpus must hold what the row says
    rounds: int | None = None  # None: the run's --runs
    warmup: bool = True
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Setup:
    tool: list[str]  # argv prefix that runs the tool
    python: str  # the tool's interpreter, for the baselines
    out: Path  # where corpora are generated
    quick: bool
    seed: int
    anchors: tuple[str, ...]  # the substrings the tool's prefilter scans every file for
    anchors_source: str


# The sizes of the full run; --quick scales the per-file rows down (their ratios hardly depend on
# the count once interpreter start-up is amortised; each row prints what it measured).
FULL_COUNT, QUICK_COUNT = 1000, 200
NO_HIT_FILES = 20_000


def _fresh_copy(pristine: Path, work: Path) -> Callable[[], None]:
    def prepare() -> None:
        if work.is_dir():
            shutil.rmtree(work)
        if pristine.is_dir():
            shutil.copytree(pristine, work)
        else:
            work.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pristine, work)

    return prepare


def _describe(c: corpus.Corpus, what: str) -> str:
    return f"{c.files:,} {what}, {c.megabytes:.1f} MB"


def no_hit(s: Setup) -> Row:
    tree = corpus.no_hit_tree(s.out / "no-hit", NO_HIT_FILES, s.seed, s.anchors)
    grep_anchors = ["grep", "-rlF", *(a for anchor in s.anchors for a in ("-e", anchor)), str(tree.root)]
    grep_name = ["grep", "-rlF", corpus.REMOVED_NEEDLE, str(tree.root)]
    return Row(
        key="no-hit",
        title="no-hit scan",
        corpus=_describe(tree, "files (JSON/YAML/Python/Markdown/Go) holding no anchor"),
        commands=[
            Command("check", [*s.tool, "check", str(tree.root)], s.out),
            Command("grep anchors", grep_anchors, s.out),
            Command("grep name", grep_name, s.out),
        ],
        tool_labels=["check"],
        goals=[Goal("check", "grep anchors", 1.5), Goal("check", "grep name", None)],
        expect_findings=False,
        notes=[
            f"grep anchors = `grep -rlF {' '.join('-e ' + a for a in s.anchors)}` ({s.anchors_source})",
            f"grep name = `grep -rlF {corpus.REMOVED_NEEDLE}` (the removed metric's name)",
        ],
    )


def dashboards(s: Setup) -> Row:
    count = QUICK_COUNT if s.quick else FULL_COUNT
    pristine = corpus.dashboards(s.out / f"dashboards-{count}", count, (20, 40), s.seed)
    work = s.out / "work" / "dashboards"
    fresh = _fresh_copy(pristine.root, work)
    return Row(
        key="dashboards",
        title="hit-heavy Grafana dashboards",
        corpus=_describe(pristine, "dashboards of 20-40 sample panels"),
        commands=[
            Command("check", [*s.tool, "check", str(pristine.root)], s.out),
            Command("json.loads loop", [s.python, "-c", JSON_LOOP, str(pristine.root)], s.out),
            Command("fix --unsafe", [*s.tool, "check", "--fix", "--unsafe-fixes", str(work)], s.out, prepare=fresh),
            Command("migrate", [*s.tool, "migrate", str(work)], s.out, prepare=fresh),
        ],
        tool_labels=["check", "fix --unsafe", "migrate"],
        goals=[
            Goal("check", "json.loads loop", 3.0),
            Goal("fix --unsafe", "check", 1.5),
            Goal("migrate", "check", 1.5),
            Goal("fix --unsafe", "json.loads loop", None),
            Goal("migrate", "json.loads loop", None),
        ],
        notes=["fix and migrate run on a fresh copy each time (copying is not timed)"],
    )


def python(s: Setup) -> Row:
    count = QUICK_COUNT if s.quick else FULL_COUNT
    modules = corpus.python_modules(s.out / f"python-{count}", count, s.seed)
    return Row(
        key="python",
        title="Python modules with findings",
        corpus=_describe(modules, "modules, each 2-4 sample modules"),
        commands=[
            Command("check", [*s.tool, "check", str(modules.root)], s.out),
            Command("ast.parse loop", [s.python, "-c", AST_LOOP, str(modules.root)], s.out),
            Command("libcst loop", [s.python, "-c", LIBCST_LOOP, str(modules.root)], s.out),
        ],
        tool_labels=["check"],
        goals=[Goal("check", "ast.parse loop", 3.0), Goal("check", "libcst loop", None)],
    )


def rules(s: Setup) -> Row:
    count = QUICK_COUNT if s.quick else FULL_COUNT
    files = corpus.rule_files(s.out / f"rules-{count}", count, s.seed)
    return Row(
        key="rules",
        title="Prometheus rule files with findings",
        corpus=_describe(files, "rule files of 3-8 sample groups"),
        commands=[
            Command("check", [*s.tool, "check", str(files.root)], s.out),
            Command("yaml CSafeLoader loop", [s.python, "-c", YAML_LOOP, str(files.root)], s.out),
        ],
        tool_labels=["check"],
        goals=[Goal("check", "yaml CSafeLoader loop", 3.0)],
    )


def pre_commit(s: Setup) -> Row:
    boards = corpus.dashboards(s.out / "dashboards-precommit", 2, (20, 40), s.seed)
    ruleset = corpus.rule_files(s.out / "rules-precommit", 2, s.seed)
    modules = corpus.python_modules(s.out / "python-precommit", 1, s.seed)
    folder = s.out / "pre-commit"
    staged = corpus.precommit_files(folder, corpus.first_files(boards, 2) + corpus.first_files(ruleset, 2) + corpus.first_files(modules, 1))
    size = sum((folder / name).stat().st_size for name in staged)
    return Row(
        key="pre-commit",
        title="pre-commit hook",
        corpus=f"5 files with findings passed as paths (2 dashboards, 2 rule files, 1 Python), {size / 1e3:.0f} kB",
        commands=[
            Command("check 5 files", [*s.tool, "check", "--force-exclude", *staged], folder),
            Command("import click", [s.python, "-c", "import click"], folder, ok_codes=(0,)),
        ],
        tool_labels=["check 5 files"],
        goals=[Goal("check 5 files", "import click", 3.0)],
    )


def dashboard_5mb(s: Setup) -> Row:
    big = corpus.big_dashboard(s.out / "dashboard-5mb", 5.4, s.seed)
    pristine = big.root / "huge.json"
    work = s.out / "work" / "dashboard-5mb.json"
    return Row(
        key="dashboard-5mb",
        title="one large dashboard",
        corpus=_describe(big, "dashboard"),
        commands=[
            Command("fix", [*s.tool, "check", "--fix", str(work)], s.out, prepare=_fresh_copy(pristine, work)),
            Command("check", [*s.tool, "check", str(pristine)], s.out),
            Command("json.loads", [s.python, "-c", JSON_LOOP, str(pristine)], s.out),
        ],
        tool_labels=["fix", "check"],
        goals=[Goal("fix", None, 150.0), Goal("fix", "json.loads", None), Goal("fix", "check", None)],
    )


def dashboard_54mb(s: Setup) -> Row:
    big = corpus.big_dashboard(s.out / "dashboard-54mb", 54, s.seed)
    pristine = big.root / "huge.json"
    work = s.out / "work" / "dashboard-54mb.json"
    return Row(
        key="dashboard-54mb",
        title="one huge dashboard (--full only)",
        corpus=_describe(big, "dashboard"),
        commands=[Command("fix", [*s.tool, "check", "--fix", str(work)], s.out, prepare=_fresh_copy(pristine, work))],
        tool_labels=["fix"],
        goals=[Goal("fix", None, 1024.0)],
        rounds=1,
        warmup=False,
        notes=["one run: peak RSS is the goal here, and a run takes long"],
    )


ROWS: dict[str, Callable[[Setup], Row]] = {
    "no-hit": no_hit,
    "dashboards": dashboards,
    "python": python,
    "rules": rules,
    "pre-commit": pre_commit,
    "dashboard-5mb": dashboard_5mb,
    "dashboard-54mb": dashboard_54mb,
}
FULL_ONLY = {"dashboard-54mb"}
