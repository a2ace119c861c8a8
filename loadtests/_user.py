"""The request logic shared by all user classes: build bodies, time streams, report results.

Every outcome is reported twice: to Locust (so the web UI, --csv and --html show it) and to the
raw-sample recorder (exact percentiles, token counts, shed counts for the summary and SLO gate).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import gevent
import gevent.lock
from locust import FastHttpUser, constant

from inferno.content_encoding import body_decoder
from inferno.sse import SSEParser
from inferno.urls import server_root

from ._body import discard, read_some
from ._recorder import RECORDER
from ._settings import SETTINGS
from ._shed import SHED_STATUSES, shed_backoff_s
from ._stream_meter import StreamMeter

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
    """Closed-loop user: one request in flight at a time, so users == concurrency."""

    abstract = True
    wait_time = constant(0)
    network_timeout = 300.0
    connection_timeout = 30.0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # --host may be given as the SDK's base URL (…/v1); the request paths carry /v1 already.
        self.client.base_url = server_root(self.client.base_url)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.model = SETTINGS.model or self._discover_model()

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

    def _fail(self, resp: Any, name: str, reason: str) -> None:
        resp.failure(reason)
        RECORDER.error(name, reason)

    def stream_meter(self, start: float) -> StreamMeter:
        """What times this user's streams (chat and completions chunks by default)."""
        return StreamMeter(start)

    def _body(self, prompt_kind: str, stream: bool) -> dict[str, Any]:
        prompt = SETTINGS.pick_prompt(self.rng)
        body: dict[str, Any] = {"model": self.model}
        if prompt_kind == "chat":
            body["messages"] = list(prompt.messages)
        elif prompt_kind == "completion":
            body["prompt"] = prompt.text
        else:
            body["input"] = prompt.text
            return {**body, **SETTINGS.extra_body}
        body["max_tokens"] = prompt.max_tokens or SETTINGS.max_tokens
        body["temperature"] = SETTINGS.temperature
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return {**body, **SETTINGS.extra_body}

    # -- request kinds ---------------------------------------------------------------------

    def generate(self, path: str, prompt_kind: str, name: str) -> None:
        """Non-streamed chat or completion: latency is the whole response."""
        body = self._body(prompt_kind, stream=False)
        backoff = None
        with self.client.post(
            path, json=body, name=name, headers=self._headers(False), catch_response=True
        ) as resp:
            backoff = self._shed(resp, name)
            if backoff is None:
                self._check_generation(resp, name)
        if backoff:
            gevent.sleep(backoff)

    def _check_generation(self, resp: Any, name: str) -> None:
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
            tokens = max(1, round(len(text or "") / 4))
        resp.success()
        RECORDER.ok(
            name,
            e2e_s=resp.request_meta["response_time"] / 1000.0,
            output_tokens=tokens,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            tokens_from_usage=from_usage,
        )

    def embed(self, name: str = "embeddings") -> None:
        body = self._body("embedding", stream=False)
        backoff = None
        with self.client.post(
            "/v1/embeddings",
            json=body,
            name=name,
            headers=self._headers(False),
            catch_response=True,
        ) as resp:
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
                        )
        if backoff:
            gevent.sleep(backoff)

    def stream(self, path: str, prompt_kind: str, name: str) -> None:
        """Streamed chat or completion, timed event by event."""
        body = self._body(prompt_kind, stream=True)
        backoff = None
        start = time.perf_counter()
        with self.client.post(
            path,
            json=body,
            name=name,
            headers=self._headers(True),
            stream=True,
            catch_response=True,
        ) as resp:
            backoff = self._shed(resp, name)
            if backoff is None:
                self._consume_stream(resp, name, start)
        if backoff:
            gevent.sleep(backoff)

    def _consume_stream(self, resp: Any, name: str, start: float) -> None:
        if resp.status_code != 200:
            self._fail(resp, name, _error_text(resp))
            return
        content_type = (resp.headers.get("content-type") or "").lower()
        if not content_type.startswith("text/event-stream"):
            _ = resp.content
            self._fail(resp, name, f"stream answered with Content-Type {content_type!r}")
            return
        meter = self.stream_meter(start)
        result = meter.result
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
            return
        resp.success()
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
        )
