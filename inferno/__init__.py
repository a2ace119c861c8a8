"""Plumbing the harness parts share, and the demo that drives them all.

Client side only: the suite (`compliance`), the load profiles (`loadtests`), the benchmarks and the
tests import from here; the reference server never does (it stands alone behind its HTTP API).

- `inferno.sse`: the one Server-Sent Events parser (incremental, strict, bounded).
- `inferno.content_encoding`: incremental decoders for `Content-Encoding` on the wire.
- `inferno.retry_after`: the one `Retry-After` parser.
- `inferno.stats`: the one percentile.
- `inferno.urls`: one base-URL convention (`http://host:port` and `http://host:port/v1` alike).
- `inferno.launcher`: one process launcher for servers under test.
- `inferno.demo`: `make demo`.
"""
