"""Turning measured series into results (plain data, also written as JSON) and printing them."""

from __future__ import annotations

from measure import Ratio, Series
from rows import Row


def row_result(row: Row, series: dict[str, Series], findings: dict[str, int | None], seconds: float) -> dict:
    commands = {}
    for label, s in series.items():
        commands[label] = {
            "argv": [str(a) for a in s.command.argv],
            "tool": label in row.tool_labels,
            "findings": findings.get(label),
            "wall_median_s": round(s.wall, 4),
            "wall_runs_s": [round(r.wall_s, 4) for r in s.runs],
            "spread": round(s.spread, 3),
            "cpu_median_s": round(s.cpu, 4),
            "cpu_per_wall": round(s.cpu / s.wall, 2),
            "peak_rss_mb": round(s.peak_rss_mb, 1),
            "peak_rss_at_floor": s.at_floor,
        }
    goals = []
    for goal in row.goals:
        cpu_ratio = None
        if goal.denominator is None:
            value, low, high = (series[goal.numerator].peak_rss_mb,) * 3
        else:
            ratio = Ratio.of(series[goal.numerator], series[goal.denominator])
            value, low, high = ratio.value, ratio.low, ratio.high
            # CPU time is less disturbed by other processes than wall time; the goal is on wall.
            cpu_ratio = round(series[goal.numerator].cpu / series[goal.denominator].cpu, 2)
        verdict = "info" if goal.limit is None else ("PASS" if value <= goal.limit else "FAIL")
        if goal.denominator is None and goal.limit is not None:
            verdict = "PASS" if value < goal.limit else "FAIL"  # memory goals are strict bounds
        goals.append({
            "goal": goal.name,
            "kind": "ratio" if goal.denominator else "peak_rss_mb",
            "value": round(value, 2),
            "per_round_low": round(low, 2),
            "per_round_high": round(high, 2),
            "cpu_ratio": cpu_ratio,
            "limit": goal.limit,
            "result": verdict,
        })
    return {
        "key": row.key,
        "title": row.title,
        "corpus": row.corpus,
        "rounds": len(next(iter(series.values())).runs),
        "seconds": round(seconds, 1),
        "commands": commands,
        "goals": goals,
        "notes": row.notes,
    }


def print_header(env: dict, quick: bool, rounds: int, skipped: list[str]) -> None:
    print(f"vllm-metrics-migrator benchmark ({'quick' if quick else 'full'} run, median of {rounds} interleaved rounds)")
    for key in ("tool", "tool_python", "tool_python_version", "tool_version", "tool_bytecode", "commit", "machine", "grep"):
        print(f"  {key:20s} {env[key]}")
    print(f"  {'load average':20s} {' '.join(f'{x:.2f}' for x in env['load_average_at_start'])} (other processes share the CPUs)")
    print(f"  {'harness RSS':20s} {env['harness_rss_mb']:.0f} MB (a forked child's peak RSS cannot read below it)")
    if skipped:
        print(f"  {'skipped rows':20s} {', '.join(skipped)}")


def print_row(result: dict) -> None:
    print(f"\n== {result['key']}: {result['title']} -- {result['corpus']}  ({result['rounds']} rounds, {result['seconds']:.0f} s)")
    print(f"   {'command':24s} {'wall s':>8s} {'spread':>7s} {'cpu s':>8s} {'cpu/wall':>8s} {'peak MB':>8s} {'findings':>9s}")
    for label, c in result["commands"].items():
        findings = "" if c["findings"] is None else f"{c['findings']:,}"
        rss = ("<=" if c["peak_rss_at_floor"] else "") + f"{c['peak_rss_mb']:.1f}"
        print(
            f"   {label:24s} {c['wall_median_s']:8.3f} {c['spread']:7.0%} {c['cpu_median_s']:8.3f} "
            f"{c['cpu_per_wall']:8.2f} {rss:>8s} {findings:>9s}"
        )
    for g in result["goals"]:
        print("   " + _goal_line(g))
    for note in result["notes"]:
        print(f"   note: {note}")


def _goal_line(g: dict) -> str:
    if g["kind"] == "peak_rss_mb":
        limit = "" if g["limit"] is None else f"goal < {g['limit']:.0f} MB"
        return f"{g['goal']:44s} {g['value']:7.1f} MB {'':14s} {limit:14s} {g['result']}"
    limit = "" if g["limit"] is None else f"goal <= {g['limit']}x"
    spread = f"({g['per_round_low']:.2f}-{g['per_round_high']:.2f})"
    return f"{g['goal']:44s} {g['value']:7.2f}x {spread:15s} {limit:14s} {g['result']:5s} cpu {g['cpu_ratio']:.2f}x"


def print_summary(results: list[dict], env: dict) -> None:
    print("\n== summary (wall-time ratio of medians; per-round range in brackets; CPU-time ratio last)")
    print(f"   load average at the end {' '.join(f'{x:.2f}' for x in env['load_average_at_end'])}; "
          f"harness RSS {env['harness_rss_mb_at_end']:.0f} MB (a peak RSS near it is the floor, not the process)")
    for result in results:
        if "error" in result:
            print(f"   {result['key']:15s} did not run")
            continue
        for g in result["goals"]:
            if g["result"] != "info":
                print(f"   {result['key']:15s} {_goal_line(g)}")
