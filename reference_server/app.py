"""The Sanic application: routes, auth, metrics and the error envelope for every failure."""

from __future__ import annotations

import asyncio
import hmac
import logging
import sys
import time

from sanic import Request, Sanic, json
from sanic.exceptions import HTTPException, RequestCancelled, SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse

import specs

from . import accounting, engine_health, flow
from .compression import compress_body, is_compressible, negotiate
from .config import ServerConfig
from .engine import BATCH_TOKEN_BUCKETS, EngineNotReady, QueueFull
from .errors import ApiError, InferenceFailed
from .metrics import Metrics
from .registry import EngineFactory, ModelRegistry
from .responses_store import ResponseStore
from .routes import (
    chat,
    completions,
    embeddings,
    models,
    ops,
    responses,
    responses_compact,
    responses_ws,
    websocket,
)

log = logging.getLogger("reference_server")
LOAD_POLL_S = 0.05  # how often the load watcher looks at models still loading


class EnvelopeErrorHandler(ErrorHandler):
    """Answers every failure, Sanic's own included, with the OpenAI envelope."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        error = to_api_error(exception)
        if isinstance(exception, RequestCancelled):
            # A client that hangs up is not a server error: no alert should fire for it.
            log.info("client closed the connection: %s %s", request.method, request.path)
        elif error.status >= 500 and not isinstance(exception, ApiError | QueueFull):
            log.error("request failed: %r", exception, exc_info=exception)
        return json(error.envelope(), status=error.status, headers=error.headers)


def to_api_error(exception: BaseException) -> ApiError:
    if isinstance(exception, ApiError):
        return exception
    if isinstance(exception, RequestCancelled):
        # Nobody receives this answer; its status marks the request as cancelled in /metrics.
        return ApiError(
            accounting.CLIENT_CLOSED_REQUEST,
            "The client closed the connection before the response.",
            code="client_closed_request",
            error_type="invalid_request_error",
        )
    if isinstance(exception, QueueFull):
        return ApiError(
            429,
            f"The server is at capacity ({exception}); retry later.",
            code="queue_full",
            headers={"Retry-After": str(flow.retry_after_seconds(exception.worker))},
        )
    if isinstance(exception, EngineNotReady):
        return ApiError(
            503, "The model is still loading.", code="model_loading", headers={"Retry-After": "1"}
        )
    if isinstance(exception, InferenceFailed):
        return ApiError(500, f"inference failed: {exception}", code="inference_failed")
    if isinstance(exception, HTTPException):
        status = exception.status_code
        message = str(exception) or "request failed"
        if status == 404:
            message = "Unknown route. See /openapi.json for the routes this server serves."
        elif status == 405:
            message = f"Method not allowed: {exception}"
        return ApiError(status, message)
    if isinstance(exception, SanicException) and 400 <= exception.status_code < 500:
        # A WebSocket route asked for without an upgrade: the handshake's own refusal (426).
        return ApiError(
            exception.status_code,
            str(exception).strip().splitlines()[0],
            code="websocket_upgrade_required" if exception.status_code == 426 else None,
            error_type="invalid_request_error",
        )
    return ApiError(500, "inference failed: internal error", code="internal_error")


def create_app(
    config: ServerConfig, name: str = "inferno", *, engine_factory: EngineFactory | None = None
) -> Sanic:
    """The app. `engine_factory` replaces the llama.cpp engine behind the boundary (tests)."""
    app = Sanic(name, error_handler=EnvelopeErrorHandler())
    app.config.REQUEST_MAX_SIZE = config.max_body_bytes
    app.config.REQUEST_MAX_HEADER_SIZE = config.max_header_bytes
    app.config.RESPONSE_TIMEOUT = config.request_timeout + 5
    app.config.REQUEST_TIMEOUT = 60
    app.config.KEEP_ALIVE_TIMEOUT = 30
    app.config.NOISY_EXCEPTIONS = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.config = config
    app.ctx.exit_code = 0  # what `serve` returns once the server stops
    app.ctx.metrics = Metrics()
    app.ctx.registry = ModelRegistry(config, engine_factory=engine_factory)
    app.ctx.responses = ResponseStore(config.responses_store)
    _describe_metrics(app.ctx.metrics)
    accounting.describe(app.ctx.metrics)
    app.ctx.metrics.add_gauges(lambda: _load_gauges(app.ctx.registry))
    engine_health.describe_metrics(app.ctx.metrics)
    app.ctx.metrics.add_gauges(lambda: engine_health.samples(app.ctx.registry))

    app.add_route(models.list_models, "/v1/models", methods=["GET"])
    app.add_route(models.retrieve_model, "/v1/models/<model:path>", methods=["GET"])
    app.add_route(chat.chat_completions, "/v1/chat/completions", methods=["POST"])
    app.add_route(completions.completions, "/v1/completions", methods=["POST"])
    app.add_route(embeddings.embeddings, "/v1/embeddings", methods=["POST"])
    app.add_route(responses.create_response, "/v1/responses", methods=["POST"])
    app.add_route(responses.count_input_tokens, "/v1/responses/input_tokens", methods=["POST"])
    app.add_route(responses_compact.compact_response, "/v1/responses/compact", methods=["POST"])
    app.add_route(responses.retrieve_response, "/v1/responses/<response_id>", methods=["GET"])
    app.add_route(responses.delete_response, "/v1/responses/<response_id>", methods=["DELETE"])
    app.add_route(
        responses.list_input_items, "/v1/responses/<response_id>/input_items", methods=["GET"]
    )
    app.add_route(ops.health, "/health", methods=["GET"])
    app.add_route(ops.metrics, "/metrics", methods=["GET"])
    app.add_route(ops.openapi, "/openapi.json", methods=["GET"])
    app.add_websocket_route(websocket.chat_ws, "/v1/chat/completions/ws")
    app.add_websocket_route(websocket.completions_ws, "/v1/completions/ws")
    app.add_websocket_route(responses_ws.responses_ws, "/v1/responses")

    @app.before_server_start
    async def _start_models(app: Sanic) -> None:
        app.ctx.registry.start()
        # Parse the spec and compile the validators now, not on the first request.
        for operation in (
            "createChatCompletion",
            "createCompletion",
            "createEmbedding",
            "createResponse",
        ):
            specs.request_validator(operation, config.validation_profile)

    @app.after_server_start
    async def _watch_loads(app: Sanic) -> None:
        app.add_task(_report_load_failures(app), name="inferno-load-watch")
        app.add_task(engine_health.watch_engine_faults(app), name="inferno-engine-watch")

    @app.after_server_stop
    async def _stop_models(app: Sanic) -> None:
        app.ctx.registry.stop()

    @app.on_request
    async def _authenticate(request: Request) -> HTTPResponse | None:
        request.ctx.started = time.monotonic()
        request.ctx.model_id = ""
        accounting.start(request)
        keys = config.api_keys
        if keys and request.path.startswith("/v1/") and not _authorized(request, keys):
            error = ApiError(
                401,
                "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.",
                code="invalid_api_key",
            )
            return json(error.envelope(), status=401)
        return None

    @app.on_response
    async def _finish(request: Request, response: HTTPResponse) -> None:
        route = request.route.path if request.route else "unmatched"
        app.ctx.metrics.inc(
            "inferno_requests_total", route="/" + route.lstrip("/"), status=str(response.status)
        )
        accounting.on_response(request, response.status, response.content_type)
        state, _ = flow.server_state(m.worker for m in app.ctx.registry)
        response.headers[flow.STATE_HEADER] = state
        _compress(request, response, config.compression_min_bytes)

    return app


async def _report_load_failures(app: Sanic) -> None:
    """Says why a model failed to load. A server with only that model has nothing to serve: it
    stops with exit code 1, as llama-server does; beside other models, the failure is logged and
    shown in /health, and requests naming it get a 503 with the reason."""
    # Sanic only stops cleanly once it serves: a stop during its startup events is lost.
    while not app.state.is_running:
        await asyncio.sleep(LOAD_POLL_S)
    models = list(app.ctx.registry)
    pending = list(models)
    while pending:
        for served in list(pending):
            worker = served.worker
            error = worker.load_error
            if error is None and not worker.ready:
                continue
            pending.remove(served)
            if error is None:
                continue
            if len(models) == 1:
                print(
                    f"error: model '{served.model_id}' failed to load: {error}",
                    file=sys.stderr,
                    flush=True,
                )
                app.ctx.exit_code = 1
                app.stop()
                return
            log.error("model '%s' failed to load: %s", served.model_id, error)
        if pending:
            await asyncio.sleep(LOAD_POLL_S)


def _compress(request: Request, response: HTTPResponse, min_bytes: int) -> None:
    """Compresses a whole body per Accept-Encoding; streams compress themselves per event."""
    body = response.body
    if not body or "content-encoding" in response.headers:
        return
    if not is_compressible(response.content_type):
        return
    response.headers["Vary"] = "Accept-Encoding"
    if len(body) < min_bytes:
        return
    coding = negotiate(request.headers.get("accept-encoding"))
    if coding == "identity":
        return
    response.body = compress_body(body, coding)
    response.headers["Content-Encoding"] = coding
    response.headers["Content-Length"] = str(len(response.body))


def _authorized(request: Request, keys: tuple[str, ...]) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    supplied = token.strip().encode()
    # Compare against every key so the time taken does not reveal which one matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(supplied, key.encode())
    return matched


def _describe_metrics(metrics: Metrics) -> None:
    metrics.describe("inferno_requests_total", "counter", "HTTP requests by route and status")
    metrics.describe("inferno_prompt_tokens_total", "counter", "Prompt tokens processed")
    metrics.describe("inferno_completion_tokens_total", "counter", "Completion tokens generated")
    metrics.describe(
        "inferno_time_to_first_token_seconds", "histogram", "Time to the first generated text"
    )
    metrics.describe("inferno_queue_depth", "gauge", "Requests waiting for a model")
    metrics.describe("inferno_running_requests", "gauge", "Sequences given to requests")
    metrics.describe(
        "inferno_cancelled_requests_total", "counter", "Generations cancelled (disconnect, stall)"
    )
    metrics.describe("inferno_utilisation", "gauge", "(running + queued) / capacity per model")
    metrics.describe("inferno_load_state", "gauge", "1 for the current load state")
    metrics.describe("inferno_sequences", "gauge", "KV sequences by state (busy, idle)")
    metrics.describe("inferno_decode_steps_total", "counter", "llama_decode calls for generation")
    metrics.describe(
        "inferno_batch_tokens", "histogram", "Tokens per decode step (decode + prompt chunks)"
    )
    metrics.describe("inferno_prompt_tokens_evaluated_total", "counter", "Prompt tokens decoded")
    metrics.describe(
        "inferno_prompt_tokens_reused_total",
        "counter",
        "Prompt tokens served from cached KV cells instead of decoded",
    )


def _load_gauges(registry: ModelRegistry):
    for served in registry:
        labels = (("model", served.model_id),)
        worker = served.worker
        yield "inferno_queue_depth", labels, worker.queued
        yield "inferno_running_requests", labels, worker.running
        yield "inferno_cancelled_requests_total", labels, worker.cancelled_jobs
        yield "inferno_utilisation", labels, round(flow.utilisation(worker), 4)
    state, _ = flow.server_state(m.worker for m in registry)
    for name in (flow.HEALTHY, flow.MODERATE, flow.CRITICAL):
        yield "inferno_load_state", (("state", name),), 1 if name == state else 0
    yield from _engine_samples(registry)


def _engine_samples(registry: ModelRegistry):
    engines = [(served.model_id, served.worker.stats()) for served in registry]
    for model_id, stats in engines:
        yield "inferno_sequences", (("model", model_id), ("state", "busy")), stats.busy_sequences
        yield "inferno_sequences", (("model", model_id), ("state", "idle")), stats.idle_sequences
    for name, field in (
        ("inferno_decode_steps_total", "decode_steps"),
        ("inferno_prompt_tokens_evaluated_total", "prompt_tokens_evaluated"),
        ("inferno_prompt_tokens_reused_total", "prompt_tokens_reused"),
    ):
        for model_id, stats in engines:
            yield name, (("model", model_id),), getattr(stats, field)
    for model_id, stats in engines:
        bounds = [str(b) for b in BATCH_TOKEN_BUCKETS] + ["+Inf"]
        for bound, count in zip(bounds, stats.batch_token_buckets, strict=True):
            yield "inferno_batch_tokens_bucket", (("model", model_id), ("le", bound)), count
        labels = (("model", model_id),)
        yield "inferno_batch_tokens_sum", labels, stats.batch_tokens_total
        yield "inferno_batch_tokens_count", labels, stats.decode_steps
