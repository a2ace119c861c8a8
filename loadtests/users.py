"""Locust entry: the user classes (`locust -f loadtests` loads this file as a top-level module).

Locust imports every ``*.py`` here without a package, so this file only re-exports; the classes
live in ``loadtests._users`` and are therefore defined once however they are imported.

locust -f loadtests --host http://127.0.0.1:8000/v1                   # MixedUser
locust -f loadtests --host http://127.0.0.1:8000/v1 StreamingChatUser # one kind
"""

from loadtests._responses_user import StreamingResponsesUser
from loadtests._responses_ws import WebSocketResponsesUser
from loadtests._users import (
    ChatUser,
    CompletionUser,
    ConversationUser,
    EmbeddingUser,
    MixedUser,
    StreamingChatUser,
)

__all__ = [
    "ChatUser",
    "CompletionUser",
    "ConversationUser",
    "EmbeddingUser",
    "MixedUser",
    "StreamingChatUser",
    "StreamingResponsesUser",
    "WebSocketResponsesUser",
]
