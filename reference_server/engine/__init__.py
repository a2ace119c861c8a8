"""The engine boundary: submit a generation, receive an async stream of token events.

Handlers only use what is exported here, through an object that satisfies `Engine`
(engine/base.py). `BatchingEngine` decodes up to `parallel` sequences per llama.cpp step; it
drives a `Backend` (engine/backend.py), which `LlamaBackend` implements on llama-cpp-python's
low-level API.
"""

from ._engine import BatchingEngine
from ._llama import (
    DEFAULT_N_BATCH,
    DEFAULT_PARALLEL,
    LlamaBackend,
    LlamaOptions,
    disable_weight_repacking,
)
from .base import (
    BATCH_TOKEN_BUCKETS,
    Engine,
    EngineNotReady,
    EngineStats,
    GenerationStream,
    QueueFull,
    StreamStalled,
)
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


def llama_engine(
    options: LlamaOptions, *, max_queue: int, stream_buffer: int, stall_timeout: float
) -> BatchingEngine:
    """The production engine: continuous batching over one llama.cpp model."""
    return BatchingEngine(
        lambda: LlamaBackend(options),
        max_queue=max_queue,
        stream_buffer=stream_buffer,
        stall_timeout=stall_timeout,
    )


__all__ = [
    "BATCH_TOKEN_BUCKETS",
    "DEFAULT_N_BATCH",
    "DEFAULT_PARALLEL",
    "BatchingEngine",
    "ChoiceFinished",
    "Engine",
    "EngineNotReady",
    "EngineStats",
    "GenerationDone",
    "GenerationEvent",
    "GenerationRequest",
    "GenerationStream",
    "LlamaBackend",
    "LlamaOptions",
    "QueueFull",
    "SamplingParams",
    "StreamStalled",
    "TextDelta",
    "TokenLogprob",
    "TopLogprob",
    "disable_weight_repacking",
    "llama_engine",
]
