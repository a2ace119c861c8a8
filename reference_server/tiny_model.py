"""The tiny model: a deterministic, generated llama-architecture GGUF that needs no download.

``ensure_tiny_model()`` writes it into a cache folder on first use and returns its path. The
weights are random but shaped so that llama.cpp produces printable UTF-8 word salad that ends
with ``</s>`` often enough for both ``stop`` and ``length`` finish reasons to occur:

* every token embedding carries the same large value in hidden dimension 0, and no layer writes
  to that dimension, so after the final RMS norm that coordinate is a near-constant positive
  number; the output layer's column 0 therefore acts as a per-token logit bias, which is very
  negative for control, unknown and byte tokens (never sampled) and tuned for ``</s>``;
* attention is uniform (zero queries and keys) and copies the context's embeddings into the
  residual stream, so the next token depends on the whole prompt, and each token's output row is
  pushed away from its own embedding, which discourages repeating recent tokens;
* ``</s>`` is held back while ``<s>`` (and the chat template) still weigh much in that context
  average, so replies are rarely empty, and leans towards sentence ends; pieces that close JSON
  strings and objects share its output row, so grammar-constrained output closes its strings
  where free text would have ended.

The constants below were tuned by measuring finish reasons, variety and JSON-grammar completion
over a fixed set of prompts; any change alters the model (bump ``GENERATOR_VERSION``).

Load it with ``llama_cpp.Llama(model_path=..., n_ctx=0)`` to get the full context; the pooling
type (mean) is in the file, so ``embedding=True`` gives one vector per input.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from reference_server import _tiny_vocab as vocab

TINY_MODEL_ID = "inferno-tiny"
# Part of the file name: bump it whenever the bytes the generator writes would change.
GENERATOR_VERSION = 2
CACHE_ENV = "INFERNO_CACHE_DIR"

N_CTX = 1024
N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
_SEED = 4
_RMS_EPS = 1e-5
# Queries and keys are zero, so RoPE has nothing to rotate: the usual base will do.
_ROPE_BASE = 10000.0

# Hidden dimension 0 holds this constant for every token: the output layer's bias channel.
_BIAS_CHANNEL = 6.0
# Weight of the bias channel in the output rows of tokens that must never be generated.
_BANNED_WEIGHT = -100.0
# Per-group logit bias, in units of the (normed) bias channel, which sits near 4.8.
_GROUP_BIAS = {
    "word": 0.0,
    "nonascii": -0.25,
    "punct": -0.15,
    "json": -0.3,
    "number": -0.3,
    "space": -0.6,
    "eos": 0.6,
    "closer": 0.5,
}
_OUTPUT_SCALE = 0.3  # spread of the random part of the output rows
_SELF_PENALTY = 1.5  # pushes a token's output row away from its own embedding
_ATTN_MIX = 2.0  # how strongly the context average enters the residual stream
_FFN_SCALE = 0.3
_CLOSER_NOISE = 0.1
_QUIET_SCALE = 0.15  # embedding scale of the chat template's tokens
_TEMPLATE_DIR = 2.0
_EOS_AFTER_TEMPLATE = 2.0
_EOS_AFTER_PERIOD = 2.0
_BOS_DIR = 16.0

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- elif message['content'] is iterable -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part is string -%}{{- part -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- if message['tool_calls'] is defined and message['tool_calls'] -%}"
    "{%- for call in message['tool_calls'] -%}"
    "{{- '<tool_call>' + call['function']['name'] + ' ' + call['function']['arguments']"
    " + '</tool_call>' -}}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path.home() / ".cache" / "inferno"


def model_filename() -> str:
    return f"{TINY_MODEL_ID}-v{GENERATOR_VERSION}.gguf"


def ensure_tiny_model(cache_dir: Path | None = None) -> Path:
    """Return the path of the tiny model, generating it into the cache folder if missing."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / model_filename()
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    # Several processes may race here: each writes its own temp file and the renames are atomic,
    # so readers only ever see a complete file (and all writers produce the same bytes).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{TINY_MODEL_ID}-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write_tiny_model(Path(tmp_name))
        os.chmod(tmp_name, 0o644)  # mkstemp makes it owner-only; a cache may be shared
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return path


def _tensors(pieces: list[vocab.Piece]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    n_vocab = len(pieces)
    ids = {p.text: i for i, p in enumerate(pieces)}
    head_dim = N_EMBD // N_HEAD
    n_free = N_EMBD - 1  # every dimension except the bias channel

    embd = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    embd[:, 0] = _BIAS_CHANNEL
    embd[:, 1:] = rng.standard_normal((n_vocab, n_free))
    unit = embd[:, 1:] / np.linalg.norm(embd[:, 1:], axis=1, keepdims=True)
    quiet = np.array([p.quiet for p in pieces])
    embd[quiet, 1:] *= _QUIET_SCALE
    # The quiet tokens share one direction, which the </s> row avoids: no empty replies.
    template_dir = rng.standard_normal(n_free)
    template_dir /= np.linalg.norm(template_dir)
    embd[quiet, 1:] += _TEMPLATE_DIR * template_dir
    # <s> starts every sequence and its share of the context average shrinks as 1/length, so a
    # strong <s> makes </s> unlikely early on and likelier later.
    embd[ids[vocab.BOS], 1:] = _BOS_DIR * template_dir

    tensors: dict[str, np.ndarray] = {"token_embd.weight": embd}
    # Each layer's attention copies a different half of the free dimensions, so together the two
    # layers carry (almost) the whole context average.
    basis, _ = np.linalg.qr(rng.standard_normal((n_free, n_free)))
    kv_dim = N_HEAD_KV * head_dim
    for layer in range(N_LAYER):
        cols = basis[:, :kv_dim] if layer == 0 else basis[:, n_free - kv_dim :]
        w_v = np.zeros((kv_dim, N_EMBD), dtype=np.float32)
        w_v[:, 1:] = cols.T
        # Query heads 0 and 2 read KV heads 0 and 1; heads 1 and 3 (duplicates) are dropped.
        w_o = np.zeros((N_EMBD, N_HEAD * head_dim), dtype=np.float32)
        group = N_HEAD // N_HEAD_KV
        for kv in range(N_HEAD_KV):
            head = kv * group
            w_o[1:, head * head_dim : (head + 1) * head_dim] = (
                _ATTN_MIX * cols[:, kv * head_dim : (kv + 1) * head_dim]
            )
        w_down = rng.standard_normal((N_EMBD, N_FF)) * (_FFN_SCALE / np.sqrt(N_FF))
        w_down[0] = 0.0
        prefix = f"blk.{layer}."
        tensors |= {
            prefix + "attn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
            prefix + "attn_q.weight": np.zeros((N_HEAD * head_dim, N_EMBD), dtype=np.float32),
            prefix + "attn_k.weight": np.zeros((kv_dim, N_EMBD), dtype=np.float32),
            prefix + "attn_v.weight": w_v,
            prefix + "attn_output.weight": w_o,
            prefix + "ffn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
            prefix + "ffn_gate.weight": rng.standard_normal((N_FF, N_EMBD)) / np.sqrt(N_EMBD),
            prefix + "ffn_up.weight": rng.standard_normal((N_FF, N_EMBD)) / np.sqrt(N_EMBD),
            prefix + "ffn_down.weight": w_down,
        }

    output = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    output[:, 1:] = _OUTPUT_SCALE * rng.standard_normal((n_vocab, n_free)) - _SELF_PENALTY * unit
    for i, piece in enumerate(pieces):
        if piece.sampleable or piece.group == "eos":
            output[i, 0] = _GROUP_BIAS[piece.group]
        else:
            output[i, :] = 0.0
            output[i, 0] = _BANNED_WEIGHT
    output[ids[vocab.EOS], 1:] -= _EOS_AFTER_TEMPLATE * template_dir
    # ... and leans towards the end of a sentence.
    for end in (".", "!", "?"):
        output[ids[vocab.EOS], 1:] += _EOS_AFTER_PERIOD * unit[ids[end]]
    # Closers share </s>'s row (plus a little noise) so they win where </s> would but is forbidden.
    eos_row = output[ids[vocab.EOS], 1:]
    for i, piece in enumerate(pieces):
        if piece.group == "closer":
            output[i, 1:] = eos_row + _CLOSER_NOISE * rng.standard_normal(n_free)
    tensors["output_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
    tensors["output.weight"] = output
    return {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in tensors.items()}


def write_tiny_model(path: Path) -> None:
    """Write the tiny model to ``path`` (overwriting it)."""
    import gguf  # deferred: only needed when the cache is cold

    pieces = vocab.build_pieces()
    ids = {p.text: i for i, p in enumerate(pieces)}
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(TINY_MODEL_ID)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(len(pieces))
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(_ROPE_BASE)
    writer.add_layer_norm_rms_eps(_RMS_EPS)
    writer.add_pooling_type(gguf.PoolingType.MEAN)

    writer.add_tokenizer_model("llama")
    writer.add_token_list([p.text for p in pieces])
    writer.add_token_scores([p.score for p in pieces])
    writer.add_token_types([p.kind for p in pieces])
    writer.add_unk_token_id(ids[vocab.UNK])
    writer.add_bos_token_id(ids[vocab.BOS])
    writer.add_eos_token_id(ids[vocab.EOS])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(True)
    writer.add_chat_template(CHAT_TEMPLATE)

    for name, tensor in _tensors(pieces).items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_server.tiny_model",
        description="Generate the tiny model (if needed) and print its path.",
    )
    parser.add_argument("--out", type=Path, help="write the model to this file instead")
    args = parser.parse_args(argv)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_tiny_model(args.out)
        print(args.out)
    else:
        print(ensure_tiny_model())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
