"""Appointments from the chat (issue 14): the booking form and the form to view, move or cancel one.

Two Rasa forms. Each form's validation action reads every answer itself (the words are data, per
language, in knowledge/booking.yml; places and items come from the NLU's entities and intents), asks
the next question with its buttons, and sets `requested_slot` itself; setting it to None ends the form
(Rasa's documented early stop), after which a rule runs `action_booking_done`, which clears the
form's slots. Because the validation always sets a slot, a form never rejects an answer: a message
the form does not understand is asked again, and the citizen can stop at any point ("不约了").

The booking itself happens when the citizen confirms: one atomic database operation takes the
slot's place (bot/db/bookings.py), so the last place goes to one citizen only; the other is offered
the next free times. The same answer for a wrong code and a wrong surname, with the limits of
case status (3 failures per conversation, 10 lookups per client address in 10 minutes).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from babel.dates import get_timezone_location
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.language import Reply
from bot.actions.lookups import lookup_allowed
from bot.actions.resources import database, knowledge
from bot.actions.understanding import client_of, item_ranking
from bot.booking.contact import clean_contact, clean_name
from bot.booking.places import Place, defaults, load_places
from bot.booking.slots import Slot, generate, page, slot_key_to_datetime
from bot.booking.typed import Match, Wanted, match, parse
from bot.db.bookings import BookingView
from bot.knowledge import item_for
from bot.privacy import mask_booking_code

logger = logging.getLogger(__name__)

REQUESTED = "requested_slot"
FORM = "booking_form"
MANAGE_FORM = "booking_manage_form"
FIELDS = (
    "booking_item",
    "booking_place",
    "booking_mode",
    "booking_slot",
    "booking_name",
    "booking_contact",
    "booking_confirmed",
)
MANAGE_FIELDS = ("booking_code", "booking_surname", "booking_op", "booking_new_slot")
STATE = "booking_offered"  # what was offered last: slots shown, the paging cursor, the places listed
CHOICE = "booking_choice"  # the entity of the form's button payloads: "/booking_choice{"booking_choice": "slot:..."}"
MAX_FAILURES = 3
SLOTS_SHOWN = 4
MAX_PLACES_SHOWN = 8
_CODE = re.compile(r"(?i)(?<![A-Za-z0-9])B\s*K[\s\-]*([A-Z0-9]{6})(?![A-Za-z0-9])")
WORDS_FILE = Path(__file__).resolve().parents[2] / "knowledge" / "booking.yml"


@functools.lru_cache(maxsize=1)
def words() -> dict[str, Any]:
    return yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))


def _has(text: str, phrases: Iterable[str]) -> bool:
    lowered = text.lower()
    for phrase in phrases:
        phrase = phrase.lower()
        if re.search(r"[a-zà-ÿ]", phrase):
            if re.search(rf"(?<![a-zà-ÿ]){re.escape(phrase)}(?![a-zà-ÿ])", lowered):
                return True
        elif phrase in lowered:
            return True
    return False


def said(text: str, key: str, sub: str | None = None) -> bool:
    """Whether the text says one of knowledge/booking.yml's words for `key` (in any language)."""
    table = words()[key] if sub is None else words()[key][sub]
    return any(_has(text, phrases) for phrases in table.values())


def asks_about_booking(text: str) -> bool:
    """A question about booking rather than a request for one (a button's payload is neither)."""
    if not text or text.startswith("/"):
        return False
    return said(text, "question") and not said(text, "request")


def asks_for_booking(text: str) -> bool:
    """A request for a booking in words ("我想预约…"), whatever item the classifier saw in it."""
    if not text or text.startswith("/"):
        return False
    return said(text, "book") and said(text, "request") and not said(text, "question")


def names_a_booking(text: str) -> bool:
    """A booking code in the message ("查看预约 BKKVBHBX 王"), which the classifier may take for case proofs."""
    return bool(text) and _CODE.search(text) is not None


def places() -> dict[str, Place]:
    return load_places(knowledge(), database().place_settings())


def now() -> datetime:
    return datetime.now(timezone.utc)


def free_slots(place: Place) -> list[Slot]:
    settings = defaults(knowledge())
    start = now()
    days = int(settings["days_ahead"])
    taken = {
        at.replace(tzinfo=timezone.utc): count
        for at, count in database().taken_counts(place.id, start, start + timedelta(days=days + 1)).items()
    }
    return generate(
        place.hours, start, days=days, taken=taken, min_notice=timedelta(hours=settings["min_notice_hours"])
    )


# --- how things are said ------------------------------------------------------------------


def place_name(place_id: str, language: str) -> str:
    place = places()[place_id]
    return knowledge().site(place.kind, place_id, language)["name"]


def item_title(item_id: str | None, language: str) -> str:
    return knowledge().title(item_id, language) if item_id and knowledge().guide(item_id) else (item_id or "")


def when(moment: datetime, zone: str, reply: Reply) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return reply.say(
        "booking.date",
        month=local.month,
        day=local.day,
        weekday=reply.say(f"booking.weekday.{local.weekday()}"),
        hour=local.hour,
        minute=f"{local.minute:02d}",
    )


def browser_zone(tracker: Tracker) -> str | None:
    """The IANA time zone the citizen's browser reported (the widget's `timezone` metadata), if a real one."""
    for source in (tracker.latest_message.get("metadata"), *_user_metadata(tracker)):
        zone = (source or {}).get("timezone") if isinstance(source, dict) else None
        if isinstance(zone, str) and zone:
            try:
                ZoneInfo(zone)
            except (ValueError, OSError, ZoneInfoNotFoundError):  # "Europe" is a folder; a long name is too long
                continue
            return zone
    return None


def _user_metadata(tracker: Tracker) -> Iterable[Any]:
    """The metadata of the citizen's messages, latest first (a message sent without it keeps the last zone)."""
    return (event.get("metadata") for event in reversed(tracker.events or []) if event.get("event") == "user")


def citizen_zone(tracker: Tracker, place: Place) -> str | None:
    """The citizen's time zone when it differs from the place's: the browser's, else the overseas site named."""
    zone = browser_zone(tracker)
    if zone is None:
        named = tracker.get_slot("place")
        home = places().get(named) if named else None
        zone = home.timezone if home else None
    if zone is None or _same_clock(zone, place.timezone):
        return None
    return zone


def _same_clock(one: str, other: str) -> bool:
    """Two zones that show the same time now and in half a year (Europe/Rome and Europe/Paris)."""
    moments = (now(), now() + timedelta(days=182))
    return all(m.astimezone(ZoneInfo(one)).utcoffset() == m.astimezone(ZoneInfo(other)).utcoffset() for m in moments)


def zone_city(zone: str, language: str) -> str:
    """How a time zone is named to the citizen: its city in the citizen's language (CLDR, via Babel)."""
    named = (words().get("zone_cities") or {}).get(zone) or {}
    if named.get(language):
        return named[language]
    try:
        return get_timezone_location(zone, locale=language, return_city=True)
    except (LookupError, ValueError):
        return zone.rsplit("/", 1)[-1].replace("_", " ")


def when_for_citizen(moment: datetime, place: Place, tracker: Tracker, reply: Reply, labelled: bool = False) -> str:
    """The place's time; when the citizen's clock differs, both named: "北京时间 12月3日周四 10:00（巴黎时间 3:00）".

    `labelled`: a lone place's time says it is local ("（当地时间）"), where no heading says so.
    """
    other = citizen_zone(tracker, place)
    if not other:
        return when(moment, place.timezone, reply) + (reply.say("booking.local_label") if labelled else "")
    there, here = moment.astimezone(ZoneInfo(place.timezone)), moment.astimezone(ZoneInfo(other))
    theirs = (
        reply.say("booking.clock", hour=here.hour, minute=f"{here.minute:02d}")
        if here.date() == there.date()
        else when(moment, other, reply)
    )
    return reply.say(
        "booking.zone_time", city=zone_city(place.timezone, reply.language), time=when(moment, place.timezone, reply)
    ) + reply.say(
        "booking.your_time", time=reply.say("booking.zone_time", city=zone_city(other, reply.language), time=theirs)
    )


def citizen_today(tracker: Tracker, place: Place) -> date:
    """ "明天" is the citizen's tomorrow: today in the browser's zone, else at the place."""
    return now().astimezone(ZoneInfo(browser_zone(tracker) or place.timezone)).date()


def day_name(day: date, reply: Reply) -> str:
    return reply.say("booking.day", month=day.month, day=day.day, weekday=reply.say(f"booking.weekday.{day.weekday()}"))


def choice_button(reply: Reply, title: str, value: str) -> dict[str, str]:
    return {"title": title, "payload": f'/{CHOICE}{{"{CHOICE}": "{value}"}}'}


def choices(tracker: Tracker) -> dict[str, str]:
    """A button's assignments: "place:milan|mode:video" -> {"place": "milan", "mode": "video"}."""
    found: dict[str, str] = {}
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == CHOICE and isinstance(entity.get("value"), str):
            for part in entity["value"].split("|"):
                key, _, value = part.partition(":")
                found[key] = value
    return found


# --- the booking form ------------------------------------------------------------------------


def bookable_places(item: str | None) -> list[str]:
    """Where the item can be booked: its guide's overseas sites and domestic desks (all when no guide)."""
    guide = knowledge().guide(item) if item else None
    every = places()
    if guide is None:
        return list(every)
    where = guide["where"]
    listed = [*(where.get("overseas_sites") or []), *(where.get("desks") or [])]
    return [place for place in listed if place in every]


def video_allowed(item: str | None) -> bool:
    guide = knowledge().guide(item) if item else None
    return guide is not None and "video" in (guide["remote"].get("ways") or [])


def video_places(item: str | None) -> list[str]:
    return [p for p in bookable_places(item) if places()[p].video] if video_allowed(item) else []


def nearest(tracker: Tracker, candidates: list[str], near: str | None = None) -> str | None:
    """The place the conversation named (a site, its city or country, as the NLU found it), if it offers the item."""
    named = near or tracker.get_slot("place")
    if named in candidates:
        return named
    if named in places():
        # Another site in the same country ("米兰北区" named, the item only at 米兰服务站).
        country = places()[named].country
        return next((p for p in candidates if places()[p].country == country), None)
    return None


class Form:
    """One turn of the booking form: reads the answer, decides the next question."""

    def __init__(self, dispatcher: CollectingDispatcher, tracker: Tracker):
        self.tracker = tracker
        self.reply = Reply(dispatcher, tracker)
        self.text = (tracker.latest_message.get("text") or "").strip()
        self.intent = (tracker.latest_message.get("intent") or {}).get("name")
        self.choice = choices(tracker)
        self.requested = tracker.get_slot(REQUESTED)
        starting = tracker.active_loop.get("name") != FORM or not self.requested
        self.values: dict[str, Any] = {name: None if starting else tracker.get_slot(name) for name in FIELDS}
        self.state: dict[str, Any] = {} if starting else dict(tracker.get_slot(STATE) or {})
        self.starting = starting
        self.notes: list[str] = []  # said before the next question
        self.near_now: str | None = None  # a place this message named by its city or country
        self.wish: Wanted | None = None  # a day or time typed in answer to the time question

    def entities(self, name: str) -> list[str]:
        return [e["value"] for e in self.tracker.latest_message.get("entities") or [] if e.get("entity") == name]

    # reading the answer --------------------------------------------------------------------

    def named_item(self) -> str | None:
        if self.choice.get("item") and knowledge().guide(self.choice["item"]):
            return self.choice["item"]
        entities = [item for item in self.entities("guide_item") if knowledge().guide(item)]
        if entities:
            return entities[0]
        item = item_for(self.intent)
        if item and item != "overseas-site-appointment":
            return item
        ranking = [item for item, confidence in item_ranking(self.tracker) if confidence >= 0.5]
        return next((item for item in ranking if item != "overseas-site-appointment"), None)

    def named_place(self) -> str | None:
        """A place named by its name (or tapped); a country or city only makes its site the one proposed."""
        if self.choice.get("place") in places():
            return self.choice["place"]
        for entity in self.tracker.latest_message.get("entities") or []:
            place = entity.get("value")
            if entity.get("entity") != "place" or place not in places():
                continue
            said_text = self.text[entity.get("start", 0) : entity.get("end", 0)].lower()
            names = {place_name(place, code).lower() for code in ("zh", "it", "fr", "en")}
            if said_text and any(said_text in name or name in said_text for name in names) and len(said_text) > 2:
                return place
            self.state["near"] = self.near_now = place  # "我在意大利", "米兰": proposed first, not decided
        return None

    def named_mode(self) -> str | None:
        if self.choice.get("mode") in ("video", "in_person"):
            return self.choice["mode"]
        if said(self.text, "video"):
            return "video"
        if said(self.text, "in_person"):
            return "in_person"
        return None

    def read(self) -> str | None:
        """Fills what the answer gives; returns "stop", "handoff" or None."""
        if self.intent == "request_human" or self.choice.get("do") == "handoff":
            return "handoff"
        if self.choice.get("do") == "stop" or said(self.text, "stop"):
            return "stop"
        # A plain answer to the name or contact question is only that ("Marco Milano", "milano@…"
        # name no place); anything else may be a correction.
        if not self.choice and self.requested == "booking_name" and clean_name(self.text):
            self.values["booking_name"] = clean_name(self.text)
            return None
        if not self.choice and self.requested == "booking_contact" and clean_contact(self.text, self.region()):
            self.values["booking_contact"] = clean_contact(self.text, self.region())
            return None
        change = self.choice.get("change") or next(
            (field for field in FIELDS if field in words()["change"] and said(self.text, "change", field)), None
        )
        if change in FIELDS:
            self.clear(change, *(["booking_slot"] if change == "booking_place" else []))
            self.values["booking_confirmed"] = None
        item = self.named_item() if self.starting or self.requested == "booking_item" else None
        if item:
            self.values["booking_item"] = item
        if self.starting and not self.values["booking_item"]:
            # "预约" after a guide answer: the item under discussion.
            self.values["booking_item"] = self.tracker.get_slot("guide_item")
        place = self.named_place()
        if not place and self.requested == "booking_place" and self.near_now:
            place = self.near_now  # the answer to "where?": a city or a country is enough
        if place and place != self.values["booking_place"]:
            # A place named at any point sets it, or corrects it ("还是罗马吧").
            self.values["booking_place"], self.values["booking_slot"] = place, None
            self.values["booking_confirmed"] = None
            self.state.pop("after", None)
        mode = self.named_mode()
        if mode and mode != self.values["booking_mode"]:
            self.values["booking_mode"] = mode
            self.state["asked_mode"] = mode
            self.values["booking_confirmed"] = None
        answering_slot = self.requested == "booking_slot" and not self.choice and not place and not mode and not change
        site = places().get(self.values["booking_place"] or "")
        # A typed day or time ("下周二上午", "3 Dec 10am"), relative to the citizen's today: matched to the
        # free slots when the next question is decided (ask_slot).
        self.wish = parse(self.text, citizen_today(self.tracker, site)) if answering_slot and site else None
        proposed = self.state.pop("proposed", None)
        opening = parse(self.text, now().date()) if self.starting and not self.choice else None
        if opening is not None and opening.day is not None:
            # "我想预约下周二上午在罗马办委托书公证": the day is matched when the times are offered (after the
            # place and the mode), read then against the citizen's today.
            self.state["wish_text"] = self.text
        if self.choice.get("later") or (answering_slot and not self.wish and said(self.text, "later")):
            self.state["after"] = self.state.get("last_shown")
        elif self.choice.get("slot"):
            self.values["booking_slot"] = self.choice["slot"]
        elif answering_slot and not self.wish and proposed and (self.intent == "affirm" or said(self.text, "confirm")):
            self.values["booking_slot"] = proposed  # "好的": the exact time offered for a typed one
        elif answering_slot and not self.wish:
            self.notes.append(self.reply.say("booking.slot_not_understood"))
        if self.requested == "booking_name" and not change and not place and not mode:
            name = clean_name(self.text)
            if name:
                self.values["booking_name"] = name
            else:
                self.notes.append(self.reply.say("booking.bad_name"))
        if self.requested == "booking_contact" and not change and not place and not mode:
            contact = clean_contact(self.text, self.region())
            if contact:
                self.values["booking_contact"] = contact
            else:
                self.notes.append(self.reply.say("booking.bad_contact"))
        if self.requested == "booking_confirmed" and not change and not place and not mode:
            if self.choice.get("do") == "confirm" or self.intent == "affirm" or said(self.text, "confirm"):
                self.values["booking_confirmed"] = True
        return None

    def region(self) -> str | None:
        place = places().get(self.values["booking_place"] or "")
        from bot.booking.places import HOLIDAY_COUNTRIES

        return HOLIDAY_COUNTRIES.get(place.country or "") if place else None

    def clear(self, *fields: str) -> None:
        for field in fields:
            self.values[field] = None

    # deciding the next question -------------------------------------------------------------

    def next_question(self) -> str | None:
        """Checks the answers against each other, asks the first missing one; None when all is done."""
        reply, values = self.reply, self.values
        item = values["booking_item"]
        if not item:
            reply.send(self.with_notes(reply.say("booking.ask_item")), [self.stop_button()])
            return "booking_item"
        title = item_title(item, reply.language)
        allowed = bookable_places(item)
        if not allowed:
            reply.send(reply.say("booking.item_not_bookable", title=title))
            return None
        place = values["booking_place"]
        if place and place not in allowed:
            self.notes.append(
                reply.say("booking.place_not_for_item", place=place_name(place, reply.language), title=title)
            )
            self.state["near"] = place  # its country's sites first
            values["booking_place"] = place = None
        if not place:
            return self.ask_place(item, allowed)
        site = places()[place]
        if not values["booking_slot"] and not free_slots(site):
            # Nothing free in the window: say so (another place, a message) before asking how to come.
            return self.ask_slot(site)
        mode = values["booking_mode"]
        if mode == "video" and not video_allowed(item):
            self.notes.append(reply.say("booking.no_video_item", title=title))
            values["booking_mode"] = mode = "in_person"
        elif mode == "video" and not site.video:
            others = [p for p in video_places(item) if p != place]
            nearby = sorted(others, key=lambda p: places()[p].country != site.country)
            text = reply.say(
                "booking.no_video_place",
                place=place_name(place, reply.language),
                others=reply.say("case.proof_separator").join(place_name(p, reply.language) for p in nearby[:3]),
            )
            buttons = [
                choice_button(
                    reply,
                    f"{place_name(p, reply.language)} · {reply.say('booking.mode.video')}",
                    f"place:{p}|mode:video",
                )
                for p in nearby[:3]
            ]
            buttons.append(
                choice_button(
                    reply,
                    f"{place_name(place, reply.language)} · {reply.say('booking.mode.in_person')}",
                    "mode:in_person",
                )
            )
            values["booking_mode"] = None
            reply.send(self.with_notes(text), [*buttons, self.stop_button()])
            return "booking_mode"
        if not mode:
            if not (site.video and video_allowed(item)):
                values["booking_mode"] = mode = "in_person"
            else:
                text = reply.say("booking.ask_mode", place=place_name(place, reply.language), title=title)
                buttons = [
                    choice_button(reply, reply.say("booking.mode.in_person"), "mode:in_person"),
                    choice_button(reply, reply.say("booking.mode.video"), "mode:video"),
                    self.stop_button(),
                ]
                reply.send(self.with_notes(text), buttons)
                return "booking_mode"
        if values["booking_slot"] and values["booking_slot"] not in {s.key for s in free_slots(site)}:
            # A button of an earlier offer, typed or forged: only a free slot of this place is taken.
            gone = values["booking_slot"] in (self.state.get("shown") or [])
            self.notes.append(reply.say("booking.taken_meanwhile" if gone else "booking.slot_not_understood"))
            values["booking_slot"] = None
        if not values["booking_slot"]:
            return self.ask_slot(site)
        if not values["booking_name"]:
            reply.send(self.with_notes(reply.say("booking.ask_name")), [self.stop_button()])
            return "booking_name"
        if not values["booking_contact"]:
            reply.send(self.with_notes(reply.say("booking.ask_contact")), [self.stop_button()])
            return "booking_contact"
        if not values["booking_confirmed"]:
            self.summary(site)
            return "booking_confirmed"
        return self.book(site)

    def with_notes(self, text: str) -> str:
        return "\n".join([*self.notes, text])

    def stop_button(self) -> dict[str, str]:
        return choice_button(self.reply, self.reply.say("booking.button.stop"), "do:stop")

    def ask_place(self, item: str, allowed: list[str]) -> str:
        reply = self.reply
        title = item_title(item, reply.language)
        close = nearest(self.tracker, allowed, self.state.get("near"))
        wanted_video = self.state.get("asked_mode") == "video"
        ordered = sorted(
            allowed,
            key=lambda p: (
                p != close,
                close is not None and places()[p].country != places()[close].country,
                wanted_video and not places()[p].video,
                places()[p].kind != "overseas_sites",
            ),
        )
        text = reply.say("booking.ask_place", title=title)
        if close:
            text = reply.say("booking.nearest", place=place_name(close, reply.language)) + "\n" + text
        buttons = [
            choice_button(reply, place_name(p, reply.language), f"place:{p}") for p in ordered[:MAX_PLACES_SHOWN]
        ]
        reply.send(self.with_notes(text), [*buttons, self.stop_button()])
        self.state["places"] = ordered[:MAX_PLACES_SHOWN]
        return "booking_place"

    def ask_slot(self, site: Place) -> str:
        reply = self.reply
        free = free_slots(site)
        if not free:
            text = reply.say("booking.no_slots", place=place_name(site.id, reply.language))
            buttons = [
                choice_button(reply, reply.say("booking.button.other_place"), "change:booking_place"),
                choice_button(reply, reply.say("booking.button.leave_message"), "do:handoff"),
                self.stop_button(),
            ]
            reply.send(self.with_notes(text), buttons, booking={"no_slots": site.id})
            self.state["no_slots"] = site.id
            return "booking_slot"
        text = reply.say("booking.ask_slot", place=place_name(site.id, reply.language))
        if self.wish is None and self.state.get("wish_text"):
            self.wish = parse(self.state.pop("wish_text"), citizen_today(self.tracker, site))
        if self.wish is not None:
            found = match(self.wish, free, site.hours, now(), int(defaults(knowledge())["days_ahead"]), SLOTS_SHOWN)
            if found.kind == "exact":
                return self.propose(site, found.slots[0])
            shown = list(found.slots)
            self.notes.append(typed_note(reply, site, found))
            if not shown:
                shown = page(free, None, SLOTS_SHOWN)
            text = ""
        else:
            after = self.state.get("after")
            shown = page(free, slot_key_to_datetime(after) if after else None, SLOTS_SHOWN)
            if not shown:
                self.notes.append(reply.say("booking.no_more_slots"))
                shown = page(free, None, SLOTS_SHOWN)
        buttons = [
            choice_button(reply, when_for_citizen(s.starts_at, site, self.tracker, reply), f"slot:{s.key}")
            for s in shown
        ]
        buttons.append(choice_button(reply, reply.say("booking.button.later"), "later:1"))
        message = self.with_notes(text).strip()
        reply.send(message, [*buttons, self.stop_button()], booking={"slots": [s.key for s in shown]})
        self.state["shown"] = [s.key for s in shown]
        self.state["last_shown"] = shown[-1].key
        return "booking_slot"

    def propose(self, site: Place, slot: Slot) -> str:
        """A typed time that is free: offered for confirmation ("好的" or its button takes it)."""
        reply = self.reply
        at = when_for_citizen(slot.starts_at, site, self.tracker, reply)
        buttons = [
            choice_button(reply, reply.say("booking.button.take_time", time=at), f"slot:{slot.key}"),
            choice_button(reply, reply.say("booking.button.other_times"), "later:1"),
            self.stop_button(),
        ]
        reply.send(
            self.with_notes(reply.say("booking.typed.exact", place=place_name(site.id, reply.language), time=at)),
            buttons,
            booking={"slots": [slot.key], "proposed": slot.key},
        )
        self.state.update(proposed=slot.key, shown=[slot.key], last_shown=slot.key)
        return "booking_slot"

    def summary(self, site: Place) -> None:
        reply, values = self.reply, self.values
        text = reply.say(
            "booking.summary",
            title=item_title(values["booking_item"], reply.language),
            place=place_name(site.id, reply.language),
            mode=reply.say(f"booking.mode.{values['booking_mode']}"),
            time=when_for_citizen(slot_key_to_datetime(values["booking_slot"]), site, self.tracker, reply),
            name=values["booking_name"],
            contact=values["booking_contact"],
        )
        buttons = [choice_button(reply, reply.say("booking.button.confirm"), "do:confirm")]
        for field in ("place", "mode", "time", "name", "contact"):
            slot = "booking_slot" if field == "time" else f"booking_{field}"
            if field == "mode" and not (site.video and video_allowed(values["booking_item"])):
                continue
            buttons.append(choice_button(reply, reply.say(f"booking.button.change_{field}"), f"change:{slot}"))
        buttons.append(self.stop_button())
        reply.send(text + "\n" + reply.say("booking.confirm_question"), buttons)

    def book(self, site: Place) -> str | None:
        """The atomic step: the slot's place, or the next free times when someone took the last one."""
        values, reply = self.values, self.reply
        made = database().book(
            place_id=site.id,
            starts_at=slot_key_to_datetime(values["booking_slot"]),
            capacity=site.hours.capacity,
            mode=values["booking_mode"],
            name=values["booking_name"],
            contact=values["booking_contact"],
            item_id=values["booking_item"],
            language=reply.language,
            conversation_id=self.tracker.sender_id,
        )
        if made is None:
            logger.info("booking lost the last place: place=%s slot=%s", site.id, values["booking_slot"])
            self.values["booking_slot"] = self.values["booking_confirmed"] = None
            self.notes.append(reply.say("booking.taken_meanwhile"))
            self.state.pop("after", None)
            return self.ask_slot(site)
        logger.info("booking made: code=%s place=%s", mask_booking_code(made.code), site.id)
        confirm(reply, made, self.tracker)
        return None


def typed_note(reply: Reply, site: Place, found: Match) -> str:
    """Why a typed time is not offered as such, and what the buttons below it are."""
    day = day_name(found.day, reply) if found.day else ""
    name = place_name(site.id, reply.language)
    if found.kind == "exact":
        at = when_for_citizen(found.slots[0].starts_at, site, reply.tracker, reply)
        return reply.say("booking.typed.exact", place=name, time=at)
    if found.kind == "refused":
        days = int(defaults(knowledge())["days_ahead"])
        return reply.say(f"booking.typed.{found.reason}", place=name, day=day, days=days)
    if found.reason in ("full", "nearest"):
        key = "full" if found.reason == "full" else "nearest_day" if found.day else "nearest"
        return reply.say(f"booking.typed.{key}", place=name, day=day)
    return reply.say("booking.typed.day", place=name, day=day)


def calendar_url(booking: BookingView) -> str:
    base = os.environ.get("DESK_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/")
    return f"{base}/calendar/{booking.calendar_token}.ics"


def booking_payload(booking: BookingView) -> dict[str, Any]:
    return {
        "code": booking.code,
        "place": booking.place_id,
        "item": booking.item_id,
        "mode": booking.mode,
        "starts_at": booking.starts_at.strftime("%Y-%m-%dT%H:%MZ"),
        "status": booking.status,
        "ics": calendar_url(booking),
    }


def confirm(reply: Reply, made: BookingView, tracker: Tracker) -> None:
    """The confirmation: code, time, address (and video instructions), the materials, the calendar link."""
    site = places()[made.place_id]
    entry = knowledge().site(site.kind, site.id, reply.language)
    rows = [
        reply.say("booking.confirmed", code=made.code),
        reply.say(
            "booking.when",
            time=when_for_citizen(made.starts_at.replace(tzinfo=timezone.utc), site, tracker, reply, labelled=True),
        ),
        reply.say("booking.address", address=entry["address"], phone=entry["phone"]),
    ]
    if made.mode == "video":
        rows.append(reply.say("booking.video_instructions"))
    guide = knowledge().guide(made.item_id, reply.language) if made.item_id else None
    if guide is not None:
        rows.append(reply.say("booking.materials"))
        rows += [f"{index}. {entry['name']}" for index, entry in enumerate(guide["materials"], start=1)]
    rows.append(reply.say("booking.ics", url=calendar_url(made)))
    reply.send("\n".join(rows), booking=booking_payload(made))


def _events(form_values: dict[str, Any], state: dict[str, Any], requested: str | None, reply: Reply) -> list[EventType]:
    return [
        *(SlotSet(name, value) for name, value in form_values.items()),
        SlotSet(STATE, state),
        SlotSet(REQUESTED, requested),
        *reply.events(),
    ]


class ValidateBookingForm(Action):
    def name(self) -> str:
        return "validate_booking_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        form = Form(dispatcher, tracker)
        if form.starting and asks_about_booking(form.text):
            # "海外服务站怎么预约？": a question about booking, answered from the guide, which offers the booking.
            from bot.actions.guide import answer_guide, state_of  # guide imports actions that import this module

            named = [item for item in form.entities("guide_item") if knowledge().guide(item)]
            ranked = [item for item, _ in item_ranking(tracker)]
            item = (named or ranked or ["overseas-site-appointment"])[0]
            aspects = [a for a in form.entities("aspect") if a in knowledge().aspects] or None
            place = form.named_place() or form.near_now or tracker.get_slot("place")
            answered = answer_guide(form.reply, item, aspects, place, None, state_of(tracker).topics)
            return [*_events(dict.fromkeys(FIELDS), {}, None, form.reply), *answered]
        outcome = form.read()
        if outcome == "stop":
            form.reply.send(form.reply.say("booking.stopped"), booking={"stopped": True})
            return _events(dict.fromkeys(FIELDS), {}, None, form.reply)
        if outcome == "handoff":
            from bot.actions.handoff import hand_off

            return [
                *_events(dict.fromkeys(FIELDS), {}, None, form.reply),
                *hand_off(form.reply, tracker, "user_request"),
            ]
        if form.starting:
            form.notes.append(form.reply.say("booking.stop_hint"))
        requested = form.next_question()
        if requested is None:
            return _events(dict.fromkeys(FIELDS), {}, None, form.reply)
        return _events(form.values, form.state, requested, form.reply)


# --- view, move or cancel -------------------------------------------------------------------


def op_of(text: str, choice: dict[str, str]) -> str | None:
    if choice.get("op"):
        return choice["op"]
    for op in ("cancel", "move", "view"):
        if said(text, "manage", op):
            return op
    return None


def surname_in(text: str, code_match: re.Match[str] | None, answering: bool) -> str | None:
    """The surname given with the code ("BK7Q4M2P 陈") or alone when it was asked for ("陈", "Rossi")."""
    if code_match is not None:
        rest = text[code_match.end() :].strip(" ,，;；:：")
        token = rest.split()[0] if rest.split() else ""
    elif answering:
        token = text.strip()
    else:
        return None
    token = re.sub(r"^(?:我姓|姓|surname|cognome|nom)[:：\s]*", "", token, flags=re.I).strip(" 。.!！")
    if re.fullmatch(r"[\u4e00-\u9fff]{1,2}|[A-Za-zÀ-ÿ'’\-]{2,30}", token):
        return token
    return None


class ValidateBookingManageForm(Action):
    """Code and surname, then view, move or cancel."""

    def name(self) -> str:
        return "validate_booking_manage_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        text = (tracker.latest_message.get("text") or "").strip()
        choice = choices(tracker)
        requested = tracker.get_slot(REQUESTED)
        starting = tracker.active_loop.get("name") != MANAGE_FORM or not requested
        values = {name: None if starting else tracker.get_slot(name) for name in MANAGE_FIELDS}
        intent = (tracker.latest_message.get("intent") or {}).get("name")

        def done(*extra: EventType) -> list[EventType]:
            return [*(SlotSet(name, None) for name in MANAGE_FIELDS), SlotSet(REQUESTED, None), *extra, *reply.events()]

        def ask(slot: str) -> list[EventType]:
            return [
                *(SlotSet(name, value) for name, value in values.items()),
                SlotSet(REQUESTED, slot),
                *reply.events(),
            ]

        if intent == "request_human":
            from bot.actions.handoff import hand_off

            return [*done(), *hand_off(reply, tracker, "user_request")]
        if choice.get("do") == "stop" or said(text, "stop"):
            reply.send(reply.say("no_more_questions"))
            return done()
        values["booking_op"] = op_of(text, choice) or values["booking_op"]
        code = _CODE.search(text)
        if code:
            values["booking_code"] = "BK" + code.group(1).upper()
        surname = surname_in(text, code, answering=requested == "booking_surname")
        if surname:
            values["booking_surname"] = surname
        failures = float(tracker.get_slot("booking_failures") or 0.0)
        if failures >= MAX_FAILURES:
            reply.send(reply.say("booking.manage.too_many"))
            return done()
        if not values["booking_code"]:
            reply.send(reply.say("booking.manage.ask_code"))
            return ask("booking_code")
        if not values["booking_surname"]:
            reply.send(reply.say("booking.manage.ask_surname"))
            return ask("booking_surname")

        if not lookup_allowed("booking", tracker):
            logger.warning("booking lookups rate limited: client=%s", client_of(tracker) or "no-client")
            reply.send(reply.say("case.too_many_lookups"))
            return done()
        booking = database().find_booking(values["booking_code"], values["booking_surname"])
        if booking is None:
            failures += 1
            logger.info(
                "booking lookup failed: code=%s failures=%d", mask_booking_code(values["booking_code"]), failures
            )
            reply.send(reply.say("booking.manage.too_many" if failures >= MAX_FAILURES else "booking.manage.not_found"))
            if failures >= MAX_FAILURES:
                return done(SlotSet("booking_failures", failures))
            values["booking_code"] = values["booking_surname"] = None
            return [*ask("booking_code"), SlotSet("booking_failures", failures)]
        reset = SlotSet("booking_failures", 0.0)
        site = places()[booking.place_id]
        op = values["booking_op"]
        if op in ("move", "cancel") and booking.status not in ("booked", "arrived"):
            reply.send(
                reply.say(
                    "booking.manage.inactive", code=booking.code, status=reply.say(f"booking.status.{booking.status}")
                )
            )
            return done(reset)
        if op == "cancel":
            cancelled = database().cancel_booking(booking.code, values["booking_surname"])
            logger.info("booking cancelled by the citizen: code=%s", mask_booking_code(booking.code))
            reply.send(reply.say("booking.manage.cancelled", code=booking.code), booking=booking_payload(cancelled))
            return done(reset)
        if op == "move":
            if choice.get("slot"):
                status, moved = database().move_booking(
                    booking.code, values["booking_surname"], slot_key_to_datetime(choice["slot"]), site.hours.capacity
                )
                if status == "moved":
                    at = when_for_citizen(
                        moved.starts_at.replace(tzinfo=timezone.utc), site, tracker, reply, labelled=True
                    )
                    reply.send(
                        reply.say("booking.manage.moved", code=booking.code, time=at), booking=booking_payload(moved)
                    )
                    return done(reset)
                reply.send(reply.say("booking.taken_meanwhile"))
            free = free_slots(site)
            if not free:
                reply.send(
                    reply.say("booking.no_slots", place=place_name(site.id, reply.language)),
                    [choice_button(reply, reply.say("booking.button.leave_message"), "do:handoff")],
                )
                return done(reset)
            after = choice.get("after")
            shown = page(free, slot_key_to_datetime(after) if after else None, SLOTS_SHOWN) or page(
                free, None, SLOTS_SHOWN
            )
            lead = reply.say("booking.ask_slot", place=place_name(site.id, reply.language))
            # "改到下周二上午": the typed day or time matched to the free slots, as in the booking form.
            wish = parse(_CODE.sub(" ", text), citizen_today(tracker, site)) if not choice else None
            if wish is not None:
                days = int(defaults(knowledge())["days_ahead"])
                found = match(wish, free, site.hours, now(), days, SLOTS_SHOWN)
                shown, lead = list(found.slots) or shown, typed_note(reply, site, found)
            buttons = [
                choice_button(reply, when_for_citizen(s.starts_at, site, tracker, reply), f"slot:{s.key}")
                for s in shown
            ]
            buttons.append(choice_button(reply, reply.say("booking.button.later"), f"after:{shown[-1].key}"))
            reply.send(lead, buttons)
            return [*ask("booking_new_slot"), reset]
        # view, or nothing said yet: the booking, with what can be done next
        text = reply.say(
            "booking.manage.view",
            code=booking.code,
            title=item_title(booking.item_id, reply.language),
            place=place_name(site.id, reply.language),
            mode=reply.say(f"booking.mode.{booking.mode}"),
            time=when_for_citizen(booking.starts_at.replace(tzinfo=timezone.utc), site, tracker, reply, labelled=True),
            status=reply.say(f"booking.status.{booking.status}"),
        )
        if booking.cancel_reason and booking.cancelled_by == "staff":
            text += "\n" + reply.say("booking.manage.reason", reason=booking.cancel_reason)
        if booking.status in ("booked",) and op is None:
            buttons = [
                choice_button(reply, reply.say("booking.button.move"), "op:move"),
                choice_button(reply, reply.say("booking.button.cancel"), "op:cancel"),
            ]
            reply.send(text + "\n" + reply.say("booking.manage.what"), buttons, booking=booking_payload(booking))
            return [*ask("booking_op"), reset]
        reply.send(text, booking=booking_payload(booking))
        return done(reset)


class ActionBookingDone(Action):
    """After either form: its slots cleared (what was said was said by the validation)."""

    def name(self) -> str:
        return "action_booking_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return [SlotSet(name, None) for name in (*FIELDS, *MANAGE_FIELDS, STATE)]
