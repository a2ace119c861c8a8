"""Compaction: a conversation shortened into a window the next request accepts.

A local model has no hidden state to hand back, so compaction here means what it can mean for
any chat model: the model itself writes a summary of the conversation (greedy, bounded), and the
compacted window is the conversation's user messages, kept verbatim as OpenAI keeps them,
followed by one `compaction` item that carries the summary. When a `compaction` item comes back
as input, its summary joins the system text at the head of the prompt.

`encrypted_content` is opaque to clients (they pass it back as they got it), but it is encoded,
not encrypted: a local server has nothing to hide from its own caller. A value this server did
not produce is a 400 naming the item.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .errors import invalid_request

_PREFIX = "inferno-compaction-v1."
SUMMARY_HEADING = "Summary of the earlier conversation:"
# What the model is asked after the conversation; its answer is the summary.
SUMMARY_REQUEST = (
    "Summarize the conversation so far so that it can be continued later without it. Keep "
    "every fact, name, number, decision and open question. Reply with the summary only."
)
SUMMARY_MAX_TOKENS = 512


def encode_summary(summary: str) -> str:
    data = json.dumps({"summary": summary}, ensure_ascii=False).encode()
    return _PREFIX + base64.urlsafe_b64encode(data).decode("ascii")


def decode_summary(content: Any, param: str) -> str:
    """The summary a `compaction` item carries; 400 naming `param` for anything else."""
    bad = invalid_request(
        "encrypted_content is not a compaction this server produced; pass back the item "
        "that POST /v1/responses/compact returned, unchanged.",
        param,
    )
    if not isinstance(content, str) or not content.startswith(_PREFIX):
        raise bad
    try:
        decoded = json.loads(base64.urlsafe_b64decode(content[len(_PREFIX) :].encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        raise bad from None
    summary = decoded.get("summary") if isinstance(decoded, dict) else None
    if not isinstance(summary, str):
        raise bad
    return summary


def compaction_item(item_id: str, summary: str) -> dict[str, Any]:
    return {"id": item_id, "type": "compaction", "encrypted_content": encode_summary(summary)}
