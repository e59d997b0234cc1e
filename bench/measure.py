"""Running commands and summarising their timings: wall and CPU time, peak RSS, medians.

Each command runs in a child process waited for with `os.wait4`, whose resource usage is that
child's alone (and its own waited-for children's): CPU time and peak RSS need no sampling. The
commands of one row run interleaved (A B C, then C B A, ...) so that load from other processes on
the machine falls on all of them alike; ratios are taken between medians of the same rounds.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Command:
    """One measured command. `prepare` runs untimed before each run (e.g. a fresh copy)."""

    label: str
    argv: Sequence[str]
    cwd: Path
    prepare: Callable[[], None] | None = None
    ok_codes: tuple[int, ...] = (0, 1)  # the tool exits 1 when findings remain


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    floor_mb: float  # the harness's RSS when it started the command: peak RSS cannot read below


@dataclass
class Series:
    """Every run of one command, in round order."""

    command: Command
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.runs)

    @property
    def at_floor(self) -> bool:
        """The peak RSS is the harness's, copied by fork: the process itself used less."""
        return self.peak_rss_mb <= max(r.floor_mb for r in self.runs) + 1

    @property
    def spread(self) -> float:
        """(max - min) / median of the wall times: how noisy this command's runs were."""
        walls = [r.wall_s for r in self.runs]
        return (max(walls) - min(walls)) / self.wall if self.wall else 0.0


def harness_rss_mb() -> float:
    """This process's resident memory. A child starts as a copy of it (fork), so no measured
    peak RSS can read below this floor."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class CommandFailed(RuntimeError):
    pass


def run_once(command: Command, memory_cap_mb: int) -> Run:
    if command.prepare is not None:
        command.prepare()
    with tempfile.TemporaryFile() as stderr:
        # The cap protects a shared machine from a runaway run; it is far above every goal.
        cap = memory_cap_mb * 1024 * 1024
        floor = harness_rss_mb()
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(command.argv),
            cwd=command.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)),
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in command.ok_codes:
            stderr.seek(0)
            tail = stderr.read()[-2000:].decode(errors="replace")
            raise CommandFailed(f"{command.label}: `{' '.join(map(str, command.argv))}` exited {code}\n{tail}")
    # ru_maxrss is in KiB on Linux.
    return Run(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, peak_rss_mb=usage.ru_maxrss / 1024, floor_mb=floor)


def interleaved(commands: Sequence[Command], rounds: int, warmup: bool, memory_cap_mb: int, progress: Callable[[str], None]) -> dict[str, Series]:
    """Runs every command once per round, alternating the order each round; one untimed warm-up
    round first (page cache, bytecode caches) when `warmup`."""
    series = {c.label: Series(c) for c in commands}
    if warmup:
        for command in commands:
            run_once(command, memory_cap_mb)
    for n in range(rounds):
        order = commands if n % 2 == 0 else list(reversed(commands))
        for command in order:
            series[command.label].runs.append(run_once(command, memory_cap_mb))
        progress(f"round {n + 1}/{rounds}")
    return series


@dataclass(frozen=True)
class Ratio:
    """median(numerator wall) / median(denominator wall), with the range of the per-round ratios
    (the numerator's and denominator's runs of the same round) to show how noisy it was."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, numerator: Series, denominator: Series) -> Ratio:
        paired = [a.wall_s / b.wall_s for a, b in zip(numerator.runs, denominator.runs, strict=True)]
        return cls(numerator.wall / denominator.wall, min(paired), max(paired))
