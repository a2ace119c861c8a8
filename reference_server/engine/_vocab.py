"""Token facts of a loaded llama.cpp model: text ↔ tokens, pieces, end-of-generation, metadata.

The vocabulary is immutable once the model is loaded, so these are safe to call from the event
loop (tokenizing a request) while the engine thread decodes.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

_PIECE_BUFFER = 64
# Chat templates are a few KiB; token lists (megabytes) are not settings anyone reads.
_META_LIMIT = 1 << 20


class Vocabulary:
    def __init__(self, model: Any) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self.bos = int(llama_cpp.llama_vocab_bos(self._vocab))
        self.eos = int(llama_cpp.llama_vocab_eos(self._vocab))
        self._pieces: list[bytes | None] = [None] * self.n_vocab
        self._eog: dict[int, bool] = {}
        self._buffer = ctypes.create_string_buffer(_PIECE_BUFFER)

    @property
    def handle(self) -> Any:
        return self._vocab

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        data = text.encode("utf-8")
        # One token per byte at most, plus the special tokens the vocabulary adds.
        room = len(data) + 8
        tokens = (ctypes.c_int32 * room)()
        count = self._llama_cpp.llama_tokenize(
            self._vocab, data, len(data), tokens, room, add_bos, special
        )
        if count < 0:  # the bound above was wrong after all: ask for the exact size
            room = -count
            tokens = (ctypes.c_int32 * room)()
            count = self._llama_cpp.llama_tokenize(
                self._vocab, data, len(data), tokens, room, add_bos, special
            )
            if count < 0:
                raise RuntimeError(f"tokenization failed ({count})")
        return list(tokens[:count])

    def piece(self, token: int) -> bytes:
        """What one token contributes to the text (control tokens contribute nothing)."""
        cached = self._pieces[token]
        if cached is None:
            cached = self._render(token, self._buffer)
            if token == self.bos and cached[:1] == b" ":
                cached = cached[1:]  # the leading space a BOS carries is not text
            self._pieces[token] = cached
        return cached

    def detokenize(self, tokens: Sequence[int]) -> str:
        buffer = ctypes.create_string_buffer(_PIECE_BUFFER)
        data = b"".join(self._render(t, buffer) for t in tokens)
        if tokens and tokens[0] == self.bos and data[:1] == b" ":
            data = data[1:]
        return data.decode("utf-8", errors="replace")

    def text_of(self, token: int) -> str:
        """A special token's own text (e.g. "<s>"), for chat templates."""
        if token < 0:
            return ""
        raw = self._llama_cpp.llama_vocab_get_text(self._vocab, token)
        return (raw or b"").decode("utf-8", errors="replace")

    def is_end_of_generation(self, token: int) -> bool:
        known = self._eog.get(token)
        if known is None:
            known = bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))
            self._eog[token] = known
        return known

    def _render(self, token: int, buffer: Any) -> bytes:
        size = len(buffer)
        n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buffer, size, 0, False)
        if n > size:
            buffer = ctypes.create_string_buffer(n)
            n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buffer, n, 0, False)
        return buffer.raw[: max(0, n)]


def read_metadata(model: Any) -> dict[str, str]:
    """The GGUF's key/value settings as text (long arrays such as token lists left out)."""
    import llama_cpp

    metadata: dict[str, str] = {}
    for i in range(llama_cpp.llama_model_meta_count(model)):
        key = _meta_string(llama_cpp.llama_model_meta_key_by_index, model, i)
        value = _meta_string(llama_cpp.llama_model_meta_val_str_by_index, model, i)
        if key is not None and value is not None:
            metadata[key] = value
    return metadata


def _meta_string(read: Any, model: Any, index: int) -> str | None:
    size = 1024
    while True:
        buffer = ctypes.create_string_buffer(size)
        n = read(model, index, buffer, size)
        if n < 0:
            return None
        if n < size:
            return buffer.value.decode("utf-8", errors="replace")
        if n + 1 > _META_LIMIT:
            return None
        size = n + 1
