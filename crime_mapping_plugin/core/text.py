"""Wording shared by the messages of every algorithm."""

from __future__ import annotations

from typing import Iterable


def short_list(items: Iterable[str], limit: int = 12) -> str:
    """Return items quoted and joined for a message, cut after limit with the number left."""
    items = list(items)
    text = ", ".join(f"'{i}'" for i in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")
