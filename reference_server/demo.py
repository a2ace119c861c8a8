"""`make demo`: the reference server on the tiny model, driven by the official OpenAI SDK."""

from __future__ import annotations

import sys

from openai import OpenAI

from .launcher import ServerProcess
from .tiny_model import TINY_MODEL_ID


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


def talk_to(base_url: str) -> None:
    client = OpenAI(base_url=base_url + "/v1", api_key="not-needed", timeout=30.0, max_retries=0)
    messages = [{"role": "user", "content": "Tell me about the sea."}]

    _title("chat completion (openai SDK)")
    reply = client.chat.completions.create(
        model=TINY_MODEL_ID, messages=messages, max_tokens=24, temperature=0
    )
    print(f"text:          {reply.choices[0].message.content!r}")
    print(f"finish_reason: {reply.choices[0].finish_reason}")
    print(f"usage:         {reply.usage.model_dump()}")

    _title("streamed chat completion")
    stream = client.chat.completions.create(
        model=TINY_MODEL_ID,
        messages=messages,
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = []
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
                print(f"  delta {choice.delta.content!r}")
        if chunk.usage:
            print(f"usage:         {chunk.usage.model_dump()}")
    print(f"joined:        {''.join(pieces)!r}")

    _title("embeddings (the SDK asks for base64)")
    result = client.embeddings.create(model=TINY_MODEL_ID, input=["hello", "the sea"])
    for item in result.data:
        head = ", ".join(f"{x:+.3f}" for x in item.embedding[:4])
        print(f"input {item.index}: {len(item.embedding)} dims [{head}, …]")


def main() -> int:
    with ServerProcess(["--model", "tiny"]) as server:
        print(f"reference server: {server.base_url}/v1")
        talk_to(server.base_url)
    print("\nserver stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
