"""The oracle's evaluator keeps time the way Prometheus does.

Small hand-made series (one sample a minute from t=0, gaps and resets where a case needs
them): each case states the value worked out by hand from Prometheus' rules, and the same
queries go through `promtool test rules`, which must agree with the evaluator to the bit
(skipped locally without promtool; under CI=true a missing promtool fails).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest

from migrator import promtool_eval
from migrator.promql import EvaluationUnsupported, Series, parse
from migrator.promql.evaluate import evaluate
from migrator.promql.oracle import per_time

MIN = 60_000


def series(name: str, values: list[float | None], **labels: str) -> Series:
    points = [(i * MIN, v) for i, v in enumerate(values) if v is not None]
    return Series(name, labels, [t for t, _ in points], [v for _, v in points])


# A counter growing 60/min (1/s) from 600, reset to 0 after minute 10, then growing 120/min.
RESET = series("c_total", [600 + 60 * i for i in range(11)] + [30 + 120 * i for i in range(10)], job="a")
# A counter that starts at minute 5 (absent before), growing 60/min from 0.
LATE = series("late_total", [None] * 5 + [60.0 * i for i in range(16)], job="b")
# A gauge with a gap between minutes 8 and 15 (older than the 5m lookback at minute 14).
GAPPY = series("g", [float(i % 4) for i in range(8)] + [None] * 7 + [5.0, 6.0], job="c")
DATA = [RESET, LATE, GAPPY]

#: (query, evaluation time in seconds, the value worked out by hand: a number, None = no result)
CASES = [
    # A window ending between samples: [4m30s, 9m30s] holds minutes 5..9 (4 minutes apart);
    # 30 s are missing at each end, less than 1.1 x the 60 s spacing: extrapolate to 300 s.
    ("rate(c_total[5m])", 570, 1.0),
    ("increase(c_total[5m])", 570, 300.0),
    # A reset inside the window: the drop adds the last value before it (1200) back.
    # Samples at 7..12 min: 1020, 1080, 1140, 1200, 30, 150 -> 150 - 1020 + 1200 = 330 over 300 s.
    ("increase(c_total[5m])", 720, 330.0),
    # irate over a reset takes the new value as the increase.
    ("irate(c_total[5m])", 660, 30 / 60),
    ("idelta(c_total[5m])", 660, 30 - 1200),
    ("resets(c_total[30m])", 1200, 1.0),
    ("changes(g[30m])", 1020, 9.0),
    # The series starts inside the window: [0, 10m] holds minutes 5..10 (first value 0, so the
    # counter's zero point is at its first sample) and 0 s of extrapolation at the start.
    ("increase(late_total[10m])", 600, 300 * (300 + 0 + 0) / 300),
    # Lookback: the gauge's last sample (minute 7) is more than 5 minutes old at 12m30s.
    ("g", 750, None),
    ("g", 720, 3.0),
    ("last_over_time(g[10m])", 750, 3.0),
    # offset moves the instant back; a negative offset reads ahead.
    ("c_total offset 3m", 600, 1020.0),
    ("c_total offset -2m", 480, 1200.0),
    # @ pins the instant, and offset still applies to it.
    ("c_total @ 300", 1200, 900.0),
    ("c_total @ 300 offset 1m", 1200, 840.0),
    ("rate(c_total[2m] @ 240)", 1200, 1.0),
    # A subquery evaluates at multiples of its step (not of the query time): [10m:3m] at 14m
    # -> instants 6m, 9m, 12m, read with lookback: 960, 1140, 150.
    ("max_over_time(c_total[10m:3m])", 840, 1140.0),
    ("min_over_time(c_total[10m:3m])", 840, 150.0),
    ("count_over_time(c_total[10m:3m])", 840, 3.0),
    # With an offset the window moves; the step alignment stays absolute: [4m, 14m] -> 6, 9, 12.
    ("count_over_time(c_total[10m:3m] offset 2m)", 960, 3.0),
    ("sum_over_time(g[3m])", 420, 0.0 + 1 + 2 + 3),
    ("avg_over_time(g[3m])", 420, 1.5),
    ("quantile_over_time(0.5, g[3m])", 420, 1.5),
    ("stdvar_over_time(g[3m])", 420, 1.25),
    ("deriv(late_total[5m])", 900, 1.0),
    ("predict_linear(late_total[5m], 60)", 900, 660.0),
    ("timestamp(g)", 750, None),
    ("timestamp(g)", 450, 420.0),
    ("time()", 450, 450.0),
    ("absent_over_time(late_total[4m])", 240, 1.0),
]


def _value(query: str, at_s: int) -> float | None:
    result = evaluate(parse(query), DATA, [at_s * 1000])
    maps = per_time(result, 1)[0]
    assert len(maps) <= 1, maps
    return next(iter(maps.values())) if maps else None


@pytest.mark.parametrize("query,at,expected", CASES, ids=[f"{q}@{t}s" for q, t, _ in CASES])
def test_worked_out_by_hand(query: str, at: int, expected: float | None) -> None:
    got = _value(query, at)
    if expected is None:
        assert got is None
    else:
        assert got is not None and math.isclose(got, expected, rel_tol=1e-12), got


def test_extrapolation_stops_at_half_an_interval_when_the_series_ends_early() -> None:
    # At 25m the late counter's last sample is 5 minutes old: more than 1.1 x 60 s missing at
    # the end, so the rate extrapolates only 30 s past it (Prometheus' "series ends" guess).
    got = _value("increase(late_total[10m])", 25 * 60 + 59)
    # window [15m59s, 25m59s]: samples 16..20 min (240 s sampled, 1 s to start, 299 s to end)
    assert got == pytest.approx(240 * (240 + 1 + 30) / 240)


def test_subquery_inside_at_start_is_declared_beyond_the_oracle() -> None:
    with pytest.raises(EvaluationUnsupported):
        evaluate(parse("max_over_time((c_total @ start())[5m:1m])"), DATA, [600_000])


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but promtool is missing: install Debian's `prometheus` package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def test_promtool_agrees_to_the_bit(promtool: str, tmp_path: Path) -> None:
    batch = promtool_eval.Batch(datasets={"hand": DATA})
    queries = sorted({q for q, _t, _e in CASES} | {
        "sum(rate(c_total[5m])) + sum(rate(late_total[5m]))", "topk(1, rate({__name__=~\".*_total\"}[5m]))",
        "holt_winters(late_total[10m], 0.3, 0.6)", "rate(c_total[90s])", "c_total and on() g > 2",
    })
    times = tuple(range(0, 21 * MIN, 30_000))
    expected = {}
    for q in queries:
        maps = tuple(per_time(evaluate(parse(q), DATA, times), len(times)))
        expected[q] = maps
        batch.queries.append(promtool_eval.Query("hand", q, times, maps))
    answers = promtool_eval.run(promtool, batch, tmp_path)
    wrong = [(query.expr, t / 1000, got, want) for query, row in zip(batch.queries, answers)
             for t, got, want in zip(times, row, expected[query.expr]) if got != want]
    assert not wrong, wrong[:5]
