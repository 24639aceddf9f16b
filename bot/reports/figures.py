"""The platform's figures, each defined once, computed from the desk's tables.

Plain, blocking code over a `Database`: the dashboard (bot/reports/app.py), the CSV, the
monthly and annual report (bot/reports/report.py) and the tests call `compute(db, period)`
and read the same dictionary, so a figure cannot mean two things in two places.

Definitions (README "Reports"; the dashboard's help shows DEFINITIONS):

- Times are China Standard Time (UTC+8, no daylight saving): a period is a range of Beijing
  dates, [start, end); hours, days and months in the breakdowns are Beijing ones.
- A conversation belongs to the period it was created in and counts only if the citizen wrote in
  it (an opened, empty widget is not a conversation). Its lines and events are read up to the
  period's end, so a period that is over always gives the same figures; the repeat contacts of
  its last day are looked for up to 24 hours after its end (the figures of a period are final
  one day after it ends).
- See DEFINITIONS for each figure.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import select

from bot.db import Database
from bot.desk.tables import DeskAnswerFeedback, DeskConversation, DeskEvent, DeskMessage, DeskRating
from bot.privacy import mask

CST = timezone(timedelta(hours=8))
REPEAT_WINDOW = timedelta(hours=24)
LOW_RATING = 2  # the same as the trainer's inbox filter (bot/trainer/inbox.py)
UNKNOWN = "未知"

# One line per figure: what the dashboard's help, the report and the README say.
DEFINITIONS: dict[str, str] = {
    "conversations": "会话数：统计期内开始、且群众至少发过一条消息的会话。",
    "citizen_messages": "群众消息数：这些会话中群众发出的消息条数（评价按钮不计）。",
    "contained": "机器人独立解决：机器人给出了办事指南或办件状态；没有转人工、没有工作人员发言；"
    "且同一群众（同一客户端）在该会话最后一条消息后24小时内没有开始新的会话（参照 Dialogflow CX 的定义）。",
    "contained_rate": "独立解决率 = 独立解决的会话 ÷ 会话数。",
    "handoff_rate": "转人工率 = 进入过人工队列的会话 ÷ 会话数；按原因（群众要求、投诉、多次未理解、核验失败、机器人故障）"
    "以第一次转人工的原因计。",
    "clarification_rate": "澄清率 = 机器人以备选事项按钮回复的群众消息 ÷ 群众消息数。",
    "fallback_rate": "未理解率 = 机器人请群众换个说法（没有备选事项，含不支持的语言）的群众消息 ÷ 群众消息数。",
    "out_of_scope_rate": "超出范围率 = 机器人答复“不属于平台服务范围”的群众消息 ÷ 群众消息数。",
    "first_reply": "首次人工回复时间：从会话第一次进入人工队列到其后第一条工作人员消息；给出中位数和第90百分位"
    "（最近秩法：排序后第 ⌈0.9n⌉ 个）。",
    "handling": "人工处理时长：从工作人员第一次接入到其后第一次结束或交回机器人；中位数。",
    "abandoned": "等待中放弃：进入人工队列后，到统计期结束时仍没有工作人员接入的会话。",
    "helpful_share": "有帮助占比 = 群众标为“有帮助”的指南答复 ÷ 所有被标记的指南答复（同一答复以最后一次标记为准）。",
    "average_rating": "平均评分：统计期内会话的1～5星评分的平均值；低评分为≤2星。",
    "breakdowns": "分类统计：会话按其第一个被回答的事项归入事项、类别和责任部门（catalog 的 department），"
    "“有帮助/没帮助”按被标记的答复本身的事项归类；地区按会话的海外服务站或国家；语言按会话的语言；"
    "时、日、月按会话开始时间（北京时间）。",
    "unanswered": "机器人未能回答的问题：机器人请群众换个说法、或答复超出范围的群众消息，按脱敏并归一化后的文字分组。",
    "not_helpful_items": "“没帮助”最多的事项：按被标记为“没帮助”的指南答复的事项分组，附原因和脱敏的群众问题。",
}

CATEGORY_NAMES = {
    "household": "户籍", "exit_entry": "出入境", "real_estate": "不动产", "notary": "公证", "police_traffic": "公安交管",
    "social_security": "社会保障", "housing_fund": "住房公积金", "civil_affairs": "民政", "overseas_affairs": "侨务",
    "education": "教育", "tax_business": "税务与企业", "health": "医疗卫生", "judicial": "司法", "petition": "信访",
    "platform": "平台服务",
}  # fmt: skip
REASON_NAMES = {
    "user_request": "群众要求", "complaint": "投诉", "repeated_misunderstanding": "多次未理解",
    "case_verification_failed": "办件核验失败", "bot_unavailable": "机器人故障",
}  # fmt: skip
NOT_HELPFUL_NAMES = {
    "wrong_item": "答非所问的事项",
    "unclear": "看不懂",
    "not_asked": "不是想问的",
    "outdated": "信息过时",
}
DIMENSIONS = ("item", "category", "department", "site", "country", "language", "hour", "day", "month")
DIMENSION_NAMES = {
    "item": "事项", "category": "类别", "department": "责任部门", "site": "海外服务站", "country": "国家",
    "language": "语言", "hour": "时段（北京时间）", "day": "日期", "month": "月份",
}  # fmt: skip


# --- periods ------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A range of Beijing dates, [start, end)."""

    start: date
    end: date

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        following = date(year + (month == 12), month % 12 + 1, 1)
        return cls(date(year, month, 1), following)

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year + 1, 1, 1))

    @classmethod
    def between(cls, first: date, last: date) -> Period:
        """From `first` to `last`, both days included (the dashboard's date fields)."""
        if last < first:
            raise ValueError("结束日期早于开始日期")
        return cls(first, last + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        """The period just before, of the same kind: the month, the year, else the same number of days."""
        if self.start.day == 1 and self.end == Period.month(self.start.year, self.start.month).end:
            year, month = (
                (self.start.year - 1, 12) if self.start.month == 1 else (self.start.year, self.start.month - 1)
            )
            return Period.month(year, month)
        if (self.start.month, self.start.day) == (1, 1) and self.end == date(self.start.year + 1, 1, 1):
            return Period.year(self.start.year - 1)
        return Period(self.start - timedelta(days=self.days), self.start)

    def utc(self) -> tuple[datetime, datetime]:
        """The bounds as the naive UTC datetimes the tables store."""
        return to_utc(self.start), to_utc(self.end)

    def label(self) -> str:
        last = self.end - timedelta(days=1)
        return f"{self.start.isoformat()} 至 {last.isoformat()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "last": (self.end - timedelta(days=1)).isoformat(),
            "label": self.label(),
        }


def to_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CST).astimezone(timezone.utc).replace(tzinfo=None)


def to_cst(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc).astimezone(CST)


# --- per conversation -----------------------------------------------------------------


@dataclass
class Facts:
    """What the figures need to know of one conversation."""

    id: str
    created_at: datetime
    citizen: str | None
    site: str | None
    country: str | None
    language: str | None
    citizen_messages: int = 0
    first_question: str | None = None  # masked
    last_citizen_at: datetime | None = None
    answered: bool = False
    first_item: str | None = None
    clerk_line: bool = False
    handoff_reason: str | None = None
    queued_at: datetime | None = None
    claimed_at: datetime | None = None
    claimed_after_queue: bool = False
    ended_at: datetime | None = None
    first_clerk_reply_at: datetime | None = None
    clarified: int = 0
    fallback: int = 0
    out_of_scope: int = 0
    # (the answer's item, helpful, reason, the masked question it answered)
    marks: list[tuple[str | None, bool, str | None, str]] = field(default_factory=list)
    rating: int | None = None
    rating_comment: str | None = None
    unanswered: list[str] = field(default_factory=list)
    repeated: bool = False

    @property
    def handed_off(self) -> bool:
        return self.queued_at is not None

    @property
    def contained(self) -> bool:
        return self.answered and not self.handed_off and not self.clerk_line and not self.repeated

    @property
    def abandoned(self) -> bool:
        return self.handed_off and not self.claimed_after_queue


def _custom(line: DeskMessage) -> dict[str, Any]:
    custom = (line.data or {}).get("custom")
    return custom if isinstance(custom, dict) else {}


def _facts(session: Any, rows: list[DeskConversation], end: datetime) -> list[Facts]:
    ids = [row.id for row in rows]
    facts = {row.id: Facts(row.id, row.created_at, row.citizen, row.site, row.country, row.language) for row in rows}
    if not ids:
        return []
    lines = list(
        session.execute(
            select(DeskMessage)
            .where(DeskMessage.conversation_id.in_(ids), DeskMessage.created_at < end)
            .order_by(DeskMessage.conversation_id, DeskMessage.id)
        ).scalars()
    )
    events = list(
        session.execute(
            select(DeskEvent).where(DeskEvent.conversation_id.in_(ids), DeskEvent.at < end).order_by(DeskEvent.id)
        ).scalars()
    )
    marks = {
        m.message_id: m
        for m in session.execute(
            select(DeskAnswerFeedback).where(DeskAnswerFeedback.conversation_id.in_(ids), DeskAnswerFeedback.at < end)
        ).scalars()
    }
    ratings = session.execute(
        select(DeskRating).where(DeskRating.conversation_id.in_(ids), DeskRating.rated_at < end)
    ).scalars()
    for event in events:
        fact = facts[event.conversation_id]
        if event.kind == "queued" and fact.queued_at is None:
            fact.queued_at, fact.handoff_reason = event.at, event.reason or "user_request"
        elif event.kind == "claimed":
            # The first claim starts the handling time (also a take-over of a conversation the bot
            # was serving); a claim after the queuing means nobody abandoned it.
            fact.claimed_at = fact.claimed_at or event.at
            fact.claimed_after_queue = fact.claimed_after_queue or fact.queued_at is not None
        elif event.kind in ("handback", "closed") and fact.claimed_at and fact.ended_at is None:
            fact.ended_at = event.at
    question, current = "", None
    for line in lines:
        fact = facts[line.conversation_id]
        if line.conversation_id != current:
            question, current = "", line.conversation_id
        custom = _custom(line)
        if line.sender == "citizen":
            fact.citizen_messages += 1
            fact.last_citizen_at = line.created_at
            question = mask(line.text)
            fact.first_question = fact.first_question or question
        elif line.sender == "clerk":
            fact.clerk_line = True
            if fact.queued_at and not fact.first_clerk_reply_at and line.created_at >= fact.queued_at:
                fact.first_clerk_reply_at = line.created_at
        elif line.sender == "bot":
            if custom.get("guide_item") or "case" in custom:
                fact.answered = True
            if custom.get("guide_item") and fact.first_item is None:
                fact.first_item = custom["guide_item"]
            if custom.get("candidates"):
                fact.clarified += 1
            elif "candidates" in custom:
                fact.fallback += 1
                fact.unanswered.append(question)
            if custom.get("out_of_scope"):
                fact.out_of_scope += 1
                fact.unanswered.append(question)
            mark = marks.get(line.id)
            if mark is not None and custom.get("guide_item"):
                fact.marks.append((custom["guide_item"], mark.helpful, mark.reason, question))
    for rating in ratings:
        if rating.score is not None:
            facts[rating.conversation_id].rating = rating.score
            facts[rating.conversation_id].rating_comment = mask(rating.comment) if rating.comment else None
    return [fact for fact in facts.values() if fact.citizen_messages]


def _mark_repeats(session: Any, facts: list[Facts], end: datetime) -> None:
    """A conversation is repeated when the same citizen started another within 24 h of its last message."""
    citizens = {f.citizen for f in facts if f.citizen}
    if not citizens:
        return
    starts: dict[str, list[datetime]] = defaultdict(list)
    for citizen, created in session.execute(
        select(DeskConversation.citizen, DeskConversation.created_at).where(
            DeskConversation.citizen.in_(citizens), DeskConversation.created_at < end + REPEAT_WINDOW
        )
    ):
        starts[citizen].append(created)
    for fact in facts:
        if not fact.citizen:
            continue
        last = fact.last_citizen_at or fact.created_at
        fact.repeated = any(fact.created_at < other <= last + REPEAT_WINDOW for other in starts[fact.citizen])


def load_facts(database: Database, period: Period) -> list[Facts]:
    start, end = period.utc()
    with database.session() as session:
        rows = list(
            session.execute(
                select(DeskConversation)
                .where(DeskConversation.created_at >= start, DeskConversation.created_at < end)
                .order_by(DeskConversation.created_at, DeskConversation.id)
            ).scalars()
        )
        facts = _facts(session, rows, end)
        _mark_repeats(session, facts, end)
    return facts


# --- figures ------------------------------------------------------------------------------


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def nearest_rank(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return (later - earlier).total_seconds() if later and earlier else None


def summary(facts: list[Facts]) -> dict[str, Any]:
    """The headline figures of a set of conversations (the whole period, or one row of a breakdown)."""
    conversations = len(facts)
    messages = sum(f.citizen_messages for f in facts)
    contained = sum(f.contained for f in facts)
    handed = [f for f in facts if f.handed_off]
    waits = [w for f in handed if (w := _seconds(f.first_clerk_reply_at, f.queued_at)) is not None]
    handling = [h for f in facts if (h := _seconds(f.ended_at, f.claimed_at)) is not None]
    marks = [m for f in facts for m in f.marks]
    helpful = sum(1 for m in marks if m[1])
    ratings = [f.rating for f in facts if f.rating is not None]
    reasons = Counter(f.handoff_reason for f in handed)
    return {
        "conversations": conversations,
        "citizen_messages": messages,
        "contained": contained,
        "contained_rate": share(contained, conversations),
        "handed_off": len(handed),
        "handoff_rate": share(len(handed), conversations),
        "handoff_by_reason": dict(sorted(reasons.items())),
        "clarified": sum(f.clarified for f in facts),
        "clarification_rate": share(sum(f.clarified for f in facts), messages),
        "fallback": sum(f.fallback for f in facts),
        "fallback_rate": share(sum(f.fallback for f in facts), messages),
        "out_of_scope": sum(f.out_of_scope for f in facts),
        "out_of_scope_rate": share(sum(f.out_of_scope for f in facts), messages),
        "first_reply_median_s": median(waits),
        "first_reply_p90_s": nearest_rank(waits, 0.9),
        "first_replies": len(waits),
        "handling_median_s": median(handling),
        "abandoned": sum(f.abandoned for f in facts),
        "marks": len(marks),
        "helpful": helpful,
        "not_helpful": len(marks) - helpful,
        "helpful_share": share(helpful, len(marks)),
        "ratings": len(ratings),
        "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "low_ratings": sum(1 for r in ratings if r <= LOW_RATING),
    }


# The columns of a breakdown's rows (and of its CSV), in order.
ROW_FIGURES = (
    "conversations", "citizen_messages", "contained", "contained_rate", "handed_off", "handoff_rate",
    "abandoned", "helpful", "not_helpful", "helpful_share", "ratings", "average_rating",
)  # fmt: skip


class Catalog:
    """Item → title, category, department, from the knowledge base's catalog."""

    def __init__(self, entries: list[dict[str, str]]):
        self.by_id = {entry["id"]: entry for entry in entries}

    def title(self, item: str | None) -> str:
        return self.by_id[item]["title"] if item in self.by_id else (item or UNKNOWN)

    def category(self, item: str | None) -> str:
        return self.by_id[item]["category"] if item in self.by_id else UNKNOWN

    def department(self, item: str | None) -> str:
        return self.by_id[item]["department"] if item in self.by_id else UNKNOWN


def default_catalog() -> Catalog:
    from bot.knowledge import load_knowledge

    return Catalog(load_knowledge().catalog)


def _conversation_key(dimension: str, catalog: Catalog) -> Callable[[Facts], str]:
    local = lambda f: to_cst(f.created_at)  # noqa: E731
    return {
        "item": lambda f: f.first_item or UNKNOWN,
        "category": lambda f: catalog.category(f.first_item),
        "department": lambda f: catalog.department(f.first_item),
        "site": lambda f: f.site or UNKNOWN,
        "country": lambda f: f.country or UNKNOWN,
        "language": lambda f: f.language or UNKNOWN,
        "hour": lambda f: f"{local(f).hour:02d}",
        "day": lambda f: local(f).date().isoformat(),
        "month": lambda f: local(f).strftime("%Y-%m"),
    }[dimension]


def _mark_key(dimension: str, catalog: Catalog) -> Callable[[str | None], str] | None:
    """Marks are counted under their own answer's item for the item-like breakdowns."""
    return {
        "item": lambda item: item or UNKNOWN,
        "category": catalog.category,
        "department": catalog.department,
    }.get(dimension)


def label(dimension: str, key: str, catalog: Catalog) -> str:
    if dimension == "item":
        return catalog.title(key) if key != UNKNOWN else UNKNOWN
    if dimension == "category":
        return CATEGORY_NAMES.get(key, key)
    return key


def breakdown(facts: list[Facts], dimension: str, catalog: Catalog) -> list[dict[str, Any]]:
    """One row per value of `dimension`, with ROW_FIGURES; most conversations first (time in order)."""
    of_conversation = _conversation_key(dimension, catalog)
    of_mark = _mark_key(dimension, catalog)
    groups: dict[str, list[Facts]] = defaultdict(list)
    for fact in facts:
        groups[of_conversation(fact)].append(fact)
    marks: dict[str, list[bool]] = defaultdict(list)
    for fact in facts:
        for item, helpful, _, _ in fact.marks:
            key = of_mark(item) if of_mark else of_conversation(fact)
            marks[key].append(helpful)
    rows = []
    for key in set(groups) | set(marks):
        figures = summary(groups.get(key, []))
        if of_mark:
            helpful = sum(marks[key])
            figures.update(
                helpful=helpful, not_helpful=len(marks[key]) - helpful, helpful_share=share(helpful, len(marks[key]))
            )
        rows.append({"key": key, "label": label(dimension, key, catalog), **{k: figures[k] for k in ROW_FIGURES}})
    if dimension in ("hour", "day", "month"):
        rows.sort(key=lambda r: r["key"])
    else:
        rows.sort(key=lambda r: (-r["conversations"], -r["not_helpful"], r["key"]))
    return rows


def normalise_question(text: str) -> str:
    """Grouping key of a question: masked, lower case, without spaces and punctuation."""
    return re.sub(r"[\s\W_]+", "", text.lower())


def unanswered(facts: list[Facts], examples: int = 3) -> list[dict[str, Any]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for fact in facts:
        for question in fact.unanswered:
            groups[normalise_question(question)].append(question)
    rows = [
        {"question": said[0], "count": len(said), "examples": sorted(set(said))[:examples]}
        for key, said in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r["count"], r["question"]))


def not_helpful_items(facts: list[Facts], catalog: Catalog, examples: int = 3) -> list[dict[str, Any]]:
    reasons: dict[str, Counter] = defaultdict(Counter)
    questions: dict[str, list[str]] = defaultdict(list)
    for fact in facts:
        for item, helpful, reason, question in fact.marks:
            if not helpful:
                reasons[item or UNKNOWN][reason or "none"] += 1
                questions[item or UNKNOWN].append(question)
    rows = [
        {
            "item": item,
            "title": catalog.title(item),
            "count": sum(counts.values()),
            "reasons": dict(sorted(counts.items())),
            "examples": sorted(set(questions[item]))[:examples],
        }
        for item, counts in reasons.items()
    ]
    return sorted(rows, key=lambda r: (-r["count"], r["item"]))


def compute(
    database: Database, period: Period, catalog: Catalog | None = None, dimensions: tuple[str, ...] = DIMENSIONS
) -> dict[str, Any]:
    """Every figure of a period: the summary, the breakdowns, the lists, the masked comments."""
    catalog = catalog or default_catalog()
    facts = load_facts(database, period)
    return {
        "period": period.as_dict(),
        "summary": summary(facts),
        "breakdowns": {dimension: breakdown(facts, dimension, catalog) for dimension in dimensions},
        "unanswered": unanswered(facts),
        "not_helpful_items": not_helpful_items(facts, catalog),
        "comments": [
            {"score": f.rating, "comment": f.rating_comment} for f in facts if f.rating is not None and f.rating_comment
        ],
    }


def for_items(facts: list[Facts], catalog: Catalog, category: str) -> list[Facts]:
    """The conversations whose first item is in `category` (the dashboard's drill-down)."""
    return [f for f in facts if catalog.category(f.first_item) == category]


def by_department(facts: list[Facts], catalog: Catalog) -> dict[str, list[Facts]]:
    """The conversations of each responsible department (their first answered item's), UNKNOWN for none."""
    groups: dict[str, list[Facts]] = defaultdict(list)
    for fact in facts:
        groups[catalog.department(fact.first_item)].append(fact)
    return dict(groups)
