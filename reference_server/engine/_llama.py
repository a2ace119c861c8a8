"""`LlamaBackend`: the backend seam on llama-cpp-python's low-level bindings.

One llama.cpp model, one generation context with `parallel` sequences over a unified KV cache of
`parallel × n_ctx` cells, and an embedding context created on first use. Only the logits rows a
step asks for exist (one per sequence), never an n_ctx × n_vocab score array.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _probes
from ._load_log import capture_errors, reason
from ._sampling import GreedySampler, SamplerChain, is_plain_greedy, token_logprob
from ._vocab import Vocabulary, read_metadata
from .backend import (
    KvCacheFull,
    Logits,
    ModelFacts,
    SequenceSampler,
    StepBatch,
    window_holds,
)
from .types import SamplingParams, TokenLogprob

DEFAULT_PARALLEL = 4  # llama-server's default number of slots
DEFAULT_N_BATCH = 512
# Sequences decoded together share one attention mask over the whole batch, so embedding cost
# grows with the square of the batch's tokens: 64 short inputs in one decode ran 2.8x slower
# per input than in groups of about 256 tokens (tiny model, measured in-process).
EMBED_GROUP_TOKENS = 256
EMBED_MAX_SEQUENCES = 256


@dataclass(frozen=True, slots=True)
class LlamaOptions:
    model_path: str
    n_ctx: int = 0  # 0: the model's training context
    n_gpu_layers: int = 0
    n_threads: int | None = None
    parallel: int = DEFAULT_PARALLEL
    n_batch: int = DEFAULT_N_BATCH
    # Pad one-token steps where the model's kernels give a lone row other logits (probed at
    # load), so that a request gives the same text alone as beside others; see decode().
    batch_invariant: bool = False
    prefill_chunk: int = 0  # see ModelFacts.prefill_chunk
    # llama.cpp's flash attention (llama-server's default): its CPU kernel skips the cells a
    # sequence does not see, so other sequences' idle caches cost a stream little; but
    # its sums depend on where the cells sit and on the step's shape (see _new_context).
    flash_attention: bool = True


def disable_weight_repacking() -> None:
    """Loads weights as stored instead of repacked into CPU-specific layouts.

    llama.cpp's repacked kernels crash in decode on some CPUs (seen with Q4_K weights on an
    AVX-512/AMX host); llama-server has `--no-repack`, llama-cpp-python has no parameter, so the
    default model parameters are replaced for every model this process loads.
    """
    import llama_cpp.llama_cpp as bindings

    original = bindings.llama_model_default_params
    if getattr(original, "_inferno_no_repack", False):
        return

    def without_repack() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    without_repack._inferno_no_repack = True  # type: ignore[attr-defined]
    bindings.llama_model_default_params = without_repack


class LlamaBackend:
    """Owns the llama.cpp objects of one model; used from the engine thread only (the
    vocabulary also from the event loop: it is read-only)."""

    def __init__(self, options: LlamaOptions) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self.options = options
        # llama.cpp logs every load step to stderr unless its logger is raised above INFO.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = options.n_gpu_layers
        with capture_errors(llama_cpp) as errors:
            self._model = llama_cpp.llama_model_load_from_file(options.model_path.encode(), params)
        if not self._model:
            raise ValueError(f"llama.cpp could not load {options.model_path}: {reason(errors)}")
        self._ctx = self._embed_ctx = None
        try:
            self.vocab = Vocabulary(self._model)
            self.metadata = read_metadata(self._model)
            n_train = int(llama_cpp.llama_model_n_ctx_train(self._model))
            n_ctx = options.n_ctx or n_train
            n_batch = max(2, min(options.n_batch, n_ctx))
            parallel = max(1, options.parallel)
            # Room for every sequence to reach the full context at once, as one unified buffer:
            # a busy neighbour never cuts a sequence short, and siblings can share cells. One
            # more sequence id carries the padding row of one-token steps (see decode()).
            self._pad_seq = parallel
            self._ctx = self._new_context(
                n_ctx * parallel + 1, n_batch, parallel + 1, embeddings=False
            )
            self._memory = llama_cpp.llama_get_memory(self._ctx)
            self._window = int(llama_cpp.llama_model_n_swa(self._model))
        except BaseException:
            self.close()
            raise
        self._bound: tuple[StepBatch, Any] | None = None
        self._embed_batch: StepBatch | None = None
        self._embed_native: Any = None
        # Greedy requests read the argmax of their logits row instead of running llama.cpp's
        # sampler chain (the same token; switched off only to measure the chain's cost).
        self.greedy_argmax = True
        self.pad_single_rows = False
        token = self.vocab.bos if self.vocab.bos >= 0 else 0
        self.single_rows_differ = _probes.single_rows_differ(
            self._decode_probe, self.keep_logits, self.forget, token, self._pad_seq
        )
        self.pad_single_rows = options.batch_invariant and self.single_rows_differ
        self.facts = ModelFacts(
            n_ctx=min(n_ctx, int(llama_cpp.llama_n_ctx_seq(self._ctx))),
            n_vocab=self.vocab.n_vocab,
            n_embd=int(llama_cpp.llama_model_n_embd(self._model)),
            n_seq=parallel,
            n_batch=n_batch,
            bos_text=self.vocab.text_of(self.vocab.bos),
            eos_text=self.vocab.text_of(self.vocab.eos),
            metadata=self.metadata,
            prefill_chunk=max(0, options.prefill_chunk),
        )

    def _new_context(self, n_ctx: int, n_batch: int, n_seq: int, *, embeddings: bool) -> Any:
        llama_cpp = self._llama_cpp
        threads = self.options.n_threads or os.cpu_count() or 1
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        # Sequences share cells (n > 1 shares its prompt) and each may use the whole context.
        params.kv_unified = True
        # A sliding-window model keeps only its window's cells (llama-server's default too):
        # Gemma 3 at 32k context needs a sixth of the memory; prefix reuse then stops at the
        # window (see share()).
        params.swa_full = False
        # Prompt processing uses the batch thread count, which otherwise defaults to every core.
        params.n_threads = params.n_threads_batch = threads
        params.embeddings = embeddings
        # llama.cpp's CPU flash attention accumulates in FP16 in the order the cells sit in the
        # unified cache, and splits a one-row step's cells between threads, so a sequence
        # decoded beside others or around their cells gets other logits (up to 2e-2 measured)
        # than decoded alone; plain attention differs by ~1e-6 but attends over every cell up to
        # the highest in use, idle caches included. Embeddings keep plain attention: a text's
        # vector must not depend on the texts decoded beside it.
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if self.options.flash_attention and not embeddings
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        if embeddings:
            arch = self.metadata.get("general.architecture", "")
            if f"{arch}.pooling_type" not in self.metadata:
                params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_MEAN
        else:
            # One logits row per sequence per step, not one per batch token. llama.cpp reserves
            # a row for every sequence id (the padding one included) and asserts that many fit,
            # whatever the batch size: fewer aborted the process.
            params.n_outputs_max = n_seq
        with capture_errors(llama_cpp) as errors:
            ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not ctx:
            raise ValueError(
                f"llama.cpp could not create a context of {n_ctx} tokens: {reason(errors)}"
            )
        return ctx

    # -- token facts ---------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        return self.vocab.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.vocab.detokenize(tokens)

    def token_piece(self, token: int) -> bytes:
        return self.vocab.piece(token)

    def is_end_of_generation(self, token: int) -> bool:
        return self.vocab.is_end_of_generation(token)

    # -- decoding ------------------------------------------------------------------------------

    def open_sampler(
        self,
        seq: int,
        prompt: Sequence[int],
        params: SamplingParams,
        seed: int,
        cancelled: Callable[[], bool],
    ) -> SequenceSampler:
        if self.greedy_argmax and is_plain_greedy(params):
            return GreedySampler(self._ctx, self.vocab.n_vocab)
        return SamplerChain(self._ctx, self.vocab.handle, self.vocab.n_vocab, params, seed)

    def decode(self, batch: StepBatch) -> None:
        if batch.size != 1 or not self.pad_single_rows:
            _decode(self._llama_cpp, self._ctx, self._bind(batch), batch.size)
            return
        # Where llama.cpp's kernels take another path for a one-row batch (see _probes.py), a
        # sequence decoded alone would not give the text it gives in a batch: a padding row (no
        # output, dropped right after) keeps every step multi-row.
        batch.add((int(batch.tokens[0]),), 0, self._pad_seq, output_last=False)
        try:
            _decode(self._llama_cpp, self._ctx, self._bind(batch), batch.size)
        finally:
            batch.size = 1
            self._llama_cpp.llama_memory_seq_rm(self._memory, self._pad_seq, 0, -1)

    def _decode_probe(self, batch: StepBatch) -> None:
        _decode(self._llama_cpp, self._ctx, _native_batch(self._llama_cpp, batch), batch.size)

    def _row(self, row: int) -> np.ndarray:
        logits = self._llama_cpp.llama_get_logits_ith(self._ctx, row)
        return np.ctypeslib.as_array(logits, shape=(self.vocab.n_vocab,))

    def keep_logits(self, row: int) -> np.ndarray:
        return self._row(row).copy()

    def logprob(self, row: Logits, token: int, top_n: int) -> TokenLogprob:
        logits = self._row(row) if isinstance(row, int) else row
        return token_logprob(logits, token, top_n, self.vocab.piece)

    def forget(self, seq: int, start: int = 0) -> bool:
        # The window is checked before anything is removed (see window_holds).
        if not self._window_holds(seq, start):
            return False
        return bool(self._llama_cpp.llama_memory_seq_rm(self._memory, seq, start, -1))

    def share(self, source: int, target: int, length: int) -> bool:
        llama_cpp = self._llama_cpp
        if not self._window_holds(source, length):
            return False
        llama_cpp.llama_memory_seq_rm(self._memory, target, 0, -1)
        if length > 0:
            llama_cpp.llama_memory_seq_cp(self._memory, source, target, 0, length)
        return True

    def _window_holds(self, seq: int, length: int) -> bool:
        if self._window <= 0 or length <= 0:
            return True
        llama_cpp, memory = self._llama_cpp, self._memory
        lowest = int(llama_cpp.llama_memory_seq_pos_min(memory, seq))
        highest = int(llama_cpp.llama_memory_seq_pos_max(memory, seq))
        return window_holds(lowest, highest, length, self._window)

    def _bind(self, batch: StepBatch) -> Any:
        """A llama_batch whose arrays are the StepBatch's own buffers (built once per batch)."""
        if self._bound is not None and self._bound[0] is batch:
            return self._bound[1]
        native = _native_batch(self._llama_cpp, batch)
        self._bound = (batch, native)
        return native

    # -- embeddings ----------------------------------------------------------------------------

    def embed(self, token_lists: list[list[int]]) -> list[list[float]]:
        llama_cpp = self._llama_cpp
        if self._embed_ctx is None:
            n_ctx = self.facts.n_ctx
            # A whole input must fit in one batch: pooled embeddings are read per sequence.
            self._embed_ctx = self._new_context(
                n_ctx, n_ctx, min(n_ctx, EMBED_MAX_SEQUENCES), embeddings=True
            )
            self._embed_batch = StepBatch(n_ctx)
            self._embed_native = _native_batch(llama_cpp, self._embed_batch)
        ctx, batch, native = self._embed_ctx, self._embed_batch, self._embed_native
        assert batch is not None
        memory = llama_cpp.llama_get_memory(ctx)
        n_embd, n_seq_max = self.facts.n_embd, int(llama_cpp.llama_n_seq_max(ctx))
        vectors: list[list[float]] = []
        group: list[list[int]] = []

        def flush() -> None:
            batch.clear()
            for seq, tokens in enumerate(group):
                batch.add(tokens, 0, seq, output_last=False)
            batch.outputs[: batch.size] = 1  # pooling reads every token
            llama_cpp.llama_memory_clear(memory, True)
            _decode(llama_cpp, ctx, native, batch.size)
            for seq in range(len(group)):
                pointer = llama_cpp.llama_get_embeddings_seq(ctx, seq)
                vec = np.ctypeslib.as_array(pointer, shape=(n_embd,)).astype(np.float64)
                norm = float(np.linalg.norm(vec))
                vectors.append((vec / norm if norm > 0 else vec).tolist())
            group.clear()

        for tokens in token_lists:
            if len(tokens) > batch.capacity:
                raise ValueError(f"input of {len(tokens)} tokens exceeds {batch.capacity}")
            grouped = sum(map(len, group)) + len(tokens)
            if group and (grouped > EMBED_GROUP_TOKENS or len(group) >= n_seq_max):
                flush()
            group.append(tokens)
        if group:
            flush()
        llama_cpp.llama_memory_clear(memory, True)
        return vectors

    def close(self) -> None:
        llama_cpp = self._llama_cpp
        for name in ("_embed_ctx", "_ctx"):
            ctx = getattr(self, name, None)
            if ctx:
                llama_cpp.llama_free(ctx)
            setattr(self, name, None)
        if getattr(self, "_model", None):
            llama_cpp.llama_model_free(self._model)
            self._model = None


def _native_batch(llama_cpp: Any, batch: StepBatch) -> Any:
    """A llama_batch whose arrays are the StepBatch's own buffers."""
    int_pointer = ctypes.POINTER(ctypes.c_int32)
    native = llama_cpp.llama_batch()
    native.token = batch.tokens.ctypes.data_as(int_pointer)
    native.embd = None
    native.pos = batch.positions.ctypes.data_as(int_pointer)
    ones = np.ones(batch.capacity, dtype=np.int32)
    native.n_seq_id = ones.ctypes.data_as(int_pointer)
    # Every token belongs to one sequence: pointer i points at seqs[i].
    addresses = batch.seqs.ctypes.data + 4 * np.arange(batch.capacity, dtype=np.uintp)
    seq_ids = (int_pointer * batch.capacity).from_buffer(addresses)
    native.seq_id = seq_ids
    native.logits = batch.outputs.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))
    native._keep = (ones, addresses, seq_ids)  # the arrays must live as long as the struct
    return native


def _decode(llama_cpp: Any, ctx: Any, native: Any, size: int) -> None:
    native.n_tokens = size
    result = int(llama_cpp.llama_decode(ctx, native))
    if result == 1:
        raise KvCacheFull(f"no room in the KV cache for {size} tokens")
    if result != 0:
        raise RuntimeError(f"llama_decode failed ({result})")
