"""One base-URL convention for every tool: `http://host:port` and `http://host:port/v1` alike.

Users copy the URL they give the OpenAI SDK (`…/v1`) into every tool; some tools want the server
root. Each tool normalises what it is given with these two functions, so both forms mean the same.
"""

from __future__ import annotations

__all__ = ["api_base", "server_root"]

_API_PREFIX = "/v1"


def server_root(url: str) -> str:
    """`http://host:port` (no trailing slash, no `/v1`) from either form."""
    root = url.strip().rstrip("/")
    if root.endswith(_API_PREFIX):
        root = root[: -len(_API_PREFIX)].rstrip("/")
    return root


def api_base(url: str) -> str:
    """`http://host:port/v1`, the OpenAI SDK's `base_url`, from either form."""
    return server_root(url) + _API_PREFIX
