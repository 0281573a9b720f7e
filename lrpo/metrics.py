"""`MetricSums`: the one form in which every lrpo component reports what it counted.

A component (reward, gate, calibrator, router) keeps additive running sums. Sums of one kind
merge by adding key by key, so data-parallel ranks or logging windows combine exactly; the
logged metrics (means, rates) are derived from the total only at the end, by the component's
``derive`` function. The trainer layer gathers and merges; components never talk across ranks.

Examples
--------
>>> def rate(sums):
...     return {"gate/pass_rate": sums["passed"] / sums["checked"]}
>>> rank0 = MetricSums({"checked": 4.0, "passed": 3.0}, derive=rate)
>>> rank1 = MetricSums({"checked": 6.0, "passed": 2.0}, derive=rate)
>>> MetricSums.merge([rank0, rank1]).metrics()
{'gate/pass_rate': 0.5}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["Derive", "Metered", "MetricSums", "passthrough"]

#: Turns merged sums into the logged metrics; a module-level function, so sums pickle.
Derive = Callable[[Mapping[str, float]], dict[str, float]]


def passthrough(sums: Mapping[str, float]) -> dict[str, float]:
    """The sums are the metrics (counts)."""
    return {key: float(value) for key, value in sums.items()}


@dataclass(frozen=True)
class MetricSums:
    """Additive sums and the function that turns their total into logged metrics.

    Parameters
    ----------
    values : mapping of str to float
        Running sums; a key missing from one side of a merge counts 0.
    derive : callable, default :func:`passthrough`
        ``derive(values) -> metrics``, applied by :meth:`metrics` to the merged total.
    """

    values: Mapping[str, float] = field(default_factory=dict)
    derive: Derive = passthrough

    def __add__(self, other: MetricSums) -> MetricSums:
        if not isinstance(other, MetricSums):
            return NotImplemented
        if other.derive is not self.derive:
            raise ValueError(
                f"cannot merge sums derived by {_name(self.derive)} with sums derived by "
                f"{_name(other.derive)}: they come from different kinds of component"
            )
        total = dict(self.values)
        for key, value in other.values.items():
            total[key] = total.get(key, 0.0) + float(value)
        return MetricSums(total, self.derive)

    @staticmethod
    def merge(parts: Iterable[MetricSums]) -> MetricSums:
        """The sum of several parts of one kind (an empty iterable gives empty counts)."""
        parts = list(parts)
        return sum(parts[1:], parts[0]) if parts else MetricSums()

    def metrics(self) -> dict[str, float]:
        """The logged metrics derived from these sums."""
        return self.derive(self.values)


@runtime_checkable
class Metered(Protocol):
    """A component that reports :class:`MetricSums`; ``reset=True`` starts a new window."""

    def metric_sums(self, *, reset: bool = False) -> MetricSums: ...


def _name(derive: Derive) -> str:
    return getattr(derive, "__qualname__", repr(derive))
