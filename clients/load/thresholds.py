"""Pass/fail criteria in the style of k6: ``tick_delay.p99<50ms``, ``seq_gaps.count==0``,
``ticks_received.rate>=90000``. Parsing and evaluation only; no I/O.

Grammar: ``METRIC[.STAT] OP VALUE`` where ``OP`` is one of ``< <= > >= == !=``. ``STAT``
defaults to ``count`` for a counter and ``value`` for a gauge; a trend needs one (``p99``,
``p(99)``, ``mean``, ``avg``, ``max``, ...). A time metric's value needs a unit (``50ms``,
``250us``, ``1s``): a bare number is ambiguous (k6 reads milliseconds).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from clients.load.errors import SpecError
from clients.load.names import METRICS, STAT_ALIASES
from clients.load.units import format_duration, parse_duration

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, ">": operator.gt,
}
_EXPR = re.compile(r"^\s*([a-z_][a-z0-9_]*)(?:\s*[.:]\s*([a-z0-9().]+))?\s*(<=|>=|==|!=|<|>)"
                   r"\s*(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class Threshold:
    """``metric.stat op limit``; ``limit`` in the metric's unit (seconds for time)."""

    metric: str
    stat: str
    op: str
    limit: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """A threshold from its text, such as ``tick_delay.p99<50ms``."""
        match = _EXPR.match(text)
        if match is None:
            raise SpecError("threshold", f"threshold must look like METRIC.STAT<VALUE "
                                         f"(tick_delay.p99<50ms, seq_gaps.count==0), got {text!r}")
        name, stat, op, value = match.groups()
        info = METRICS.get(name)
        if info is None:
            raise SpecError("threshold", f"threshold names an unknown metric {name!r} "
                                         f"(known: {', '.join(METRICS)}), got {text!r}")
        if stat is None:
            if info.kind == "trend":
                raise SpecError("threshold", f"threshold on the trend {name} needs a statistic "
                                             f"({name}.p99, {name}.max, ...), got {text!r}")
            stat = "count" if info.kind == "counter" else "value"
        stat = STAT_ALIASES.get(stat, stat)
        if stat not in info.stats:
            raise SpecError("threshold", f"{name} has no statistic {stat!r} (it has "
                                         f"{', '.join(info.stats)}), got {text!r}")
        if info.unit == "s" and stat not in ("count", "rate"):
            limit = parse_duration(value, name=f"threshold {text!r}", unit_required=True)
        else:
            try:
                limit = float(value)
            except ValueError:
                raise SpecError("threshold", f"threshold value must be a number, got {text!r}") \
                    from None
            if not math.isfinite(limit):
                raise SpecError("threshold", f"threshold value must be finite, got {text!r}")
        return cls(name, stat, op, limit)

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.limit)

    def format_value(self, value: float) -> str:
        if METRICS[self.metric].unit == "s" and self.stat not in ("count", "rate"):
            return format_duration(value)
        return f"{value:g}"

    def __str__(self) -> str:
        return f"{self.metric}.{self.stat}{self.op}{self.format_value(self.limit)}"


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    threshold: Threshold
    value: float | None
    """The measured statistic; ``None`` when the metric had no samples (which fails)."""
    ok: bool

    def describe(self) -> str:
        measured = "no samples" if self.value is None else self.threshold.format_value(self.value)
        return f"{'ok  ' if self.ok else 'FAIL'} {self.threshold}  (measured {measured})"


def evaluate(thresholds: tuple[Threshold, ...],
             metrics: Mapping[str, Mapping[str, float | int | None]]) -> list[ThresholdResult]:
    """Each threshold against the summary's metrics (``metrics[name][stat]``)."""
    results = []
    for threshold in thresholds:
        value = metrics.get(threshold.metric, {}).get(threshold.stat)
        ok = value is not None and threshold.holds(float(value))
        results.append(ThresholdResult(threshold, None if value is None else float(value), ok))
    return results
