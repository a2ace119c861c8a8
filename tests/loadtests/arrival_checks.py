"""Statistical checks of arrival times: Kolmogorov-Smirnov against an exponential distribution."""

from __future__ import annotations

import itertools
import math

# c(alpha) of the one-sample KS test for large n: reject when D > c / sqrt(n).
KS_CRITICAL = {0.01: 1.628, 0.001: 1.949}


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in itertools.pairwise(ordered)]


def ks_exponential(samples: list[float], rate: float) -> float:
    """The KS statistic D of ``samples`` against Exp(rate) (rate known, not fitted)."""
    ordered = sorted(samples)
    n = len(ordered)
    d = 0.0
    for i, x in enumerate(ordered):
        cdf = 1.0 - math.exp(-rate * x)
        d = max(d, cdf - i / n, (i + 1) / n - cdf)
    return d


def looks_exponential(samples: list[float], rate: float, alpha: float = 0.001) -> bool:
    return ks_exponential(samples, rate) <= KS_CRITICAL[alpha] / math.sqrt(len(samples))
