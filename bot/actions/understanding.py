"""What the NLU made of the latest message, read from a tracker."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from bot.knowledge import item_for

# Tuned on the development set (tests/data/nlu_dev.yml, never on the test set): answer when the top
# item is this sure, or this far ahead of the next one; otherwise offer choices.
ANSWER_CONFIDENCE = 0.35
ANSWER_MARGIN = 0.15
CANDIDATE_FLOOR = 0.05
MAX_CANDIDATES = 3


def latest_entities(tracker: Tracker, entity: str) -> list[str]:
    return [e["value"] for e in tracker.latest_message.get("entities", []) if e.get("entity") == entity]


def latest_aspect(tracker: Tracker) -> str | None:
    aspects = latest_entities(tracker, "aspect")
    return aspects[0] if aspects else None


def client_of(tracker: Tracker) -> str | None:
    """The desk's hashed client address, sent as metadata with the user's message."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            client = (event.get("metadata") or {}).get("client")
            return client if isinstance(client, str) else None
    return None


def latest_place(tracker: Tracker) -> str | None:
    places = latest_entities(tracker, "place")
    return places[0] if places else None


def item_ranking(tracker: Tracker) -> list[tuple[str, float]]:
    """(item id, confidence) for the item intents of the latest message, best first."""
    ranking = tracker.latest_message.get("intent_ranking") or []
    if not ranking and tracker.latest_message.get("intent"):
        ranking = [tracker.latest_message["intent"]]
    pairs = [(item_for(entry.get("name")), float(entry.get("confidence") or 0.0)) for entry in ranking]
    return [(item, confidence) for item, confidence in pairs if item]


def is_clear(ranking: list[tuple[str, float]]) -> bool:
    if not ranking:
        return False
    top = ranking[0][1]
    second = ranking[1][1] if len(ranking) > 1 else 0.0
    return top >= ANSWER_CONFIDENCE or top - second >= ANSWER_MARGIN


def candidates(ranking: list[tuple[str, float]]) -> list[str]:
    return [item for item, confidence in ranking if confidence >= CANDIDATE_FLOOR][:MAX_CANDIDATES]


def understood(tracker: Tracker) -> dict[str, Any]:
    """What the bot understood so far, without personal data (for the clerk)."""
    intent = tracker.latest_message.get("intent") or {}
    return {
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0.0), 3),
        "guide_item": tracker.get_slot("guide_item"),
        "aspect": tracker.get_slot("aspect"),
        "candidates": [item for item, _ in item_ranking(tracker)[:MAX_CANDIDATES]],
    }
