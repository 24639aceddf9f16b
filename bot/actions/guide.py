"""Answering from the guides, and asking back when the item is unclear."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import answers
from bot.actions.handoff import hand_off
from bot.actions.language import Reply
from bot.actions.resources import knowledge
from bot.actions.understanding import (
    candidates,
    is_clear,
    item_ranking,
    latest_aspect,
    latest_entities,
    latest_place,
)
from bot.knowledge import intent_for, item_for

MISUNDERSTANDINGS_BEFORE_HANDOFF = 2


def answer_guide(reply: Reply, item_id: str, aspect: str | None, place: str | None = None) -> list[EventType]:
    kb = knowledge()
    guide = kb.guide(item_id, reply.language)
    if guide is None:
        # A slot from before a catalog change can name an item that is gone.
        return ask_which_item(reply, aspect)
    reply.send(
        answers.compose(guide, aspect, kb, place, reply.language),
        answers.aspect_buttons(guide, kb, skip=aspect, language=reply.language),
        guide_item=item_id,
        aspect=aspect,
    )
    return [
        SlotSet("guide_item", item_id),
        SlotSet("aspect", aspect),
        SlotSet("misunderstandings", 0.0),
        *reply.events(),
    ]


def ask_which_item(reply: Reply, aspect: str | None) -> list[EventType]:
    reply.send(reply.say("ask_which_item"), candidates=[])
    return [SlotSet("guide_item", None), SlotSet("aspect", aspect), *reply.events()]


def offer_candidates(reply: Reply, items: list[str], aspect: str | None) -> list[EventType]:
    kb = knowledge()
    entity = f'{{"aspect":"{aspect}"}}' if aspect else ""
    reply.send(
        reply.say("offer_candidates"),
        [{"title": kb.title(item, reply.language), "payload": f"/{intent_for(item)}{entity}"} for item in items],
        candidates=items,
    )
    return ([SlotSet("aspect", aspect)] if aspect else []) + reply.events()


def not_understood(reply: Reply, tracker: Tracker) -> list[EventType]:
    count = (tracker.get_slot("misunderstandings") or 0.0) + 1
    if count >= MISUNDERSTANDINGS_BEFORE_HANDOFF:
        return [SlotSet("misunderstandings", 0.0), *hand_off(reply, tracker, "repeated_misunderstanding")]
    reply.send(reply.say("not_understood"), [reply.button("button.human", "/request_human")], candidates=[])
    return [SlotSet("misunderstandings", count), *reply.events()]


class ActionAnswerGuide(Action):
    """Answers an item question, or a follow-up about the item in the slot."""

    def name(self) -> str:
        return "action_answer_guide"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        aspect = latest_aspect(tracker)
        item_id = item_for(intent)
        if item_id is None:
            # A follow-up such as "那要多少钱？" is about the item we were on.
            item_id = tracker.get_slot("guide_item")
            if not item_id:
                return ask_which_item(reply, aspect)
            return answer_guide(reply, item_id, aspect, latest_place(tracker))
        ranking = item_ranking(tracker)
        if not is_clear(ranking) and len(candidates(ranking)) > 1:
            return offer_candidates(reply, candidates(ranking), aspect)
        return answer_guide(reply, item_id, aspect, latest_place(tracker))


class ActionClarify(Action):
    """Runs on nlu_fallback: offers the likely items, or asks to rephrase."""

    def name(self) -> str:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        aspect, current = latest_aspect(tracker), tracker.get_slot("guide_item")
        if aspect and current and not latest_entities(tracker, "guide_item"):
            # "一定要本人去吗" after a guide answer: a follow-up the classifier was unsure of.
            return answer_guide(reply, current, aspect, latest_place(tracker))
        items = candidates(item_ranking(tracker))
        if items:
            return offer_candidates(reply, items, aspect)
        return not_understood(reply, tracker)
