"""Questions about the platform itself ("你们周六上班吗", "巴黎服务站在哪", "米兰有没有服务点", "电话多少"),
answered from knowledge/sites.yml instead of "请问您想了解哪一项业务？" (issue 11).

Asked when no service item is in question (the guides answer where an item is handled), when the
item is the overseas sites themselves and the question is where, when or how to reach them
(not how to book), and for what the platform is (intent ask_platform, ActionPlatform). The sites are
the ones in the city or country the citizen names, else the one they named earlier (the `place`
slot), else all of them, with the question which city they are in.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.booking import said
from bot.actions.language import Reply
from bot.actions.resources import database, knowledge
from bot.actions.understanding import latest_place
from bot.clerk_hours import CLERK_DESK, default_schedule, effective_schedule, hours_text
from bot.knowledge.places import sites_named

# What a question about the platform's sites, hours and phones says, in the four languages.
PLATFORM = re.compile(
    r"服务站|服务点|网点|办事处|站点|上班|营业|开门|关门|几点|周六|周日|周末|星期[六天日]|礼拜|电话|热线|联系方式|地址|在哪|哪里|"
    r"\b(?:sede|sedi|sportell\w*|uffic\w*|orari\w*|aperti|telefono|indirizzo|dove\s+siete|"
    r"bureau\w*|horaires?|ouverts?|t[ée]l[ée]phone|adresse|o[uù]\s+[êe]tes|"
    r"office\w*|opening|hours|open\s+on|phone|address|where\s+are\s+you)\b",
    re.IGNORECASE,
)
HOURS = re.compile(
    r"上班|营业|开门|关门|几点|周六|周日|周末|星期|礼拜|时间|orari|aperti|horaire|ouvert|hours|open", re.IGNORECASE
)


def is_platform_question(text: str) -> bool:
    return bool(PLATFORM.search(text or ""))


def is_site_question(text: str) -> bool:
    """Where, when or how to reach the sites ("在意大利有服务站吗", "巴黎服务站在哪"), not how to book one."""
    return is_platform_question(text) and not said(text or "", "book")


def clerk_hours(language: str | None) -> str:
    """The clerks' hours as citizens read them: sites.yml's text, or an admin's change (bot/clerk_hours.py)."""
    kb = knowledge()
    written = kb.site_text("clerk_hours", language)
    row = database().clerk_hours_settings(CLERK_DESK)
    return hours_text(effective_schedule(default_schedule(kb.sites), row), written, language)


def platform_lines(reply: Reply, text: str, kb: Any, place: str | None) -> tuple[list[str], list[str]]:
    """(the answer's lines, the ids of the sites it names): the online desk's hours and hotline, then
    the sites in the city or country named (or the one named earlier), else all of them."""
    language = reply.language
    overseas = {site["id"] for site in kb.sites["overseas_sites"]}
    ids = sites_named(text, kb) or ([place] if place in overseas else [])
    lines = [reply.say("platform.online", hours=clerk_hours(language), hotline=kb.site_text("hotline", language))]
    if ids:
        lines.append(reply.say("platform.sites_here"))
        for site_id in ids:
            site = kb.site("overseas_sites", site_id, language)
            lines.append(
                "· "
                + reply.say(
                    "platform.site",
                    name=site["name"],
                    address=site["address"],
                    phone=site["phone"],
                    hours=site["hours"],
                )
            )
    elif HOURS.search(text):
        lines.append(reply.say("platform.all_hours"))
        for site_id in sorted(overseas, key=[s["id"] for s in kb.sites["overseas_sites"]].index):
            site = kb.site("overseas_sites", site_id, language)
            lines.append("· " + reply.say("platform.site_hours", name=site["name"], hours=site["hours"]))
    else:
        names = "、" if language == "zh" else ", "
        listed = names.join(kb.site("overseas_sites", s["id"], language)["name"] for s in kb.sites["overseas_sites"])
        lines.append(reply.say("platform.all_sites", names=listed))
    return lines, ids


def answer_platform(reply: Reply, text: str, kb: Any, place: str | None) -> None:
    lines, ids = platform_lines(reply, text, kb, place)
    reply.send("\n".join(lines), platform={"sites": ids})


class ActionPlatform(Action):
    """What the platform is and how it works (intent ask_platform): what the assistant does, then the
    online desk's hours and the sites, as for any question about the platform."""

    def name(self) -> str:
        return "action_platform"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        text = tracker.latest_message.get("text") or ""
        lines, ids = platform_lines(reply, text, knowledge(), latest_place(tracker) or tracker.get_slot("place"))
        buttons = [
            reply.button("button.site_appointment", "/item_overseas_site_appointment"),
            reply.button("button.case_status", "/check_case_status"),
            reply.button("button.human", "/request_human"),
        ]
        reply.send("\n".join([reply.say("platform.about"), *lines]), buttons, platform={"sites": ids, "about": True})
        return [SlotSet("misunderstandings", 0.0), SlotSet("candidates", None), *reply.events()]
