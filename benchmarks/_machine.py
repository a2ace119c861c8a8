"""What the figures were measured on: a result without its machine is not comparable."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def describe() -> dict[str, object]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        # A busy machine skews everything; the load at the start says how busy it was.
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
    }


def slug() -> str:
    """Short machine name for result file names, e.g. ``2core-intel-xeon-processor``."""
    model = re.sub(r"\((r|tm)\)|cpu|@.*", "", cpu_model().lower())
    model = re.sub(r"[^a-z0-9]+", "-", model).strip("-")[:40] or "cpu"
    return f"{os.cpu_count()}core-{model}"
