"""A scripted backend for fault-injection tests: the real scheduler on the real llama.cpp
backend, with delays, failures and token counting injected per sequence.

It is plugged in behind the engine boundary through `create_app(..., engine_factory=...)` by
`python -m tests.reference_server._faulty_server serve ...`; nothing in the product selects it.

    INFERNO_FAULT_TOKEN_DELAY=S      sleep S seconds per generated token of a marked sequence
                                     (in a batch, the step waits for it: every sequence in
                                     that step is slowed, as a slow sequence would)
    INFERNO_FAULT_TOKEN_MARKER=M     ...marked: the prompt contains M (default: every prompt)
    INFERNO_FAULT_PREFILL_DELAY=S    sleep S seconds in the step that decodes a marked prompt
    INFERNO_FAULT_PREFILL_MARKER=M   ...marked: the prompt contains M (default: every prompt)
    INFERNO_FAULT_NO_EOS=1           never stop at end-of-generation: lengths become exact
    INFERNO_FAULT_INFERENCE_ERROR=1  fail the sequence of a prompt containing FAIL_NOW (before
                                     any token) or FAIL_LATER (its sampler, after 3 tokens);
                                     only that one. FAIL_DECODE: the first decode step that
                                     carries the sequence after 3 tokens raises (as a failed
                                     llama_decode would), failing every sequence of that step
    INFERNO_FAULT_ENGINE_CRASH=1     a prompt containing CRASH_ENGINE makes the engine thread
                                     itself fail: the cache call that places the sequence
                                     raises, outside any decode step's error handling
    INFERNO_FAULT_CRASH_LOG=PATH     append the time (time.monotonic(), comparable across
                                     processes on Linux) of each such failure, one per line
    INFERNO_FAULT_KV_FULL_ABOVE=N    refuse (KV cache full) every step of more than N tokens
    INFERNO_FAULT_TOKEN_LOG=PATH     append one byte per generated token, so a test can watch
                                     the engine's progress from outside the process: "." or,
                                     for a token sampled after its request was cancelled, "x"
Every sleep is sliced and ends early once the sequence's request is cancelled.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reference_server.config import ModelConfig, ServerConfig
from reference_server.engine import BatchingEngine, LlamaBackend, SamplingParams
from reference_server.engine.backend import KvCacheFull, Logits, StepBatch
from reference_server.registry import llama_options

FAIL_NOW, FAIL_LATER, FAIL_DECODE = "FAIL_NOW", "FAIL_LATER", "FAIL_DECODE"
CRASH_ENGINE = "CRASH_ENGINE"
FAIL_LATER_AFTER = 3
_SLICE = 0.005


@dataclass(frozen=True)
class Faults:
    token_delay: float = 0.0
    token_marker: bytes = b""
    prefill_delay: float = 0.0
    prefill_marker: bytes = b""
    no_eos: bool = False
    inference_error: bool = False
    engine_crash: bool = False
    crash_log: str | None = None
    kv_full_above: int = 0
    token_log: str | None = None

    @classmethod
    def from_env(cls) -> Faults:
        env = os.environ
        return cls(
            token_delay=float(env.get("INFERNO_FAULT_TOKEN_DELAY", "0") or 0),
            token_marker=env.get("INFERNO_FAULT_TOKEN_MARKER", "").encode(),
            prefill_delay=float(env.get("INFERNO_FAULT_PREFILL_DELAY", "0") or 0),
            prefill_marker=env.get("INFERNO_FAULT_PREFILL_MARKER", "").encode(),
            no_eos=env.get("INFERNO_FAULT_NO_EOS", "") == "1",
            inference_error=env.get("INFERNO_FAULT_INFERENCE_ERROR", "") == "1",
            engine_crash=env.get("INFERNO_FAULT_ENGINE_CRASH", "") == "1",
            crash_log=env.get("INFERNO_FAULT_CRASH_LOG") or None,
            kv_full_above=int(env.get("INFERNO_FAULT_KV_FULL_ABOVE", "0") or 0),
            token_log=env.get("INFERNO_FAULT_TOKEN_LOG") or None,
        )


class InjectedFault(RuntimeError):
    """The failure INFERNO_FAULT_INFERENCE_ERROR injects."""


class InjectedEngineCrash(RuntimeError):
    """The failure INFERNO_FAULT_ENGINE_CRASH injects on the engine thread."""


@dataclass
class _Script:
    """What happens to one sequence."""

    prompt: Sequence[int]
    token_delay: float
    prefill_delay: float
    fail_after: int | None
    decode_fail_after: int | None
    cancelled: Callable[[], bool]
    crash_engine: bool = False
    tokens: int = 0


def _sleep(seconds: float, cancelled: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not cancelled():
        time.sleep(min(_SLICE, left))


class _ScriptedSampler:
    def __init__(self, inner: Any, script: _Script, log_fd: int | None) -> None:
        self._inner = inner
        self._script = script
        self._log_fd = log_fd

    def sample(self, row: Logits) -> int:
        token = self._inner.sample(row)
        script = self._script
        script.tokens += 1
        if script.fail_after is not None and script.tokens > script.fail_after:
            raise InjectedFault("injected inference fault after some tokens")
        if script.token_delay > 0:
            _sleep(script.token_delay, script.cancelled)
        if self._log_fd is not None:
            os.write(self._log_fd, b"x" if script.cancelled() else b".")
        return token

    def close(self) -> None:
        self._inner.close()


class ScriptedBackend:
    """Delegates to a LlamaBackend; scripts sequences by what their prompt says."""

    def __init__(self, inner: LlamaBackend, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults
        self.facts = inner.facts
        self._scripts: dict[int, _Script] = {}
        self._log_fd = (
            os.open(faults.token_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            if faults.token_log
            else None
        )

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        return self._inner.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._inner.detokenize(tokens)

    def token_piece(self, token: int) -> bytes:
        return self._inner.token_piece(token)

    def is_end_of_generation(self, token: int) -> bool:
        return False if self._faults.no_eos else self._inner.is_end_of_generation(token)

    def open_sampler(
        self,
        seq: int,
        prompt: Sequence[int],
        params: SamplingParams,
        seed: int,
        cancelled: Callable[[], bool],
    ) -> _ScriptedSampler:
        faults = self._faults
        text = self._inner.detokenize(prompt).encode()
        failing = faults.inference_error
        later = FAIL_LATER_AFTER
        if faults.inference_error and FAIL_NOW.encode() in text:
            raise InjectedFault("injected inference fault")
        script = _Script(
            prompt=prompt,
            token_delay=faults.token_delay if faults.token_marker in text else 0.0,
            prefill_delay=faults.prefill_delay if faults.prefill_marker in text else 0.0,
            fail_after=later if failing and FAIL_LATER.encode() in text else None,
            decode_fail_after=later if failing and FAIL_DECODE.encode() in text else None,
            cancelled=cancelled,
            crash_engine=faults.engine_crash and CRASH_ENGINE.encode() in text,
        )
        self._scripts[seq] = script
        inner = self._inner.open_sampler(seq, prompt, params, seed, cancelled)
        return _ScriptedSampler(inner, script, self._log_fd)

    def decode(self, batch: StepBatch) -> None:
        if 0 < self._faults.kv_full_above < batch.size:
            raise KvCacheFull(f"scripted: no room for {batch.size} tokens")
        # A marked prompt costs its delay once, in the first step that carries it (the choices
        # of an n > 1 request share that prompt: they do not wait again).
        for seq in {int(s) for s in batch.seqs[: batch.size]}:
            script = self._scripts.get(seq)
            failing = script is not None and script.decode_fail_after is not None
            if failing and script.tokens >= script.decode_fail_after:
                raise InjectedFault("injected decode failure")
            if script is not None and script.prefill_delay > 0:
                _sleep(script.prefill_delay, script.cancelled)
                for other in self._scripts.values():
                    if other.prompt is script.prompt:
                        other.prefill_delay = 0.0
        self._inner.decode(batch)

    def keep_logits(self, row: int) -> Any:
        return self._inner.keep_logits(row)

    def logprob(self, row: Logits, token: int, top_n: int) -> Any:
        return self._inner.logprob(row, token, top_n)

    def forget(self, seq: int, start: int = 0) -> bool:
        script = self._scripts.get(seq)
        if script is not None and script.crash_engine:
            del self._scripts[seq]  # once: the restarted engine's clean-up must succeed
            if self._faults.crash_log:
                with open(self._faults.crash_log, "a", encoding="utf-8") as log:
                    log.write(f"{time.monotonic()}\n")
            raise InjectedEngineCrash("injected engine-thread failure")
        return self._inner.forget(seq, start)

    def share(self, source: int, target: int, length: int) -> bool:
        return self._inner.share(source, target, length)

    def embed(self, token_lists: list[list[int]]) -> list[list[float]]:
        return self._inner.embed(token_lists)

    def close(self) -> None:
        self._inner.close()
        if self._log_fd is not None:
            os.close(self._log_fd)


def scripted_engine_factory(faults: Faults) -> Callable[[ModelConfig, ServerConfig], Any]:
    """An `EngineFactory`: the product's BatchingEngine over a ScriptedBackend."""

    def factory(model: ModelConfig, config: ServerConfig) -> BatchingEngine:
        options = llama_options(model, batch_invariant=config.batch_invariant)
        return BatchingEngine(
            lambda: ScriptedBackend(LlamaBackend(options), faults),
            max_queue=config.max_queue,
            stream_buffer=config.stream_buffer,
            stall_timeout=config.stream_stall_timeout,
        )

    return factory
