"""Left messages as tickets (issue 11): the console's 留言 list.

A citizen who waits and leaves a message with a contact (e-mail, phone, WeChat id) opens a ticket; the
conversation stays queued as before. Clerks list the tickets by status, mark them 已联系 or 已解决 with a
note, and answer in the conversation: a clerk's reply there resolves its open tickets, and the citizen
reads the answer on the next visit. Plain, blocking SQLAlchemy; the desk's service runs it in its pools.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.desk.conversations import iso
from bot.desk.tables import DeskConversation, DeskTicket, DeskUser
from bot.privacy import EMAIL

OPEN, CONTACTED, RESOLVED = "open", "contacted", "resolved"
STATUSES = (OPEN, CONTACTED, RESOLVED)
MAX_NOTE = 1000
# The list shows the newest this many of a status: a desk that lets tickets pile up still gets a page.
LIST_LIMIT = 500
MAX_CONTACT = 120
# A way to be reached, typed into a rasa-webchat chat (it has no 留言 form): an e-mail address, a phone
# number (7 digits or more, with +, spaces, dots, dashes or brackets), or a WeChat id after its name.
# E-mail addresses as the log masking finds them (bot.privacy.EMAIL).
# Not inside a word: a case number (WZ202610080017) is no phone number; nor is a date (2026-12-01).
_PHONE = re.compile(r"(?<![A-Za-z0-9+(])\+?\(?\d[\d\s().-]{5,}\d(?![A-Za-z0-9])")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}")
_WECHAT = re.compile(r"(?:微信|wechat|weixin|vx|wx)\s*(?:号|id)?\s*[:：]?\s*([A-Za-z][-_A-Za-z0-9]{5,19})", re.IGNORECASE)


def contact_in(text: str) -> str | None:
    """The first e-mail address, phone number or WeChat id in a message, as written; None without one."""
    for pattern in (EMAIL, _WECHAT, _PHONE):
        for found in pattern.finditer(text):
            value = found.group(0).strip()
            if pattern is _PHONE and (sum(ch.isdigit() for ch in value) < 7 or _DATE.fullmatch(value)):
                continue
            return value[:MAX_CONTACT]
    return None


def ticket_dict(ticket: DeskTicket, number: int | None, handler: str | None) -> dict[str, Any]:
    """A ticket for staff: the conversation's number, never its id (issue 10, item 1)."""
    return {
        "id": ticket.id,
        "number": number,
        "contact": ticket.contact,
        "language": ticket.language,
        "message": ticket.message,
        "status": ticket.status,
        "handled_by": handler,
        "note": ticket.note or "",
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "closed_at": iso(ticket.closed_at),
    }


class Tickets:
    def __init__(self, database: Database):
        self.db = database

    def open(self, conversation_id: str, line_id: int, contact: str, language: str | None, message: str) -> bool:
        """Opens the ticket of a citizen's line; False if that line has one already (a re-sent line)."""
        now = datetime.utcnow()
        try:
            with self.db.session() as session:
                session.add(
                    DeskTicket(
                        conversation_id=conversation_id, line_id=line_id, contact=contact, language=language,
                        message=message, status=OPEN, created_at=now, updated_at=now,
                    )  # fmt: skip
                )
        except IntegrityError:
            return False
        return True

    def list(self, status: str | None = None, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """Tickets, newest first; `status` one of STATUSES or None for all."""
        statement = (
            select(DeskTicket, DeskConversation.number, DeskUser.display_name)
            .join(DeskConversation, DeskConversation.id == DeskTicket.conversation_id)
            .outerjoin(DeskUser, DeskUser.id == DeskTicket.handled_by)
            .order_by(DeskTicket.created_at.desc(), DeskTicket.id.desc())
            .limit(limit)
        )
        if status:
            statement = statement.where(DeskTicket.status == status)
        with self.db.session() as session:
            return [ticket_dict(t, number, handler) for t, number, handler in session.execute(statement)]

    def counts(self) -> dict[str, int]:
        """How many tickets have each status (the console's badge shows the open ones)."""
        with self.db.session() as session:
            rows = session.execute(select(DeskTicket.status, func.count()).group_by(DeskTicket.status)).all()
        found = {status: 0 for status in STATUSES}
        found.update({status: count for status, count in rows})
        return found

    def mark(self, ticket_id: int, status: str, note: str | None, user_id: int) -> dict[str, Any] | None:
        """A clerk's mark: the status, and the note when one is given. None when there is no such ticket."""
        now = datetime.utcnow()
        with self.db.session() as session:
            ticket = session.get(DeskTicket, ticket_id)
            if ticket is None:
                return None
            ticket.status, ticket.handled_by, ticket.updated_at = status, user_id, now
            ticket.closed_at = now if status == RESOLVED else None
            if note is not None:
                ticket.note = note
            session.flush()
            number = session.get(DeskConversation, ticket.conversation_id).number
            handler = session.get(DeskUser, user_id)
            return ticket_dict(ticket, number, handler.display_name if handler else None)

    def answered(self, conversation_id: str, user_id: int) -> int:
        """A clerk answered in the conversation: its open or contacted tickets are resolved; how many."""
        now = datetime.utcnow()
        with self.db.session() as session:
            return session.execute(
                update(DeskTicket)
                .where(DeskTicket.conversation_id == conversation_id, DeskTicket.status != RESOLVED)
                .values(status=RESOLVED, handled_by=user_id, updated_at=now, closed_at=now)
            ).rowcount
