"""The rules of the `openresponses` profile: what the Open Responses specification
(openresponses.org) asks of a Responses server beyond OpenAI's documented contract.

Checked only under `--profile openresponses` (alone or stacked, `openresponses,strict`), with
the severity of every opt-in profile's rules. What both contracts ask (the event order OpenAI
documents, increasing sequence numbers, the WebSocket mode and compaction) stays under the
responses area's own rules, checked in every profile.
"""

from __future__ import annotations

from compliance.rules import STRICT, declare

FIELDS = declare(
    "openresponses.fields",
    STRICT,
    "every ResponseResource field has a value (null only where allowed), items as specified",
)
EVENT_LINE = declare(
    "openresponses.stream.event-line",
    STRICT,
    "every SSE event has an `event:` line equal to its payload's type",
)
DONE = declare(
    "openresponses.stream.done",
    STRICT,
    "a Responses stream ends with the literal `data: [DONE]`, after its terminal event",
)
ITEM_STATES = declare(
    "openresponses.stream.item-states",
    STRICT,
    "each item and content part goes added, deltas, done, in that order, and nothing follows done",
)
INPUT_PHASE = declare(
    "openresponses.input.phase",
    STRICT,
    "assistant input messages carrying a phase (commentary, final_answer) are accepted",
)
INCOMPLETE_LAST = declare(
    "openresponses.incomplete-last",
    STRICT,
    "an incomplete output item is the last one: nothing is added after it",
)
