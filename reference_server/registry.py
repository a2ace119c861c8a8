"""The models this server serves: id → engine, chat prompt builder, facts for /v1/models."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .config import ModelConfig, ServerConfig
from .engine import Engine, LlamaOptions, disable_weight_repacking, llama_engine
from .errors import ApiError, model_not_found
from .prompts import ChatPromptBuilder

EngineFactory = Callable[[ModelConfig, ServerConfig], Engine]


@dataclass
class ServedModel:
    config: ModelConfig
    worker: Engine  # the model's engine (engine/base.py)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def model_id(self) -> str:
        return self.config.model_id

    @cached_property
    def chat(self) -> ChatPromptBuilder:
        engine = self.worker
        return ChatPromptBuilder(
            engine.metadata.get("tokenizer.chat_template"),
            bos_token=engine.bos_text,
            eos_token=engine.eos_text,
        )

    def describe(self) -> dict:
        return {
            "id": self.model_id,
            "object": "model",
            "created": self.created,
            "owned_by": self.config.owned_by,
        }


def llama_options(
    model: ModelConfig, *, batch_invariant: bool = False, prefill_chunk: int = 0
) -> LlamaOptions:
    path = resolve_model_path(model.path)
    return LlamaOptions(
        model_path=path,
        n_ctx=model.n_ctx,
        n_gpu_layers=model.n_gpu_layers,
        n_threads=model.threads or default_threads(path),
        parallel=model.parallel,
        n_batch=model.n_batch,
        batch_invariant=batch_invariant,
        # Flash attention's sums depend on the step's shape and the cells' places: a text that
        # must not depend on its neighbours needs plain attention.
        flash_attention=not batch_invariant,
        prefill_chunk=prefill_chunk,
    )


def default_engine(model: ModelConfig, config: ServerConfig) -> Engine:
    return llama_engine(
        llama_options(
            model, batch_invariant=config.batch_invariant, prefill_chunk=config.prefill_chunk
        ),
        max_queue=config.max_queue,
        stream_buffer=config.stream_buffer,
        stall_timeout=config.stream_stall_timeout,
    )


class ModelRegistry:
    """`engine_factory` builds each model's engine; only tests pass another one."""

    def __init__(
        self, config: ServerConfig, *, engine_factory: EngineFactory | None = None
    ) -> None:
        self._models: dict[str, ServedModel] = {}
        if config.no_repack:
            disable_weight_repacking()
        factory = engine_factory or default_engine
        for model in config.models:
            self._models[model.model_id] = ServedModel(model, factory(model, config))

    def __iter__(self):
        return iter(self._models.values())

    def start(self) -> None:
        for model in self._models.values():
            model.worker.start()

    def stop(self) -> None:
        for model in self._models.values():
            model.worker.stop()

    @property
    def ready(self) -> bool:
        return all(m.worker.ready for m in self._models.values())

    @property
    def failed(self) -> bool:
        return any(
            m.worker.load_error is not None or m.worker.fault is not None
            for m in self._models.values()
        )

    def get(self, model_id: object) -> ServedModel:
        model = self._models.get(model_id) if isinstance(model_id, str) else None
        if model is None:
            raise model_not_found(str(model_id))
        if model.worker.load_error is not None:
            raise load_failure(model)
        if model.worker.fault is not None:
            raise ApiError(
                503,
                f"model '{model_id}' is unavailable: its engine failed ({model.worker.fault})",
                code="model_unavailable",
                error_type="server_error",
                headers={"Retry-After": "1"},
            )
        if not model.worker.ready:
            raise ApiError(
                503,
                f"model '{model_id}' is still loading",
                code="model_loading",
                headers={"Retry-After": "1"},
            )
        return model


def load_failure(model: ServedModel) -> ApiError:
    """The answer to a request naming a model that failed to load: 503, with the loader's
    reason (the model exists in the configuration, so it is not a 404)."""
    return ApiError(
        503,
        f"model '{model.model_id}' failed to load: {model.worker.load_error}",
        param="model",
        code="model_unavailable",
        error_type="server_error",
    )


SMALL_MODEL_BYTES = 64 * 1024 * 1024


def default_threads(path: str) -> int:
    """All cores, except for very small models: their matrices are too small to split, and
    llama.cpp's spinning thread barrier then costs more than it saves (badly so on a busy host)."""
    if os.path.getsize(path) < SMALL_MODEL_BYTES:
        return 1
    return os.cpu_count() or 1


def resolve_model_path(path: str) -> str:
    if path == "tiny":
        from .tiny_model import ensure_tiny_model

        return str(ensure_tiny_model())
    if not Path(path).is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    return path
