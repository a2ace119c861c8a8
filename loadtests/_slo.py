"""Service-level objectives: parse ``--slo``, judge one request, check a summary against it.

Two kinds of keys:
- gates on the whole run (``ttft_p95_ms``, ``error_rate``, ``min_goodput_rps``, ...): a violated
  one makes the exit code non-zero;
- per-request objectives (``ttft_ms``, ``itl_ms``, ``tpot_ms``, ``e2e_ms``: no statistic in the
  name): a request that meets all of them is *good*, and goodput counts good requests only.
  ``itl_ms`` bounds the p95 of the request's own inter-token gaps.
"""

from __future__ import annotations

import math
import re
from typing import Any

from inferno.stats import percentile

_PCT_KEY = re.compile(
    r"^(ttft|itl|tpot|e2e|reasoning_ttft|answer_ttft)_(p50|p90|p95|p99|mean|max)_ms$"
)
REQUEST_KEYS = ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")
REQUEST_ITL_PERCENTILE = 95.0
# Lower-is-better rates and higher-is-better throughputs, with where they live in the summary.
_MAX_KEYS = {"error_rate": ("requests", "error_rate"), "shed_rate": ("requests", "shed_rate")}
_MIN_KEYS = {
    "min_output_tok_s": ("throughput", "output_tokens_per_s"),
    "min_rps": ("throughput", "requests_per_s"),
    "min_goodput_rps": ("goodput", "requests_per_s"),
    "min_goodput_tok_s": ("goodput", "output_tokens_per_s"),
}
# A share, not a throughput: it says something about one sweep step too.
_MIN_SHARE_KEYS = {"min_goodput_ratio": ("goodput", "ratio")}
KNOWN = "ttft|itl|tpot|e2e|reasoning_ttft|answer_ttft _ p50|p90|p95|p99|mean|max _ms, " + ", ".join(
    [*_MAX_KEYS, *_MIN_KEYS, *_MIN_SHARE_KEYS, *REQUEST_KEYS]
)


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
        known = (*_MAX_KEYS, *_MIN_KEYS, *_MIN_SHARE_KEYS, *REQUEST_KEYS)
        if not (_PCT_KEY.match(key) or key in known):
            raise ValueError(f"unknown SLO {key!r}; known: {KNOWN}")
        try:
            spec[key] = float(value)
        except ValueError:
            raise ValueError(f"SLO {key} value {value!r} is not a number") from None
    return spec


def request_objectives(spec: dict[str, float]) -> dict[str, float]:
    """The per-request objectives of a parsed ``--slo``."""
    return {key: value for key, value in spec.items() if key in REQUEST_KEYS}


def meets(
    objectives: dict[str, float],
    *,
    ttft_s: float | None,
    itl_s: list[float] | None,
    tpot_s: float | None,
    e2e_s: float | None,
) -> bool:
    """Whether one successful request met every per-request objective.

    A request without the measurement an objective needs (a TTFT bound on a non-streamed
    request) does not meet it. A stream with a single token has no gap, so no ITL to exceed.
    """
    for key, limit_ms in objectives.items():
        if key == "itl_ms":
            if itl_s is None:
                return False
            value = percentile(itl_s, REQUEST_ITL_PERCENTILE) if itl_s else 0.0
        else:
            value = {"ttft_ms": ttft_s, "tpot_ms": tpot_s, "e2e_ms": e2e_s}.get(key)
        if value is None or value * 1000.0 > limit_ms:
            return False
    return True


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def check(spec: dict[str, float], view: dict[str, Any], *, throughput: bool = True) -> list[str]:
    """Return one message per violated objective (empty list: all met).

    ``throughput=False`` skips the ``min_*`` throughputs, which say nothing about one sweep step.
    Per-request objectives are not gates: they decide which requests count as goodput.
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
        elif (key in _MIN_KEYS and throughput) or key in _MIN_SHARE_KEYS:
            section, field = {**_MIN_KEYS, **_MIN_SHARE_KEYS}[key]
            actual = view[section][field]
            if actual < limit:
                violations.append(f"{key}: {_fmt(actual)} < {_fmt(limit)}")
    return violations
