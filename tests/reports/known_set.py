"""A known set of conversations with fixed outcomes, written straight into the desk's tables.

tests/reports/test_figures.py counts every figure of October 2026 by hand from this set (the
counts are written out there, next to the reasoning). Times are Beijing times (UTC+8), stored
as the naive UTC the desk stores.

| id | citizen | when (Beijing) | what happens |
|----|---------|----------------|--------------|
| c1 | A | 10-01 00:10 | two guide answers (passport), one marked helpful, rated 5 "很方便": contained |
| c2 | B | 10-05 10:00 | guide (hukou), marked not helpful (unclear, comment with a phone number); B writes again at 20:00: repeated |
| c3 | B | 10-05 20:00 | guide (hukou), marked not helpful (wrong item): contained |
| c4 | C | 10-10 14:00 | Italian, asks for a person: queued (user_request), claimed at +62 s, clerk at +122 s, closed at +722 s, rated 2 |
| c5 | D | 10-12 23:30 | French, guide (passport, helpful), complaint: queued +12, claimed +312, clerk +342, handed back +1002, rated 4 |
| c6 | E | 10-15 08:00 | fallback, clarification, hand-off (repeated_misunderstanding) never claimed: abandoned |
| c7 | F | 10-20 09:00 | failed case proof: queued +3, claimed +303, clerk +603, closed +903; rating asked, not given |
| c8 | G | 10-25 16:00 | English, out of scope, then guide (passport) marked not helpful (outdated): contained |
| c9 | H | 10-28 11:00 | bot down: queued (bot_unavailable) +1, claimed +31, clerk +61, closed +161, rated 1 |
| c10 | I | 10-31 23:00 | guide (notary), a clerk takes over at +100 (no queue), clerk +130, closes +400 |
| c11 | - | 10-16 | an opened widget, nothing written: not a conversation |
| c12 | A | 09-30 23:50 | September: guide; A writes again (c1) 20 minutes later: repeated |
| c13 | J | 11-01 00:30 | November, after c14 |
| c14 | J | 10-31 22:00 | fallback on "那个东西怎么弄！", then guide (passport); J writes again (c13) within 24 h: repeated |
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from bot.db import Database
from bot.desk.tables import DeskAnswerFeedback, DeskConversation, DeskEvent, DeskMessage, DeskRating, DeskUser

CST = timezone(timedelta(hours=8))
CLERK_NAME = "报表测试工作人员"


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CST).astimezone(timezone.utc).replace(tzinfo=None)


class Conversation:
    """Writes one conversation's lines and events at offsets (seconds) from its start."""

    def __init__(self, session: Any, cid: str, start: datetime, clerk_id: int, **values: Any):
        self.session, self.id, self.start, self.clerk_id = session, cid, start, clerk_id
        session.add(DeskConversation(id=cid, state="bot", understood={}, created_at=start, updated_at=start, **values))
        session.flush()

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def line(self, seconds: float, sender: str, text: str, data: dict[str, Any] | None = None) -> int:
        row = DeskMessage(conversation_id=self.id, sender=sender, text=text, data=data or {}, created_at=self.at(seconds))
        self.session.add(row)
        self.session.flush()
        return row.id

    def citizen(self, seconds: float, text: str) -> int:
        return self.line(seconds, "citizen", text)

    def guide(self, seconds: float, item: str, language: str = "zh") -> int:
        return self.line(seconds, "bot", f"（{item} 的指南）", {"custom": {"guide_item": item, "aspect": None, "language": language}})

    def bot(self, seconds: float, custom: dict[str, Any]) -> int:
        return self.line(seconds, "bot", "……", {"custom": custom})

    def clerk(self, seconds: float, text: str) -> int:
        return self.line(seconds, "clerk", text)

    def event(self, seconds: float, kind: str, reason: str | None = None) -> None:
        user = self.clerk_id if kind in ("claimed", "handback", "closed") else None
        self.session.add(DeskEvent(conversation_id=self.id, kind=kind, reason=reason, user_id=user, at=self.at(seconds)))

    def mark(self, seconds: float, message_id: int, helpful: bool, reason: str | None = None, comment: str | None = None) -> None:
        self.session.add(
            DeskAnswerFeedback(
                message_id=message_id, conversation_id=self.id, helpful=helpful, reason=reason, comment=comment,
                at=self.at(seconds),
            )
        )  # fmt: skip

    def rating(self, seconds: float, because: str, score: int | None, comment: str | None = None) -> None:
        rated = self.at(seconds + 5) if score is not None else None
        self.session.add(
            DeskRating(
                conversation_id=self.id, asked_because=because, asked_at=self.at(seconds), score=score,
                comment=comment, rated_at=rated,
            )
        )  # fmt: skip


def write_known_set(database: Database) -> None:
    database.create_schema()
    with database.session() as session:
        clerk = DeskUser(name=CLERK_NAME, role="clerk", password_hash="x")
        session.add(clerk)
        session.flush()

        def conversation(cid: str, start: datetime, **values: Any) -> Conversation:
            return Conversation(session, cid, start, clerk.id, **values)

        c = conversation("known-c1", utc(2026, 10, 1, 0, 10), citizen="A", site="米兰服务站", country="意大利", language="zh")
        c.citizen(0, "护照过期了怎么换")
        m1 = c.guide(2, "passport-renewal")
        c.mark(30, m1, True)
        c.citizen(40, "那要多少钱？")
        c.guide(42, "passport-renewal")
        c.rating(60, "citizen", 5, "很方便")

        c = conversation("known-c2", utc(2026, 10, 5, 10), citizen="B", country="西班牙", language="zh")
        c.citizen(0, "出国了户口要注销吗")
        m3 = c.guide(3, "hukou-cancel-emigration")
        c.mark(20, m3, False, "unclear", "看不懂，请打13812345678")

        c = conversation("known-c3", utc(2026, 10, 5, 20), citizen="B", country="西班牙", language="zh")
        c.citizen(0, "注销户口要带什么材料")
        m4 = c.guide(2, "hukou-cancel-emigration")
        c.mark(10, m4, False, "wrong_item")

        c = conversation("known-c4", utc(2026, 10, 10, 14), citizen="C", site="普拉托服务站", country="意大利", language="it")
        c.citizen(0, "Vorrei parlare con una persona")
        c.bot(1, {"handoff": {"reason": "user_request"}, "language": "it"})
        c.event(2, "queued", "user_request")
        c.event(62, "claimed")
        c.clerk(122, "您好，我是工作人员")
        c.citizen(200, "grazie")
        c.event(722, "closed")
        c.rating(723, "closed", 2, "等太久了，电话13812345678")

        c = conversation("known-c5", utc(2026, 10, 12, 23, 30), citizen="D", country="法国", language="fr")
        c.citizen(0, "Je veux renouveler mon passeport")
        m5 = c.guide(2, "passport-renewal", "fr")
        c.mark(5, m5, True)
        c.citizen(10, "c'est inadmissible")
        c.bot(11, {"handoff": {"reason": "complaint"}, "language": "fr"})
        c.event(12, "queued", "complaint")
        c.event(312, "claimed")
        c.clerk(342, "Bonjour")
        c.event(1002, "handback")
        c.rating(1003, "handback", 4)

        c = conversation("known-c6", utc(2026, 10, 15, 8), citizen="E", site="米兰服务站", country="意大利", language="zh")
        c.citizen(0, "那个东西怎么弄")
        c.bot(1, {"candidates": [], "language": "zh"})
        c.citizen(20, "就是那个证明")
        c.bot(21, {"candidates": ["hukou-certificate", "exit-entry-record-query"], "language": "zh"})
        c.citizen(40, "都不是")
        c.bot(41, {"handoff": {"reason": "repeated_misunderstanding"}, "language": "zh"})
        c.event(42, "queued", "repeated_misunderstanding")

        c = conversation("known-c7", utc(2026, 10, 20, 9), citizen="F", country="荷兰", language="zh")
        c.citizen(0, "查办件进度 WZ202610080017 陈 1234")
        c.bot(2, {"handoff": {"reason": "case_verification_failed"}, "language": "zh"})
        c.event(3, "queued", "case_verification_failed")
        c.event(303, "claimed")
        c.clerk(603, "请提供证件")
        c.event(903, "closed")
        c.rating(904, "closed", None)

        c = conversation("known-c8", utc(2026, 10, 25, 16), citizen="G", country="英国", language="en")
        c.citizen(0, "What's the weather in Wenzhou?")
        c.bot(1, {"out_of_scope": True, "language": "en"})
        c.citizen(30, "How do I renew my passport?")
        m6 = c.guide(31, "passport-renewal", "en")
        c.mark(40, m6, False, "outdated", "fees changed")

        c = conversation("known-c9", utc(2026, 10, 28, 11), citizen="H", language="zh")
        c.citizen(0, "护照")
        c.line(1, "system", "抱歉，智能助手暂时无法回应。", {"event": "queued", "language": "zh"})
        c.event(1, "queued", "bot_unavailable")
        c.event(31, "claimed")
        c.clerk(61, "您好")
        c.event(161, "closed")
        c.rating(162, "closed", 1)

        c = conversation("known-c10", utc(2026, 10, 31, 23), citizen="I", site="普拉托服务站", country="意大利", language="zh")
        c.citizen(0, "委托书公证怎么办")
        c.guide(2, "notary-power-of-attorney")
        c.event(100, "claimed")
        c.clerk(130, "我来帮您")
        c.event(400, "closed")

        conversation("known-c11", utc(2026, 10, 16, 12), language="zh")

        c = conversation("known-c12", utc(2026, 9, 30, 23, 50), citizen="A", language="zh")
        c.citizen(0, "护照怎么换")
        c.guide(2, "passport-renewal")

        c = conversation("known-c13", utc(2026, 11, 1, 0, 30), citizen="J", language="zh")
        c.citizen(0, "护照换发要多久")
        c.guide(2, "passport-renewal")

        c = conversation("known-c14", utc(2026, 10, 31, 22), citizen="J", language="zh")
        c.citizen(0, "那个东西怎么弄！")
        c.bot(1, {"candidates": [], "language": "zh"})
        c.citizen(10, "护照换发")
        c.guide(11, "passport-renewal")
