"""DeskStore: the desk's only way to its tables (conversations, transcript, users, sessions, presence).

State changes that two clerks or two desk instances could race on are single
conditional UPDATEs, so the database decides who wins.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.db.models import HandoffRequest
from bot.desk.models import (
    BOT,
    CLERK,
    CLOSED,
    WAITING,
    DeskConversation,
    DeskMessage,
    DeskNote,
    DeskPresence,
    DeskSession,
    DeskUser,
)
from bot.desk.passwords import hash_password, verify_password

SESSION_TTL = timedelta(hours=12)
PRESENCE_TTL = timedelta(seconds=45)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=5)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def message_dict(row: DeskMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "sender": row.sender,
        "author": row.author,
        "text": row.text,
        "data": row.data or {},
        "client_id": row.client_id,
        "at": _iso(row.created_at),
    }


def _conversation_dict(row: DeskConversation, clerk: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "claimed_by": row.claimed_by,
        "clerk": clerk,
        "reason": row.reason,
        "understood": row.understood or {},
        "country": row.country,
        "site": row.site,
        "bot_paused": row.bot_paused,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "waiting_since": _iso(row.waiting_since),
    }


class DeskStore:
    def __init__(self, database: Database):
        self.db = database

    # --- conversations -------------------------------------------------------

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.get(DeskConversation, conversation_id)
            if row is None:
                return None
            clerk = session.get(DeskUser, row.claimed_by).name if row.claimed_by else None
            return _conversation_dict(row, clerk)

    def ensure_conversation(self, conversation_id: str, country: str | None = None, site: str | None = None) -> None:
        with self.db.session() as session:
            row = session.get(DeskConversation, conversation_id)
            if row is None:
                session.add(DeskConversation(id=conversation_id, state=BOT, country=country, site=site, understood={}))
                try:
                    session.flush()
                except IntegrityError:
                    # Another instance created it at the same moment; that row is as good.
                    session.rollback()
            elif (country and not row.country) or (site and not row.site):
                row.country = row.country or country
                row.site = row.site or site

    def _update(self, conversation_id: str, *conditions: Any, **values: Any) -> bool:
        values.setdefault("updated_at", datetime.utcnow())
        with self.db.session() as session:
            result = session.execute(
                update(DeskConversation)
                .where(DeskConversation.id == conversation_id, *conditions)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
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
            conversation_id, DeskConversation.state.in_([BOT, CLOSED]), DeskConversation.claimed_by.is_(None), **values
        )

    def claim(self, conversation_id: str, user_id: int) -> bool:
        """Atomic: only one clerk's UPDATE finds claimed_by still empty."""
        ok = self._update(
            conversation_id,
            DeskConversation.claimed_by.is_(None),
            DeskConversation.state != CLOSED,
            state=CLERK,
            claimed_by=user_id,
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
            conversation_id, DeskConversation.claimed_by == user_id, state=BOT, claimed_by=None, waiting_since=None
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
                select(DeskConversation, DeskUser.name)
                .outerjoin(DeskUser, DeskUser.id == DeskConversation.claimed_by)
                .where(*conditions)
                .order_by(order)
                .limit(limit)
            ).all()
            out = []
            for row, clerk in rows:
                item = _conversation_dict(row, clerk)
                last = session.execute(
                    select(DeskMessage)
                    .where(DeskMessage.conversation_id == row.id, DeskMessage.sender == "citizen")
                    .order_by(DeskMessage.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                item["last_citizen_text"] = last.text if last else None
                out.append(item)
            return out

    # --- transcript ----------------------------------------------------------

    def add_message(
        self,
        conversation_id: str,
        sender: str,
        text: str,
        data: dict[str, Any] | None = None,
        author: str | None = None,
        client_id: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Stores a line; returns (message, created). A repeated client_id returns the stored line."""
        if client_id:
            existing = self._by_client_id(conversation_id, client_id)
            if existing:
                return existing, False
        try:
            with self.db.session() as session:
                row = DeskMessage(
                    conversation_id=conversation_id,
                    sender=sender,
                    author=author,
                    text=text,
                    data=data or {},
                    client_id=client_id,
                    created_at=datetime.utcnow(),
                )
                session.add(row)
                session.execute(
                    update(DeskConversation)
                    .where(DeskConversation.id == conversation_id)
                    .values(updated_at=datetime.utcnow())
                    .execution_options(synchronize_session=False)
                )
                session.flush()
                return message_dict(row), True
        except IntegrityError:
            existing = self._by_client_id(conversation_id, client_id or "")
            if existing is None:
                raise
            return existing, False

    def _by_client_id(self, conversation_id: str, client_id: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.execute(
                select(DeskMessage).where(
                    DeskMessage.conversation_id == conversation_id, DeskMessage.client_id == client_id
                )
            ).scalar_one_or_none()
            return message_dict(row) if row else None

    def annotate(self, message_id: int, key: str, value: Any) -> None:
        """Adds a key to a line's data (e.g. `nlu`, what the bot understood of a citizen line)."""
        with self.db.session() as session:
            row = session.get(DeskMessage, message_id)
            if row is not None:
                row.data = {**(row.data or {}), key: value}

    def messages(self, conversation_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(
                select(DeskMessage)
                .where(DeskMessage.conversation_id == conversation_id, DeskMessage.id > after)
                .order_by(DeskMessage.id)
                .limit(limit)
            ).scalars()
            return [message_dict(row) for row in rows]

    # --- notes ---------------------------------------------------------------

    def add_note(self, conversation_id: str, user_id: int, text: str) -> dict[str, Any]:
        with self.db.session() as session:
            row = DeskNote(conversation_id=conversation_id, user_id=user_id, text=text, created_at=datetime.utcnow())
            session.add(row)
            session.flush()
            author = session.get(DeskUser, user_id).name
            return {"id": row.id, "author": author, "text": row.text, "at": _iso(row.created_at)}

    def notes(self, conversation_id: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(
                select(DeskNote, DeskUser.name)
                .join(DeskUser, DeskUser.id == DeskNote.user_id)
                .where(DeskNote.conversation_id == conversation_id)
                .order_by(DeskNote.id)
            ).all()
            return [{"id": n.id, "author": name, "text": n.text, "at": _iso(n.created_at)} for n, name in rows]

    # --- users and sessions --------------------------------------------------

    def count_users(self) -> int:
        with self.db.session() as session:
            return session.execute(select(func.count(DeskUser.id))).scalar_one()

    def create_user(self, name: str, role: str, password: str, must_change: bool = False) -> int:
        with self.db.session() as session:
            row = DeskUser(name=name, role=role, password_hash=hash_password(password), must_change=must_change)
            session.add(row)
            session.flush()
            return row.id

    def set_password(self, user_id: int, password: str) -> None:
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            row.password_hash = hash_password(password)
            row.must_change = False

    def check_password(self, user_id: int, password: str) -> bool:
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            return bool(row) and verify_password(password, row.password_hash)

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.execute(select(DeskUser).where(DeskUser.name == name)).scalar_one_or_none()
            return {"id": row.id, "name": row.name, "role": row.role} if row else None

    def users(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(select(DeskUser).order_by(DeskUser.name)).scalars()
            return [{"id": r.id, "name": r.name, "role": r.role} for r in rows]

    def login(self, name: str, password: str) -> tuple[dict[str, Any] | None, str]:
        """(user, "") on success, else (None, reason). Locks an account for a while after repeated failures."""
        now = datetime.utcnow()
        with self.db.session() as session:
            row = session.execute(select(DeskUser).where(DeskUser.name == name)).scalar_one_or_none()
            if row is None:
                verify_password(password, hash_password("decoy"))  # same cost as a wrong password
                return None, "wrong"
            if row.locked_until and row.locked_until > now:
                return None, "locked"
            if not verify_password(password, row.password_hash):
                row.failed_logins += 1
                if row.failed_logins >= MAX_FAILED_LOGINS:
                    row.locked_until, row.failed_logins = now + LOCKOUT, 0
                return None, "wrong"
            row.failed_logins, row.locked_until = 0, None
            return {"id": row.id, "name": row.name, "role": row.role, "must_change": row.must_change}, ""

    def create_session(self, user_id: int) -> tuple[str, str]:
        """Returns (cookie token, csrf token); only the token's hash is stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = datetime.utcnow()
        with self.db.session() as session:
            session.add(
                DeskSession(
                    token_hash=_token_hash(token),
                    user_id=user_id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=now + SESSION_TTL,
                )
            )
        return token, csrf

    def session_user(self, token: str) -> dict[str, Any] | None:
        if not token:
            return None
        with self.db.session() as session:
            found = session.execute(
                select(DeskSession, DeskUser)
                .join(DeskUser, DeskUser.id == DeskSession.user_id)
                .where(DeskSession.token_hash == _token_hash(token), DeskSession.expires_at > datetime.utcnow())
            ).first()
            if not found:
                return None
            desk_session, user = found
            return {
                "id": user.id,
                "name": user.name,
                "role": user.role,
                "must_change": user.must_change,
                "csrf": desk_session.csrf,
            }

    def drop_session(self, token: str) -> None:
        with self.db.session() as session:
            row = session.get(DeskSession, _token_hash(token))
            if row:
                session.delete(row)

    # --- presence ------------------------------------------------------------

    def touch_presence(self, sid: str, user_id: int) -> None:
        with self.db.session() as session:
            row = session.get(DeskPresence, sid)
            if row:
                row.last_seen = datetime.utcnow()
            else:
                session.add(DeskPresence(sid=sid, user_id=user_id, last_seen=datetime.utcnow()))

    def drop_presence(self, sid: str) -> None:
        with self.db.session() as session:
            row = session.get(DeskPresence, sid)
            if row:
                session.delete(row)

    def online_clerks(self) -> list[dict[str, Any]]:
        since = datetime.utcnow() - PRESENCE_TTL
        with self.db.session() as session:
            rows = session.execute(
                select(DeskUser.id, DeskUser.name)
                .join(DeskPresence, DeskPresence.user_id == DeskUser.id)
                .where(DeskPresence.last_seen >= since, DeskUser.role.in_(["clerk", "admin"]))
                .distinct()
                .order_by(DeskUser.name)
            ).all()
            return [{"id": user_id, "name": name} for user_id, name in rows]
