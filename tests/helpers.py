"""Helpers the test modules share (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any


def bounded_hypothesis():
    """Property tests in CI: a fixed number of examples, repeatable, no timing deadline."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def make_tracker(
    text: str = "",
    intent: str | None = None,
    confidence: float = 0.9,
    ranking: list[tuple[str, float]] | None = None,
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    sender_id: str = "test-user",
    metadata: dict[str, Any] | None = None,
):
    """A tracker built like Rasa builds them for the action server (`metadata`: the message's, as the desk sends it)."""
    from rasa_sdk import Tracker

    ranking_entries = [{"name": name, "confidence": value} for name, value in (ranking or [(intent, confidence)])]
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence} if intent else {},
        "intent_ranking": ranking_entries if intent else [],
        "entities": entities or [],
        **({"metadata": metadata} if metadata is not None else {}),
    }
    # Rasa sends the user's event with its metadata too; the desk's `client` is read from there.
    events = [{"event": "user", "text": text, "metadata": metadata}] if metadata is not None else []
    return Tracker(sender_id, dict(slots or {}), latest, events, False, None, {}, "action_listen")


def run_action(action, tracker):
    """Runs an action; returns (events, messages) as rasa-sdk would send them."""
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return events, dispatcher.messages


def slot_events(events) -> dict[str, Any]:
    return {event["name"]: event["value"] for event in events if event.get("event") == "slot"}


def rest(stack, sender: str, text: str, **extra: Any) -> Any:
    """Posts to the REST webhook; returns the bot's messages (or the channel's object with `with_nlu`)."""
    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text, **extra}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())
