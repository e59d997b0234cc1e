"""Series for metrics outside the prompt-token model, so `verify` can prove renames too.

A rename is safe because the new name carries the same values; `verify` shows it on the real
engine by giving the old names data on the v0.16–v0.19 side and the *same* data under the new
names on the other, then comparing the original query with the renamed one. Values are
deterministic, shaped by the metric's type (a gauge wanders, a counter grows and restarts once,
a histogram fills cumulative buckets), and labelled like the reference timeline's engines.
"""

from __future__ import annotations

import math
from typing import Iterable

from migrator.reference.catalogue import Series
from migrator.reference.simulate import SCRAPE_INTERVAL_MS, TIMELINE_ENGINES, TIMELINE_MINUTES, TimeSeries
from migrator.reference.spellings import classify

_BUCKETS = ("0.005", "0.05", "0.5", "5", "+Inf")
_RESTART_MINUTE = 150


def _shape(seed: int, engine: int, minute: int) -> float:
    """A smooth positive rate that differs by engine and by metric."""
    return 1.0 + 0.5 * math.sin(minute / (9.0 + seed % 7) + engine) + 0.25 * math.cos(minute / 31.0 + seed)


def _seed(series: Series) -> int:
    return sum(ord(c) for c in series.metric.name)


def _values(series: Series, engine: int) -> list[tuple[tuple[tuple[str, str], ...], list[float]]]:
    """(extra labels, value per scrape) for one written name of one engine."""
    seed = _seed(series)
    minutes = range(TIMELINE_MINUTES + 1)
    kind, suffix = series.metric.type, series.suffix
    if kind == "Gauge" or (kind == "Info" and suffix == "_info"):
        return [((), [round(0.05 + 0.4 * _shape(seed, engine, m) / 1.75, 6) for m in minutes])]
    if kind == "Counter" and suffix in ("", "_total") and not series.family:
        return [((), _cumulative(seed, engine, scale=40))]
    if kind == "Histogram":
        if suffix == "_bucket":
            out = []
            for i, le in enumerate(_BUCKETS):
                share = (i + 1) / len(_BUCKETS) if le != "+Inf" else 1.0
                out.append(((("le", le),), [v * share for v in _cumulative(seed, engine, scale=20)]))
            return out
        if suffix == "_count":
            return [((), _cumulative(seed, engine, scale=20))]
        if suffix == "_sum":
            return [((), [round(v * 0.37, 6) for v in _cumulative(seed, engine, scale=20)])]
    return []  # `_created`, family names: nothing a scrape returns


def _cumulative(seed: int, engine: int, *, scale: int) -> list[float]:
    total, out = 0.0, []
    for minute in range(TIMELINE_MINUTES + 1):
        if minute == _RESTART_MINUTE and engine == 0:
            total = 0.0  # one restart, as in the reference timeline
        total += float(round(scale * _shape(seed, engine, minute)))
        out.append(total)
    return out


def renamed_series(
    pairs: Iterable[tuple[str, str]], era: str, extra: Iterable[tuple[str, str]] = ()
) -> tuple[TimeSeries, ...]:
    """For every (old, new) name pair: in era "a" the old name's series, in era "c" the same
    values under the new name; `extra` labels (a query's `namespace="prod"`) on every series."""
    extra = tuple(extra)
    times = tuple(SCRAPE_INTERVAL_MS * i for i in range(TIMELINE_MINUTES + 1))
    out: list[TimeSeries] = []
    for old, new in pairs:
        hit = classify(old)
        if hit is None:
            continue
        written = old if era == "a" else new
        candidate = next((s for s in hit.candidates if not s.family), hit.candidates[0])
        for engine, profile in enumerate(TIMELINE_ENGINES):
            base = (("model_name", profile.model_name), ("engine", profile.engine)) + extra
            for extra, values in _values(candidate, engine):
                out.append(TimeSeries(written, base + extra, times, tuple(values)))
    return tuple(out)
