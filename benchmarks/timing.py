"""Timing helpers: interleaved rounds, medians and p95, and ratios of paired samples."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """Samples of one measured case, in milliseconds."""

    samples_ms: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)

    def as_dict(self) -> dict[str, float]:
        return {
            "n": len(self.samples_ms),
            "median_ms": self.median,
            "p95_ms": self.p95,
            "min_ms": min(self.samples_ms),
        }


def percentile(values: tuple[float, ...] | list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least q% of samples at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def measure(
    cases: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 2, budget_s: float | None = None
) -> dict[str, Stats]:
    """Run every case once per round, interleaved, so background load hits all of them alike.

    Stops early (after at least 5 rounds) once `budget_s` seconds of measuring have passed.
    """
    for _ in range(warmup):
        for case in cases.values():
            case()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    started = time.perf_counter()
    for done in range(rounds):
        if budget_s is not None and done >= 5 and time.perf_counter() - started > budget_s:
            break
        for name, case in cases.items():
            begin = time.perf_counter()
            case()
            samples[name].append((time.perf_counter() - begin) * 1000)
    return {name: Stats(tuple(values)) for name, values in samples.items()}


def ratio(subject: Stats, reference: Stats) -> float:
    """Median of per-round ratios when the samples are paired (same rounds), else the ratio of medians."""
    if len(subject.samples_ms) == len(reference.samples_ms):
        return statistics.median(s / r for s, r in zip(subject.samples_ms, reference.samples_ms, strict=True))
    return subject.median / reference.median
