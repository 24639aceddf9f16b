"""Handing a conversation to a human clerk, and the bot's offers to do so."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.resources import database
from bot.actions.understanding import understood

logger = logging.getLogger(__name__)

REASON_BY_INTENT = {"request_human": "user_request", "complain": "complaint"}
OPENING = {
    "user_request": "好的，正在为您转接人工客服，请稍候。",
    "complaint": "非常抱歉给您带来不好的体验，已为您转接人工客服处理，请稍候。",
    "repeated_misunderstanding": "抱歉，我多次没能理解您的问题，已为您转接人工客服，请稍候。",
    "case_verification_failed": "好的，已为您转接人工客服核实办件信息，请稍候。",
}


def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> list[EventType]:
    """Record the request in the clerks' queue and pause the bot."""
    request_id = database().add_handoff(tracker.sender_id, reason, understood(tracker))
    logger.info("handoff requested: request=%s reason=%s", request_id, reason)
    # The desk, which knows whether a clerk is online, adds the staffed hours when none is.
    dispatcher.utter_message(
        text=f"{OPENING.get(reason, OPENING['user_request'])}您可以先把问题留言在这里，工作人员接入后会看到。",
        json_message={"handoff": {"reason": reason}},
    )
    return [SlotSet("pending_offer", None), ConversationPaused()]


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        return hand_off(dispatcher, tracker, REASON_BY_INTENT.get(intent, "user_request"))


class ActionReplyOffer(Action):
    """Handles 是/不用 after the bot offered a clerk."""

    def name(self) -> str:
        return "action_reply_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        offer = tracker.get_slot("pending_offer")
        if offer and intent == "affirm":
            return hand_off(dispatcher, tracker, offer)
        if offer and intent == "deny":
            dispatcher.utter_message(text="好的。还有其他问题可以随时问我。")
            return [SlotSet("pending_offer", None)]
        # "不是，是继承的" after offered choices: a correction, not a bare no.
        from bot.actions.guide import respond_in_context  # guide imports this module

        in_context = respond_in_context(dispatcher, tracker, strong_only=True, short_reply=True)
        if in_context is not None:
            return in_context
        dispatcher.utter_message(response="utter_how_can_i_help")
        return []
