"""Conversations, their transcript and the clerks' notes: the desk's tables for citizens' conversations.

Plain, blocking SQLAlchemy; the desk's service runs it in its thread pool.
State changes that two clerks or two desk instances could race on are single
conditional UPDATEs, so the database decides who wins. The hot path is two
transactions per citizen message: `accept_citizen_line` (rate limits,
conversation, the line, and the line's owed row: the desk's claim to send it to
Rasa) and `deliver_owed` (the bot's answer, what the NLU understood, the claim settled).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import Database
from bot.db.bookings import ANY_UNSEEN_STAFF_CANCELLATION
from bot.db.database import count_events
from bot.db.tables import HandoffRequest
from bot.desk.accounts import public_name
from bot.desk.language import FROM_BOT, FROM_PICK
from bot.desk.tables import (
    BOT,
    CLERK,
    CLOSED,
    WAITING,
    DeskAudit,
    DeskConversation,
    DeskEvent,
    DeskMessage,
    DeskNote,
    DeskOwedReply,
    DeskUser,
    DeskWebchatSeen,
)

# How an owed reply was settled (DeskOwedReply.settled): the late reply sent to the citizen, the
# apology sent instead, or neither because a clerk took the conversation meanwhile (staff see the reply).
DELIVERED, APOLOGIZED, TAKEN_OVER = "delivered", "apologized", "clerk"


class AlreadySettled(Exception):
    """An owed reply was settled by another task or desk: nothing was stored."""


class RateLimited(Exception):
    """A citizen message over a rate limit: nothing was stored or counted."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


@dataclass
class Line:
    """A transcript line to store: who says what, with what the widget needs to draw it again."""

    sender: str
    text: str
    data: dict[str, Any] | None = None
    author: str | None = None


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None


def message_dict(row: DeskMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "sender": row.sender,
        "author": row.author,
        "text": row.text,
        "data": row.data or {},
        "client_id": row.client_id,
        "at": iso(row.created_at),
    }


def late_reply_dict(line_id: int, asked: str, at: datetime | None, replies: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A late reply kept for staff, as the console shows it: the citizen line it answers and the bot's
    lines (text and button titles)."""
    return {
        "line_id": line_id,
        "asked": asked,
        "at": iso(at),
        "replies": [
            {"text": reply.get("text") or "", "buttons": [b.get("title", "") for b in (reply.get("data") or {}).get("buttons") or []]}
            for reply in replies or []
        ],
    }


def _line(line_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """The shape of `message_dict` for a line inserted with Core."""
    return {
        "id": line_id,
        "conversation_id": values["conversation_id"],
        "sender": values["sender"],
        "author": values["author"],
        "text": values["text"],
        "data": values["data"] or {},
        "client_id": values["client_id"],
        "at": iso(values["created_at"]),
    }


def conversation_dict(
    row: DeskConversation, clerk: str | None = None, clerk_display: str | None = None
) -> dict[str, Any]:
    return {
        "id": row.id,
        # The staff number: the only name staff pages use for the conversation (bot/desk/staff.py).
        "number": row.number,
        "state": row.state,
        "claimed_by": row.claimed_by,
        # `clerk`: the log-in name, for staff; `clerk_display`: what the citizen sees (issue 10, item 6).
        "clerk": clerk,
        "clerk_display": public_name(clerk_display, row.claimed_by) if row.claimed_by else None,
        "reason": row.reason,
        "understood": row.understood or {},
        "country": row.country,
        "site": row.site,
        "language": row.language,
        "language_source": row.language_source,
        "bot_paused": row.bot_paused,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "waiting_since": iso(row.waiting_since),
    }


_CONVERSATIONS = DeskConversation.__table__
_MESSAGES = DeskMessage.__table__
_USERS = DeskUser.__table__
_NOT_PICKED = or_(_CONVERSATIONS.c.language_source.is_(None), _CONVERSATIONS.c.language_source != FROM_PICK)


def _touch_conversation(picked: bool) -> Any:
    """A citizen's message: the conversation reopened if closed, its place kept, the pick stored."""
    table = _CONVERSATIONS
    language = {"language": bindparam("p_language"), "language_source": FROM_PICK} if picked else {}
    return (
        update(table)
        .where(table.c.id == bindparam("p_id"))
        .values(
            # A citizen writing into a closed conversation starts with the bot again.
            state=case((table.c.state == CLOSED, BOT), else_=table.c.state),
            country=func.coalesce(table.c.country, bindparam("p_country", type_=table.c.country.type)),
            site=func.coalesce(table.c.site, bindparam("p_site", type_=table.c.site.type)),
            citizen=func.coalesce(table.c.citizen, bindparam("p_citizen", type_=table.c.citizen.type)),
            updated_at=bindparam("p_now", type_=table.c.updated_at.type),
            **language,
        )
    )


def _after_bot(answered: bool) -> Any:
    """The bot's lines: the conversation touched; the language it answered in kept unless the citizen picked one."""
    table = _CONVERSATIONS
    values: dict[str, Any] = {"updated_at": bindparam("p_now", type_=table.c.updated_at.type)}
    if answered:
        values["language"] = case((_NOT_PICKED, bindparam("p_language")), else_=table.c.language)
        values["language_source"] = case((_NOT_PICKED, FROM_BOT), else_=table.c.language_source)
    return update(table).where(table.c.id == bindparam("p_id")).values(**values)


def _staff_since_line() -> Any:
    """Whether staff claimed, closed or handed back the conversation (a `desk_events` row) since the
    citizen line `p_line` was stored."""
    events = DeskEvent.__table__
    asked_at = select(_MESSAGES.c.created_at).where(_MESSAGES.c.id == bindparam("p_line")).scalar_subquery()
    return (
        select(events.c.id)
        .where(events.c.conversation_id == bindparam("p_id"), events.c.at >= asked_at)
        .exists()
    )


def _reply_in_charge(answered: bool) -> Any:
    """The bot's on-time reply: `_after_bot`, done only while the bot is still in charge of the
    conversation (state `bot`, nobody claimed it, no claim, close or hand-back since the citizen's line).
    One conditional UPDATE that both checks and takes the row: on PostgreSQL a claim in progress on the
    row is waited for and then seen, so a claim lands either before the reply (withheld) or after it."""
    table = _CONVERSATIONS
    statement = _after_bot(answered)
    return statement.where(table.c.state == BOT, table.c.claimed_by.is_(None), ~_staff_since_line())


# The statements of the citizen's message and of the bot's lines, built once: a statement object keeps
# its cache key, so each message neither builds nor keys them again, and SQLAlchemy's compiled cache
# answers at once. Building and keying them per message cost more CPU than SQLite's work for them.
_TOUCH = {picked: _touch_conversation(picked) for picked in (False, True)}
_AFTER_BOT = {answered: _after_bot(answered) for answered in (False, True)}
_REPLY_IN_CHARGE = {answered: _reply_in_charge(answered) for answered in (False, True)}
_OWED = DeskOwedReply.__table__
_CLAIM = insert(_OWED)
_RENEW = (
    update(_OWED)
    .where(
        _OWED.c.line_id == bindparam("p_line"),
        _OWED.c.settled.is_(None),
        _OWED.c.due_at == bindparam("p_was", type_=_OWED.c.due_at.type),
    )
    .values(due_at=bindparam("p_due", type_=_OWED.c.due_at.type))
)
_SETTLE = (
    update(_OWED)
    .where(_OWED.c.line_id == bindparam("p_line"), _OWED.c.settled.is_(None))
    .values(
        settled=bindparam("p_how", type_=_OWED.c.settled.type),
        settled_at=bindparam("p_at", type_=_OWED.c.settled_at.type),
        replies=bindparam("p_replies", type_=_OWED.c.replies.type),
    )
)
_NEW_CONVERSATION = insert(_CONVERSATIONS)
_ADD_MESSAGE = insert(_MESSAGES)
_ANNOTATE = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("p_id"))
    .values(data=bindparam("p_data", type_=_MESSAGES.c.data.type))
)
_CONVERSATION = (
    select(_CONVERSATIONS, _USERS.c.name.label("clerk_name"), _USERS.c.display_name.label("clerk_display_name"))
    .select_from(_CONVERSATIONS.outerjoin(_USERS, _USERS.c.id == _CONVERSATIONS.c.claimed_by))
    .where(_CONVERSATIONS.c.id == bindparam("p_id"))
)
_BY_CLIENT_ID = select(_MESSAGES).where(
    _MESSAGES.c.conversation_id == bindparam("p_conversation"), _MESSAGES.c.client_id == bindparam("p_client")
)


def _claim(connection: Connection, line_id: int, conversation_id: str, now: datetime, due_in_s: float) -> datetime:
    """Inserts a line's owed row, the claim to send it to Rasa (IntegrityError if another has it); its due time."""
    due = now + timedelta(seconds=due_in_s)
    connection.execute(_CLAIM, {"line_id": line_id, "conversation_id": conversation_id, "created_at": now, "due_at": due})
    return due


class Conversations:
    def __init__(self, database: Database):
        self.db = database

    # --- the citizen's message: one transaction -------------------------------

    def accept_citizen_line(
        self,
        conversation_id: str,
        text: str,
        data: dict[str, Any],
        client_id: str | None,
        limits: list[tuple[str, int, float]],
        country: str | None = None,
        site: str | None = None,
        picked: str | None = None,
        citizen: str | None = None,
        synced: bool = True,
        claim_due_in_s: float | None = None,
    ) -> tuple[dict[str, Any], bool, dict[str, Any]]:
        """Counts the rate limits, creates or reopens the conversation and stores the line, all or nothing.

        Returns (line, created, conversation). A client_id seen before returns the stored line
        (created False) and counts nothing. Raises RateLimited when a limit is reached.
        `picked`: the language the citizen chose in the widget, stored on the conversation;
        `citizen`: the client key, kept from the first message (the reports' repeat contacts).
        `synced=False`: committed without a disk sync (Database.transaction); the caller syncs before
        it acknowledges.
        `claim_due_in_s`: a new line of a conversation the bot is in charge of is claimed for routing
        in the same transaction (its owed row, as `claim_routing` inserts it, due in that many seconds):
        the caller sends it to Rasa next. The returned conversation then says `claimed_line` (the line's
        id) and `claimed_due` (for `renew_claim`), and `staff_news`: whether staff cancelled a booking
        the citizen has not been told of yet.
        Core statements, not the ORM's unit of work: this runs for every message.
        """
        arguments = (conversation_id, text, data, client_id, limits, country, site, picked, citizen)
        try:
            return self._accept(*arguments, False, synced, claim_due_in_s)
        except IntegrityError:
            # A re-sent line (same client_id), or the conversation created by another instance at
            # the same moment: the transaction rolled back; look for the stored line this time.
            return self._accept(*arguments, True, synced, claim_due_in_s)

    def _accept(
        self,
        conversation_id: str,
        text: str,
        data: dict[str, Any],
        client_id: str | None,
        limits: list[tuple[str, int, float]],
        country: str | None,
        site: str | None,
        picked: str | None,
        citizen: str | None,
        look_first: bool,
        synced: bool,
        claim_due_in_s: float | None,
    ) -> tuple[dict[str, Any], bool, dict[str, Any]]:
        with self.db.transaction(synced) as connection:
            if look_first and client_id:
                existing = connection.execute(_BY_CLIENT_ID, {"p_conversation": conversation_id, "p_client": client_id})
                found = existing.first()
                if found is not None:
                    return message_dict(found), False, self._conversation(connection, conversation_id)
            refused = count_events(connection, limits)
            if refused:
                raise RateLimited(refused)
            now = datetime.utcnow()
            touched = connection.execute(
                _TOUCH[bool(picked)],
                {
                    "p_id": conversation_id, "p_country": country, "p_site": site, "p_citizen": citizen, "p_now": now,
                    "p_language": picked,
                },  # fmt: skip
            ).rowcount
            if not touched:
                language = {"language": picked, "language_source": FROM_PICK} if picked else {}
                connection.execute(
                    _NEW_CONVERSATION,
                    {
                        "id": conversation_id, "state": BOT, "country": country, "site": site, "understood": {},
                        "bot_paused": False, "citizen": citizen, "created_at": now, "updated_at": now, **language,
                    },
                )  # fmt: skip
            values = {
                "conversation_id": conversation_id, "sender": "citizen", "author": None, "text": text, "data": data,
                "client_id": client_id, "created_at": now,
            }  # fmt: skip
            (line_id,) = connection.execute(_ADD_MESSAGE, values).inserted_primary_key
            conversation = self._conversation(connection, conversation_id)
            if claim_due_in_s is not None and conversation["state"] == BOT:
                # The claim `claim_routing` would make before the send, one transaction earlier: a
                # citizen's message is one transaction, and the bot's answer another (issue 12).
                due = _claim(connection, line_id, conversation_id, now, claim_due_in_s)
                # Asked before every answer of the bot: here it is one more SELECT, not a transaction.
                news = connection.execute(ANY_UNSEEN_STAFF_CANCELLATION, {"p_conversation": conversation_id}).first() is not None
                conversation = {**conversation, "claimed_line": line_id, "claimed_due": due, "staff_news": news}
            return _line(line_id, values), True, conversation

    # --- lines from the bot, clerks and the desk -------------------------------

    def add_lines(
        self,
        conversation_id: str,
        lines: list[Line],
        annotate: tuple[int, dict[str, Any]] | None = None,
        language: str | None = None,
    ) -> list[dict[str, Any]]:
        """Stores lines in one transaction; `annotate` = (an earlier line's id, its new data), e.g. the
        citizen's line with what the NLU understood of it (`data.nlu`); `language`: the language the
        bot answered in, which becomes the conversation's unless the citizen picked one."""
        with self.db.transaction() as connection:
            return self._add_lines(connection, conversation_id, lines, annotate, language)

    @staticmethod
    def _add_lines(
        connection: Connection,
        conversation_id: str,
        lines: list[Line],
        annotate: tuple[int, dict[str, Any]] | None,
        language: str | None,
        touched: bool = False,
    ) -> list[dict[str, Any]]:
        """`touched`: the conversation's row was updated already in this transaction (`add_reply`)."""
        now = datetime.utcnow()
        stored = []
        for line in lines:
            values = {
                "conversation_id": conversation_id, "sender": line.sender, "author": line.author,
                "text": line.text, "data": line.data or {}, "client_id": None, "created_at": now,
            }  # fmt: skip
            (line_id,) = connection.execute(_ADD_MESSAGE, values).inserted_primary_key
            stored.append(_line(line_id, values))
        if annotate:
            message_id, data = annotate
            connection.execute(_ANNOTATE, {"p_id": message_id, "p_data": data})
        if not touched:
            connection.execute(_AFTER_BOT[bool(language)], {"p_id": conversation_id, "p_now": now, "p_language": language})
        return stored

    # --- replies owed by Rasa (a webhook call that timed out) ---------------------

    def owe_reply(self, line_id: int, conversation_id: str, due_in_s: float) -> None:
        """Records that Rasa's reply to a line is owed, and the line as routed (Rasa has it), in one transaction."""
        now = datetime.utcnow()
        with self.db.session() as session:
            if session.get(DeskOwedReply, line_id) is None:
                due = now + timedelta(seconds=due_in_s)
                session.add(DeskOwedReply(line_id=line_id, conversation_id=conversation_id, created_at=now, due_at=due))
            row = session.get(DeskMessage, line_id)
            if row is not None and not (row.data or {}).get("routed"):
                row.data = {**(row.data or {}), "routed": True}

    def renew_claim(self, line_id: int, due_in_s: float, was_due: datetime) -> bool:
        """Takes an unsettled claim whose due time is still `was_due`, due again from now; False if it
        was settled or taken meanwhile. Two uses: a claim made with the line (`accept_citizen_line`)
        whose send waited behind an earlier line of the conversation; a claim whose desk stopped before
        it sent the line, taken by a sweep (`DeskService.settle_overdue`). Compared on the due time, so
        that of two desks sweeping at once one alone takes it, and a sweep's taking is seen by the owner."""
        due = datetime.utcnow() + timedelta(seconds=due_in_s)
        with self.db.transaction(synced=False) as connection:
            return connection.execute(_RENEW, {"p_line": line_id, "p_due": due, "p_was": was_due}).rowcount == 1

    def claim_routing(self, line_id: int, conversation_id: str, due_in_s: float) -> bool:
        """A desk's claim on a stored line it is about to send to Rasa: the line's owed row, inserted first,
        on every send (the first send, a re-send, a sweep). Two desks without a lock they share (no Redis,
        or a lock that expired while a desk stalled) may both find the line unrouted: a re-send reaching a
        second desk while the first desk's call is in flight, two sweeps at once. Only one INSERT
        succeeds, so Rasa gets the line once. The row is then settled once (`deliver_owed`, `apologize`);
        if the claiming desk dies, by any desk's sweep of overdue rows."""
        try:
            # Committed without a disk sync of its own (SQLite's log; PostgreSQL's asynchronous commit),
            # made durable by the next synced commit or sync of the log. Lost only with the machine (or
            # PostgreSQL's server) before that: the line is then unrouted and unclaimed, and the sweep
            # sends it again, as it does any line left behind.
            with self.db.transaction(synced=False) as connection:
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                _claim(connection, line_id, conversation_id, datetime.utcnow(), due_in_s)
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _settle(connection: Connection, line_id: int, how: str, replies: list[dict[str, Any]] | None = None) -> bool:
        values = {"p_line": line_id, "p_how": how, "p_at": datetime.utcnow(), "p_replies": replies}
        return connection.execute(_SETTLE, values).rowcount == 1

    @staticmethod
    def _bot_in_charge(connection: Connection, conversation_id: str, line_id: int) -> bool:
        """Whether the bot still has the conversation it owes a reply in: nobody claimed it (or closed it,
        or handed it back) since the citizen's line. A clerk who claimed it owns it; the bot's late answer
        must not follow the clerk's lines as if the bot were still talking.

        A conditional UPDATE, not a read: on PostgreSQL it waits for a claim in progress on the row and
        then sees it (the claim's UPDATE sets claimed_by), so a claim is either before (refused here)
        or after the late reply in the transcript, never both. SQLite lets one writer in at a time.
        """
        table = _CONVERSATIONS
        done = connection.execute(
            update(table)
            .where(table.c.id == bindparam("p_id"), table.c.state == BOT, table.c.claimed_by.is_(None), ~_staff_since_line())
            .values(updated_at=table.c.updated_at),
            {"p_id": conversation_id, "p_line": line_id},
        )
        return done.rowcount == 1

    def deliver_owed(
        self,
        conversation_id: str,
        line_id: int,
        lines: list[Line],
        annotate: tuple[int, dict[str, Any]] | None = None,
        language: str | None = None,
        synced: bool = True,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Settles the reply owed to a citizen line (every line sent to Rasa has its owed row) with the
        bot's `lines`, on time or late, in one transaction: (DELIVERED, the stored lines) while the bot is
        still in charge, else (TAKEN_OVER, [the reply as staff see it]) with the lines kept on the owed
        row. AlreadySettled (nothing stored) if it was settled. The check is the transaction's first
        statement, a conditional UPDATE of the conversation (`_REPLY_IN_CHARGE`): SQLite takes its one
        write lock with it, PostgreSQL the row's lock, which a claim in progress holds until it commits,
        so a claim lands either before the reply (withheld) or after it in the transcript.
        `synced=False`: committed without a disk sync of its own (the desk's choice, DeskService._bot_replied)."""
        now = datetime.utcnow()
        with self.db.transaction(synced) as connection:
            values = {"p_id": conversation_id, "p_line": line_id, "p_now": now, "p_language": language}
            if connection.execute(_REPLY_IN_CHARGE[bool(language)], values).rowcount != 1:
                kept = [{"text": line.text, "data": line.data or {}} for line in lines]
                if not self._settle(connection, line_id, TAKEN_OVER, kept):
                    raise AlreadySettled(line_id)
                if annotate:
                    connection.execute(_ANNOTATE, {"p_id": annotate[0], "p_data": annotate[1]})
                asked = connection.execute(select(_MESSAGES.c.text).where(_MESSAGES.c.id == line_id)).scalar_one()
                return TAKEN_OVER, [late_reply_dict(line_id, asked, now, kept)]
            if not self._settle(connection, line_id, DELIVERED):
                raise AlreadySettled(line_id)
            return DELIVERED, self._add_lines(connection, conversation_id, lines, annotate, language, touched=True)

    def apologize(
        self, conversation_id: str, line_id: int, apology: Line, routed: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None]:
        """The bot did not answer citizen line `line_id`: stores the apology, in one transaction, only while
        the bot is in charge (no clerk claimed, closed or handed back since the line, the same check as a
        reply's). Returns (how, the stored apology line or None): APOLOGIZED with the line; TAKEN_OVER (a
        clerk has the conversation: no apology after the clerk's greeting); None when the owed reply
        was settled by another task or desk first. The citizen line is marked routed either way
        (`routed`: its data with `routed`), except when another desk settled it."""
        with self.db.transaction() as connection:
            how = APOLOGIZED if self._bot_in_charge(connection, conversation_id, line_id) else TAKEN_OVER
            if not self._settle(connection, line_id, how):
                return None, None
            connection.execute(_ANNOTATE, {"p_id": line_id, "p_data": routed})
            if how != APOLOGIZED:
                return how, None
            return how, self._add_lines(connection, conversation_id, [apology], None, None)[0]

    def late_replies(self, conversation_id: str) -> list[dict[str, Any]]:
        """The bot's late replies kept for staff (settled TAKEN_OVER with lines), oldest first: for the console."""
        with self.db.session() as session:
            rows = session.execute(
                select(DeskOwedReply, DeskMessage.text)
                .join(DeskMessage, DeskMessage.id == DeskOwedReply.line_id)
                .where(DeskOwedReply.conversation_id == conversation_id, DeskOwedReply.settled == TAKEN_OVER)
                .order_by(DeskOwedReply.line_id)
            ).all()
            return [late_reply_dict(row.line_id, asked, row.settled_at, row.replies) for row, asked in rows if row.replies]

    def owed(self, line_id: int) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.get(DeskOwedReply, line_id)
            if row is None:
                return None
            return {
                "line_id": row.line_id, "conversation_id": row.conversation_id, "created_at": row.created_at,
                "due_at": row.due_at, "settled": row.settled, "replies": row.replies,
            }  # fmt: skip

    def owed_overdue(self, now: datetime, limit: int = 20) -> list[dict[str, Any]]:
        """Owed replies past their due time and still unsettled (the desk that owed them died), with their line."""
        with self.db.session() as session:
            rows = session.execute(
                select(DeskMessage)
                .join(DeskOwedReply, DeskOwedReply.line_id == DeskMessage.id)
                .where(DeskOwedReply.settled.is_(None), DeskOwedReply.due_at < now)
                .order_by(DeskOwedReply.line_id)
                .limit(limit)
            ).scalars()
            return [message_dict(row) for row in rows]

    def purge_owed(self, older_than: datetime) -> int:
        """Settled owed replies older than `older_than`: their lines say what happened (issue 10, item 8).
        A late reply kept for staff (TAKEN_OVER with lines) is in no line: it stays, like a note."""
        table = DeskOwedReply.__table__
        with self.db.transaction() as connection:
            kept_for_staff = (table.c.settled == TAKEN_OVER) & table.c.replies.is_not(None)
            done = connection.execute(
                table.delete().where(table.c.settled.is_not(None), table.c.created_at < older_than, ~kept_for_staff)
            )
            return done.rowcount

    def mark_routed(self, message_id: int, release_claim: bool = False) -> None:
        """The line reached whoever is in charge. `release_claim`: it was claimed for Rasa with the line,
        but a person took the conversation first: no reply is owed, the unsettled claim goes."""
        with self.db.session() as session:
            row = session.get(DeskMessage, message_id)
            if row is not None and not (row.data or {}).get("routed"):
                row.data = {**(row.data or {}), "routed": True}
            if release_claim:
                session.execute(_OWED.delete().where(_OWED.c.line_id == message_id, _OWED.c.settled.is_(None)))

    def routed(self, message_id: int) -> bool:
        with self.db.session() as session:
            row = session.get(DeskMessage, message_id)
            return bool(row is None or (row.data or {}).get("routed"))

    def unrouted(self, minutes: int) -> list[dict[str, Any]]:
        """Citizen lines of the last `minutes` that were stored but never routed, oldest first."""
        since = datetime.utcnow() - timedelta(minutes=minutes)
        with self.db.session() as session:
            rows = session.execute(
                select(DeskMessage)
                .where(DeskMessage.sender == "citizen", DeskMessage.created_at >= since)
                .order_by(DeskMessage.id)
            ).scalars()
            return [message_dict(row) for row in rows if not (row.data or {}).get("routed")]

    def add_line(self, conversation_id: str, line: Line) -> dict[str, Any]:
        return self.add_lines(conversation_id, [line])[0]

    def frequent_items(self, window: int) -> list[str]:
        """The guide items of the bot's last `window` answers, the most frequent first."""
        with self.db.session() as session:
            rows = session.execute(
                select(DeskMessage.data).where(DeskMessage.sender == "bot").order_by(DeskMessage.id.desc()).limit(window)
            ).scalars()
            counts = Counter(
                ((data or {}).get("custom") or {}).get("guide_item") for data in rows if isinstance(data, dict)
            )
        counts.pop(None, None)
        return [item for item, _ in counts.most_common()]

    def messages(self, conversation_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(
                select(DeskMessage)
                .where(DeskMessage.conversation_id == conversation_id, DeskMessage.id > after)
                .order_by(DeskMessage.id)
                .limit(limit)
            ).scalars()
            return [message_dict(row) for row in rows]

    def unanswered(self, older_than: datetime, newer_than: datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Citizen lines the bot never answered: the last line of a conversation the bot is in charge of.

        Routing to the bot always stores at least one line after the citizen's (the bot's answer, or
        the desk's "the bot is unavailable"), so such a line was acknowledged by a desk that died,
        or lost its Redis or Rasa, before routing it. `older_than` leaves the ones in flight alone.
        """
        # Two steps, so that each reads by an index: the window's lines (by `created_at`), then the few
        # candidates. One GROUP BY over the window made SQLite walk the whole transcript by conversation,
        # 20 ms at 100,000 lines, every few seconds, in the thread that stores citizens' messages.
        with self.db.session() as session:
            recent = session.execute(
                select(DeskMessage.id, DeskMessage.conversation_id, DeskMessage.sender, DeskMessage.created_at).where(
                    DeskMessage.created_at >= newer_than
                )
            ).all()
            last: dict[str, tuple[int, str, datetime]] = {}
            for line_id, conversation_id, sender, created_at in recent:
                if line_id > last.get(conversation_id, (0, "", created_at))[0]:
                    last[conversation_id] = (line_id, sender, created_at)
            candidates = sorted(line_id for line_id, sender, created_at in last.values() if sender == "citizen" and created_at < older_than)
            found: list[dict[str, Any]] = []
            # In slices: a conversation waiting for a clerk ends with the citizen's line too, and the
            # database's number of bound parameters is limited.
            for start in range(0, len(candidates), 500):
                rows = session.execute(
                    select(DeskMessage)
                    .join(DeskConversation, DeskConversation.id == DeskMessage.conversation_id)
                    .where(DeskMessage.id.in_(candidates[start : start + 500]), DeskConversation.state == BOT)
                    .order_by(DeskMessage.id)
                    .limit(limit - len(found))
                ).scalars()
                found += [message_dict(row) for row in rows]
                if len(found) >= limit:
                    break
            return found

    def is_last_line(self, conversation_id: str, message_id: int) -> bool:
        with self.db.session() as session:
            last = session.execute(
                select(func.max(DeskMessage.id)).where(DeskMessage.conversation_id == conversation_id)
            ).scalar_one()
            return last == message_id

    # --- conversations ----------------------------------------------------------

    @staticmethod
    def _conversation(session: Session | Connection, conversation_id: str) -> dict[str, Any] | None:
        # Core rows, not ORM objects: read for every message.
        found = session.execute(_CONVERSATION, {"p_id": conversation_id}).first()
        return conversation_dict(found, found.clerk_name, found.clerk_display_name) if found else None

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            return self._conversation(session, conversation_id)

    def number_of(self, conversation_id: str) -> int | None:
        """The staff number of a conversation (None: no such conversation)."""
        with self.db.session() as session:
            return session.execute(
                select(DeskConversation.number).where(DeskConversation.id == conversation_id)
            ).scalar_one_or_none()

    def numbers_of(self, conversation_ids: list[str]) -> dict[str, int]:
        """Staff numbers of several conversations, by id (unknown ids are left out)."""
        if not conversation_ids:
            return {}
        with self.db.session() as session:
            rows = session.execute(
                select(DeskConversation.id, DeskConversation.number).where(DeskConversation.id.in_(set(conversation_ids)))
            ).all()
            return {conversation_id: number for conversation_id, number in rows}

    def id_of_number(self, number: int) -> str | None:
        """The conversation a staff number names (None: no such number)."""
        with self.db.session() as session:
            return session.execute(
                select(DeskConversation.id).where(DeskConversation.number == number)
            ).scalar_one_or_none()

    def ensure_conversation(self, conversation_id: str, country: str | None = None, site: str | None = None) -> None:
        with self.db.session() as session:
            row = session.get(DeskConversation, conversation_id)
            if row is None:
                # A savepoint: a rollback() inside the session's begin() would raise (issue 10). Losing the
                # race to another instance that created it at the same moment is fine: that row is as good.
                with contextlib.suppress(IntegrityError), session.begin_nested():
                    session.add(
                        DeskConversation(id=conversation_id, state=BOT, country=country, site=site, understood={})
                    )
            elif (country and not row.country) or (site and not row.site):
                row.country = row.country or country
                row.site = row.site or site

    def _update(
        self, conversation_id: str, *conditions: Any, event: dict[str, Any] | None = None, **values: Any
    ) -> bool:
        """A conditional UPDATE; when it wins and `event` is given, the history row (DeskEvent) in the same transaction."""
        values.setdefault("updated_at", datetime.utcnow())
        with self.db.session() as session:
            result = session.execute(
                update(DeskConversation)
                .where(DeskConversation.id == conversation_id, *conditions)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1 and event:
                at = values["updated_at"]
                session.execute(insert(DeskEvent.__table__).values(conversation_id=conversation_id, at=at, **event))
            return result.rowcount == 1

    def enqueue(self, conversation_id: str, reason: str, understood: dict[str, Any] | None, bot_paused: bool) -> bool:
        """Put a conversation the bot was serving into the clerks' queue; False if a person already has it."""
        now = datetime.utcnow()
        with self.db.session() as session:
            if understood is None:
                # The bot's hand-off action recorded what it understood; the latest request is this one.
                request = session.execute(
                    select(HandoffRequest)
                    .where(HandoffRequest.conversation_id == conversation_id)
                    .order_by(HandoffRequest.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                understood = request.understood if request else {}
        values: dict[str, Any] = {"state": WAITING, "reason": reason, "understood": understood, "waiting_since": now}
        if bot_paused:
            values["bot_paused"] = True
        return self._update(
            conversation_id,
            DeskConversation.state.in_([BOT, CLOSED]),
            DeskConversation.claimed_by.is_(None),
            event={"kind": "queued", "reason": reason},
            **values,
        )

    def claim(self, conversation_id: str, user_id: int) -> bool:
        """Atomic: only one clerk's UPDATE finds claimed_by still empty."""
        ok = self._update(
            conversation_id,
            DeskConversation.claimed_by.is_(None),
            DeskConversation.state != CLOSED,
            state=CLERK,
            claimed_by=user_id,
            event={"kind": "claimed", "user_id": user_id},
        )
        if ok:
            self._close_handoff_requests(conversation_id, "claimed")
        return ok

    def transfer(self, conversation_id: str, from_user: int, to_user: int) -> bool:
        return self._update(
            conversation_id,
            DeskConversation.claimed_by == from_user,
            DeskConversation.state == CLERK,
            claimed_by=to_user,
        )

    def hand_back(self, conversation_id: str, user_id: int) -> bool:
        ok = self._update(
            conversation_id,
            DeskConversation.claimed_by == user_id,
            state=BOT,
            claimed_by=None,
            waiting_since=None,
            event={"kind": "handback", "user_id": user_id},
        )
        if ok:
            self._close_handoff_requests(conversation_id, "done")
        return ok

    def close(self, conversation_id: str, user_id: int | None) -> bool:
        condition = DeskConversation.claimed_by == user_id if user_id else DeskConversation.claimed_by.is_(None)
        ok = self._update(
            conversation_id,
            condition,
            DeskConversation.state != CLOSED,
            state=CLOSED,
            claimed_by=None,
            waiting_since=None,
            event={"kind": "closed", "user_id": user_id},
        )
        if ok:
            self._close_handoff_requests(conversation_id, "done")
        return ok

    def reopen(self, conversation_id: str) -> bool:
        """A citizen writing into a closed conversation starts with the bot again."""
        return self._update(conversation_id, DeskConversation.state == CLOSED, state=BOT)

    def set_bot_paused(self, conversation_id: str, paused: bool) -> None:
        self._update(conversation_id, bot_paused=paused)

    def _close_handoff_requests(self, conversation_id: str, status: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(HandoffRequest)
                .where(HandoffRequest.conversation_id == conversation_id, HandoffRequest.status == "waiting")
                .values(status=status)
                .execution_options(synchronize_session=False)
            )

    def queue(self) -> list[dict[str, Any]]:
        """Conversations waiting for a person, longest wait first."""
        return self._conversations(DeskConversation.state == WAITING, order=DeskConversation.waiting_since)

    def live(self, limit: int = 100) -> list[dict[str, Any]]:
        """Open conversations of the last day, for 'open any live conversation'."""
        since = datetime.utcnow() - timedelta(days=1)
        return self._conversations(
            DeskConversation.state != CLOSED,
            DeskConversation.updated_at >= since,
            order=DeskConversation.updated_at.desc(),
            limit=limit,
        )

    def _conversations(self, *conditions: Any, order: Any, limit: int = 500) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(
                select(DeskConversation, DeskUser.name, DeskUser.display_name)
                .outerjoin(DeskUser, DeskUser.id == DeskConversation.claimed_by)
                .where(*conditions)
                .order_by(order)
                .limit(limit)
            ).all()
            out = []
            for row, clerk, display in rows:
                item = conversation_dict(row, clerk, display)
                last = session.execute(
                    select(DeskMessage)
                    .where(DeskMessage.conversation_id == row.id, DeskMessage.sender == "citizen")
                    .order_by(DeskMessage.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                item["last_citizen_text"] = last.text if last else None
                out.append(item)
            return out

    # --- audit -------------------------------------------------------------------

    def audit(self, user_id: int, action: str, target: str, found: bool) -> None:
        with self.db.session() as session:
            session.add(DeskAudit(user_id=user_id, action=action, target=target, found=found, at=datetime.utcnow()))

    def audit_rows(self, user_id: int) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(select(DeskAudit).where(DeskAudit.user_id == user_id).order_by(DeskAudit.id)).scalars()
            return [{"action": r.action, "target": r.target, "found": r.found, "at": iso(r.at)} for r in rows]

    # --- notes -------------------------------------------------------------------

    def add_note(self, conversation_id: str, user_id: int, text: str) -> dict[str, Any]:
        with self.db.session() as session:
            row = DeskNote(conversation_id=conversation_id, user_id=user_id, text=text, created_at=datetime.utcnow())
            session.add(row)
            session.flush()
            author = session.get(DeskUser, user_id).name
            return {"id": row.id, "author": author, "text": row.text, "at": iso(row.created_at)}

    def notes(self, conversation_id: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(
                select(DeskNote, DeskUser.name)
                .join(DeskUser, DeskUser.id == DeskNote.user_id)
                .where(DeskNote.conversation_id == conversation_id)
                .order_by(DeskNote.id)
            ).all()
            return [{"id": n.id, "author": name, "text": n.text, "at": iso(n.created_at)} for n, name in rows]

    # --- rasa-webchat's missed lines ------------------------------------------------

    def webchat_gone(self, conversation_id: str) -> None:
        """A rasa-webchat socket of the conversation went away: it has seen every line so far."""
        try:
            with self.db.session() as session:
                last = session.execute(
                    select(func.max(DeskMessage.id)).where(DeskMessage.conversation_id == conversation_id)
                ).scalar()
                if last is None:
                    return  # no conversation stored yet (no message sent)
                row = session.get(DeskWebchatSeen, conversation_id)
                if row is None:
                    session.add(DeskWebchatSeen(conversation_id=conversation_id, line_id=last))
                else:
                    row.line_id = max(row.line_id, last)
        except IntegrityError:
            pass  # two of its sockets went away at once: the other one stored it

    def webchat_missed(self, conversation_id: str) -> list[dict[str, Any]]:
        """The desk's lines since a rasa-webchat socket of the conversation last went away; none if it never did."""
        with self.db.session() as session:
            row = session.get(DeskWebchatSeen, conversation_id)
            seen = row.line_id if row is not None else None
        if seen is None:
            return []
        return [line for line in self.messages(conversation_id, after=seen) if line["sender"] != "citizen"]
