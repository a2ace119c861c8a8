"""Server settings: one `ServerConfig` from flags, optionally with several models from a file
(read and checked by `_flags`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ModelConfig:
    model_id: str
    path: str  # a GGUF path, or "tiny" for the generated tiny model
    n_ctx: int = 0
    n_gpu_layers: int = 0
    threads: int | None = None
    owned_by: str = "inferno"
    parallel: int = 4  # sequences decoded together (llama-server's -np)
    n_batch: int = 512  # tokens per decode step


@dataclass(frozen=True, slots=True)
class ServerConfig:
    models: tuple[ModelConfig, ...]
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = 8 * 1024 * 1024
    max_queue: int = 16
    stream_buffer: int = 32
    stream_stall_timeout: float = 30.0
    request_timeout: float = 600.0
    max_header_bytes: int = 16 * 1024
    compression_min_bytes: int = 512
    stream_batch_ms: float = 0.0
    sse_keepalive_s: float = 15.0
    max_budget_tokens: int = 0  # 0: no limit beyond the context window
    responses_store: int = 1024  # stored responses kept (least recently used evicted); 0: none
    validation_profile: str = "strict"
    prefill_chunk: int = 0  # prompt tokens per step beside decoding ones; 0: measured
    batch_invariant: bool = False  # plain attention, one-token steps padded where needed
    no_repack: bool = False  # the reference server also enforces the stricter rules
    extra: dict = field(default_factory=dict)
