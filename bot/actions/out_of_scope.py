"""Questions the platform does not handle, and messages in a language it cannot read."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.guide import respond_in_context
from bot.actions.language import Reply
from bot.actions.understanding import latest_entities

# Below this, an "out of scope" message may be a circumstance in the conversation ("可我现在人在意大利"),
# not a question outside the platform ("明天巴黎天气怎么样" is far above it).
OUT_OF_SCOPE_SURE = 0.5


class ActionOutOfScope(Action):
    """Says kindly that the question is outside the platform, and where to go."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        # "我在南非，那边能办吗" can look out of scope alone; in a conversation about an item it is not.
        sure = float((tracker.latest_message.get("intent") or {}).get("confidence") or 0.0) >= OUT_OF_SCOPE_SURE
        in_context = respond_in_context(dispatcher, tracker, strong_only=True, short_reply=not sure)
        if in_context is not None:
            return in_context
        reply = Reply(dispatcher, tracker)
        text = reply.say("out_of_scope")
        if latest_entities(tracker, "place"):
            text += reply.say("out_of_scope.foreign_hint")
        text += reply.say("out_of_scope.what_we_do")
        reply.send(
            text,
            [
                reply.button("button.case_status", "/check_case_status"),
                reply.button("button.proxy_handling", "/item_proxy_handling"),
                reply.button("button.human", "/request_human"),
            ],
            out_of_scope=True,
        )
        return reply.events()


class ActionUnsupportedLanguage(Action):
    """A message in a language the assistant cannot read: no guessed item, the languages it reads,
    and a clerk. The conversation keeps the language it had."""

    def name(self) -> str:
        return "action_unsupported_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        reply.send(
            reply.say("unsupported_language"),
            [reply.button("button.human", "/request_human")],
            unsupported_language=True,
            candidates=[],
        )
        return reply.events()
