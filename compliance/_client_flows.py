"""What real applications do with the server, through the clients people use.

Run as a script by the `clients` area, one process per client (imports stay isolated, and a
client whose pins clash with the suite's environment runs under another interpreter):

    python _client_flows.py CLIENT '{"base_url": ..., "api_key": ..., "model": ..., ...}'

It prints one JSON line per flow: {"flow", "outcome": passed|failed|skipped, "message",
"version", "started", "ended"}. Only the standard library is imported at module level.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, Literal

QUESTION = "What is the weather in Paris?"
HELLO = [{"role": "user", "content": "Say hello."}]
DISTRIBUTIONS = {
    "openai": "openai",
    "langchain": "langchain-openai",
    "litellm": "litellm",
    "instructor": "instructor",
    "pydantic-ai": "pydantic-ai-slim",
}
MAX_CHUNKS = 400


class Skip(Exception):
    pass


# The city is an enum in every tool flow: a constrained argument ends in a few tokens on any
# model, so a call cut by max_tokens (a model's limit, not the server's) does not decide a flow.
City = Literal["Paris", "Tokyo"]


def get_weather(city: City) -> str:
    """Get the weather for a city (Paris or Tokyo)."""
    return f"Sunny in {city}, 21 C."


def _answer_model() -> Any:
    from pydantic import BaseModel

    class Answer(BaseModel):
        ok: bool

    return Answer


def _weather_model() -> Any:
    from pydantic import BaseModel

    class GetWeather(BaseModel):
        """Get the weather for a city."""

        city: City

    return GetWeather


# -- openai SDK helpers --------------------------------------------------------------------------


def _openai(cfg: dict[str, Any]) -> Any:
    import openai

    return openai.OpenAI(
        base_url=cfg["base_url"], api_key=cfg["api_key"], timeout=cfg["timeout"], max_retries=0
    )


def openai_stream_helper(cfg: dict[str, Any]) -> None:
    # get_final_completion() refuses answers cut by the limit; the snapshot is what apps read.
    done = False
    with _openai(cfg).chat.completions.stream(
        model=cfg["model"], messages=HELLO, max_tokens=8, temperature=0
    ) as stream:
        for count, event in enumerate(stream):
            assert count < MAX_CHUNKS, "the stream did not end"
            done = done or event.type == "content.done"
        snapshot = stream.current_completion_snapshot
    assert done, "the helper never saw the content end (content.done)"
    assert isinstance(snapshot.choices[0].message.content, str), "no text in the snapshot"


def openai_parse(cfg: dict[str, Any]) -> None:
    result = _openai(cfg).chat.completions.parse(
        model=cfg["model"],
        messages=[{"role": "user", "content": "Is water wet? Answer in JSON."}],
        response_format=_answer_model(),
        max_tokens=64,
        temperature=0,
    )
    parsed = result.choices[0].message.parsed
    assert parsed is not None and isinstance(parsed.ok, bool), f"parsed {parsed!r}"


def openai_tool_stream(cfg: dict[str, Any]) -> None:
    import openai

    tool = openai.pydantic_function_tool(_weather_model(), name="get_weather")
    with _openai(cfg).chat.completions.stream(
        model=cfg["model"],
        messages=[{"role": "user", "content": QUESTION}],
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=64,
        temperature=0,
    ) as stream:
        for count, _ in enumerate(stream):
            assert count < MAX_CHUNKS, "the stream did not end"
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert calls, f"no tool call in the final completion: {final.choices[0].message!r}"
    assert calls[0].function.parsed_arguments is not None, "arguments did not parse"


def openai_responses(cfg: dict[str, Any]) -> None:
    import httpx

    probe = httpx.post(
        cfg["base_url"].rstrip("/") + "/responses",
        json={"model": cfg["model"], "input": "Say hello.", "max_output_tokens": 16},
        headers={"Authorization": f"Bearer {cfg['api_key']}"},
        timeout=cfg["timeout"],
    )
    if probe.status_code in (404, 405, 501):
        raise Skip(f"the server has no /v1/responses (answered {probe.status_code})")
    response = _openai(cfg).responses.create(
        model=cfg["model"], input="Say hello.", max_output_tokens=16
    )
    assert isinstance(response.output_text, str), f"no output_text in {response!r}"


# -- langchain-openai ----------------------------------------------------------------------------


def _chat_model(cfg: dict[str, Any], **extra: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=cfg["model"],
        base_url=cfg["base_url"],
        api_key=cfg["api_key"],
        temperature=0,
        max_retries=0,
        timeout=cfg["timeout"],
        **extra,
    )


def langchain_invoke(cfg: dict[str, Any]) -> None:
    message = _chat_model(cfg, max_tokens=8).invoke("Say hello.")
    assert isinstance(message.content, str), f"content {message.content!r}"


def langchain_stream_usage(cfg: dict[str, Any]) -> None:
    total = None
    for count, chunk in enumerate(_chat_model(cfg, max_tokens=8, stream_usage=True).stream("Hi")):
        assert count < MAX_CHUNKS, "the stream did not end"
        total = chunk if total is None else total + chunk
    assert total is not None, "no chunk"
    assert total.usage_metadata and total.usage_metadata["total_tokens"] > 0, "no usage"


def langchain_bind_tools(cfg: dict[str, Any]) -> None:
    llm = _chat_model(cfg, max_tokens=64).bind_tools([get_weather], tool_choice="get_weather")
    message = llm.invoke(QUESTION)
    assert message.tool_calls, f"no tool call: {message!r}"
    assert isinstance(message.tool_calls[0]["args"], dict), "arguments did not parse"


def _structured(cfg: dict[str, Any], method: str) -> None:
    llm = _chat_model(cfg, max_tokens=64).with_structured_output(_answer_model(), method=method)
    result = llm.invoke("Is water wet? Answer in JSON.")
    assert result is not None and isinstance(result.ok, bool), f"result {result!r}"


def langchain_structured_json_schema(cfg: dict[str, Any]) -> None:
    _structured(cfg, "json_schema")


def langchain_structured_function_calling(cfg: dict[str, Any]) -> None:
    _structured(cfg, "function_calling")


def langchain_embeddings(cfg: dict[str, Any]) -> None:
    from langchain_openai import OpenAIEmbeddings

    # The default (check_embedding_ctx_length) tokenizes with tiktoken, whose tables are
    # downloaded; the suite checks token-id input over HTTP instead (embeddings.token-ids).
    embeddings = OpenAIEmbeddings(
        model=cfg["embedding_model"],
        base_url=cfg["base_url"],
        api_key=cfg["api_key"],
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    vectors = embeddings.embed_documents(["one", "two"])
    assert len(vectors) == 2 and all(isinstance(x, float) for x in vectors[0]), "bad vectors"


# -- litellm -------------------------------------------------------------------------------------


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    import litellm

    litellm.telemetry = False
    return litellm


def _litellm_args(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": f"openai/{cfg['model']}",
        "api_base": cfg["base_url"],
        "api_key": cfg["api_key"],
        "timeout": cfg["timeout"],
        "num_retries": 0,
    }


def litellm_completion(cfg: dict[str, Any]) -> None:
    response = _litellm().completion(messages=HELLO, max_tokens=8, **_litellm_args(cfg))
    assert isinstance(response.choices[0].message.content, str), "no text"


def litellm_stream(cfg: dict[str, Any]) -> None:
    litellm = _litellm()
    stream = litellm.completion(
        messages=HELLO,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
        **_litellm_args(cfg),
    )
    chunks = []
    for count, chunk in enumerate(stream):
        assert count < MAX_CHUNKS, "the stream did not end"
        chunks.append(chunk)
    rebuilt = litellm.stream_chunk_builder(chunks)
    assert rebuilt is not None and rebuilt.usage.total_tokens > 0, "no usage in the stream"


def litellm_embedding(cfg: dict[str, Any]) -> None:
    args = {**_litellm_args(cfg), "model": f"openai/{cfg['embedding_model']}"}
    response = _litellm().embedding(input=["one", "two"], **args)
    assert len(response.data) == 2, f"{len(response.data)} vectors"


def litellm_tools(cfg: dict[str, Any]) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "enum": list(City.__args__)}},
                "required": ["city"],
            },
        },
    }
    response = _litellm().completion(
        messages=[{"role": "user", "content": QUESTION}],
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=64,
        **_litellm_args(cfg),
    )
    calls = response.choices[0].message.tool_calls
    assert calls, "no tool call"
    json.loads(calls[0].function.arguments)


# -- instructor ----------------------------------------------------------------------------------


def _instructor(cfg: dict[str, Any], mode_name: str) -> None:
    import instructor

    client = instructor.from_openai(_openai(cfg), mode=getattr(instructor.Mode, mode_name))
    result = client.chat.completions.create(
        model=cfg["model"],
        response_model=_answer_model(),
        messages=[{"role": "user", "content": "Is water wet? Answer in JSON."}],
        max_tokens=64,
        temperature=0,
        max_retries=0,
    )
    assert isinstance(result.ok, bool), f"result {result!r}"


def instructor_json_schema(cfg: dict[str, Any]) -> None:
    _instructor(cfg, "JSON_SCHEMA")


def instructor_tools(cfg: dict[str, Any]) -> None:
    _instructor(cfg, "TOOLS")


# -- pydantic-ai ---------------------------------------------------------------------------------


def _agent(cfg: dict[str, Any], **extra: Any) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=cfg["base_url"], api_key=cfg["api_key"])
    model = OpenAIChatModel(cfg["model"], provider=provider)
    settings = {"max_tokens": 64, "temperature": 0, "timeout": cfg["timeout"]}
    return Agent(model, model_settings=settings, retries=0, **extra)


def _limits() -> Any:
    from pydantic_ai.usage import UsageLimits

    return UsageLimits(request_limit=4)  # an agent loop that never ends is the failure


def pydantic_ai_agent_tool(cfg: dict[str, Any]) -> None:
    agent = _agent(cfg, tools=[get_weather])
    result = agent.run_sync(QUESTION, usage_limits=_limits())
    assert isinstance(result.output, str), f"output {result.output!r}"


def pydantic_ai_structured(cfg: dict[str, Any]) -> None:
    result = _agent(cfg, output_type=_answer_model()).run_sync(
        "Is water wet?", usage_limits=_limits()
    )
    assert isinstance(result.output.ok, bool), f"output {result.output!r}"


def pydantic_ai_run_stream(cfg: dict[str, Any]) -> None:
    async def run() -> str:
        agent = _agent(cfg)
        async with agent.run_stream("Say hello.", usage_limits=_limits()) as result:
            pieces = [text async for text in result.stream_text()]
            return pieces[-1] if pieces else ""

    assert isinstance(asyncio.run(run()), str)


FLOWS: dict[str, dict[str, Callable[[dict[str, Any]], None]]] = {
    "openai": {
        "stream-helper": openai_stream_helper,
        "parse": openai_parse,
        "tool-stream": openai_tool_stream,
        "responses": openai_responses,
    },
    "langchain": {
        "invoke": langchain_invoke,
        "stream-usage": langchain_stream_usage,
        "bind-tools": langchain_bind_tools,
        "structured-json-schema": langchain_structured_json_schema,
        "structured-function-calling": langchain_structured_function_calling,
        "embeddings": langchain_embeddings,
    },
    "litellm": {
        "completion": litellm_completion,
        "stream": litellm_stream,
        "embedding": litellm_embedding,
        "tools": litellm_tools,
    },
    "instructor": {"json-schema": instructor_json_schema, "tools": instructor_tools},
    "pydantic-ai": {
        "agent-tool": pydantic_ai_agent_tool,
        "structured": pydantic_ai_structured,
        "run-stream": pydantic_ai_run_stream,
    },
}


def version(client: str) -> str | None:
    try:
        return importlib.metadata.version(DISTRIBUTIONS[client])
    except importlib.metadata.PackageNotFoundError:
        return None


def run(client: str, cfg: dict[str, Any]) -> None:
    found = version(client)
    for name, flow in FLOWS[client].items():
        started = time.time()
        outcome, message = "passed", ""
        if found is None:
            outcome, message = "missing", f"{DISTRIBUTIONS[client]} is not installed"
        else:
            try:
                flow(cfg)
            except Skip as exc:
                outcome, message = "skipped", str(exc)
            except Exception as exc:  # any client error is the finding
                outcome = "failed"
                message = f"{type(exc).__name__}: {exc}"[:1500]
                message += "\n" + "".join(traceback.format_exc(limit=-3))[-1500:]
        line = {
            "flow": name,
            "outcome": outcome,
            "message": message,
            "version": found,
            "started": started,
            "ended": time.time(),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    run(sys.argv[1], json.loads(sys.argv[2]))
