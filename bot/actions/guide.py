"""Answering from the guides, and asking back when the item is unclear.

What a message means is decided in context (`bot.actions.context.decide`);
these actions read the turn and the conversation's state from the tracker,
ask for a decision, and carry it out. Which part of the context decided each
answer and clarification is kept in the tracker's `context` slot (set with the
answer, so the tracker's events hold it for every turn), where the desk reads
the slots for the trainer's inbox; the `custom` payload keeps its contract.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import answers
from bot.actions.answers import FULL
from bot.actions.booking import asks_for_booking
from bot.actions.context import STRONG, Decision, State, Turn, decide, ordered_aspects
from bot.actions.handoff import hand_off
from bot.actions.language import Reply
from bot.actions.platform import answer_platform, is_platform_question, is_site_question, platform_lines
from bot.actions.resources import knowledge
from bot.actions.understanding import item_ranking, latest_place
from bot.knowledge import intent_for

# The guide item that is the overseas sites themselves: where/when questions get the sites' details.
SITES_ITEM = "overseas-site-appointment"

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
        more=_strings(tracker.get_slot("more_candidates")),
    )


def answer_guide(
    reply: Reply,
    item_id: str,
    aspects: list[str] | str | None,
    place: str | None = None,
    trace: dict[str, Any] | None = None,
    topics: tuple[str, ...] = (),
    sites: tuple[list[str], list[str]] | None = None,
) -> list[EventType]:
    """`sites`: the platform's answer (platform_lines) to say instead of the guide's summary."""
    kb = knowledge()
    guide = kb.guide(item_id, reply.language)
    parts = [aspects] if isinstance(aspects, str) else list(aspects or [])
    parts = [part for part in parts if part in kb.aspects or part == FULL]
    if guide is None:
        # A slot from before a catalog change can name an item that is gone.
        return ask_which_item(reply, parts[0] if parts else None)
    custom: dict[str, Any] = {"guide_item": item_id, "aspect": parts[0] if parts else None}
    if len(parts) > 1:
        custom["aspects"] = parts
    buttons = answers.aspect_buttons(guide, kb, skip=parts, language=reply.language)
    if guide["where"].get("desks") or guide["where"].get("overseas_sites"):
        # Done at a desk or a site: the appointment is one tap away (issue 14, the booking form).
        buttons.append(reply.button("booking.button.book", "/book_appointment"))
    if sites is not None:
        custom["platform"] = {"sites": sites[1]}
    body = "\n".join(sites[0]) if sites is not None else answers.compose(guide, parts, kb, place, reply.language)
    reply.send(body, buttons, **custom)
    history = [topic for topic in topics if topic != item_id][-(MAX_TOPICS - 1) :] + [item_id]
    return [
        SlotSet("guide_item", item_id),
        SlotSet("aspect", parts[0] if parts and parts[0] != FULL else None),
        SlotSet("misunderstandings", 0.0),
        SlotSet("candidates", None),
        SlotSet("more_candidates", None),
        SlotSet("topics", history),
        SlotSet("context", trace),
        *reply.events(),
    ]


def ask_which_item(reply: Reply, aspect: str | None) -> list[EventType]:
    reply.send(reply.say("ask_which_item"), candidates=[])
    return [SlotSet("guide_item", None), SlotSet("aspect", aspect), *reply.events()]


# The "其他…" button: the offer's other items (the `more` context signal, as typed "其他" gives it).
MORE_PAYLOAD = '/ask_aspect{"context":"more"}'


def offer_candidates(
    reply: Reply,
    items: list[str],
    aspect: str | None,
    trace: dict[str, Any] | None = None,
    more: list[str] | None = None,
) -> list[EventType]:
    """`more`: the rest of a large area's items, one "其他…" button away (and pickable by their words)."""
    kb = knowledge()
    entity = f'{{"aspect":"{aspect}"}}' if aspect else ""
    custom: dict[str, Any] = {"candidates": items}
    more = [item for item in more or [] if item not in items]
    if more:
        custom["more_candidates"] = more
    if len(items) == 1:
        # A list of one is a yes/no question: "您是想问普通护照换发吗？"
        title = kb.title(items[0], reply.language)
        yes = {"title": reply.say("button.yes"), "payload": f"/{intent_for(items[0])}{entity}"}
        reply.send(reply.say("offer_one", title=title), [yes, reply.button("button.no", "/deny")], **custom)
    else:
        buttons = [{"title": kb.title(item, reply.language), "payload": f"/{intent_for(item)}{entity}"} for item in items]
        if more:
            buttons.append({"title": reply.say("button.more"), "payload": MORE_PAYLOAD})
        reply.send(reply.say("offer_candidates"), buttons, **custom)
    # The offer is pending until a reply picks one (by title, word, ordinal or button).
    return [
        SlotSet("candidates", items),
        SlotSet("more_candidates", more or None),
        SlotSet("aspect", aspect),
        SlotSet("context", trace),
        *reply.events(),
    ]


def not_understood(reply: Reply, tracker: Tracker) -> list[EventType]:
    count = (tracker.get_slot("misunderstandings") or 0.0) + 1
    if count >= MISUNDERSTANDINGS_BEFORE_HANDOFF:
        return [SlotSet("misunderstandings", 0.0), *hand_off(reply, tracker, "repeated_misunderstanding")]
    reply.send(reply.say("not_understood"), [reply.button("button.human", "/request_human")], candidates=[])
    return [SlotSet("misunderstandings", count), *reply.events()]


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


def carry_out(reply: Reply, tracker: Tracker, decision: Decision, state: State) -> list[EventType]:
    turn = turn_of(tracker)
    remembered = _remembered(tracker, turn, state)
    place = latest_place(tracker) or state.place
    trace = decision.trace(state)
    aspect = decision.aspects[0] if decision.aspects else None
    if decision.action == "answer" and decision.item:
        sites = None
        if decision.item == SITES_ITEM and set(decision.aspects) <= {"where"} and is_site_question(turn.text):
            # "在意大利有服务站吗", "巴黎服务站在哪": the sites' addresses, phones and hours, not how to book one.
            sites = platform_lines(reply, turn.text, knowledge(), place)
        return remembered + answer_guide(reply, decision.item, decision.aspects, place, trace, state.topics, sites)
    if decision.action == "offer":
        return remembered + offer_candidates(reply, decision.candidates, aspect, trace, decision.more)
    if is_platform_question(turn.text) and decision.action in ("ask_item", "not_understood"):
        # No item in question, but the platform itself: its sites' hours, addresses, phones.
        answer_platform(reply, turn.text, knowledge(), place)
        return remembered + [SlotSet("misunderstandings", 0.0), SlotSet("candidates", None), *reply.events()]
    if decision.action == "ask_item":
        return remembered + ask_which_item(reply, aspect)
    return remembered + not_understood(reply, tracker)


def overrides_intent(decision: Decision, turn: Turn, short_reply: bool = False) -> bool:
    """Whether the context is strong enough to read a social or out-of-scope message as a guide question.

    `short_reply`: the classifier took the message for small talk ("我在荷兰" as a greeting);
    then a stated circumstance or a relative is enough. For out of scope it is not
    ("明天巴黎天气怎么样" names a place too).
    """
    if decision.action == "offer" and decision.how == "still_open":
        return short_reply
    if decision.action == "offer" and decision.how == "more":
        # "其他" after an area's first items, whatever the classifier made of the one word.
        return True
    if decision.action == "offer" and decision.decided_by == "topic":
        # "问下房本的事" taken for out of scope or small talk: a general question about an area.
        return True
    if decision.action != "answer" or decision.decided_by not in STRONG:
        return False
    if decision.how == "ranking_among_candidates":
        return False
    if decision.decided_by in ("current_item", "circumstance"):
        # A relative named in a follow-up the classifier is unsure of ("我老婆替我跑一趟行不行")
        # asks who may act as plainly as an aspect word.
        relative = "relative" in turn.signals() and decision.aspects == ["proxy"]
        explicit = decision.how == "named" or bool(ordered_aspects(turn, False)) or relative
        return explicit or (short_reply and decision.how in ("context_word", "abroad", "own_words"))
    return True


def respond_in_context(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    strong_only: bool,
    short_reply: bool = False,
    unplaced: bool = False,
    decided_by: set[str] | None = None,
) -> list[EventType] | None:
    """Answers from the context; with `strong_only`, only when the context clearly decides (else None).
    With `unplaced`, the classifier's intent is disregarded, as for nlu_fallback; with `decided_by`,
    only those parts of the context may decide (else None)."""
    turn, state = turn_of(tracker), state_of(tracker)
    if unplaced:
        turn = replace(turn, intent="nlu_fallback")
    decision = decide(knowledge(), turn, state)
    if strong_only and not overrides_intent(decision, turn, short_reply):
        return None
    if decided_by is not None and decision.decided_by not in decided_by:
        return None
    return carry_out(Reply(dispatcher, tracker), tracker, decision, state)


class ActionAnswerGuide(Action):
    """Answers an item question, or a follow-up about the item under discussion."""

    def name(self) -> str:
        return "action_answer_guide"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if not tracker.active_loop_name and asks_for_booking(tracker.latest_message.get("text") or ""):
            # "我想预约…办华侨身份确认" read as the guide item about booking: the citizen asked to book.
            return [FollowupAction("booking_form")]
        return respond_in_context(dispatcher, tracker, strong_only=False) or []


class ActionClarify(Action):
    """Runs on nlu_fallback: the context may decide; else offers the likely items, or asks to rephrase."""

    def name(self) -> str:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return respond_in_context(dispatcher, tracker, strong_only=False) or []
