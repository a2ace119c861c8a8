"""The generated tiny model: deterministic bytes, a complete tokenizer and well-behaved output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from reference_server import _tiny_vocab as vocab
from reference_server import tiny_model

llama_cpp = pytest.importorskip("llama_cpp")

PROMPTS = [
    "Hello there",
    "What is the capital of France?",
    "Tell me a story about a dog.",
    "Write a haiku about rain.",
    "How do I bake bread?",
    "Why is the sky blue?",
    "Give me three colors.",
    "Explain recursion.",
    "Say something nice.",
    "What time is it?",
    "List some fruits.",
    "Describe the sea.",
    "Who are you?",
    "Translate hello to French.",
    "What is 2+2?",
    "Recommend a book.",
    "How are you today?",
    "Tell me a joke.",
    "Summarize the news.",
    "Where is Tokyo?",
]

ROUND_TRIP_TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "café über naïve 日本語 東京 🙂🚀 👩‍👩‍👧",
    "mixed\ttabs\nand\r\nnewlines  double  spaces",
    "\x00\x01\x7f control bytes \u200b zero width",
    "<s> </s> <unk> <0x41> <|im_start|> look like special tokens",
    "\ufffd replacement char and e\u0301 combining accent",
    '{"json": [1, 2.5, null], "key": "value"}',
    "x" * 300,
]

# Generated text may contain these besides printable characters.
ALLOWED_WHITESPACE = {"\n", "\t"}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model.ensure_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def llm(model_path: Path):
    return llama_cpp.Llama(model_path=str(model_path), n_ctx=0, n_threads=2, verbose=False)


def chat(llm, prompt: str, **kwargs) -> dict:
    return llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], **kwargs)


def banned_ids() -> set[int]:
    return {i for i, p in enumerate(vocab.build_pieces()) if not p.sampleable and p.group != "eos"}


# --- the file -----------------------------------------------------------------------------------


def test_same_bytes_every_time(tmp_path: Path) -> None:
    first = tiny_model.ensure_tiny_model(tmp_path / "a")
    second = tiny_model.ensure_tiny_model(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


def test_cached_file_is_reused(tmp_path: Path) -> None:
    path = tiny_model.ensure_tiny_model(tmp_path)
    stamp = path.stat().st_mtime_ns
    assert tiny_model.ensure_tiny_model(tmp_path) == path
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left behind


def test_concurrent_first_use(tmp_path: Path) -> None:
    code = "from reference_server.tiny_model import ensure_tiny_model as e; print(e())"
    env = {**os.environ, tiny_model.CACHE_ENV: str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [Path(outs[0]).name]
    reference = tiny_model.ensure_tiny_model(tmp_path / "single")
    assert Path(outs[0]).read_bytes() == reference.read_bytes()


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tiny_model.CACHE_ENV, str(tmp_path))
    path = tiny_model.ensure_tiny_model()
    assert path.parent == tmp_path
    assert f"v{tiny_model.GENERATOR_VERSION}" in path.name


def test_size_at_most_2_mb(model_path: Path) -> None:
    assert model_path.stat().st_size <= 2 * 1024 * 1024


def test_main_writes_to_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.gguf"
    assert tiny_model.main(["--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.stat().st_size > 0


# --- the model as llama.cpp sees it -------------------------------------------------------------


def test_hyperparameters(llm) -> None:
    assert llm.n_embd() == tiny_model.N_EMBD
    assert llm.n_ctx() == tiny_model.N_CTX >= 512
    assert llm.n_vocab() == len(vocab.build_pieces())
    assert llm.token_bos() == 1
    assert llm.token_eos() == 2
    meta = llm.metadata
    assert meta["general.architecture"] == "llama"
    assert meta["tokenizer.ggml.model"] == "llama"
    assert meta["llama.pooling_type"] == "1"  # mean
    assert meta["tokenizer.ggml.add_bos_token"] == "true"


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_tokenizer_round_trips_utf8(llm, text: str) -> None:
    data = text.encode("utf-8")
    tokens = llm.tokenize(data, add_bos=True)
    assert tokens[0] == llm.token_bos()
    assert tokens.count(llm.token_bos()) == 1  # "<s>" in text is text, not a control token
    assert llm.detokenize(tokens) == data


def test_known_words_are_single_tokens(llm) -> None:
    assert len(llm.tokenize(b"Hello world", add_bos=False)) == 2


def test_chat_template_renders_chatml(llm) -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"], eos_token="</s>", bos_token="<s>"
    )
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello"},
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
    ]
    prompt = formatter(messages=messages).prompt
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello<|im_end|>\n"
        "<|im_start|>tool\n42<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_chat_template_with_tool_calls_and_no_content(llm) -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token="</s>",
        bos_token="<s>",
        add_generation_prompt=False,
    )
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    messages = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    prompt = formatter(messages=messages).prompt
    assert prompt.startswith("<|im_start|>assistant\n")
    assert prompt.endswith("<|im_end|>\n")
    assert '{"a":1}' in prompt


# --- generation ---------------------------------------------------------------------------------


def test_greedy_is_deterministic_and_prompt_dependent(llm) -> None:
    texts = [
        chat(llm, p, max_tokens=16, temperature=0)["choices"][0]["message"]["content"]
        for p in PROMPTS[:6]
    ]
    again = [
        chat(llm, p, max_tokens=16, temperature=0)["choices"][0]["message"]["content"]
        for p in PROMPTS[:6]
    ]
    assert texts == again
    assert len(set(texts)) >= 4


def test_same_seed_same_output(llm) -> None:
    def sample(seed: int) -> str:
        out = chat(llm, PROMPTS[2], max_tokens=32, temperature=1.0, seed=seed)
        return out["choices"][0]["message"]["content"]

    assert sample(7) == sample(7)
    assert len({sample(s) for s in range(4)}) >= 2


def _generate_ids(llm, prompt: str, temp: float, seed: int, limit: int = 48) -> list[int]:
    """Sample ``limit`` steps with no top-k/top-p/min-p filtering; </s> is dropped, not obeyed."""
    llm.set_seed(seed)
    tokens = llm.tokenize(prompt.encode(), add_bos=True)
    ids: list[int] = []
    sampler = llm.generate(tokens, temp=temp, top_k=0, top_p=1.0, min_p=0.0, reset=True)
    for steps, token in enumerate(sampler, start=1):
        if steps > limit:
            break
        if token != llm.token_eos():
            ids.append(token)
    return ids


@pytest.mark.parametrize("temp", [0.0, 1.0, 1.5])
def test_output_is_printable_utf8(llm, temp: float) -> None:
    banned = banned_ids()
    for seed, prompt in enumerate(PROMPTS[:8]):
        ids = _generate_ids(llm, prompt, temp, seed)
        assert ids, prompt
        assert not banned & set(ids)
        text = llm.detokenize(ids).decode("utf-8")  # strict: no partial sequences
        assert all(c.isprintable() or c in ALLOWED_WHITESPACE for c in text), repr(text)


@pytest.mark.parametrize("temp", [0.0, 1.0])
def test_both_finish_reasons_occur(llm, temp: float) -> None:
    reasons: Counter[str] = Counter()
    lengths = []
    for seed, prompt in enumerate(PROMPTS):
        out = chat(llm, prompt, max_tokens=64, temperature=temp, seed=seed)
        reasons[out["choices"][0]["finish_reason"]] += 1
        lengths.append(out["usage"]["completion_tokens"])
    assert reasons["stop"] >= 3, reasons
    assert reasons["length"] >= 2, reasons
    assert sum(n >= 3 for n in lengths) >= len(PROMPTS) - 3  # replies are rarely near-empty


def test_json_grammar_finishes(llm) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    finished = 0
    for i, prompt in enumerate(PROMPTS[:6]):
        fmt = {"type": "json_object", "schema": schema} if i % 2 else {"type": "json_object"}
        out = chat(llm, prompt, max_tokens=200, temperature=0, response_format=fmt)
        choice = out["choices"][0]
        if choice["finish_reason"] == "stop":
            value = json.loads(choice["message"]["content"])
            assert isinstance(value, dict)
            finished += 1
    assert finished >= 5


def test_embeddings_one_vector_per_input(model_path: Path) -> None:
    emb = llama_cpp.Llama(model_path=str(model_path), embedding=True, n_ctx=0, verbose=False)
    vectors = emb.embed(["hello", "the cat sat on the mat", "日本 🙂"])
    assert len(vectors) == 3
    assert all(len(v) == tiny_model.N_EMBD for v in vectors)
    assert vectors[0] != vectors[1]
