"""User classes: one per endpoint kind, plus the weighted mix used when none is named.

locust -f loadtests --host http://127.0.0.1:8000                      # MixedUser
locust -f loadtests --host http://127.0.0.1:8000 StreamingChatUser    # one kind
"""

from __future__ import annotations

from locust import task

from . import _events  # noqa: F401  (registers the event listeners once per process)
from ._user import LLMUser


class ChatUser(LLMUser):
    """Non-streamed /v1/chat/completions; latency is the whole response."""

    @task
    def chat(self) -> None:
        self.generate("/v1/chat/completions", "chat", "chat")


class StreamingChatUser(LLMUser):
    """Streamed /v1/chat/completions with TTFT, ITL, TPOT and E2E."""

    @task
    def chat_stream(self) -> None:
        self.stream("/v1/chat/completions", "chat", "chat.stream")


class CompletionUser(LLMUser):
    """Streamed /v1/completions (the legacy text endpoint most benchmarks drive)."""

    @task
    def completion_stream(self) -> None:
        self.stream("/v1/completions", "completion", "completions.stream")


class EmbeddingUser(LLMUser):
    """/v1/embeddings; no output tokens, prompt tokens only."""

    @task
    def embedding(self) -> None:
        self.embed("embeddings")


class ConversationUser(LLMUser):
    """Multi-turn streamed chat: --turns turns, each sending the whole history back.

    The summary shows TTFT and prompt tokens by turn, and the cached prompt tokens when the
    server reports ``usage.prompt_tokens_details.cached_tokens``. In open loop each arrival
    starts a conversation (--rate is conversations per second).
    """

    @task
    def conversation(self) -> None:
        self.converse("conversation")


class MixedUser(LLMUser):
    """Weighted mix resembling a chat product: mostly streamed chat, some of everything else."""

    @task(6)
    def chat_stream(self) -> None:
        self.stream("/v1/chat/completions", "chat", "chat.stream")

    @task(2)
    def chat(self) -> None:
        self.generate("/v1/chat/completions", "chat", "chat")

    @task(1)
    def completion_stream(self) -> None:
        self.stream("/v1/completions", "completion", "completions.stream")

    @task(1)
    def embedding(self) -> None:
        self.embed("embeddings")
