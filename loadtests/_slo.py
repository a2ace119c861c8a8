"""Service-level objectives: parse ``--slo`` and check a summary against it."""

from __future__ import annotations

import math
import re
from typing import Any

_PCT_KEY = re.compile(r"^(ttft|itl|tpot|e2e)_(p50|p90|p95|p99|mean|max)_ms$")
# Lower-is-better rates and higher-is-better throughputs, with where they live in the summary.
_MAX_KEYS = {"error_rate": ("requests", "error_rate"), "shed_rate": ("requests", "shed_rate")}
_MIN_KEYS = {
    "min_output_tok_s": ("throughput", "output_tokens_per_s"),
    "min_rps": ("throughput", "requests_per_s"),
}
KNOWN = "ttft|itl|tpot|e2e _ p50|p90|p95|p99|mean|max _ms, " + ", ".join([*_MAX_KEYS, *_MIN_KEYS])


def parse_slo(text: str) -> dict[str, float]:
    """``"ttft_p95_ms=500, error_rate=0.01"`` -> ``{"ttft_p95_ms": 500.0, "error_rate": 0.01}``."""
    spec: dict[str, float] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"SLO {part!r} needs the form key=value")
        if not (_PCT_KEY.match(key) or key in _MAX_KEYS or key in _MIN_KEYS):
            raise ValueError(f"unknown SLO {key!r}; known: {KNOWN}")
        try:
            spec[key] = float(value)
        except ValueError:
            raise ValueError(f"SLO {key} value {value!r} is not a number") from None
    return spec


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def check(spec: dict[str, float], view: dict[str, Any], *, throughput: bool = True) -> list[str]:
    """Return one message per violated objective (empty list: all met).

    ``throughput=False`` skips the ``min_*`` objectives, which say nothing about one sweep step.
    An objective without data (e.g. a TTFT target when nothing streamed) is a violation: a gate
    that cannot be measured must not pass silently.
    """
    violations: list[str] = []
    for key, limit in spec.items():
        match = _PCT_KEY.match(key)
        if match:
            metric, stat = f"{match.group(1)}_ms", match.group(2)
            actual = view["metrics"].get(metric, {}).get(stat)
            if actual is None or (isinstance(actual, float) and math.isnan(actual)):
                violations.append(f"{key}: no samples (limit {_fmt(limit)})")
            elif actual > limit:
                violations.append(f"{key}: {_fmt(actual)} > {_fmt(limit)}")
        elif key in _MAX_KEYS:
            section, field = _MAX_KEYS[key]
            actual = view[section][field]
            if actual > limit:
                violations.append(f"{key}: {_fmt(actual)} > {_fmt(limit)}")
        elif key in _MIN_KEYS and throughput:
            section, field = _MIN_KEYS[key]
            actual = view[section][field]
            if actual < limit:
                violations.append(f"{key}: {_fmt(actual)} < {_fmt(limit)}")
    return violations
