"""Element-wise PromQL arithmetic and the instant-vector functions' per-value maths, with Go's
float semantics (NaN and ±Inf where Python would raise)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Callable

NAN = math.nan
INF = math.inf


class EvaluationError(ValueError):
    """The expression is invalid for this data (as Prometheus would report)."""


class EvaluationUnsupported(NotImplementedError):
    """The oracle cannot evaluate this expression exactly (unknown function, variables…)."""


def go_max(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a > b else b


def go_min(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a < b else b


def _safe(f: Callable[[float], float]) -> Callable[[float], float]:
    def g(x: float) -> float:
        try:
            return float(f(x))
        except ValueError:
            return NAN
        except OverflowError:
            return INF

    return g


def _finite_or(f: Callable[[float], float]) -> Callable[[float], float]:
    def g(x: float) -> float:
        return float(f(x)) if math.isfinite(x) else x

    return g


def _log(base_fn: Callable[[float], float]) -> Callable[[float], float]:
    def g(x: float) -> float:
        if x != x or x < 0:
            return NAN
        if x == 0:
            return -INF
        if x == INF:
            return INF
        return base_fn(x)

    return g


def _sgn(x: float) -> float:
    if x < 0:
        return -1.0
    if x > 0:
        return 1.0
    return x  # 0 and NaN stay as they are


MATH: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": _finite_or(math.ceil),
    "floor": _finite_or(math.floor),
    "sqrt": _safe(math.sqrt),
    "exp": _safe(math.exp),
    "ln": _log(math.log),
    "log2": _log(math.log2),
    "log10": _log(math.log10),
    "sgn": _sgn,
    "deg": lambda v: v * 180 / math.pi,
    "rad": lambda v: v * math.pi / 180,
    "sin": _safe(math.sin), "cos": _safe(math.cos), "tan": _safe(math.tan),
    "asin": _safe(math.asin), "acos": _safe(math.acos), "atan": _safe(math.atan),
    "sinh": _safe(math.sinh), "cosh": _safe(math.cosh), "tanh": _safe(math.tanh),
    "asinh": _safe(math.asinh), "acosh": _safe(math.acosh), "atanh": _safe(math.atanh),
}


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _days_in_month(d: datetime) -> int:
    nxt = d.replace(year=d.year + 1, month=1, day=1) if d.month == 12 else d.replace(month=d.month + 1, day=1)
    return (nxt - d.replace(day=1)).days


DATE: dict[str, Callable[[datetime], int]] = {
    "minute": lambda d: d.minute,
    "hour": lambda d: d.hour,
    "day_of_week": lambda d: (d.weekday() + 1) % 7,
    "day_of_month": lambda d: d.day,
    "day_of_year": lambda d: d.timetuple().tm_yday,
    "days_in_month": _days_in_month,
    "month": lambda d: d.month,
    "year": lambda d: d.year,
}


def date_part(func: str, seconds: float) -> float:
    if not math.isfinite(seconds):
        return NAN
    try:
        return float(DATE[func](_utc(seconds)))
    except (OverflowError, OSError, ValueError):
        raise EvaluationUnsupported(f"{func}() of {seconds:g}: outside the dates Python represents") from None


def _is_odd_int(y: float) -> bool:
    return math.isfinite(y) and y == int(y) and int(y) % 2 == 1


def _pow(x: float, y: float) -> float:
    """Go's math.Pow semantics (NaN / ±Inf instead of exceptions)."""
    try:
        return math.pow(x, y)
    except ValueError:
        if x == 0 and y < 0:
            return math.copysign(INF, x) if _is_odd_int(y) else INF
        return NAN
    except OverflowError:
        return -INF if x < 0 and _is_odd_int(y) else INF


def div(x: float, y: float) -> float:
    if y == 0:
        if x != x or x == 0:
            return NAN
        return math.copysign(INF, x) * math.copysign(1.0, y)
    return x / y


def _mod(x: float, y: float) -> float:
    try:
        return math.fmod(x, y)
    except ValueError:
        return NAN


ARITH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": div,
    "%": _mod,
    "^": _pow,
    "atan2": math.atan2,
}
CMP: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def elem_binop(op: str, a: float, b: float) -> tuple[float, bool]:
    """(value, keep) of ``a op b``: arithmetic keeps everything, a comparison keeps ``a`` when true."""
    f = ARITH.get(op)
    if f is not None:
        return f(a, b), True
    return a, CMP[op](a, b)


@lru_cache(maxsize=512)
def compiled_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error as e:
        raise EvaluationError(f"invalid regular expression {pattern!r}: {e}") from None


def expand_template(template: str, m: re.Match[str]) -> str:
    """Go regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out = []
    i, n = 0, len(template)
    groupindex = m.re.groupindex
    while i < n:
        c = template[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        if i + 1 < n and template[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        name = None
        if i + 1 < n and template[i + 1] == "{":
            close = template.find("}", i + 2)
            cand = template[i + 2 : close] if close > 0 else ""
            if close > 0 and cand and re.fullmatch(r"\w+", cand, re.ASCII):
                name, i = cand, close + 1
        else:
            mm = re.match(r"\w+", template[i + 1 :], re.ASCII)
            if mm:
                name, i = mm.group(), i + 1 + mm.end()
        if name is None:  # malformed: keep the '$'
            out.append("$")
            i += 1
            continue
        if name.isdigit():
            idx = int(name)
            val = m.group(idx) if idx <= m.re.groups else None
        else:
            val = m.group(name) if name in groupindex else None
        out.append(val or "")
    return "".join(out)


def format_value(v: float) -> str:
    """Go strconv.FormatFloat(v, 'f', -1, 64), used by count_values."""
    if v != v:
        return "NaN"
    if v in (INF, -INF):
        return "+Inf" if v > 0 else "-Inf"
    s = format(Decimal(repr(v)), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s
