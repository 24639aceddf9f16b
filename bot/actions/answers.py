"""Turns a guide (and the part asked about) into a short chat answer, in the conversation's language.

Plain functions, so the actions, the consoles and the tests share one way of saying a guide. The
labels around the guide's text come from the message catalog; the guide's text from the guide in
that language (the Chinese guide is authoritative, and a translated answer says so in one line and
keeps the item's Chinese name, which the citizen will need at a desk).
"""

from __future__ import annotations

import re
from typing import Any

from bot.i18n import load_languages, load_messages
from bot.knowledge import Guide, KnowledgeBase

ASPECT_ORDER = ["materials", "conditions", "time_limit", "fees", "where", "remote", "steps"]
MAX_SITES_LISTED = 4
_SAMPLE_REMARK = re.compile(r"（示例号码[^）]*）")


def _say(key: str, language: str, **values: object) -> str:
    return load_messages().text(key, language, **values)


def heading_title(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    """The item's name; in a translation, with the Chinese name a desk will know it by."""
    if language == load_languages().default:
        return guide.title
    return f"{guide.title} ({knowledge.guides[guide.id].title})"


def _heading(guide: Guide, knowledge: KnowledgeBase, language: str, part: str) -> str:
    return _say("guide.heading", language, title=heading_title(guide, knowledge, language), part=part)


def _part(key: str, knowledge: KnowledgeBase, language: str) -> str:
    return knowledge.aspect_label(key, language) + _say("punct.colon", language)


def _bracketed(text: str, language: str) -> str:
    return _say("punct.open", language) + text + _say("punct.close", language)


def _lines(title: str, rows: list[str]) -> str:
    return "\n".join([title, *rows])


def materials(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    rows = []
    for index, item in enumerate(guide["materials"], start=1):
        copies = _say("guide.copies", language, count=item["copies"]) if item.get("copies") else ""
        extra = [item["form"] + copies]
        for key in ("translation", "certification", "note"):
            if item.get(key):
                extra.append(item[key])
        joined = _say("guide.clause_separator", language).join(extra)
        rows.append(f"{index}. {item['name']}{_bracketed(joined, language)}")
    rows.append(_say("guide.materials.proxy", language, proxy=guide["proxy"]))
    return _lines(_heading(guide, knowledge, language, _part("materials", knowledge, language)), rows)


def conditions(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    rows = [_say("guide.conditions.who", language, who=guide["conditions"]["who"])]
    rows += [f"· {requirement}" for requirement in guide["conditions"]["requirements"]]
    return _lines(_heading(guide, knowledge, language, _part("conditions", knowledge, language)), rows)


def time_limit(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    limits = guide["time_limit"]
    rows = [
        _say("guide.time_limit.legal", language, text=limits["legal"]),
        _say("guide.time_limit.promised", language, text=limits["promised"]),
    ]
    return _lines(_heading(guide, knowledge, language, _part("time_limit", knowledge, language)), rows)


def _fee_row(fee: dict[str, Any], language: str) -> str:
    note = fee.get("note")
    row = f"· {fee['item']}{_say('punct.colon', language)}{fee['amount']}"
    return row + (_bracketed(note, language) if note else "")


def fees(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    rows = [_fee_row(fee, language) for fee in guide["fees"]]
    return _lines(_heading(guide, knowledge, language, _part("fees", knowledge, language)), rows)


def _names(knowledge: KnowledgeBase, kind: str, ids: list[str], language: str) -> list[str]:
    return [knowledge.site(kind, site_id, language)["name"] for site_id in ids]


def _phone(guide: Guide, language: str) -> str:
    """The guide's phone; the sample-number remark of the Chinese guide said in `language`."""
    phone = guide["contact"]["phone"]
    if language == load_languages().default:
        return phone
    return _SAMPLE_REMARK.sub(lambda _: _bracketed(_say("guide.sample_number", language), language), phone)


def where(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    place = guide["where"]
    separator = _say("guide.list_separator", language)
    rows = []
    desks = _names(knowledge, "domestic_desks", place.get("desks", []), language)
    if desks:
        rows.append(_say("guide.where.desks", language, names=separator.join(desks)))
    sites = _names(knowledge, "overseas_sites", place.get("overseas_sites", []), language)
    if sites:
        shown = separator.join(sites[:MAX_SITES_LISTED])
        if len(sites) > MAX_SITES_LISTED:
            shown = _say("guide.where.sites_more", language, names=shown, count=len(sites))
        rows.append(_say("guide.where.sites", language, names=shown))
    online = _names(knowledge, "online", place.get("online", []), language)
    if online:
        rows.append(_say("guide.where.online", language, names=separator.join(online)))
    if place.get("note"):
        rows.append(place["note"])
    rows.append(_say("guide.where.phone", language, phone=_phone(guide, language), hours=guide["contact"]["hours"]))
    return _lines(_heading(guide, knowledge, language, _part("where", knowledge, language)), rows)


def _remote_answer(guide: Guide, language: str) -> str:
    info = guide["remote"]
    answer = _say(f"guide.remote.possible.{info['possible']}", language)
    ways = _say("guide.list_separator", language).join(
        _say(f"guide.way.{way}", language) for way in info.get("ways", [])
    )
    return answer + (_bracketed(ways, language) if ways else "")


def remote(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    rows = [_say("guide.remote.possible", language, answer=_remote_answer(guide, language)), guide["remote"]["how"]]
    rows.append(_say("guide.materials.proxy", language, proxy=guide["proxy"]))
    return _lines(_heading(guide, knowledge, language, _part("remote", knowledge, language)), rows)


def steps(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    rows = [f"{index}. {step}" for index, step in enumerate(guide["steps"], start=1)]
    return _lines(_heading(guide, knowledge, language, _part("steps", knowledge, language)), rows)


def overview(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    info = guide["remote"]
    fee_text = _say("guide.clause_separator", language).join(
        f"{fee['item']}{_say('punct.colon', language)}{fee['amount']}" for fee in guide["fees"][:2]
    )
    rows = [
        guide["scope"],
        _say("guide.overview.department", language, department=guide["department"]),
        _say("guide.overview.promised", language, text=guide["time_limit"]["promised"]),
        _say("guide.overview.fees", language, text=fee_text),
        _say(
            "guide.overview.remote",
            language,
            answer=_say(f"guide.remote.possible.{info['possible']}", language),
            how=info["how"],
        ),
        _say("guide.overview.more", language),
    ]
    return _lines(_heading(guide, knowledge, language, ""), rows)


COMPOSERS = {
    "materials": materials,
    "conditions": conditions,
    "time_limit": time_limit,
    "fees": fees,
    "where": where,
    "remote": remote,
    "steps": steps,
}


def nearby_site(guide: Guide, knowledge: KnowledgeBase, place: str | None, language: str) -> str | None:
    """A line about the overseas site where the user is, when the guide can be done there."""
    if not place or place not in guide["where"].get("overseas_sites", []):
        return None
    site = knowledge.site("overseas_sites", place, language)
    video = _say("guide.nearby.video", language) if site.get("video") else ""
    return _say(
        "guide.nearby",
        language,
        name=site["name"],
        address=site["address"],
        hours=site["hours"],
        phone=site["phone"],
        video=video,
    )


def compose(
    guide: Guide, aspect: str | None, knowledge: KnowledgeBase, place: str | None = None, language: str | None = None
) -> str:
    """The answer for one aspect of a guide (its overview when aspect is None), in `language`.

    `guide` is the guide in that language (`knowledge.guide(id, language)`); `place` is the overseas
    site the user mentioned: where it helps, the answer names that site.
    """
    language = language or load_languages().default
    text = COMPOSERS.get(aspect or "", overview)(guide, knowledge, language)
    nearby = nearby_site(guide, knowledge, place, language) if aspect in (None, "where", "remote") else None
    lines = [text, nearby] if nearby else [text]
    authoritative = _say("guide.authoritative", language)
    if authoritative:
        lines.append(authoritative)
    return "\n".join(lines)


def aspect_buttons(
    guide: Guide, knowledge: KnowledgeBase, skip: str | None = None, language: str | None = None
) -> list[dict[str, Any]]:
    return [
        {"title": knowledge.aspect_label(aspect, language), "payload": f'/ask_aspect{{"aspect":"{aspect}"}}'}
        for aspect in ASPECT_ORDER
        if aspect != skip
    ]
