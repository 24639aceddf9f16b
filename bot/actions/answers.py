"""Turns a guide (and the part asked about) into a short chat answer.

Plain functions, so the actions, the consoles and the tests share one way of
saying a guide.
"""

from __future__ import annotations

from typing import Any

from bot.knowledge import Guide, KnowledgeBase

ASPECT_ORDER = ["materials", "conditions", "time_limit", "fees", "where", "remote", "steps"]
REMOTE_WORDS = {"yes": "可以", "partly": "部分环节可以", "no": "需本人到场办理"}
WAY_WORDS = {
    "proxy": "委托亲友代办",
    "video": "海外站点视频办理",
    "mail": "邮寄",
    "online": "网上办理",
    "embassy": "驻外使领馆办理",
}
MAX_SITES_LISTED = 4


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


def steps(guide: Guide, knowledge: KnowledgeBase) -> str:
    rows = [f"{index}. {step}" for index, step in enumerate(guide["steps"], start=1)]
    return _lines(f"【{guide.title}】办理流程：", rows)


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
    "steps": steps,
}


def nearby_site(guide: Guide, knowledge: KnowledgeBase, place: str | None) -> str | None:
    """A line about the overseas site where the user is, when the guide can be done there."""
    if not place or place not in guide["where"].get("overseas_sites", []):
        return None
    site = knowledge.site("overseas_sites", place)
    video = "，可视频办理" if site.get("video") else ""
    return f"离您最近：{site['name']}（{site['address']}；{site['hours']}；电话 {site['phone']}{video}）"


def compose(guide: Guide, aspect: str | None, knowledge: KnowledgeBase, place: str | None = None) -> str:
    """The answer for one aspect of a guide (its overview when aspect is None).

    `place` is the overseas site the user mentioned; where it helps, the answer
    names that site.
    """
    text = COMPOSERS.get(aspect or "", overview)(guide, knowledge)
    nearby = nearby_site(guide, knowledge, place) if aspect in (None, "where", "remote") else None
    return f"{text}\n{nearby}" if nearby else text


def aspect_buttons(guide: Guide, knowledge: KnowledgeBase, skip: str | None = None) -> list[dict[str, Any]]:
    return [
        {"title": knowledge.aspects[aspect]["label"], "payload": f'/ask_aspect{{"aspect":"{aspect}"}}'}
        for aspect in ASPECT_ORDER
        if aspect != skip
    ]
