"""Signatures of the PromQL built-in functions (value types of arguments/results).

Types: 's' scalar, 'v' instant vector, 'm' range vector (matrix), 'str' string.
``optional`` is how many trailing arguments may be omitted; ``variadic`` means the
last argument type may repeat.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Signature", "FUNCTIONS", "arg_type", "return_type"]


class Signature(NamedTuple):
    args: tuple[str, ...]
    returns: str = "v"
    optional: int = 0
    variadic: bool = False


_V = Signature(("v",))
_M = Signature(("m",))
_TIME = Signature(("v",), optional=1)

FUNCTIONS: dict[str, Signature] = {
    **{f: _V for f in (
        "abs", "absent", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "cos",
        "cosh", "deg", "exp", "floor", "histogram_avg", "histogram_count", "histogram_sum",
        "histogram_stddev", "histogram_stdvar", "ln", "log10", "log2", "rad", "sgn", "sin",
        "sinh", "sort", "sort_desc", "sqrt", "tan", "tanh", "timestamp",
    )},
    **{f: _M for f in (
        "absent_over_time", "avg_over_time", "changes", "count_over_time", "delta", "deriv",
        "idelta", "increase", "irate", "last_over_time", "first_over_time", "mad_over_time",
        "max_over_time", "min_over_time", "present_over_time", "rate", "resets",
        "stddev_over_time", "stdvar_over_time", "sum_over_time", "ts_of_max_over_time",
        "ts_of_min_over_time", "ts_of_last_over_time",
    )},
    **{f: _TIME for f in (
        "day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute",
        "month", "year",
    )},
    "clamp": Signature(("v", "s", "s")),
    "clamp_max": Signature(("v", "s")),
    "clamp_min": Signature(("v", "s")),
    "histogram_fraction": Signature(("s", "s", "v")),
    "histogram_quantile": Signature(("s", "v")),
    "double_exponential_smoothing": Signature(("m", "s", "s")),
    "holt_winters": Signature(("m", "s", "s")),
    "info": Signature(("v", "v"), optional=1),
    "label_replace": Signature(("v", "str", "str", "str", "str")),
    "label_join": Signature(("v", "str", "str", "str"), optional=1, variadic=True),
    "pi": Signature((), returns="s"),
    "predict_linear": Signature(("m", "s")),
    "quantile_over_time": Signature(("s", "m")),
    "round": Signature(("v", "s"), optional=1),
    "scalar": Signature(("v",), returns="s"),
    "sort_by_label": Signature(("v", "str"), optional=1, variadic=True),
    "sort_by_label_desc": Signature(("v", "str"), optional=1, variadic=True),
    "time": Signature((), returns="s"),
    "vector": Signature(("s",)),
}


def arg_type(func: str, index: int) -> str | None:
    """Expected type of argument *index* of *func*, or None if unknown."""
    sig = FUNCTIONS.get(func)
    if sig is None or not sig.args:
        return None
    if index < len(sig.args):
        return sig.args[index]
    return sig.args[-1] if sig.variadic else None


def return_type(func: str) -> str | None:
    sig = FUNCTIONS.get(func)
    return sig.returns if sig is not None else None
