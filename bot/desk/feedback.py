"""Satisfaction from the citizen: a mark on each guide answer, and one rating at the end of a conversation.

Both travel over the rasa-webchat protocol as a `user_uttered` whose message is a payload, the way
a quick reply is sent: `/feedback{"message_id": 12, "helpful": false, "reason": "unclear",
"comment": "..."}`, `/rate{"score": 4, "comment": "..."}` (the rating's 1–5 buttons are quick
replies, which rasa-webchat draws) and `/rating_request` (our widget, when the citizen closes it).
The desk handles these itself: they are not transcript lines and never reach Rasa.

Plain, blocking SQLAlchemy, run in the desk's thread pool like conversations.py.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.desk.tables import DeskAnswerFeedback, DeskMessage, DeskRating

# Why an answer did not help (the widget's chips, the reports' columns).
REASONS = ("wrong_item", "unclear", "not_asked", "outdated")
# Why the rating was asked.
ASKED_CLOSED, ASKED_HANDBACK, ASKED_CITIZEN = "closed", "handback", "citizen"
SCORES = range(1, 6)
MAX_COMMENT = 500
PAYLOAD = re.compile(r"^/(feedback|rate|rating_request)(\{.{0,2000}\})?$", re.DOTALL)


def parse(message: Any) -> tuple[str, dict[str, Any]] | None:
    """(kind, body) when a citizen's message is a satisfaction payload, else None (an ordinary message)."""
    if not isinstance(message, str):
        return None
    found = PAYLOAD.match(message.strip())
    if not found:
        return None
    try:
        body = json.loads(found.group(2)) if found.group(2) else {}
    except ValueError:
        body = None
    return found.group(1), body if isinstance(body, dict) else {}


def clean_comment(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_COMMENT]


def rating_buttons() -> list[dict[str, str]]:
    """The 1–5 rating as quick replies: stars as the title (no words to translate), the score as the payload."""
    return [{"title": "★" * score, "payload": f'/rate{{"score":{score}}}'} for score in SCORES]


def is_guide_answer(data: dict[str, Any] | None) -> bool:
    custom = (data or {}).get("custom")
    return isinstance(custom, dict) and bool(custom.get("guide_item"))


class Feedback:
    def __init__(self, database: Database):
        self.db = database

    def mark_answer(
        self, conversation_id: str, message_id: Any, helpful: Any, reason: Any, comment: Any
    ) -> bool:
        """Stores (or replaces) the mark on a guide answer of this conversation; False if there is no such answer."""
        if not isinstance(message_id, int) or not isinstance(helpful, bool):
            return False
        reason = reason if reason in REASONS and not helpful else None
        comment = clean_comment(comment)
        with self.db.session() as session:
            line = session.get(DeskMessage, message_id)
            if line is None or line.conversation_id != conversation_id or line.sender != "bot":
                return False
            if not is_guide_answer(line.data):
                return False
            row = session.get(DeskAnswerFeedback, message_id)
            if row is None:
                session.add(
                    DeskAnswerFeedback(
                        message_id=message_id, conversation_id=conversation_id, helpful=helpful,
                        reason=reason, comment=comment, at=datetime.utcnow(),
                    )
                )  # fmt: skip
            else:
                row.helpful, row.reason, row.comment, row.at = helpful, reason, comment, datetime.utcnow()
        return True

    def real_exchange(self, conversation_id: str) -> bool:
        """The citizen wrote and got a real answer: a guide answer, a case status or a clerk's line."""
        with self.db.session() as session:
            lines = session.execute(
                select(DeskMessage.sender, DeskMessage.data).where(DeskMessage.conversation_id == conversation_id)
            ).all()
        wrote = any(sender == "citizen" for sender, _ in lines)
        answered = any(
            sender == "clerk" or (sender == "bot" and (is_guide_answer(data) or "case" in ((data or {}).get("custom") or {})))
            for sender, data in lines
        )
        return wrote and answered

    def ask_rating(self, conversation_id: str, because: str) -> bool:
        """Records that the rating is asked now; False if it was asked before (it is asked once)."""
        try:
            with self.db.session() as session:
                session.add(DeskRating(conversation_id=conversation_id, asked_because=because, asked_at=datetime.utcnow()))
                session.flush()
        except IntegrityError:
            return False
        return True

    def rate(self, conversation_id: str, score: Any, comment: Any) -> bool:
        """The citizen's rating (1–5) and comment; only once asked. A second answer replaces the first."""
        if not isinstance(score, int) or isinstance(score, bool) or score not in SCORES:
            return False
        with self.db.session() as session:
            values: dict[str, Any] = {"score": score, "rated_at": datetime.utcnow()}
            comment = clean_comment(comment)
            if comment:
                values["comment"] = comment
            done = session.execute(
                update(DeskRating).where(DeskRating.conversation_id == conversation_id).values(**values)
            )
            return done.rowcount == 1

    def of_conversation(self, conversation_id: str) -> dict[str, Any]:
        """The marks and the rating of one conversation (the widget after a reload, the tests)."""
        with self.db.session() as session:
            marks = session.execute(
                select(DeskAnswerFeedback).where(DeskAnswerFeedback.conversation_id == conversation_id)
            ).scalars()
            rating = session.get(DeskRating, conversation_id)
            return {
                "marks": {
                    m.message_id: {"helpful": m.helpful, "reason": m.reason, "comment": m.comment} for m in marks
                },
                "rating": None
                if rating is None
                else {"asked_because": rating.asked_because, "score": rating.score, "comment": rating.comment},
            }
