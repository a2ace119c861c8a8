"""Pieces of docs/reliability.md that more than one section's renderer uses."""

from __future__ import annotations


def cell(text: str, limit: int = 160) -> str:
    """`text` as one table cell: no pipes or line breaks, at most `limit` characters."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
