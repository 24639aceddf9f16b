"""Handing a conversation to a human clerk, and the bot's offers to do so."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.context import speaks_of_items
from bot.actions.language import Reply
from bot.actions.resources import database, knowledge
from bot.actions.understanding import understood

logger = logging.getLogger(__name__)

REASON_BY_INTENT = {"request_human": "user_request", "complain": "complaint"}
REASONS = ("user_request", "complaint", "repeated_misunderstanding", "case_verification_failed")

# Below this, a "complaint" may be a worried follow-up; a person asked for by name is always handed over.
UNSURE_COMPLAINT = 0.35
# Below this, a complaint or a request for a person that also names a relative, a country or a way
# of doing the item under discussion ("我在迪拜，这两年回不来", "叫我舅舅去窗口办行不行") is read as
# that aspect of the item: the classifier learnt complaints from long stories of trouble and
# requests for a person from 帮我..., which such follow-ups resemble. Above it, or with words that
# ask for a person or are angry (context `handoff`), it is handed over.
CLEAR_HANDOFF = 0.6
# What makes such a message an aspect of the item: who acts, from where.
WAY_ASPECTS = {"proxy", "remote"}
WAY_SIGNALS = {"relative", "abroad"}
# Below this, a "yes" or "no" to nothing asked is not read as one: "户口" can come out as a weak 是.
UNSURE_YES_NO = 0.5


def hand_off(reply: Reply, tracker: Tracker, reason: str) -> list[EventType]:
    """Record the request in the clerks' queue and pause the bot."""
    request_id = database().add_handoff(tracker.sender_id, reason, understood(tracker) | {"language": reply.language})
    logger.info("handoff requested: request=%s reason=%s", request_id, reason)
    # The desk, which knows whether a clerk is online, adds the staffed hours when none is.
    opening = reply.say(f"handoff.{reason if reason in REASONS else 'user_request'}")
    reply.send(opening + reply.say("handoff.leave_message"), handoff={"reason": reason})
    return [SlotSet("pending_offer", None), *reply.events(), ConversationPaused()]


def _context_of(tracker: Tracker) -> tuple[list[dict[str, Any]], set[Any]] | None:
    """The message's entities and context signals, when an item is under discussion and the message
    neither asks for a person nor says it is angry (context `handoff`); else None."""
    if not isinstance(tracker.get_slot("guide_item"), str):
        return None
    entities = [e for e in tracker.latest_message.get("entities") or [] if isinstance(e, dict)]
    signals = {e.get("value") for e in entities if e.get("entity") == "context"}
    return None if "handoff" in signals else (entities, signals)


def asks_a_way(tracker: Tracker) -> bool:
    """An item is under discussion and the message asks who may act or from where, without asking
    for a person or saying it is angry."""
    context = _context_of(tracker)
    if context is None:
        return False
    entities, signals = context
    aspects = {e.get("value") for e in entities if e.get("entity") == "aspect"}
    overseas = {site["id"] for site in knowledge().sites["overseas_sites"]}
    place = any(e.get("entity") == "place" and e.get("value") in overseas for e in entities)
    return bool(aspects & WAY_ASPECTS or signals & WAY_SIGNALS or place)


def corrects_the_item(tracker: Tracker) -> bool:
    """An item is under discussion and the message takes it back ("no scusa, mi sono sbagliato", "不对，
    我说的是…"), without asking for a person or saying it is angry."""
    context = _context_of(tracker)
    return context is not None and "correction" in context[1]


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        confidence = float((tracker.latest_message.get("intent") or {}).get("confidence") or 0.0)
        if intent in REASON_BY_INTENT and confidence < CLEAR_HANDOFF and asks_a_way(tracker):
            from bot.actions.guide import respond_in_context  # guide imports this module

            in_context = respond_in_context(
                dispatcher, tracker, strong_only=False, decided_by={"current_item", "circumstance", "narrowing"}
            )
            if in_context is not None:
                return in_context
        if intent == "complain" and confidence < UNSURE_COMPLAINT:
            # "我们都回不去，怎么办" is a worried question about the item under discussion, not a
            # complaint; only a clear aspect of it in context keeps the bot answering.
            from bot.actions.guide import respond_in_context  # guide imports this module

            in_context = respond_in_context(dispatcher, tracker, strong_only=True)
            if in_context is not None:
                return in_context
        if intent in REASON_BY_INTENT and confidence < CLEAR_HANDOFF and corrects_the_item(tracker):
            # "no scusa, il contrario: ... voglio riaverla", "no scusa, non l'ho perso, è scaduto": taking
            # back the item under discussion reads like a complaint or a request for a person (no, sbagliato,
            # non…); a correction that names another item is answered, nothing less overrides such a request.
            from bot.actions.guide import respond_in_context  # guide imports this module

            in_context = respond_in_context(dispatcher, tracker, strong_only=True, decided_by={"correction"})
            if in_context is not None:
                return in_context
        return hand_off(Reply(dispatcher, tracker), tracker, REASON_BY_INTENT.get(intent, "user_request"))


class ActionReplyOffer(Action):
    """Handles 是/不用 after the bot offered a clerk."""

    def name(self) -> str:
        return "action_reply_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        offer = tracker.get_slot("pending_offer")
        confidence = float((tracker.latest_message.get("intent") or {}).get("confidence") or 0.0)
        if not offer and not tracker.get_slot("candidates") and confidence < UNSURE_YES_NO:
            from bot.actions.guide import respond_in_context, turn_of  # guide imports this module

            if speaks_of_items(knowledge(), turn_of(tracker)):
                return respond_in_context(dispatcher, tracker, strong_only=False, unplaced=True) or []
        if offer and intent == "affirm":
            return hand_off(reply, tracker, offer)
        if offer and intent == "deny":
            reply.send(reply.say("no_more_questions"))
            return [SlotSet("pending_offer", None), *reply.events()]
        # "不是，是继承的" after offered choices: a correction, not a bare no.
        from bot.actions.guide import respond_in_context  # guide imports this module

        in_context = respond_in_context(dispatcher, tracker, strong_only=True, short_reply=True)
        if in_context is not None:
            return in_context
        reply.send(reply.say("how_can_i_help"))
        return reply.events()
