"""Answering from the guides, and asking back when the item is unclear."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import answers
from bot.actions.handoff import hand_off
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


def answer_guide(
    dispatcher: CollectingDispatcher, item_id: str, aspect: str | None, place: str | None = None
) -> list[EventType]:
    kb = knowledge()
    guide = kb.guide(item_id)
    if guide is None:
        # A slot from before a catalog change can name an item that is gone.
        return ask_which_item(dispatcher, aspect)
    dispatcher.utter_message(
        text=answers.compose(guide, aspect, kb, place),
        buttons=answers.aspect_buttons(guide, kb, skip=aspect),
        json_message={"guide_item": item_id, "aspect": aspect},
    )
    return [SlotSet("guide_item", item_id), SlotSet("aspect", aspect), SlotSet("misunderstandings", 0.0)]


def ask_which_item(dispatcher: CollectingDispatcher, aspect: str | None) -> list[EventType]:
    dispatcher.utter_message(
        text="请问您想了解哪一项业务？比如“护照换发”“户口注销”“委托书公证”。",
        json_message={"candidates": []},
    )
    return [SlotSet("guide_item", None), SlotSet("aspect", aspect)]


def offer_candidates(dispatcher: CollectingDispatcher, items: list[str], aspect: str | None) -> list[EventType]:
    kb = knowledge()
    entity = f'{{"aspect":"{aspect}"}}' if aspect else ""
    dispatcher.utter_message(
        text="您想问的是下面哪一项？请点选：",
        buttons=[{"title": kb.title(item), "payload": f"/{intent_for(item)}{entity}"} for item in items],
        json_message={"candidates": items},
    )
    return [SlotSet("aspect", aspect)] if aspect else []


def not_understood(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    count = (tracker.get_slot("misunderstandings") or 0.0) + 1
    if count >= MISUNDERSTANDINGS_BEFORE_HANDOFF:
        return [SlotSet("misunderstandings", 0.0), *hand_off(dispatcher, tracker, "repeated_misunderstanding")]
    dispatcher.utter_message(
        text="抱歉，我没太明白您的问题。可以换个说法，或说出要办的事项，比如“护照过期了怎么换”“委托书公证要什么材料”。",
        buttons=[{"title": "转人工", "payload": "/request_human"}],
        json_message={"candidates": []},
    )
    return [SlotSet("misunderstandings", count)]


class ActionAnswerGuide(Action):
    """Answers an item question, or a follow-up about the item in the slot."""

    def name(self) -> str:
        return "action_answer_guide"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        aspect = latest_aspect(tracker)
        item_id = item_for(intent)
        if item_id is None:
            # A follow-up such as "那要多少钱？" is about the item we were on.
            item_id = tracker.get_slot("guide_item")
            if not item_id:
                return ask_which_item(dispatcher, aspect)
            return answer_guide(dispatcher, item_id, aspect, latest_place(tracker))
        ranking = item_ranking(tracker)
        if not is_clear(ranking) and len(candidates(ranking)) > 1:
            return offer_candidates(dispatcher, candidates(ranking), aspect)
        return answer_guide(dispatcher, item_id, aspect, latest_place(tracker))


class ActionClarify(Action):
    """Runs on nlu_fallback: offers the likely items, or asks to rephrase."""

    def name(self) -> str:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        aspect, current = latest_aspect(tracker), tracker.get_slot("guide_item")
        if aspect and current and not latest_entities(tracker, "guide_item"):
            # "一定要本人去吗" after a guide answer: a follow-up the classifier was unsure of.
            return answer_guide(dispatcher, current, aspect, latest_place(tracker))
        items = candidates(item_ranking(tracker))
        if items:
            return offer_candidates(dispatcher, items, aspect)
        return not_understood(dispatcher, tracker)
