"""Engine faults, injected through the scripted test engine behind the engine boundary.

What belongs here: a decode failure mid-stream gives one error event and no `[DONE]`, the
server stays up and serves the next request; a model that fails to load answers `/health` 503
for it while the other models serve. It is measured once the scripted test engine runs behind
the batching engine's boundary; until then this section reports itself as not measured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._plan import Plan


def run(plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    log("engine faults: not measured yet (needs the scripted test engine)")
    return {"measured": False, "why": "needs the scripted test engine behind the engine boundary"}
