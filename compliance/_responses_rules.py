"""The responses area's rules: what a server serving the Responses API must do.

Framing, transport, JSON and schema failures use the shared rules (compliance._shared_rules).
"""

from __future__ import annotations

from compliance import _shared_rules as R
from compliance.rules import BREAKS_CLIENTS, CONTRACT, STRICT, declare

OBJECT = declare(
    "responses.object", CONTRACT, "a response is object 'response' with a documented status"
)
OUTPUT = declare(
    "responses.output",
    BREAKS_CLIENTS,
    "a text answer is an assistant message item (the SDK's output_text reads it)",
    clients=(R.SDK,),
)
USAGE = declare(
    "responses.usage",
    CONTRACT,
    "usage holds input, output and total tokens that add up, output within max_output_tokens",
)
ECHO = declare(
    "responses.echo", CONTRACT, "instructions, metadata and max_output_tokens are echoed back"
)
INCOMPLETE = declare(
    "responses.incomplete",
    BREAKS_CLIENTS,
    "an answer cut by max_output_tokens is 'incomplete', reason max_output_tokens, items too",
    clients=(R.SDK,),
)
TOOLS = declare(
    "responses.tools",
    BREAKS_CLIENTS,
    "a forced function tool gives a function_call item: the name, a call_id, JSON-string arguments",
    clients=(R.SDK,),
)
R.report_schema_path_as("$.output[*].arguments", TOOLS)
# Input forms every client sends: a 400 is a failure, never a declined feature.
INPUT_FORMS = {
    "content-parts": declare(
        "responses.input.content-parts",
        BREAKS_CLIENTS,
        "input messages whose content is a list of input_text parts are accepted",
        clients=(R.SDK, R.LANGCHAIN, "Codex CLI"),
    ),
    "function-call-items": declare(
        "responses.input.items",
        BREAKS_CLIENTS,
        "function_call and function_call_output input items (a tool turn sent back) are accepted",
        clients=(R.SDK, R.LANGCHAIN, "Codex CLI"),
    ),
    "history": declare(
        "responses.input.history",
        BREAKS_CLIENTS,
        "a system message and earlier assistant turns (plain text content) in input are accepted",
        clients=(R.SDK, R.LANGCHAIN),
    ),
}
TOOL_OUTPUT = declare(
    "responses.tool-output",
    BREAKS_CLIENTS,
    "a function_call_output turn is answered with a message (no new call under 'none')",
    clients=(R.SDK,),
)
TEXT_FORMAT = declare(
    "responses.text-format",
    BREAKS_CLIENTS,
    "text.format json_schema output parses and matches the schema",
    clients=(R.SDK,),
)
STREAM_DONE = declare(
    "responses.stream.done", CONTRACT, "a Responses stream carries no [DONE] before its end"
)
STREAM_EVENT_NAME = declare(
    "responses.stream.event-name", CONTRACT, "an `event:` line names the event's own type"
)
STREAM_SEQUENCE = declare(
    "responses.stream.sequence", CONTRACT, "sequence_number increases from event to event"
)
STREAM_ORDER = declare(
    "responses.stream.order",
    BREAKS_CLIENTS,
    "events come in OpenAI's order: created first, items added before their deltas, done once",
    clients=(R.SDK,),
)
STREAM_TERMINAL = declare(
    "responses.stream.terminal",
    BREAKS_CLIENTS,
    "one terminal event (completed, incomplete or failed) ends the stream, its status matching",
    clients=(R.SDK,),
)
STREAM_DELTAS = declare(
    "responses.stream.deltas",
    BREAKS_CLIENTS,
    "deltas joined equal the done events and the final response",
    clients=(R.SDK,),
)
STREAM_EQUIVALENCE = declare(
    "responses.stream.equivalence",
    CONTRACT,
    "at temperature 0 a streamed response says what the non-streamed one says",
)
STREAM_INCOMPLETE = declare(
    "responses.stream.incomplete",
    BREAKS_CLIENTS,
    "a streamed answer cut by max_output_tokens ends with response.incomplete",
    clients=(R.SDK,),
)
STREAM_ARGUMENTS = declare(
    "responses.stream.arguments",
    BREAKS_CLIENTS,
    "a forced call streams a function_call item whose argument deltas join into JSON",
    clients=(R.SDK,),
)
STORE_RETRIEVE = declare(
    "responses.store.retrieve",
    CONTRACT,
    "a stored response (one that says store: true) is retrieved as it was created",
)
STORE_ITEMS = declare(
    "responses.store.input-items",
    CONTRACT,
    "input items are listed newest first by default, oldest first with order=asc",
)
STORE_DELETE = declare(
    "responses.store.delete", CONTRACT, "DELETE answers 200 and the response is 404 afterwards"
)
STORE_FALSE = declare(
    "responses.store.false", CONTRACT, "a response created with store: false is not kept"
)
PREVIOUS = declare(
    "responses.previous",
    BREAKS_CLIENTS,
    "previous_response_id continues from the earlier input and output (and is echoed)",
    clients=(R.SDK, "Codex CLI"),
)
SDK = declare(
    "responses.sdk",
    BREAKS_CLIENTS,
    "the official SDK's responses.create, responses.stream and stored-response calls work",
    clients=(R.SDK,),
)
WS_TURN = declare(
    "responses.ws.turn",
    BREAKS_CLIENTS,
    "a WebSocket-mode response.create turn streams the response's events to one terminal event",
    clients=(R.SDK,),
)
WS_SEQUENTIAL = declare(
    "responses.ws.sequential",
    CONTRACT,
    "one WebSocket connection answers several turns, one after another, each a new response",
)
WS_CONTINUATION = declare(
    "responses.ws.continuation",
    CONTRACT,
    "previous_response_id continues the connection's latest response, a store: false one too",
)
WS_NOT_FOUND = declare(
    "responses.ws.not-found",
    CONTRACT,
    "an id the connection does not hold is an error previous_response_not_found; it stays open",
)
WS_EVICT = declare(
    "responses.ws.evict",
    CONTRACT,
    "a failed continuation forgets what it continued: a retry is previous_response_not_found",
)
COMPACT = declare(
    "responses.compact",
    CONTRACT,
    "POST /responses/compact answers a response.compaction whose output holds a compaction item",
)
COMPACT_CONTINUE = declare(
    "responses.compact.continue",
    CONTRACT,
    "the compacted window, sent back as input with a new message, is answered",
)
UNKNOWN_PREVIOUS_404 = declare(
    "strict.responses.unknown-previous",
    STRICT,
    "an unknown previous_response_id is a 404 naming it, as OpenAI answers",
)
HOSTED_TOOL = declare(
    "strict.responses.hosted-tool",
    STRICT,
    "a hosted tool a local model cannot run is declined with 400 naming it, not ignored",
)
