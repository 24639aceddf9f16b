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

ASPECT_ORDER = ["materials", "conditions", "time_limit", "fees", "where", "remote", "proxy", "steps"]
FULL = "full"  # the whole guide, one tap away from the summary
MAX_SITES_LISTED = 4
# A phone at 390 px: the widget's bubble holds about 18 Chinese characters a line (82% of the
# width, 15 px type); Latin letters and digits take about half as much room.
PHONE_LINE_EMS = 18
MAX_SUMMARY_LINES = 6
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


def proxy(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    """Who may act for the citizen, what the relative brings, and whether a site can do it by video."""
    info = guide["remote"]
    rows = [_say("guide.proxy.who", language, proxy=guide["proxy"])]
    if "proxy" in info.get("ways", []):
        rows.append(_say("guide.proxy.brings", language))
    sites = _names(knowledge, "overseas_sites", guide["where"].get("overseas_sites", []), language)
    if "video" in info.get("ways", []) and sites:
        names = _say("guide.list_separator", language).join(sites[:MAX_SITES_LISTED])
        rows.append(_say("guide.proxy.video", language, names=names))
    else:
        rows.append(_say("guide.proxy.no_video", language))
    return _lines(_heading(guide, knowledge, language, _part("proxy", knowledge, language)), rows)


def steps(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    rows = [f"{index}. {step}" for index, step in enumerate(guide["steps"], start=1)]
    return _lines(_heading(guide, knowledge, language, _part("steps", knowledge, language)), rows)


def _width(line: str) -> float:
    return sum(0.55 if ord(char) < 0x2E80 else 1.0 for char in line)


def phone_lines(text: str, ems_per_line: int = PHONE_LINE_EMS) -> int:
    """How many lines a message takes in the widget on a 390 px phone."""
    total = 0
    for line in text.split("\n"):
        total += max(1, -(-int(_width(line) * 100) // (ems_per_line * 100)))
    return total


def _first_clause(text: str, room: float) -> str:
    """The first clause of a guide's text, cut to `room` ems at a word's end (the full text is one tap away)."""
    for mark in ("；", "。", ";", ". ", "，", ",", "（", "("):
        head = text.split(mark)[0].strip()
        if head:
            text = head
    if _width(text) <= room:
        return text
    cut = ""
    for char in text:
        if _width(cut + char) > room - 1:
            break
        cut += char
    if " " in cut.strip() and text[len(cut) : len(cut) + 1].isalnum():
        # Latin scripts: do not break a word.
        cut = cut.rstrip().rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def summary(
    guide: Guide, knowledge: KnowledgeBase, language: str, nearby: str | None = None, site_name: str | None = None
) -> str:
    """The first answer: the facts that decide whether to go on, at most 6 lines on a phone.

    Each fact gets up to two lines; when the whole is longer than `MAX_SUMMARY_LINES`, the prompt
    line goes first (the buttons say the same), then the time and fee are cut to one line each,
    then (in a translation, whose heading also carries the Chinese name and whose answer ends with
    the line saying the Chinese guide is authoritative) the ways of doing it from abroad and the
    translated title are shortened, and the nearby site (`site_name`) moves into the from-abroad
    line; the full text is one tap away.
    """
    info = guide["remote"]
    heading = _heading(guide, knowledge, language, "")
    fees = guide["fees"]
    default = language == load_languages().default
    authoritative = _say("guide.authoritative", language)
    # The line compose() adds after a translated summary counts against the same budget.
    budget = MAX_SUMMARY_LINES - (phone_lines(authoritative) if authoritative else 0)

    def abroad_row(with_ways: bool, site: str | None = None) -> str:
        answer = _say(f"guide.remote.possible.{info['possible']}", language)
        if site:
            return _say("guide.summary.abroad", language, answer=answer + _bracketed(site, language))
        ways = _say("guide.list_separator", language).join(
            _say(f"guide.short_way.{way}", language) for way in info.get("ways", [])[:2]
        )
        if with_ways and ways and info["possible"] != "no":
            answer += _bracketed(ways, language)
        return _say("guide.summary.abroad", language, answer=answer)

    def rows_for(
        lines_each: int, prompt: bool, with_ways: bool = True, heading_lines: int = 0, fold_site: bool = False
    ) -> list[str]:
        time_room = lines_each * PHONE_LINE_EMS - _width(_say("guide.summary.time", language, text=""))
        fee_room = (
            lines_each * PHONE_LINE_EMS
            - _width(_say("guide.summary.fees", language, text=""))
            - (_width(_say("guide.summary.fees_more", language, text="")) if len(fees) > 1 else 0)
        )
        time_text = _first_clause(guide["time_limit"]["promised"], time_room)
        fee_text = _first_clause(fees[0]["amount"], fee_room)
        if len(fees) > 1:
            fee_text = _say("guide.summary.fees_more", language, text=fee_text)
        both = _say("guide.summary.time_fees", language, time=time_text, fees=fee_text)
        title = _short_heading(guide, knowledge, language, heading_lines) if heading_lines else heading
        folded = fold_site and site_name is not None
        rows = [title, abroad_row(with_ways, site_name if folded else None)]
        if _width(both) <= PHONE_LINE_EMS:
            rows.append(both)
        else:
            rows += [_say("guide.summary.time", language, text=time_text), _say("guide.summary.fees", language, text=fee_text)]
        if nearby and not folded:
            rows.append(nearby)
        if prompt:
            rows.append(_say("guide.summary.more", language))
        return rows

    steps: list[tuple[int, bool, bool, int, bool]] = [(2, True, True, 0, False), (2, False, True, 0, False)]
    steps.append((1, False, True, 0, False))
    if not default:
        steps += [(1, False, False, 0, False), (1, False, False, 2, False), (1, False, False, 2, True)]
    for lines_each, prompt, with_ways, heading_lines, fold_site in steps:
        rows = rows_for(lines_each, prompt and not nearby, with_ways, heading_lines, fold_site)
        if phone_lines("\n".join(rows)) <= budget:
            break
    return "\n".join(rows)


def _short_heading(guide: Guide, knowledge: KnowledgeBase, language: str, lines: int) -> str:
    """A translated heading in `lines` lines at most: the translated title is cut, the Chinese
    name (what a desk knows the item by) is kept whole."""
    chinese = f" ({knowledge.guides[guide.id].title})"
    frame = _say("guide.heading", language, title=chinese, part="")
    room = lines * PHONE_LINE_EMS - _width(frame)
    title = guide.title if _width(guide.title) <= room else _first_clause(guide.title, room)
    return _say("guide.heading", language, title=title + chinese, part="")


def full(guide: Guide, knowledge: KnowledgeBase, language: str) -> str:
    """The whole guide in one message: what the summary leaves out."""
    parts = [overview(guide, knowledge, language)]
    parts += [COMPOSERS[aspect](guide, knowledge, language) for aspect in ASPECT_ORDER]
    if guide.data.get("notes"):
        parts.append(_say("guide.full.notes", language, notes=guide["notes"]))
    return "\n".join(parts)


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
    "proxy": proxy,
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


def nearby_short(guide: Guide, knowledge: KnowledgeBase, place: str | None, language: str) -> str | None:
    """One short line for the summary: the site near the user, when the guide can be done there."""
    if not place or place not in guide["where"].get("overseas_sites", []):
        return None
    site = knowledge.site("overseas_sites", place, language)
    video = _say("guide.nearby_short.video", language) if site.get("video") else ""
    return _say("guide.nearby_short", language, name=site["name"], video=video)


def compose(
    guide: Guide,
    aspects: str | list[str] | None,
    knowledge: KnowledgeBase,
    place: str | None = None,
    language: str | None = None,
) -> str:
    """The answer about one or more aspects of a guide (the short summary when none), in `language`.

    Two aspects asked at once ("要多少钱，多久能拿到") are answered in one message; `full` is the
    whole guide. `guide` is the guide in that language (`knowledge.guide(id, language)`); `place`
    is the overseas site the user mentioned: where it helps, the answer names that site.
    """
    language = language or load_languages().default
    parts = [aspects] if isinstance(aspects, str) else [a for a in aspects or [] if a]
    if not parts:
        lines = [
            summary(
                guide,
                knowledge,
                language,
                nearby_short(guide, knowledge, place, language),
                knowledge.site("overseas_sites", place, language)["name"]
                if nearby_short(guide, knowledge, place, language)
                else None,
            )
        ]
    else:
        if FULL in parts:
            text = full(guide, knowledge, language)
        else:
            text = "\n".join(COMPOSERS[part](guide, knowledge, language) for part in parts if part in COMPOSERS)
        nearby = nearby_site(guide, knowledge, place, language) if {"where", "remote", FULL} & set(parts) else None
        lines = [text, nearby] if nearby else [text]
    authoritative = _say("guide.authoritative", language)
    if authoritative:
        lines.append(authoritative)
    return "\n".join(lines)


def aspect_buttons(
    guide: Guide, knowledge: KnowledgeBase, skip: str | list[str] | None = None, language: str | None = None
) -> list[dict[str, Any]]:
    skipped = {skip} if isinstance(skip, str) else set(skip or [])
    buttons = [
        {"title": knowledge.aspect_label(aspect, language), "payload": f'/ask_aspect{{"aspect":"{aspect}"}}'}
        for aspect in ASPECT_ORDER
        if aspect not in skipped and aspect in knowledge.aspects
    ]
    if FULL not in skipped:
        buttons.append(
            {"title": _say("button.full_guide", language or load_languages().default), "payload": f'/ask_aspect{{"aspect":"{FULL}"}}'}
        )
    return buttons
