"""Embedding requests on the engine thread: every waiting one in one pass, so that concurrent
requests share decodes."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from .backend import Backend


@dataclass(eq=False)
class EmbedJob:
    token_lists: list[list[int]]
    future: asyncio.Future[list[list[float]]]
    loop: asyncio.AbstractEventLoop


def run_embeddings(backend: Backend, jobs: list[EmbedJob]) -> None:
    live = [j for j in jobs if not j.future.cancelled()]
    flat = [tokens for job in live for tokens in job.token_lists]
    try:
        vectors = backend.embed(flat) if flat else []
    except Exception as exc:
        for job in live:
            resolve(job, None, exc)
        return
    start = 0
    for job in live:
        end = start + len(job.token_lists)
        resolve(job, vectors[start:end], None)
        start = end


def resolve(job: EmbedJob, vectors: Any, error: BaseException | None) -> None:
    """Settles a job's future on its event loop (a no-op once settled)."""

    def settle() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(vectors)

    with contextlib.suppress(RuntimeError):  # a closed event loop: nobody is waiting
        job.loop.call_soon_threadsafe(settle)
