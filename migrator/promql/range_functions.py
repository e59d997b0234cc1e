"""PromQL's range-vector functions over one window of samples, as Prometheus 2.x computes them.

Each function gets a series' sample times (ms) and values, the inclusive index range
``lo..hi`` of the samples inside the window, and the window's bounds; it returns the value, or
None when Prometheus drops the series at that step (too few samples). The arithmetic follows
Prometheus' `promql/functions.go` operation by operation (extrapolation, counter-reset
correction, Kahan sums), so results agree with `promtool` to the last bit or nearly.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import Callable, Sequence

__all__ = ["RANGE_FUNCTIONS", "KEEPS_NAME", "NEEDS_PARAMS", "reset_indices", "kahan_inc", "quantile"]

Window = tuple[Sequence[int], Sequence[float], int, int]


def reset_indices(values: Sequence[float]) -> list[int]:
    """Indices where a counter went down (a reset), in order."""
    return [i for i in range(1, len(values)) if values[i] < values[i - 1]]


def kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """One step of Neumaier-compensated summation (Prometheus' kahanSumInc)."""
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def extrapolated_rate(
    times: Sequence[int], values: Sequence[float], resets: Sequence[int], lo: int, hi: int,
    range_start: int, range_end: int, range_ms: int, is_counter: bool, is_rate: bool,
) -> float | None:
    """rate() / increase() / delta(): the change over the window, corrected for counter resets
    and extrapolated towards the window's bounds (but never below a counter's zero point)."""
    if hi - lo < 1:
        return None
    result = values[hi] - values[lo]
    if is_counter:
        for i in resets[bisect_right(resets, lo) : bisect_right(resets, hi)]:
            result += values[i - 1]
    duration_to_start = (times[lo] - range_start) / 1000
    duration_to_end = (range_end - times[hi]) / 1000
    sampled = (times[hi] - times[lo]) / 1000
    average = sampled / (hi - lo)
    if is_counter and result > 0 and values[lo] >= 0:
        duration_to_zero = sampled * (values[lo] / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    threshold = average * 1.1
    interval = sampled
    interval += duration_to_start if duration_to_start < threshold else average / 2
    interval += duration_to_end if duration_to_end < threshold else average / 2
    factor = interval / sampled
    if is_rate:
        factor /= range_ms / 1000
    return result * factor


def instant_value(times: Sequence[int], values: Sequence[float], lo: int, hi: int, is_rate: bool) -> float | None:
    """irate() / idelta(): from the last two samples of the window."""
    if hi - lo < 1:
        return None
    last, previous = values[hi], values[hi - 1]
    result = last if is_rate and last < previous else last - previous
    interval = times[hi] - times[hi - 1]
    if interval == 0:
        return None
    if is_rate:
        result /= interval / 1000
    return result


def _avg(values: Sequence[float], lo: int, hi: int) -> float:
    mean = count = c = 0.0
    for i in range(lo, hi + 1):
        v = values[i]
        count += 1
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and not math.isnan(v):
                continue
        mean, c = kahan_inc(v / count - mean / count, mean, c)
    return mean if math.isinf(mean) else mean + c


def _sum(values: Sequence[float], lo: int, hi: int) -> float:
    total = c = 0.0
    for i in range(lo, hi + 1):
        total, c = kahan_inc(values[i], total, c)
    return total if math.isinf(total) else total + c


def _max(values: Sequence[float], lo: int, hi: int) -> float:
    best = values[lo]
    for i in range(lo, hi + 1):
        if values[i] > best or best != best:
            best = values[i]
    return best


def _min(values: Sequence[float], lo: int, hi: int) -> float:
    best = values[lo]
    for i in range(lo, hi + 1):
        if values[i] < best or best != best:
            best = values[i]
    return best


def _variance(values: Sequence[float], lo: int, hi: int) -> float:
    count = mean = c_mean = aux = c_aux = 0.0
    for i in range(lo, hi + 1):
        v = values[i]
        count += 1
        delta = v - (mean + c_mean)
        mean, c_mean = kahan_inc(delta / count, mean, c_mean)
        aux, c_aux = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def _changes(values: Sequence[float], lo: int, hi: int) -> float:
    count, prev = 0, values[lo]
    for i in range(lo + 1, hi + 1):
        current = values[i]
        if current != prev and not (current != current and prev != prev):
            count += 1
        prev = current
    return float(count)


def _resets(values: Sequence[float], lo: int, hi: int) -> float:
    count, prev = 0, values[lo]
    for i in range(lo + 1, hi + 1):
        if values[i] < prev:
            count += 1
        prev = values[i]
    return float(count)


def quantile(q: float, values: Sequence[float]) -> float:
    """Prometheus' quantile(): linear interpolation between the closest ranks."""
    if not values or q != q:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values)
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _linear_regression(times: Sequence[int], values: Sequence[float], lo: int, hi: int, intercept_ms: int) -> tuple[float, float]:
    n = sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    first = values[lo]
    constant = True
    for i in range(lo, hi + 1):
        v = values[i]
        if constant and i > lo and v != first:
            constant = False
        n += 1.0
        x = (times[i] - intercept_ms) / 1e3
        sum_x, c_x = kahan_inc(x, sum_x, c_x)
        sum_y, c_y = kahan_inc(v, sum_y, c_y)
        sum_xy, c_xy = kahan_inc(x * v, sum_xy, c_xy)
        sum_x2, c_x2 = kahan_inc(x * x, sum_x2, c_x2)
    if constant:
        return (math.nan, math.nan) if math.isinf(first) else (0.0, first)
    sum_x, sum_y, sum_xy, sum_x2 = sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = cov_xy / var_x if var_x else (math.copysign(math.inf, cov_xy) if cov_xy else math.nan)
    return slope, sum_y / n - slope * sum_x / n


def _holt_winters(values: Sequence[float], lo: int, hi: int, sf: float, tf: float) -> float | None:
    if hi - lo < 1:
        return None
    s0, s1, b = 0.0, values[lo], values[lo + 1] - values[lo]
    for i in range(lo + 1, hi + 1):
        x = sf * values[i]
        b = b if i - lo - 1 == 0 else tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


# Each function maps one series over all evaluation times at once:
# f(times, values, resets, windows, starts, ends, range_ms, eval_times, params) -> [value or None]
RangeFunction = Callable[..., "list[float | None]"]


def _simple(f: Callable[[Sequence[float], int, int], float]) -> RangeFunction:
    def apply(times, values, resets, wins, starts, ends, range_ms, at, params):  # type: ignore[no-untyped-def]
        return [f(values, lo, hi) if hi >= lo else None for lo, hi in wins]

    return apply


def _rate(is_counter: bool, is_rate: bool) -> RangeFunction:
    def apply(times, values, resets, wins, starts, ends, range_ms, at, params):  # type: ignore[no-untyped-def]
        return [extrapolated_rate(times, values, resets, lo, hi, start, end, range_ms, is_counter, is_rate)
                if hi > lo else None for (lo, hi), start, end in zip(wins, starts, ends)]

    return apply


def _instant(is_rate: bool) -> RangeFunction:
    def apply(times, values, resets, wins, starts, ends, range_ms, at, params):  # type: ignore[no-untyped-def]
        return [instant_value(times, values, lo, hi, is_rate) if hi > lo else None for lo, hi in wins]

    return apply


def _deriv(times, values, resets, wins, starts, ends, range_ms, at, params):  # type: ignore[no-untyped-def]
    return [_linear_regression(times, values, lo, hi, times[lo])[0] if hi > lo else None for lo, hi in wins]


def _predict_linear(times, values, resets, wins, starts, ends, range_ms, at, params):  # type: ignore[no-untyped-def]
    out: list[float | None] = []
    for i, (lo, hi) in enumerate(wins):
        if hi > lo:
            slope, intercept = _linear_regression(times, values, lo, hi, at[i])
            out.append(slope * params[0][i] + intercept)
        else:
            out.append(None)
    return out


def _quantile_over_time(times, values, resets, wins, starts, ends, range_ms, at, params):  # type: ignore[no-untyped-def]
    return [quantile(params[0][i], values[lo : hi + 1]) if hi >= lo else None for i, (lo, hi) in enumerate(wins)]


def _holt(times, values, resets, wins, starts, ends, range_ms, at, params):  # type: ignore[no-untyped-def]
    return [_holt_winters(values, lo, hi, params[0][i], params[1][i]) for i, (lo, hi) in enumerate(wins)]


RANGE_FUNCTIONS: dict[str, RangeFunction] = {
    "rate": _rate(True, True),
    "increase": _rate(True, False),
    "delta": _rate(False, False),
    "irate": _instant(True),
    "idelta": _instant(False),
    "avg_over_time": _simple(_avg),
    "sum_over_time": _simple(_sum),
    "max_over_time": _simple(_max),
    "min_over_time": _simple(_min),
    "count_over_time": _simple(lambda values, lo, hi: float(hi - lo + 1)),
    "last_over_time": _simple(lambda values, lo, hi: values[hi]),
    "present_over_time": _simple(lambda values, lo, hi: 1.0),
    "stdvar_over_time": _simple(_variance),
    "stddev_over_time": _simple(lambda values, lo, hi: math.sqrt(_variance(values, lo, hi))),
    "changes": _simple(_changes),
    "resets": _simple(_resets),
    "deriv": _deriv,
    "predict_linear": _predict_linear,
    "quantile_over_time": _quantile_over_time,
    "holt_winters": _holt,
    "double_exponential_smoothing": _holt,
}
#: Functions whose output keeps the metric name.
KEEPS_NAME = frozenset({"last_over_time"})
#: Scalar parameters, and where they sit among the arguments (the range vector is elsewhere).
NEEDS_PARAMS: dict[str, tuple[int, ...]] = {
    "quantile_over_time": (0,),
    "predict_linear": (1,),
    "holt_winters": (1, 2),
    "double_exponential_smoothing": (1, 2),
}
MATRIX_ARG: dict[str, int] = {"quantile_over_time": 1}


def windows(times: Sequence[int], starts: Sequence[int], ends: Sequence[int]) -> list[tuple[int, int]]:
    """(lo, hi) sample indices inside each closed window [start, end] (Prometheus 2.x bounds)."""
    return [(bisect_left(times, s), bisect_right(times, e) - 1) for s, e in zip(starts, ends)]
