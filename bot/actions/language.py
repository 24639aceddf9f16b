"""The conversation's language in the actions, and bot messages that carry it.

Every bot message says its language in `custom.language`, so the desk, the widget and the
evaluations know what was answered in, and its text comes from the message catalog
(knowledge/messages/<code>.yml) or from the guide in that language.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.i18n import load_languages, load_messages

LANGUAGE_SLOT = "language"


def _latest(tracker: Tracker, entity: str) -> str | None:
    values = [e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == entity]
    return values[0] if values else None


def conversation_language(tracker: Tracker) -> str:
    """What this message is answered in: the message's clear language, else the conversation's,
    else the message's best guess (or the widget's locale), else the default."""
    languages = load_languages()
    for candidate in (
        _latest(tracker, "language"),
        tracker.get_slot(LANGUAGE_SLOT),
        _latest(tracker, "language_guess"),
    ):
        code = languages.normalise(candidate)
        if code:
            return code
    return languages.default


def remember_language(tracker: Tracker, language: str) -> list[EventType]:
    """Keep the language on the conversation once a message has decided or guessed it (a
    conversation with no clue yet keeps no language, and is answered in the default one)."""
    if tracker.get_slot(LANGUAGE_SLOT) == language:
        return []
    if not (_latest(tracker, "language") or _latest(tracker, "language_guess")):
        return []
    return [SlotSet(LANGUAGE_SLOT, language)]


def say(key: str, language: str, **values: object) -> str:
    return load_messages().text(key, language, **values)


class Reply:
    """Bot messages in one language, each with `custom.language`."""

    def __init__(self, dispatcher: CollectingDispatcher, tracker: Tracker):
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.language = conversation_language(tracker)

    def say(self, key: str, **values: object) -> str:
        return say(key, self.language, **values)

    def button(self, key: str, payload: str) -> dict[str, str]:
        return {"title": self.say(key), "payload": payload}

    def send(self, text: str, buttons: list[dict[str, Any]] | None = None, **custom: Any) -> None:
        self.dispatcher.utter_message(
            text=text, buttons=buttons or [], json_message={**custom, "language": self.language}
        )

    def events(self) -> list[EventType]:
        return remember_language(self.tracker, self.language)
