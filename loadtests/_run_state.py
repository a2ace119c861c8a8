"""Per-process run state shared by the event hooks, the shape dispatcher and the users."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._open_loop import OpenLoop, Share


@dataclass
class RunState:
    slo: dict[str, float] = field(default_factory=dict)
    shape_name: str = "constant"
    shape_report: dict[str, Any] = field(default_factory=dict)
    summary_path: str = ""
    report_dir: str = ""
    is_worker: bool = False
    is_master: bool = False
    # This process's part of the run (index among the load processes, seed); a worker gets it
    # from the master before its users start.
    share: Share = field(default_factory=Share)
    open_loop: OpenLoop | None = None  # set at test start when the run has an arrival schedule
    users_started: int = 0


RUN = RunState()
