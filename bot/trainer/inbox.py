"""What citizens really asked, with what the bot understood and what happened next.

Reads the desk's transcripts: each citizen line carries `data.nlu` (intent,
confidence, item, aspect) recorded after the bot answered it, and the lines
that follow it tell the outcome. Text is masked: trainers see no case numbers,
document or phone numbers, or names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.db import Database
from bot.desk.tables import DeskAnswerFeedback, DeskConversation, DeskMessage, DeskRating
from bot.knowledge import item_for
from bot.privacy import mask

LOW_CONFIDENCE = 0.5
# Booking questions whose answer is personal data as a whole (a bare "陈小明" has no pattern to mask).
PERSONAL_ANSWERS = ("booking_name", "booking_contact", "booking_surname", "booking_code")
PERSONAL_MASK = "[预约信息]"
FILTERS = ("all", "low_confidence", "fallback", "handoff", "not_helpful", "low_rating")
# A rating at or below this is "low" (the inbox's filter, the reports' count).
LOW_RATING = 2


@dataclass
class InboxQuery:
    filter: str = "all"
    item: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # A language code (knowledge/languages.yml): only the citizens' lines in that language.
    language: str | None = None
    limit: int = 200
    # Paging (issue 10, item 8): the page starts after `offset` entries, and only the `scan` most
    # recent citizen lines (in the date range) are read, not the whole transcript table.
    offset: int = 0
    scan: int = 2000
    # Identical and near-identical questions as one row with a count (issue 11).
    group: bool = False


# What does not change a question: punctuation, spaces, case, width, and the sentence-final particles.
_NOISE = re.compile(r"[\s\W_]+|[吗呢啊呀吧了哈嘛呀么]+(?=$|[\s\W_])", re.UNICODE)


def question_key(text: str) -> str:
    """The key near-identical questions share: "需要多少钱？", "需要多少钱呢" and "需要 多少钱" are one."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return _NOISE.sub("", folded + " ")


def outcome_of(replies: list[DeskMessage], conversation: DeskConversation | None) -> str:
    """answered / clarified / fallback / handed_off / out_of_scope / case / clerk / no_reply."""
    # A line a clerk handled is "clerk", even when a system line (joined, transferred) came before the answer.
    if any(reply.sender == "clerk" or (reply.data or {}).get("event") == "joined" for reply in replies):
        return "clerk"
    for reply in replies:
        if reply.sender == "clerk":
            return "clerk"
        custom = (reply.data or {}).get("custom") or {}
        if "handoff" in custom:
            return "handed_off"
        if "guide_item" in custom:
            return "answered"
        if custom.get("candidates"):
            return "clarified"
        if "candidates" in custom:
            return "fallback"
        if custom.get("out_of_scope"):
            return "out_of_scope"
        if "case" in custom:
            return "case"
        if reply.sender == "system":
            return "queued"
    return "no_reply" if not replies else "answered_other"


def _understood(line: DeskMessage, replies: list[DeskMessage]) -> dict[str, Any]:
    nlu = (line.data or {}).get("nlu") or {}
    answered = next(
        (((r.data or {}).get("custom") or {}) for r in replies if "guide_item" in ((r.data or {}).get("custom") or {})),
        {},
    )
    intent = nlu.get("intent")
    # The language the NLU settled on for the line (the `language` slot), else the one the bot answered in.
    answered_in = next(
        (((r.data or {}).get("custom") or {}).get("language") for r in replies if r.sender == "bot"), None
    )
    return {
        "language": nlu.get("language") or answered_in,
        "intent": intent,
        "confidence": nlu.get("confidence"),
        "item": answered.get("guide_item") or item_for(intent),
        # The aspect of the answer; else the slot only when this very message asked about an aspect or an
        # item: a case-status question after a fees question is not about fees (the slot is just carried).
        "aspect": answered.get("aspect")
        if answered
        else (nlu.get("aspect") if intent == "ask_aspect" or item_for(intent) else None),
        # Which context decided the answer (decided_by, how, offered, previous_item), if any.
        "context": nlu.get("context") if isinstance(nlu.get("context"), dict) else None,
    }


def _mark(replies: list[DeskMessage], marks: dict[int, DeskAnswerFeedback]) -> dict[str, Any] | None:
    """The citizen's mark on the answer to this line (the last marked reply), comment masked."""
    found = None
    for reply in replies:
        if reply.id in marks:
            found = marks[reply.id]
    if found is None:
        return None
    return {"helpful": found.helpful, "reason": found.reason, "comment": mask(found.comment) if found.comment else None}


class Inbox:
    def __init__(self, database: Database):
        self.db = database

    def entries(self, query: InboxQuery) -> list[dict[str, Any]]:
        return self.page(query)["entries"]

    def page(self, query: InboxQuery) -> dict[str, Any]:
        """{"entries": one page, least certain first; "total": entries matching among the lines read;
        "offset"; "more": whether a next page exists}."""
        with self.db.session() as session:
            citizen = select(DeskMessage).where(DeskMessage.sender == "citizen")
            if query.since:
                citizen = citizen.where(DeskMessage.created_at >= query.since)
            if query.until:
                citizen = citizen.where(DeskMessage.created_at < query.until)
            lines = list(session.execute(citizen.order_by(DeskMessage.id.desc()).limit(query.scan)).scalars())
            if not lines:
                return {"entries": [], "total": 0, "offset": query.offset, "more": False}
            wanted_ids = {line.id for line in lines}
            conversation_ids = {line.conversation_id for line in lines}
            # The lines read and what followed them: every later line of their conversations.
            rows = list(
                session.execute(
                    select(DeskMessage)
                    .where(DeskMessage.conversation_id.in_(conversation_ids), DeskMessage.id >= min(wanted_ids))
                    .order_by(DeskMessage.conversation_id, DeskMessage.id)
                ).scalars()
            )
            conversations = {
                c.id: c
                for c in session.execute(
                    select(DeskConversation).where(DeskConversation.id.in_(conversation_ids))
                ).scalars()
            }
            # The citizens' marks on the bot's answers and their ratings (bot/desk/feedback.py).
            marks = {
                m.message_id: m
                for m in session.execute(
                    select(DeskAnswerFeedback).where(DeskAnswerFeedback.conversation_id.in_(conversation_ids))
                ).scalars()
            }
            ratings = {
                r.conversation_id: r.score
                for r in session.execute(
                    select(DeskRating).where(DeskRating.conversation_id.in_(conversation_ids))
                ).scalars()
            }
        entries = []
        asked: dict[str, str | None] = {}  # conversation -> the booking question its last bot turn asked
        for index, line in enumerate(rows):
            if line.sender != "citizen" or line.id not in wanted_ids:
                continue
            personal = asked.get(line.conversation_id) in PERSONAL_ANSWERS
            asked[line.conversation_id] = (((line.data or {}).get("nlu") or {}).get("slots") or {}).get("requested_slot")
            replies = []
            for later in rows[index + 1 :]:
                if later.conversation_id != line.conversation_id or later.sender == "citizen":
                    break
                replies.append(later)
            understood = _understood(line, replies)
            entry = {
                "message_id": line.id,
                # The staff number, never the id: the id is the citizen's bearer secret (issue 10, item 1).
                "conversation": getattr(conversations.get(line.conversation_id), "number", None),
                "text": PERSONAL_MASK if personal else mask(line.text),
                "at": line.created_at.isoformat(timespec="seconds") + "Z",
                **understood,
                "outcome": outcome_of(replies, conversations.get(line.conversation_id)),
                "corrected": (line.data or {}).get("corrected"),
                "feedback": _mark(replies, marks),
                "rating": ratings.get(line.conversation_id),
            }
            if self._wanted(entry, query):
                entries.append(entry)
        # The least certain first; unknown confidence counts as least certain.
        entries.sort(key=lambda e: (e["confidence"] if e["confidence"] is not None else -1.0, e["message_id"]))
        if query.group:
            entries = _grouped(entries)
        start = max(0, query.offset)
        return {
            "entries": entries[start : start + query.limit],
            "total": len(entries),
            "offset": start,
            "more": start + query.limit < len(entries),
        }

    @staticmethod
    def _wanted(entry: dict[str, Any], query: InboxQuery) -> bool:
        if query.item and entry["item"] != query.item:
            return False
        if query.language and entry["language"] != query.language:
            return False
        if query.filter == "low_confidence":
            return entry["confidence"] is None or entry["confidence"] < LOW_CONFIDENCE
        if query.filter == "fallback":
            return entry["outcome"] in ("fallback", "clarified") or entry["intent"] == "nlu_fallback"
        if query.filter == "not_helpful":
            return bool(entry["feedback"]) and entry["feedback"]["helpful"] is False
        if query.filter == "low_rating":
            return entry["rating"] is not None and entry["rating"] <= LOW_RATING
        if query.filter == "handoff":
            return entry["outcome"] in ("handed_off", "queued", "clerk")
        return True

    def message_language(self, message_id: int) -> str | None:
        """The language of a citizen's line, as the inbox shows it (None when unknown)."""
        with self.db.session() as session:
            row = session.get(DeskMessage, message_id)
            if row is None:
                return None
            replies = list(
                session.execute(
                    select(DeskMessage)
                    .where(DeskMessage.conversation_id == row.conversation_id, DeskMessage.id > row.id)
                    .order_by(DeskMessage.id)
                    .limit(5)
                ).scalars()
            )
            return _understood(row, replies)["language"]

    def message_text(self, message_id: int) -> str | None:
        """The unmasked text, for turning a message into training data (masked again there)."""
        with self.db.session() as session:
            row = session.get(DeskMessage, message_id)
            return row.text if row is not None and row.sender == "citizen" else None

    def mark_corrected(self, message_id: int, change: dict[str, Any]) -> None:
        with self.db.session() as session:
            row = session.get(DeskMessage, message_id)
            if row is not None:
                row.data = {**(row.data or {}), "corrected": change}

    def asked_counts(self) -> dict[str, int]:
        """How often each item was asked about (by what the bot answered or understood)."""
        counts: dict[str, int] = {}
        for entry in self.entries(InboxQuery(limit=100000, scan=100000)):
            if entry["item"]:
                counts[entry["item"]] = counts.get(entry["item"], 0) + 1
        return counts


def _grouped(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per question (see question_key), in the order of its least certain line, with a count and
    every line's id (a correction of the row corrects them all). Lines already corrected stay apart."""
    rows: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for entry in entries:
        key = question_key(entry["text"]) if not entry["corrected"] else f"#{entry['message_id']}"
        row = rows.get(key)
        if row is None:
            row = rows[key] = {**entry, "count": 0, "message_ids": []}
            out.append(row)
        row["count"] += 1
        row["message_ids"].append(entry["message_id"])
    return out
