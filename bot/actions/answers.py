"""Turns a guide (and the part asked about) into a short chat answer.

Plain functions, so the actions, the consoles and the tests share one way of
saying a guide.
"""

from __future__ import annotations

from typing import Any

from bot.knowledge import Guide, KnowledgeBase

ASPECT_ORDER = ["materials", "conditions", "time_limit", "fees", "where", "remote", "proxy", "steps"]
FULL = "full"  # the whole guide, one tap away from the summary
REMOTE_WORDS = {"yes": "可以", "partly": "部分环节可以", "no": "需本人到场办理"}
WAY_WORDS = {
    "proxy": "委托亲友代办",
    "video": "海外站点视频办理",
    "mail": "邮寄",
    "online": "网上办理",
    "embassy": "驻外使领馆办理",
}
MAX_SITES_LISTED = 4
# What a relative acting for the citizen brings, whatever the item (see the proxy-handling guide).
PROXY_BRINGS = "经公证（或认证）的委托书原件、委托人护照复印件、代办人本人身份证原件，以及该事项要求的材料（详见“委托亲友代办须知”）"
FULL_LABEL = "完整指南"
SUMMARY_PROMPT = "点下方按钮看材料、代办等详情"
SHORT_WAY_WORDS = {"proxy": "亲友代办", "video": "视频", "mail": "邮寄", "online": "网上", "embassy": "使领馆"}
# A phone at 390 px: the widget's bubble holds about 18 Chinese characters a line (82% of the
# width, 15 px type); Latin letters and digits take about half as much room.
PHONE_LINE_EMS = 18


def _lines(title: str, rows: list[str]) -> str:
    return "\n".join([title, *rows])


def materials(guide: Guide, knowledge: KnowledgeBase) -> str:
    rows = []
    for index, item in enumerate(guide["materials"], start=1):
        extra = [item["form"] + (f"{item['copies']}份" if item.get("copies") else "")]
        for key in ("translation", "certification", "note"):
            if item.get(key):
                extra.append(item[key])
        rows.append(f"{index}. {item['name']}（{'；'.join(extra)}）")
    rows.append(f"亲友代办：{guide['proxy']}")
    return _lines(f"【{guide.title}】所需材料：", rows)


def conditions(guide: Guide, knowledge: KnowledgeBase) -> str:
    rows = [f"申请人：{guide['conditions']['who']}"]
    rows += [f"· {requirement}" for requirement in guide["conditions"]["requirements"]]
    return _lines(f"【{guide.title}】办理条件：", rows)


def time_limit(guide: Guide, knowledge: KnowledgeBase) -> str:
    limits = guide["time_limit"]
    return _lines(f"【{guide.title}】办理时限：", [f"法定时限：{limits['legal']}", f"承诺时限：{limits['promised']}"])


def fees(guide: Guide, knowledge: KnowledgeBase) -> str:
    rows = [
        f"· {fee['item']}：{fee['amount']}" + (f"（{fee['note']}）" if fee.get("note") else "") for fee in guide["fees"]
    ]
    return _lines(f"【{guide.title}】收费标准：", rows)


def _names(knowledge: KnowledgeBase, kind: str, ids: list[str]) -> list[str]:
    return [knowledge.site(kind, site_id)["name"] for site_id in ids]


def where(guide: Guide, knowledge: KnowledgeBase) -> str:
    place = guide["where"]
    rows = []
    desks = _names(knowledge, "domestic_desks", place.get("desks", []))
    if desks:
        rows.append("国内窗口：" + "、".join(desks))
    sites = _names(knowledge, "overseas_sites", place.get("overseas_sites", []))
    if sites:
        shown = "、".join(sites[:MAX_SITES_LISTED]) + (f"等{len(sites)}个站点" if len(sites) > MAX_SITES_LISTED else "")
        rows.append("海外服务站：" + shown)
    online = _names(knowledge, "online", place.get("online", []))
    if online:
        rows.append("网上办理：" + "、".join(online))
    if place.get("note"):
        rows.append(place["note"])
    rows.append(f"咨询电话：{guide['contact']['phone']}（{guide['contact']['hours']}）")
    return _lines(f"【{guide.title}】办理地点：", rows)


def remote(guide: Guide, knowledge: KnowledgeBase) -> str:
    info = guide["remote"]
    ways = "、".join(WAY_WORDS[way] for way in info.get("ways", []))
    rows = [f"人在国外能否办理：{REMOTE_WORDS[info['possible']]}" + (f"（{ways}）" if ways else ""), info["how"]]
    rows.append(f"亲友代办：{guide['proxy']}")
    return _lines(f"【{guide.title}】海外办理：", rows)


def proxy(guide: Guide, knowledge: KnowledgeBase) -> str:
    """Who may act for the citizen, what the relative brings, and whether a site can do it by video."""
    info = guide["remote"]
    rows = [f"谁可以办：{guide['proxy']}"]
    if "proxy" in info.get("ways", []):
        rows.append(f"代办人要带：{PROXY_BRINGS}")
    sites = _names(knowledge, "overseas_sites", guide["where"].get("overseas_sites", []))
    if "video" in info.get("ways", []) and sites:
        rows.append("视频办理：可以到海外服务站视频办理（" + "、".join(sites[:MAX_SITES_LISTED]) + "等）")
    else:
        rows.append("视频办理：本事项不能在海外服务站视频办理")
    return _lines(f"【{guide.title}】亲友代办：", rows)


def steps(guide: Guide, knowledge: KnowledgeBase) -> str:
    rows = [f"{index}. {step}" for index, step in enumerate(guide["steps"], start=1)]
    return _lines(f"【{guide.title}】办理流程：", rows)


def _first_clause(text: str, room: float) -> str:
    """The first clause of a guide's text, cut to `room` ems (the full text is one tap away)."""
    for mark in "；。;，,（(":
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
    return cut + "…"


def _width(line: str) -> float:
    return sum(0.55 if ord(char) < 0x2E80 else 1.0 for char in line)


def summary(guide: Guide, knowledge: KnowledgeBase, nearby: str | None = None) -> str:
    """The first answer: the facts that decide whether to go on, at most about 6 lines on a phone."""
    info = guide["remote"]
    ways = "、".join(SHORT_WAY_WORDS[way] for way in info.get("ways", [])[:2])
    abroad = REMOTE_WORDS[info["possible"]] + (f"（{ways}）" if ways and info["possible"] != "no" else "")
    fees = guide["fees"]
    room = PHONE_LINE_EMS - 3
    time_text = _first_clause(guide["time_limit"]["promised"], room)
    fee_text = _first_clause(fees[0]["amount"], room - 1) + ("等" if len(fees) > 1 else "")
    both = f"时限：{time_text}｜费用：{fee_text}"
    rows = [f"人在国外：{abroad}"]
    rows += [both] if _width(both) <= PHONE_LINE_EMS else [f"时限：{time_text}", f"费用：{fee_text}"]
    # The buttons below say the same as the prompt; with a site line, the prompt gives way (6 lines).
    rows.append(nearby or SUMMARY_PROMPT)
    return _lines(f"【{guide.title}】", rows)


def full(guide: Guide, knowledge: KnowledgeBase) -> str:
    """The whole guide in one message: what the summary leaves out."""
    parts = [overview(guide, knowledge)] + [COMPOSERS[aspect](guide, knowledge) for aspect in ASPECT_ORDER]
    if guide.data.get("notes"):
        parts.append(f"备注：{guide['notes']}")
    return "\n".join(parts)


def overview(guide: Guide, knowledge: KnowledgeBase) -> str:
    info = guide["remote"]
    fee_text = "；".join(f"{fee['item']} {fee['amount']}" for fee in guide["fees"][:2])
    rows = [
        guide["scope"],
        f"办理部门：{guide['department']}",
        f"承诺时限：{guide['time_limit']['promised']}",
        f"费用：{fee_text}",
        f"人在国外：{REMOTE_WORDS[info['possible']]}。{info['how']}",
        "想了解哪方面？可点下方按钮查看材料、条件、时限、地点等。",
    ]
    return _lines(f"【{guide.title}】", rows)


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


def nearby_site(guide: Guide, knowledge: KnowledgeBase, place: str | None) -> str | None:
    """A line about the overseas site where the user is, when the guide can be done there."""
    if not place or place not in guide["where"].get("overseas_sites", []):
        return None
    site = knowledge.site("overseas_sites", place)
    video = "，可视频办理" if site.get("video") else ""
    return f"离您最近：{site['name']}（{site['address']}；{site['hours']}；电话 {site['phone']}{video}）"


def nearby_short(guide: Guide, knowledge: KnowledgeBase, place: str | None) -> str | None:
    """One short line for the summary: the site near the user, when the guide can be done there."""
    if not place or place not in guide["where"].get("overseas_sites", []):
        return None
    site = knowledge.site("overseas_sites", place)
    return f"最近：{site['name']}" + ("，可视频" if site.get("video") else "")


def compose(
    guide: Guide, aspects: str | list[str] | None, knowledge: KnowledgeBase, place: str | None = None
) -> str:
    """The answer about one or more aspects of a guide (the short summary when none).

    Two aspects asked at once ("要多少钱，多久能拿到") are answered in one
    message. `place` is the overseas site the user mentioned; where it helps,
    the answer names that site.
    """
    parts = [aspects] if isinstance(aspects, str) else [a for a in aspects or [] if a]
    if not parts:
        return summary(guide, knowledge, nearby_short(guide, knowledge, place))
    if FULL in parts:
        text = full(guide, knowledge)
    else:
        text = "\n".join(COMPOSERS[part](guide, knowledge) for part in parts if part in COMPOSERS)
    nearby = nearby_site(guide, knowledge, place) if {"where", "remote", FULL} & set(parts) else None
    return f"{text}\n{nearby}" if nearby else text


def aspect_buttons(
    guide: Guide, knowledge: KnowledgeBase, skip: str | list[str] | None = None
) -> list[dict[str, Any]]:
    skipped = {skip} if isinstance(skip, str) else set(skip or [])
    buttons = [
        {"title": knowledge.aspects[aspect]["label"], "payload": f'/ask_aspect{{"aspect":"{aspect}"}}'}
        for aspect in ASPECT_ORDER
        if aspect not in skipped and aspect in knowledge.aspects
    ]
    if FULL not in skipped:
        buttons.append({"title": FULL_LABEL, "payload": f'/ask_aspect{{"aspect":"{FULL}"}}'})
    return buttons


def phone_lines(text: str, ems_per_line: int = PHONE_LINE_EMS) -> int:
    """How many lines a message takes in the widget on a 390 px phone."""
    total = 0
    for line in text.split("\n"):
        width = _width(line)
        total += max(1, -(-int(width * 100) // (ems_per_line * 100)))
    return total
