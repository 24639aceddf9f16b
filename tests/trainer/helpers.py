"""Helpers of the trainer's tests, shared by files that run in different environments (bot/tools/run_tests.py)."""

from __future__ import annotations

from typing import Any


def report(accuracy: float, errors: list[tuple[str, str]], per_item: dict[str, Any] | None = None) -> dict[str, Any]:
    """An evaluation report as bot.tools.evaluate writes it, with the given accuracy and misread questions."""
    return {
        "item_accuracy": accuracy,
        "general_accuracy": 0.9,
        "examples": 10,
        "per_item": per_item or {"passport-renewal": {"total": 4, "right": int(accuracy * 4)}},
        "errors": [{"expected": e, "text": t} for e, t in errors],
        "confusions": [{"expected": "passport-renewal", "got": "passport-reissue-lost", "count": 1}],
    }
