"""Everything that touches llama-cpp-python objects. Called only from a model's worker thread."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .types import TokenLogprob, TopLogprob


@dataclass(frozen=True, slots=True)
class LlamaOptions:
    model_path: str
    n_ctx: int = 0  # 0: the model's training context
    n_gpu_layers: int = 0
    n_threads: int | None = None
    logits_all: bool = True  # logprobs need every position's logits


def load_generator(options: LlamaOptions) -> Any:
    from llama_cpp import Llama

    return Llama(
        model_path=options.model_path,
        n_ctx=options.n_ctx,
        n_gpu_layers=options.n_gpu_layers,
        n_threads=options.n_threads or os.cpu_count() or 1,
        # Prompt processing (and embeddings) use the batch thread count, which otherwise
        # defaults to every core and defeats --threads.
        n_threads_batch=options.n_threads or os.cpu_count() or 1,
        logits_all=options.logits_all,
        verbose=False,
    )


def load_embedder(options: LlamaOptions, metadata: dict[str, str]) -> Any:
    import llama_cpp
    from llama_cpp import Llama

    arch = metadata.get("general.architecture", "")
    has_pooling = f"{arch}.pooling_type" in metadata
    n_ctx = options.n_ctx or int(metadata.get(f"{arch}.context_length", 512))
    return Llama(
        model_path=options.model_path,
        embedding=True,
        n_ctx=n_ctx,
        # A whole input must fit in one batch: pooled embeddings are read per sequence.
        n_batch=n_ctx,
        n_ubatch=n_ctx,
        n_gpu_layers=options.n_gpu_layers,
        n_threads=options.n_threads or os.cpu_count() or 1,
        # Prompt processing (and embeddings) use the batch thread count, which otherwise
        # defaults to every core and defeats --threads.
        n_threads_batch=options.n_threads or os.cpu_count() or 1,
        pooling_type=(
            llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED
            if has_pooling
            else llama_cpp.LLAMA_POOLING_TYPE_MEAN
        ),
        verbose=False,
    )


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


# Sequences decoded together share one attention mask over the whole batch, so the cost grows
# with the square of the batch's tokens: 64 short inputs in one decode ran 2.8x slower per input
# than in groups of about 256 tokens (tiny model, measured in-process).
EMBED_GROUP_TOKENS = 256


def embed_token_lists(llama: Any, token_lists: list[list[int]]) -> list[list[float]]:
    """One normalised, pooled vector per token list (what `Llama.embed` does for text)."""
    import llama_cpp

    n_batch = llama.n_batch
    n_embd = llama.n_embd()
    n_seq_max = max(1, llama.context_params.n_seq_max)
    vectors: list[list[float]] = []
    sizes: list[int] = []

    def decode() -> None:
        llama._ctx.kv_cache_clear()
        llama._ctx.decode(llama._batch)
        llama._batch.reset()
        for seq in range(len(sizes)):
            ptr = llama_cpp.llama_get_embeddings_seq(llama._ctx.ctx, seq)
            vec = np.ctypeslib.as_array(ptr, shape=(n_embd,)).astype(np.float64)
            norm = float(np.linalg.norm(vec))
            vectors.append((vec / norm if norm > 0 else vec).tolist())
        sizes.clear()

    llama._batch.reset()
    for tokens in token_lists:
        if len(tokens) > n_batch:
            raise ValueError(f"input of {len(tokens)} tokens exceeds the batch size {n_batch}")
        grouped = sum(sizes) + len(tokens)
        if sizes and (grouped > min(n_batch, EMBED_GROUP_TOKENS) or len(sizes) >= n_seq_max):
            decode()
        llama._batch.add_sequence(tokens, len(sizes), True)
        sizes.append(len(tokens))
    if sizes:
        decode()
    llama._ctx.kv_cache_clear()
    llama.reset()
    return vectors


def token_logprob(llama: Any, row: int, token: int, top_n: int) -> TokenLogprob:
    """The chosen token's logprob at one position, with the `top_n` most likely alternatives."""
    from llama_cpp import Llama

    logprobs = Llama.logits_to_logprobs(llama.scores[row])
    top: tuple[TopLogprob, ...] = ()
    if top_n > 0:
        best = np.argpartition(-logprobs, top_n - 1)[:top_n]
        best = best[np.argsort(-logprobs[best])]
        top = tuple(_top(llama, int(t), float(logprobs[t])) for t in best)
    piece = token_piece(llama, token)
    return TokenLogprob(
        token=piece.decode("utf-8", errors="replace"),
        token_bytes=tuple(piece),
        logprob=min(0.0, float(logprobs[token])),
        top=top,
    )


def _top(llama: Any, token: int, logprob: float) -> TopLogprob:
    piece = token_piece(llama, token)
    return TopLogprob(
        token=piece.decode("utf-8", errors="replace"),
        token_bytes=tuple(piece),
        logprob=min(0.0, logprob),
    )


def context_size(llama: Any) -> int:
    """Tokens a sequence may hold. llama.cpp rounds a small requested context up, but
    llama-cpp-python sizes its token buffer to the requested one: the smaller is the limit."""
    return min(llama.n_ctx(), len(llama.input_ids))


def logit_bias_processor(bias: tuple[tuple[int, float], ...]) -> Any:
    """OpenAI's `logit_bias` as a logits processor; -100 bans a token, as OpenAI documents."""
    if not bias:
        return None
    from llama_cpp import LogitsProcessorList

    ids = np.array([token for token, _ in bias], dtype=np.intc)
    values = np.array([-np.inf if b <= -100 else b for _, b in bias], dtype=np.single)

    def apply(_input_ids: Any, scores: Any) -> Any:
        scores[ids] += values
        return scores

    return LogitsProcessorList([apply])


def token_piece(llama: Any, token: int) -> bytes:
    return llama.detokenize([token])


def is_end_of_generation(llama: Any, token: int) -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(llama._model.vocab, token))
