"""The request logic shared by all user classes: build bodies, time streams, report results.

Every outcome is reported twice: to Locust (so the web UI, --csv and --html show it) and to the
raw-sample recorder (exact percentiles, token counts, shed counts for the summary and SLO gate).

Closed loop (the default): a user sends one request, waits for the whole answer, sends the next.
Open loop (``--arrival``): a user is a dispatcher (``_open_loop.Dispatcher``) and each request runs
in its own greenlet, sent when the schedule says so.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.lock
from locust import FastHttpUser

from inferno.content_encoding import body_decoder
from inferno.sse import SSEParser
from inferno.urls import server_root

from ._body import discard, read_some
from ._conversation import Turn, conversation_turns, with_prefix
from ._open_loop import Dispatcher
from ._prompts import Prompt, estimate_tokens
from ._recorder import RECORDER
from ._run_state import RUN
from ._settings import SETTINGS
from ._shed import SHED_STATUSES, shed_backoff_s
from ._stream_meter import StreamMeter, StreamResult, cached_tokens
from ._trace import TraceEntry, trace_prompt
from ._window import Live

log = logging.getLogger(__name__)

MAX_STREAM_READS = 10_000_000

_model_lock = gevent.lock.Semaphore()
_discovered_model: str | None = None


def discovered_model() -> str | None:
    """The model id found via /v1/models in this process, if discovery ran."""
    return _discovered_model


def _error_text(resp: Any) -> str:
    try:
        body = resp.json()
        message = body["error"]["message"]
    except Exception:  # any non-envelope body: show its start
        try:
            message = (resp.text or "")[:120]
        except Exception:
            message = ""
    return f"HTTP {resp.status_code}: {str(message)[:120]}"


class LLMUser(FastHttpUser):
    """Closed loop: one request in flight per user (users == concurrency); or an open-loop
    dispatcher when the run has an arrival schedule."""

    abstract = True
    network_timeout = 300.0
    connection_timeout = 30.0
    concurrency = 10  # connections of this user's pool; open loop raises it to --max-in-flight

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # --host may be given as the SDK's base URL (…/v1); the request paths carry /v1 already.
        self.client.base_url = server_root(self.client.base_url)
        self.dispatcher: Dispatcher | None = None
        self.rng = random.Random()

    def on_start(self) -> None:
        RUN.users_started += 1
        # With --seed, what each user sends is reproducible (the n-th user of the n-th process).
        self.rng = random.Random(f"{RUN.share.seed}:{RUN.share.index}:{RUN.users_started}")
        self.model = SETTINGS.model or self._discover_model()
        self.dispatcher = Dispatcher(RUN.open_loop) if RUN.open_loop is not None else None

    def wait_time(self) -> float:
        return self.dispatcher.wait_time() if self.dispatcher is not None else 0.0

    def on_stop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.loop.drain(self.environment.stop_timeout or 0.0)

    # -- open or closed loop ---------------------------------------------------------------

    def _ready(self) -> bool:
        """False only in open loop, in the task that runs before the first arrival is due."""
        return self.dispatcher is None or self.dispatcher.holds_arrival

    def _send(self, name: str, request: Callable[[], object]) -> None:
        if self.dispatcher is None:
            request()
        else:
            self.dispatcher.send(name, request)

    def _back_off(self, seconds: float | None) -> None:
        """After a shed answer a closed-loop user waits; open-loop arrivals keep their schedule."""
        if seconds and self.dispatcher is None:
            gevent.sleep(seconds)

    # -- helpers ---------------------------------------------------------------------------

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        headers["Accept"] = "text/event-stream" if stream else "application/json"
        if SETTINGS.api_key:
            headers["Authorization"] = f"Bearer {SETTINGS.api_key}"
        return headers

    def _discover_model(self) -> str:
        global _discovered_model
        with _model_lock:  # one GET per process, not one per user
            if _discovered_model is None:
                with self.client.get(
                    "/v1/models", headers=self._headers(False), catch_response=True
                ) as resp:
                    try:
                        _discovered_model = str(resp.json()["data"][0]["id"])
                    except Exception:
                        resp.failure(
                            f"cannot discover a model from /v1/models ({resp.status_code})"
                        )
                        log.error("no --model given and /v1/models gave none; using 'default'")
                        _discovered_model = "default"
            return _discovered_model

    def _fire(self, kind: str, name: str, ms: float) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=ms,
            response_length=0,
            exception=None,
            context={},
        )

    def _shed(self, resp: Any, name: str) -> float | None:
        """If the server shed this request, report it as such and return the backoff."""
        if resp.status_code not in SHED_STATUSES:
            return None
        _ = resp.content  # drain the body so the connection can be reused
        resp.request_meta["request_type"] = "SHED"
        resp.success()
        RECORDER.shed(name, resp.status_code)
        return shed_backoff_s(resp.headers.get("retry-after"), SETTINGS.max_retry_after)

    @staticmethod
    @contextlib.contextmanager
    def _tracked() -> Iterator[Live]:
        """One request in flight, so that the load window can credit it if the end cuts it off."""
        live = RECORDER.begin(time.perf_counter())
        try:
            yield live
        except BaseException:  # Locust kills users at the end with GreenletExit
            RECORDER.cut_off(live, time.perf_counter())
            raise
        finally:
            RECORDER.window.forget(live)

    def _fail(self, resp: Any, name: str, reason: str) -> None:
        resp.failure(reason)
        RECORDER.error(name, reason)

    def stream_meter(self, start: float, *, keep_answer: bool = False) -> StreamMeter:
        """What times this user's streams (chat and completions chunks by default)."""
        return StreamMeter(start, keep_answer=keep_answer)

    def _traced(self) -> TraceEntry | None:
        """The trace request this open-loop arrival replays, if the run replays a trace."""
        payload = self.dispatcher.payload if self.dispatcher is not None else None
        return payload if isinstance(payload, TraceEntry) else None

    def _next_prompt(self) -> Prompt:
        traced = self._traced()
        if traced is not None:
            return trace_prompt(traced, RUN.share.seed)
        return SETTINGS.pick_prompt(self.rng)

    def _body(self, prompt_kind: str, stream: bool) -> dict[str, Any]:
        prompt = self._next_prompt()
        if prompt_kind == "chat":
            return self._generation_body(list(prompt.messages), prompt.max_tokens, stream)
        if prompt_kind == "completion":
            text = f"{SETTINGS.prefix}\n\n{prompt.text}" if SETTINGS.prefix else prompt.text
            return self._generation_body(text, prompt.max_tokens, stream)
        return {"model": self.model, "input": prompt.text, **SETTINGS.extra_body}

    def _generation_body(
        self, prompt: list[dict[str, str]] | str, max_tokens: int | None, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if isinstance(prompt, str):
            body["prompt"] = prompt
        else:
            body["messages"] = with_prefix(prompt, SETTINGS.prefix)
        body["max_tokens"] = max_tokens or SETTINGS.max_tokens
        body["temperature"] = SETTINGS.temperature
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return {**body, **SETTINGS.extra_body}

    # -- request kinds (what the tasks call) -----------------------------------------------

    def generate(self, path: str, prompt_kind: str, name: str) -> None:
        """Non-streamed chat or completion: latency is the whole response."""
        if self._ready():
            body = self._body(prompt_kind, stream=False)
            self._send(name, lambda: self._generate(path, body, name))

    def embed(self, name: str = "embeddings") -> None:
        if self._ready():
            body = self._body("embedding", stream=False)
            self._send(name, lambda: self._embed(body, name))

    def stream(self, path: str, prompt_kind: str, name: str) -> None:
        """Streamed chat or completion, timed event by event."""
        if self._ready():
            body = self._body(prompt_kind, stream=True)
            traced = self._traced()
            turn = traced.turn if traced is not None else None  # a traced session's request
            self._send(name, lambda: self._stream(path, body, name, turn=turn))

    def converse(self, name: str = "conversation") -> None:
        """One conversation of --turns streamed chat turns, each sending the whole history."""
        if self._ready():
            turns = conversation_turns(SETTINGS.pick_prompt(self.rng), self.rng)
            self._send(name, lambda: self._converse(turns, name))

    # -- the requests themselves -----------------------------------------------------------

    def _converse(self, turns: list[Turn], name: str) -> None:
        history: list[dict[str, str]] = []
        for number, (messages, max_tokens) in enumerate(turns, 1):
            history.extend(messages)
            body = self._generation_body(history, max_tokens, stream=True)
            result = self._stream("/v1/chat/completions", body, name, turn=number)
            if result is None:
                return  # without the answer there is no history to continue
            history.append({"role": "assistant", "content": result.answer_text})

    def _generate(self, path: str, body: dict[str, Any], name: str) -> None:
        backoff = None
        with (
            self._tracked() as live,
            self.client.post(
                path, json=body, name=name, headers=self._headers(False), catch_response=True
            ) as resp,
        ):
            backoff = self._shed(resp, name)
            if backoff is None:
                self._check_generation(resp, name, live)
        self._back_off(backoff)

    def _check_generation(self, resp: Any, name: str, live: Live) -> None:
        if resp.status_code != 200:
            self._fail(resp, name, _error_text(resp))
            return
        try:
            payload = resp.json()
            choice = payload["choices"][0]
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else choice.get("text")
            finish = choice.get("finish_reason")
        except Exception:
            self._fail(resp, name, "response is not a completion object")
            return
        if not finish:
            self._fail(resp, name, "response without a finish_reason")
            return
        usage = payload.get("usage") or {}
        tokens = usage.get("completion_tokens")
        from_usage = isinstance(tokens, int)
        if not from_usage:
            # No usage block: a rough 4-characters-per-token estimate, flagged in the summary.
            tokens = estimate_tokens(text or "")
        resp.success()
        RECORDER.ok(
            name,
            e2e_s=resp.request_meta["response_time"] / 1000.0,
            output_tokens=tokens,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            tokens_from_usage=from_usage,
            cached_tokens=cached_tokens(usage) if isinstance(usage, dict) else None,
            live=live,
        )

    def _embed(self, body: dict[str, Any], name: str) -> None:
        backoff = None
        with (
            self._tracked() as live,
            self.client.post(
                "/v1/embeddings",
                json=body,
                name=name,
                headers=self._headers(False),
                catch_response=True,
            ) as resp,
        ):
            backoff = self._shed(resp, name)
            if backoff is None:
                if resp.status_code != 200:
                    self._fail(resp, name, _error_text(resp))
                else:
                    try:
                        payload = resp.json()
                        vector = payload["data"][0]["embedding"]
                        ok = isinstance(vector, list | str) and len(vector) > 0
                    except Exception:
                        ok, payload = False, {}
                    if not ok:
                        self._fail(resp, name, "response has no embedding")
                    else:
                        resp.success()
                        usage = payload.get("usage") or {}
                        RECORDER.ok(
                            name,
                            e2e_s=resp.request_meta["response_time"] / 1000.0,
                            prompt_tokens=int(usage.get("prompt_tokens") or 0),
                            live=live,
                        )
        self._back_off(backoff)

    def _stream(
        self, path: str, body: dict[str, Any], name: str, turn: int | None = None
    ) -> StreamResult | None:
        """The result of a successful stream, or None (failed or shed: already reported)."""
        backoff = result = None
        with (
            self._tracked() as live,
            self.client.post(
                path,
                json=body,
                name=name,
                headers=self._headers(True),
                stream=True,
                catch_response=True,
            ) as resp,
        ):
            backoff = self._shed(resp, name)
            if backoff is None:
                result = self._consume_stream(resp, name, live, turn)
        self._back_off(backoff)
        return result

    def _consume_stream(
        self, resp: Any, name: str, live: Live, turn: int | None
    ) -> StreamResult | None:
        start = live.start
        if resp.status_code != 200:
            self._fail(resp, name, _error_text(resp))
            return None
        content_type = (resp.headers.get("content-type") or "").lower()
        if not content_type.startswith("text/event-stream"):
            _ = resp.content
            self._fail(resp, name, f"stream answered with Content-Type {content_type!r}")
            return None
        meter = self.stream_meter(start, keep_answer=turn is not None)
        result = live.stream = meter.result
        parser = SSEParser()
        raw = resp.stream
        deadline = start + SETTINGS.request_timeout
        try:
            decode = body_decoder(resp.headers.get("content-encoding"))
            for _ in range(MAX_STREAM_READS):
                chunk = read_some(raw)
                now = time.perf_counter()
                if not chunk:
                    parser.close()
                    break
                for event in parser.feed(decode(chunk)):
                    meter.on_data(event.data, now)
                if result.error:
                    break
                if now > deadline:
                    result.error = f"stream exceeded --request-timeout {SETTINGS.request_timeout}s"
                    break
        except Exception as exc:  # socket errors, bad UTF-8, bad compression: a failed stream
            result.error = result.error or f"{type(exc).__name__}: {exc}"[:160]
        finally:
            if not raw.message_complete:
                discard(raw)
        result.end_at = time.perf_counter()
        end = result.done_at if result.done_at is not None else result.end_at
        resp.request_meta["response_time"] = (end - start) * 1000.0
        resp.request_meta["response_length"] = parser.bytes_seen
        reason = result.failure()
        if reason:
            self._fail(resp, name, reason)
            return None
        resp.success()
        self._record_stream(name, result, live, turn)
        return result

    def _record_stream(
        self, name: str, result: StreamResult, live: Live, turn: int | None = None
    ) -> None:
        """A successful stream's timings: Locust's TTFT, ITL and TPOT entries and the summary's."""
        ttft, tpot = result.ttft_s, result.tpot_s
        if ttft is not None:
            self._fire("TTFT", name, ttft * 1000.0)
        for gap in result.itl_s:
            self._fire("ITL", name, gap * 1000.0)
        if tpot is not None:
            self._fire("TPOT", name, tpot * 1000.0)
        RECORDER.ok(
            name,
            e2e_s=result.e2e_s or 0.0,
            output_tokens=result.output_tokens,
            prompt_tokens=result.usage_prompt_tokens or 0,
            tokens_from_usage=result.tokens_from_usage,
            ttft_s=ttft,
            itl_s=result.itl_s,
            tpot_s=tpot,
            cached_tokens=result.usage_cached_tokens,
            reasoning_ttft_s=result.reasoning_ttft_s,
            answer_ttft_s=result.answer_ttft_s,
            turn=turn,
            live=live,
        )
