"""Greetings, thanks and goodbyes, unless the conversation says the message is more.

Short replies in a conversation about an item ("我在荷兰", "丢了", "继承的") are
often taken for small talk by the classifier alone; in context they state a
circumstance or pick an offered item, and are answered as such.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.guide import respond_in_context

RESPONSES = {
    "greet": "utter_greet",
    "goodbye": "utter_goodbye",
    "thank": "utter_you_are_welcome",
    "bot_challenge": "utter_iamabot",
}


class ActionSocial(Action):
    def name(self) -> str:
        return "action_social"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        in_context = respond_in_context(dispatcher, tracker, strong_only=True, short_reply=True)
        if in_context is not None:
            return in_context
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        dispatcher.utter_message(response=RESPONSES.get(intent or "", "utter_how_can_i_help"))
        return []
