"""Histograms observed on the loop's thread without locks: a ``bisect`` and two additions.

prometheus_client's ``Histogram.observe`` takes a lock per value (about 0.6 µs); these are
observed once per pong and once per broadcast, on the hot side of an instrumented server, and
read by a collector at scrape time (a scrape from another thread may see one observation half
counted, never a corrupt one).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class Buckets:
    """The counts of one label set: ``counts[i]`` values ≤ ``bounds[i]`` (and above the bound before)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count ``value``."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class LoopHistogram(Collector):
    """A histogram family (Prometheus' ``_bucket``/``_count``/``_sum`` samples) made of :class:`Buckets`."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(sorted(float(b) for b in buckets))
        self.labelnames = list(labelnames)
        self._children: dict[tuple[str, ...], Buckets] = {}
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> Buckets:
        """The counts of one label set (made on first use)."""
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, not {values!r}")
            child = self._children[values] = Buckets(self.bounds)
        return child

    def describe(self) -> list[Metric]:
        """The family without samples (registration checks names with it)."""
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        """The samples now: cumulative buckets, then ``+Inf``, with the sum."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        les = [floatToGoString(bound) for bound in self.bounds] + ["+Inf"]
        for values, child in sorted(self._children.items()):
            total = 0
            cumulative = []
            for le, count in zip(les, list(child.counts), strict=True):
                total += count
                cumulative.append((le, float(total)))
            family.add_metric(list(values), cumulative, child.sum)
        yield family
