"""Questions about the platform itself ("你们周六上班吗", "巴黎服务站在哪", "米兰有没有服务点", "电话多少"),
answered from knowledge/sites.yml instead of "请问您想了解哪一项业务？" (issue 11).

Only asked when no service item is in question: the guides answer where an item is handled.
The sites are the ones in the city or country the citizen names, else the one they named earlier
(the `place` slot), else all of them, with the question which city they are in.
"""

from __future__ import annotations

import re
from typing import Any

from bot.actions.language import Reply
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


def answer_platform(reply: Reply, text: str, kb: Any, place: str | None) -> None:
    language = reply.language
    overseas = {site["id"] for site in kb.sites["overseas_sites"]}
    ids = sites_named(text, kb) or ([place] if place in overseas else [])
    lines = [
        reply.say(
            "platform.online", hours=kb.site_text("clerk_hours", language), hotline=kb.site_text("hotline", language)
        )
    ]
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
    reply.send("\n".join(lines), platform={"sites": ids})
