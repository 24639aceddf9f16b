"""Answering from the guides, and asking back when the item is unclear.

What a message means is decided in context (`bot.actions.context.decide`);
these actions read the turn and the conversation's state from the tracker,
ask for a decision, and carry it out. Every guide answer and clarification
says in its `custom` payload which part of the context decided
(`custom.context`), and the `context` slot keeps the same for the tracker.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import answers
from bot.actions.context import FULL, STRONG, Decision, State, Turn, decide, ordered_aspects
from bot.actions.handoff import hand_off
from bot.actions.resources import knowledge
from bot.actions.understanding import item_ranking, latest_place
from bot.knowledge import intent_for

MISUNDERSTANDINGS_BEFORE_HANDOFF = 2
MAX_TOPICS = 5


def turn_of(tracker: Tracker) -> Turn:
    latest = tracker.latest_message or {}
    intent = (latest.get("intent") or {}).get("name")
    entities = [e for e in latest.get("entities") or [] if isinstance(e, dict)]
    return Turn(text=latest.get("text") or "", intent=intent, ranking=item_ranking(tracker), entities=entities)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def state_of(tracker: Tracker) -> State:
    item, aspect, place = (tracker.get_slot(name) for name in ("guide_item", "aspect", "place"))
    return State(
        item=item if isinstance(item, str) else None,
        aspect=aspect if isinstance(aspect, str) else None,
        candidates=_strings(tracker.get_slot("candidates")),
        topics=_strings(tracker.get_slot("topics")),
        place=place if isinstance(place, str) else None,
        abroad=tracker.get_slot("abroad") is True,
    )


def answer_guide(
    dispatcher: CollectingDispatcher,
    item_id: str,
    aspects: list[str] | str | None,
    place: str | None = None,
    trace: dict[str, Any] | None = None,
    topics: tuple[str, ...] = (),
) -> list[EventType]:
    kb = knowledge()
    guide = kb.guide(item_id)
    parts = [aspects] if isinstance(aspects, str) else list(aspects or [])
    parts = [part for part in parts if part in kb.aspects or part == FULL]
    if guide is None:
        # A slot from before a catalog change can name an item that is gone.
        return ask_which_item(dispatcher, parts[0] if parts else None)
    custom: dict[str, Any] = {"guide_item": item_id, "aspect": parts[0] if parts else None}
    if len(parts) > 1:
        custom["aspects"] = parts
    if trace and trace.get("decided_by") != "message":
        # Only when the conversation, not the message alone, decided: the contract stays as it was otherwise.
        custom["context"] = trace
    dispatcher.utter_message(
        text=answers.compose(guide, parts, kb, place),
        buttons=answers.aspect_buttons(guide, kb, skip=parts),
        json_message=custom,
    )
    history = [topic for topic in topics if topic != item_id][-(MAX_TOPICS - 1) :] + [item_id]
    return [
        SlotSet("guide_item", item_id),
        SlotSet("aspect", parts[0] if parts and parts[0] != FULL else None),
        SlotSet("misunderstandings", 0.0),
        SlotSet("candidates", None),
        SlotSet("topics", history),
        SlotSet("context", trace),
    ]


def ask_which_item(dispatcher: CollectingDispatcher, aspect: str | None) -> list[EventType]:
    dispatcher.utter_message(
        text="请问您想了解哪一项业务？比如“护照换发”“户口注销”“委托书公证”。",
        json_message={"candidates": []},
    )
    return [SlotSet("guide_item", None), SlotSet("aspect", aspect)]


def offer_candidates(
    dispatcher: CollectingDispatcher, items: list[str], aspect: str | None, trace: dict[str, Any] | None = None
) -> list[EventType]:
    kb = knowledge()
    entity = f'{{"aspect":"{aspect}"}}' if aspect else ""
    custom: dict[str, Any] = {"candidates": items}
    if trace and trace.get("decided_by") != "message":
        custom["context"] = trace
    dispatcher.utter_message(
        text="您想问的是下面哪一项？请点选：",
        buttons=[{"title": kb.title(item), "payload": f"/{intent_for(item)}{entity}"} for item in items],
        json_message=custom,
    )
    # The offer is pending until a reply picks one (by title, word, ordinal or button).
    return [SlotSet("candidates", items), SlotSet("aspect", aspect), SlotSet("context", trace)]


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


def _remembered(tracker: Tracker, turn: Turn, state: State) -> list[EventType]:
    """The place and circumstance the citizen stated, kept for later answers."""
    kb = knowledge()
    events: list[EventType] = []
    overseas = {site["id"] for site in kb.sites["overseas_sites"]}
    place = next((value for value in turn.values("place") if value in overseas), None)
    if place and place != state.place:
        events.append(SlotSet("place", place))
    if (place or "abroad" in turn.signals()) and not state.abroad:
        events.append(SlotSet("abroad", True))
    return events


def carry_out(dispatcher: CollectingDispatcher, tracker: Tracker, decision: Decision, state: State) -> list[EventType]:
    turn = turn_of(tracker)
    remembered = _remembered(tracker, turn, state)
    place = latest_place(tracker) or state.place
    trace = decision.trace(state)
    aspect = decision.aspects[0] if decision.aspects else None
    if decision.action == "answer" and decision.item:
        return remembered + answer_guide(dispatcher, decision.item, decision.aspects, place, trace, state.topics)
    if decision.action == "offer":
        return remembered + offer_candidates(dispatcher, decision.candidates, aspect, trace)
    if decision.action == "ask_item":
        return remembered + ask_which_item(dispatcher, aspect)
    return remembered + not_understood(dispatcher, tracker)


def overrides_intent(decision: Decision, turn: Turn, short_reply: bool = False) -> bool:
    """Whether the context is strong enough to read a social or out-of-scope message as a guide question.

    `short_reply`: the classifier took the message for small talk ("我在荷兰" as a greeting);
    then a stated circumstance or a relative is enough. For out of scope it is not
    ("明天巴黎天气怎么样" names a place too).
    """
    if decision.action == "offer" and decision.how == "still_open":
        return short_reply
    if decision.action != "answer" or decision.decided_by not in STRONG:
        return False
    if decision.how == "ranking_among_candidates":
        return False
    if decision.decided_by in ("current_item", "circumstance"):
        explicit = decision.how == "named" or bool(ordered_aspects(turn, False))
        return explicit or (short_reply and decision.how in ("context_word", "abroad"))
    return True


def respond_in_context(
    dispatcher: CollectingDispatcher, tracker: Tracker, strong_only: bool, short_reply: bool = False
) -> list[EventType] | None:
    """Answers from the context; with `strong_only`, only when the context clearly decides (else None)."""
    turn, state = turn_of(tracker), state_of(tracker)
    decision = decide(knowledge(), turn, state)
    if strong_only and not overrides_intent(decision, turn, short_reply):
        return None
    return carry_out(dispatcher, tracker, decision, state)


class ActionAnswerGuide(Action):
    """Answers an item question, or a follow-up about the item under discussion."""

    def name(self) -> str:
        return "action_answer_guide"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return respond_in_context(dispatcher, tracker, strong_only=False) or []


class ActionClarify(Action):
    """Runs on nlu_fallback: the context may decide; else offers the likely items, or asks to rephrase."""

    def name(self) -> str:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return respond_in_context(dispatcher, tracker, strong_only=False) or []
