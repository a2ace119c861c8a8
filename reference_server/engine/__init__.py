"""The engine boundary: submit a generation, receive an async stream of token events.

Handlers only use what is exported here. Today one `ModelWorker` thread runs one generation at a
time; a continuous-batching engine can replace it behind the same two calls (`generate`, `embed`).
"""

from ._channel import StreamStalled
from ._llama import LlamaOptions, disable_weight_repacking
from ._worker import EngineNotReady, GenerationStream, ModelWorker, QueueFull
from .types import (
    ChoiceFinished,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    SamplingParams,
    TextDelta,
    TokenLogprob,
    TopLogprob,
)

__all__ = [
    "ChoiceFinished",
    "EngineNotReady",
    "GenerationDone",
    "GenerationEvent",
    "GenerationRequest",
    "GenerationStream",
    "LlamaOptions",
    "ModelWorker",
    "QueueFull",
    "SamplingParams",
    "StreamStalled",
    "TextDelta",
    "TokenLogprob",
    "TopLogprob",
    "disable_weight_repacking",
]
