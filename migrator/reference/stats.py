"""Executable model of vLLM's prompt-token accounting in the two released eras.

Era (a) (v0.16.0 - v0.19.1) carried a ``recomputed_tokens`` field that fed
``vllm:prompt_tokens_recomputed``; era (c) (v0.20.0+) dropped it and made the
per-source counters add up exactly. Era (b) lived on vLLM main for two days and
was never released, so it is deliberately not modelled.

These classes reproduce the *formulas*, not vLLM's code: the migrator uses them
to prove that a rewritten query gives the same numbers on v0.20+ as the
original did on v0.16-v0.19.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final

#: The ``source`` label values of the prompt-tokens-by-source counter (both eras).
ALL_SOURCES: Final[tuple[str, str, str]] = (
    "local_compute",
    "local_cache_hit",
    "external_kv_transfer",
)

# The exposed label value differs from the stats field for local_compute; one
# table keeps both eras' get_by_source in agreement.
_SOURCE_TO_FIELD: Final[dict[str, str]] = {
    "local_compute": "computed",
    "local_cache_hit": "local_cache_hit",
    "external_kv_transfer": "external_kv_transfer",
}


def _require_count(name: str, value: object) -> int:
    # bool is an int subclass; a True slipping in is always a caller bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _field_for_source(source: str) -> str:
    try:
        return _SOURCE_TO_FIELD[source]
    except KeyError:
        raise ValueError(
            f"unknown prompt-token source {source!r}; expected one of {', '.join(ALL_SOURCES)}"
        ) from None


@dataclass(frozen=True)
class LegacyCounts:
    """Immutable snapshot of era-(a) totals, so expected values can be compared with ``==``."""

    computed: int
    local_cache_hit: int
    external_kv_transfer: int
    cached_tokens: int
    recomputed_tokens: int
    total: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Counts:
    """Immutable snapshot of era-(c) totals (no recomputed field exists in this era)."""

    computed: int
    local_cache_hit: int
    external_kv_transfer: int
    cached_tokens: int
    total: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class LegacyPromptTokenStats:
    """Era (a), v0.16.0 - v0.19.1.

    The scheduler reports ``num_cached_tokens = N - 1`` on a full hit because it
    recomputes the last prompt token to get logits; the legacy accounting adds
    that token back to ``local_cache_hit`` and counts it in ``recomputed_tokens``.
    """

    computed: int = 0
    local_cache_hit: int = 0
    external_kv_transfer: int = 0
    cached_tokens: int = 0
    recomputed_tokens: int = 0
    total: int = 0
    # v0.19.0/v0.19.1 wrapped the local increment in max(0, ...); earlier
    # releases could go negative when external > cached + recomputed.
    clamp_local: bool = False

    def update_from_output(
        self, num_cached_tokens: int, num_external_computed_tokens: int, prompt_len: int
    ) -> None:
        _require_count("num_cached_tokens", num_cached_tokens)
        _require_count("num_external_computed_tokens", num_external_computed_tokens)
        _require_count("prompt_len", prompt_len)
        # vLLM never reports more cached tokens than the prompt has; allowing it
        # would silently produce negative `computed` and hide caller bugs.
        if num_cached_tokens > prompt_len:
            raise ValueError(
                f"num_cached_tokens ({num_cached_tokens}) exceeds prompt_len ({prompt_len})"
            )
        if num_external_computed_tokens > prompt_len:
            raise ValueError(
                f"num_external_computed_tokens ({num_external_computed_tokens}) "
                f"exceeds prompt_len ({prompt_len})"
            )

        # The legacy heuristic: exactly N-1 cached means "full hit, last token
        # recomputed" - even when a partial hit happened to stop at N-1.
        recomputed = 1 if num_cached_tokens + 1 == prompt_len else 0
        local = num_cached_tokens + recomputed - num_external_computed_tokens
        if self.clamp_local:
            local = max(0, local)

        self.computed += prompt_len - num_cached_tokens
        self.external_kv_transfer += num_external_computed_tokens
        self.local_cache_hit += local
        self.cached_tokens += num_cached_tokens
        self.recomputed_tokens += recomputed
        self.total += prompt_len

    def get_by_source(self, source: str) -> int:
        return int(getattr(self, _field_for_source(source)))

    def counts(self) -> LegacyCounts:
        return LegacyCounts(
            computed=self.computed,
            local_cache_hit=self.local_cache_hit,
            external_kv_transfer=self.external_kv_transfer,
            cached_tokens=self.cached_tokens,
            recomputed_tokens=self.recomputed_tokens,
            total=self.total,
        )


@dataclass
class PrefillStats:
    """What the era-(c) scheduler hands to the stats layer for one prefill."""

    num_prompt_tokens: int = 0
    num_local_cached_tokens: int = 0
    num_external_cached_tokens: int = 0
    num_cached_tokens: int = 0
    num_computed_tokens: int = 0

    def set(
        self, num_prompt_tokens: int, num_local_cached_tokens: int, num_external_cached_tokens: int
    ) -> None:
        _require_count("num_prompt_tokens", num_prompt_tokens)
        _require_count("num_local_cached_tokens", num_local_cached_tokens)
        _require_count("num_external_cached_tokens", num_external_cached_tokens)
        cached = num_local_cached_tokens + num_external_cached_tokens
        # This bound is what makes the era-(c) invariants exact by construction.
        if cached > num_prompt_tokens:
            raise ValueError(
                f"cached tokens exceed the prompt: num_local_cached_tokens "
                f"({num_local_cached_tokens}) + num_external_cached_tokens "
                f"({num_external_cached_tokens}) = {cached} > num_prompt_tokens "
                f"({num_prompt_tokens})"
            )
        self.num_prompt_tokens = num_prompt_tokens
        self.num_local_cached_tokens = num_local_cached_tokens
        self.num_external_cached_tokens = num_external_cached_tokens
        self.num_cached_tokens = cached
        self.num_computed_tokens = num_prompt_tokens - cached


@dataclass
class PromptTokenStats:
    """Era (c), v0.20.0+: ``computed + local + external == total`` holds exactly."""

    computed: int = 0
    local_cache_hit: int = 0
    external_kv_transfer: int = 0
    cached_tokens: int = 0
    total: int = 0

    def update_from_output(self, prefill_stats: PrefillStats) -> None:
        self.computed += prefill_stats.num_computed_tokens
        self.local_cache_hit += prefill_stats.num_local_cached_tokens
        self.external_kv_transfer += prefill_stats.num_external_cached_tokens
        self.cached_tokens += prefill_stats.num_cached_tokens
        self.total += prefill_stats.num_prompt_tokens

    def get_by_source(self, source: str) -> int:
        return int(getattr(self, _field_for_source(source)))

    def counts(self) -> Counts:
        return Counts(
            computed=self.computed,
            local_cache_hit=self.local_cache_hit,
            external_kv_transfer=self.external_kv_transfer,
            cached_tokens=self.cached_tokens,
            total=self.total,
        )
