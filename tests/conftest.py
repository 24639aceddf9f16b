"""Shared fixtures: a seeded database and trackers built like Rasa builds them."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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


@pytest.fixture()
def database(tmp_path, monkeypatch):
    """A fresh SQLite database with the demo cases, used by the actions."""
    from bot.actions import resources
    from bot.db import seed

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    resources.database.cache_clear()
    db = resources.database()
    seed(db)
    yield db
    resources.database.cache_clear()


def make_tracker(
    text: str = "",
    intent: str | None = None,
    confidence: float = 0.9,
    ranking: list[tuple[str, float]] | None = None,
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    sender_id: str = "test-user",
):
    from rasa_sdk import Tracker

    ranking_entries = [{"name": name, "confidence": value} for name, value in (ranking or [(intent, confidence)])]
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence} if intent else {},
        "intent_ranking": ranking_entries if intent else [],
        "entities": entities or [],
    }
    return Tracker(sender_id, dict(slots or {}), latest, [], False, None, {}, "action_listen")


def run_action(action, tracker):
    """Runs an action; returns (events, messages) as rasa-sdk would send them."""
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return events, dispatcher.messages


def slot_events(events) -> dict[str, Any]:
    return {event["name"]: event["value"] for event in events if event.get("event") == "slot"}


# --- the real stack: Rasa server + action server ------------------------------------


@pytest.fixture(scope="session")
def trained_model():
    """The model for config.yml; Rasa retrains only when data or config changed."""
    from bot.tools.stack import train

    return train()


@pytest.fixture(scope="session")
def stack_database_url(tmp_path_factory) -> str:
    from bot.db import Database, seed

    url = f"sqlite:///{tmp_path_factory.mktemp('stack') / 'stack.db'}"
    seed(Database(url))
    return url


@pytest.fixture(scope="session")
def rasa_stack(trained_model, stack_database_url, tmp_path_factory):
    """A running action server and Rasa server on free loopback ports."""
    from bot.tools.stack import Stack

    stack = Stack(model=trained_model, database_url=stack_database_url, workdir=tmp_path_factory.mktemp("stack-var"))
    stack.start()
    yield stack
    stack.stop()


def rest(stack, sender: str, text: str) -> list[dict[str, Any]]:
    """Posts to the REST webhook; returns the bot's messages."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())
