"""Per-process run state shared by the event hooks and the shape dispatcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunState:
    slo: dict[str, float] = field(default_factory=dict)
    shape_name: str = "constant"
    shape_report: dict[str, Any] = field(default_factory=dict)
    summary_path: str = ""
    is_worker: bool = False
    is_master: bool = False


RUN = RunState()
