"""Prometheus text exposition of a simulated engine, rendered by prometheus_client.

Apart from the simulation because only fixtures and `verify` need it: importing
prometheus_client (and the HTTP and TLS modules it brings) costs ~45 ms, a tenth of a
pre-commit run whose fixes only need the oracle's timeline.
"""

from __future__ import annotations

from typing import Final, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .catalogue import REMOVED_METRIC, SURVIVING_PROMPT_METRICS
from .simulate import LabelKey, Request, _check_era, _era_values

#: Fixed `_created` value (v0.20.0 release day, UTC) so generated fixtures are reproducible.
FIXED_CREATED_TIMESTAMP: Final[float] = 1777248000.0


class _Frozen(Collector):
    """A collector replaying already-collected families (used to pin `_created`)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def exposition_text(
    era: str,
    workloads: Mapping[LabelKey, Sequence[Request]],
    *,
    created_timestamp: float | None = FIXED_CREATED_TIMESTAMP,
    pd_full_external: bool = False,
) -> str:
    """Prometheus text exposition an engine of ``era`` serves, rendered by prometheus_client.

    ``created_timestamp=None`` keeps prometheus_client's wall-clock `_created`.
    """
    _check_era(era)
    registry = CollectorRegistry(auto_describe=True)
    defs = list(SURVIVING_PROMPT_METRICS)
    if era == "a":
        defs.append(REMOVED_METRIC.metric)
    counters = {
        d.name: Counter(d.name, d.help, list(d.labels), registry=registry) for d in defs
    }
    for (model_name, engine), requests in workloads.items():
        for name, extra, value in _era_values(era, requests, pd_full_external):
            labels = {"model_name": model_name, "engine": engine, **dict(extra)}
            # inc(0) still creates the child, matching vLLM's start-up children.
            counters[name].labels(**labels).inc(value)
    if created_timestamp is None:
        return generate_latest(registry).decode("utf-8")
    families = list(registry.collect())
    for family in families:
        family.samples = [
            s._replace(value=created_timestamp) if s.name.endswith("_created") else s
            for s in family.samples
        ]
    return generate_latest(_Frozen(families)).decode("utf-8")
