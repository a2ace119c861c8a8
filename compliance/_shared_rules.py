"""Rules every area shares: the HTTP exchange, JSON bodies, the spec's schemas, SSE framing and
the error envelope. Area-specific rules are declared in the test module that checks them."""

from __future__ import annotations

from compliance.rules import BREAKS_CLIENTS, CONTRACT, STRICT, Rule, declare

SDK = "openai SDK"
LANGCHAIN = "langchain-openai"
LITELLM = "litellm"
PYDANTIC_AI = "pydantic-ai"
INSTRUCTOR = "instructor"
EVERY_CLIENT = (SDK, LANGCHAIN, LITELLM, PYDANTIC_AI, INSTRUCTOR)

# -- one exchange ------------------------------------------------------------------------------
TRANSPORT = declare(
    "http.transport",
    BREAKS_CLIENTS,
    "every request gets an HTTP answer within the deadline (no reset, no hang)",
    clients=EVERY_CLIENT,
)
STATUS = declare(
    "http.status",
    BREAKS_CLIENTS,
    "a valid request is answered 200; clients raise on anything else",
    clients=EVERY_CLIENT,
)
CONTENT_TYPE = declare(
    "http.content-type", CONTRACT, "a JSON answer has Content-Type application/json"
)
JSON = declare(
    "http.json",
    BREAKS_CLIENTS,
    "a JSON answer's body parses as JSON",
    clients=EVERY_CLIENT,
)
SCHEMA = declare(
    "schema.body",
    CONTRACT,
    "every 200 body validates against the official schema (required fields, types, enums)",
)
CHUNK_SCHEMA = declare(
    "schema.chunk", CONTRACT, "every stream chunk validates against the official chunk schema"
)
USAGE = declare(
    "usage.counts",
    CONTRACT,
    "usage holds non-negative integer token counts that add up (total = prompt + completion)",
)
TOOL_ARGUMENTS = declare(
    "chat.tools.arguments",
    BREAKS_CLIENTS,
    "function.arguments is a JSON string (fragments of one when streamed) matching the parameters",
    clients=(SDK, LANGCHAIN, PYDANTIC_AI, LITELLM, INSTRUCTOR),
)
# An answer that says nothing passes every comparison with another one that says nothing: checks
# that compare answers, or reason about a stream's content, require a choice (an output item) with
# text or a tool call first.
EMPTY = declare(
    "answer.empty",
    BREAKS_CLIENTS,
    "an answer holds a choice (a Responses output item) with text or a tool call",
    clients=(SDK, LANGCHAIN, LITELLM),
)
# A schema violation at these paths breaks a behaviour rule of its own: it is reported there.
# Areas add their own paths with `report_schema_path_as` when they declare the rule.
SCHEMA_PATHS = {
    "$.choices[*].message.tool_calls[*].function.arguments": TOOL_ARGUMENTS,
    "$.choices[*].delta.tool_calls[*].function.arguments": TOOL_ARGUMENTS,
}


def report_schema_path_as(path: str, rule: Rule) -> None:
    """Report a schema violation at `path` (``[*]`` for any index) under `rule`."""
    SCHEMA_PATHS[path] = rule


# -- SSE framing -------------------------------------------------------------------------------
SSE_CONTENT_TYPE = declare("sse.content-type", CONTRACT, "a stream is served as text/event-stream")
SSE_ENDLESS = declare(
    "sse.endless",
    BREAKS_CLIENTS,
    "a stream ends: a client iterating it would never return",
    clients=EVERY_CLIENT,
)
SSE_BROKEN = declare(
    "sse.broken",
    BREAKS_CLIENTS,
    "a stream is well-formed SSE and not cut off mid-way",
    clients=EVERY_CLIENT,
)
SSE_EMPTY = declare("sse.empty", BREAKS_CLIENTS, "a stream carries at least one data chunk")
SSE_DONE = declare("sse.done", CONTRACT, "a stream ends with `data: [DONE]`, once, last")
SSE_JSON = declare(
    "sse.json",
    BREAKS_CLIENTS,
    "every data event but [DONE] is a JSON object",
    clients=EVERY_CLIENT,
)
SSE_HIDDEN_ERROR = declare(
    "sse.hidden-error",
    CONTRACT,
    "a failure known before streaming is an HTTP error, not an error event inside a 200 stream",
)

# -- errors ------------------------------------------------------------------------------------
ERROR_5XX = declare(
    "errors.5xx",
    BREAKS_CLIENTS,
    "bad input is a 4xx, never a 5xx (the SDK retries 5xx and raises InternalServerError)",
    clients=(SDK, LANGCHAIN, LITELLM),
)
ERROR_STATUS = declare(
    "errors.status",
    CONTRACT,
    "bad input gets the status OpenAI answers (400 invalid, 404 unknown model or route, 401 key)",
)
ERROR_CONTENT_TYPE = declare("errors.content-type", CONTRACT, "an error body is JSON")
ERROR_ENVELOPE = declare(
    "errors.envelope",
    CONTRACT,
    'an error body is {"error": {"message", "type", "param", "code"}}',
)
ERROR_TYPE = declare(
    "errors.type", CONTRACT, "error.type is the one OpenAI answers (invalid_request_error)"
)
STRICT_PARAM = declare(
    "strict.error-param", STRICT, "error.param names the offending field (OpenAI does)"
)
STRICT_CODE = declare(
    "strict.error-code", STRICT, "error.code names the error as OpenAI does (model_not_found, …)"
)

# -- authentication ----------------------------------------------------------------------------
AUTH = declare(
    "auth.required",
    BREAKS_CLIENTS,
    "with keys configured, a missing or wrong key is 401 (the SDK raises AuthenticationError)",
    clients=(SDK,),
)
AUTH_TYPE = declare(
    "strict.auth-type",
    STRICT,
    "a 401's error.type is invalid_request_error (as OpenAI answers) or authentication_error",
)
# What OpenAI answers a missing or wrong key with, and the name the SDK gives that error.
AUTH_TYPES = {"invalid_request_error", "authentication_error"}
