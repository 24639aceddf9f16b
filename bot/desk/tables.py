"""The desk's tables, on the project's declarative Base so `create_schema()` makes them.

Everything the desk knows lives here, never only in process memory, so that
several desk instances can serve the same conversations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from bot.db.database import UPGRADES
from bot.db.tables import Base

# Conversation states: who is in charge.
BOT, WAITING, CLERK, CLOSED = "bot", "waiting", "clerk", "closed"


# Staff numbers of conversations (issue 10, item 1): PostgreSQL hands them out from this sequence, so
# several desks never collide; SQLite has no sequences and ignores it (see next_conversation_number).
CONVERSATION_NUMBERS = Sequence("desk_conversation_number_seq", metadata=Base.metadata)


class next_conversation_number(FunctionElement):  # noqa: N801 - a SQL function, named like one
    """The next staff number, computed by the database inside the INSERT (or UPDATE) that stores it."""

    type = Integer()
    name = "next_conversation_number"
    inherit_cache = True


@compiles(next_conversation_number)
def _next_number_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    # SQLite lets one writer in at a time and a writing statement takes the lock before it reads, so
    # the highest number is read and the next one stored without another desk coming in between.
    # Conversations are never deleted: a number is never handed out twice.
    return "(SELECT COALESCE(MAX(number), 0) + 1 FROM desk_conversations)"


@compiles(next_conversation_number, "postgresql")
def _next_number_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return compiler.process(CONVERSATION_NUMBERS.next_value(), **kw)


class DeskConversation(Base):
    __tablename__ = "desk_conversations"

    # The conversation id is the citizen's bearer secret (bot/desk/ids.py): staff never see it.
    id = Column(String(128), primary_key=True)
    # What staff see and use instead ("会话 #1042"): given by the database when the row is stored.
    # Nullable only so that add_missing_columns can add it to an older database, whose rows
    # number_conversations numbers at start.
    number = Column(Integer, default=next_conversation_number(), unique=True, index=True)
    state = Column(String(16), nullable=False, default=BOT, index=True)
    claimed_by = Column(Integer, ForeignKey("desk_users.id"), nullable=True)
    reason = Column(String(48))
    understood = Column(JSON, nullable=False, default=dict)
    country = Column(String(32))
    site = Column(String(64))
    # The conversation's language (a code of knowledge/languages.yml) and where it came from:
    # "picked" in the widget (kept until the citizen picks another) or "bot" (the language of
    # the bot's latest reply, `custom.language`). None until either is known.
    language = Column(String(8), index=True)
    language_source = Column(String(8))
    # The bot's tracker was paused by a hand-off and must get `resume` before the bot talks again.
    bot_paused = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    updated_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    waiting_since = Column(DateTime)
    # Who is writing, as far as the desk can tell: the client key (bot/privacy.client_key, a salted
    # hash of the address) of the first message. The reports count a conversation as contained only
    # if the same citizen started no other one within 24 hours.
    citizen = Column(String(16), index=True)


class DeskMessage(Base):
    """One line of the transcript: citizen, bot, clerk or system."""

    __tablename__ = "desk_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "client_id", name="uq_desk_message_client"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), nullable=False, index=True)
    sender = Column(String(16), nullable=False)
    author = Column(String(64))
    text = Column(Text, nullable=False, default="")
    # buttons, custom, payload, image: what the widget needs to draw the line again.
    data = Column(JSON, nullable=False, default=dict)
    # The widget's own id for a citizen message, so a re-send after a reconnect is stored once.
    client_id = Column(String(64))
    # Indexed: the sweep of unanswered lines reads the last hour's lines every few seconds (issue 12).
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)


class DeskOwedReply(Base):
    """A citizen line whose webhook call to Rasa timed out: the bot's reply is owed (issue 10, item 4).

    Rasa finishes the message after the desk hung up and writes the reply to its tracker; the desk
    reads it from there. In the database, so that any desk can settle it when the one that timed out
    dies. `settled` is set once, by one conditional UPDATE, in the transaction that stores the late
    reply (`delivered`) or before the apology (`apologized`): the citizen gets exactly one of them, unless
    a clerk took the conversation meanwhile (`clerk`): then the citizen gets neither, and staff see the reply.
    """

    __tablename__ = "desk_owed_replies"

    line_id = Column(Integer, ForeignKey("desk_messages.id"), primary_key=True)
    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), nullable=False, index=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    # The desk that timed out settles it by then; after it, any desk's sweep does (that desk died).
    due_at = Column(DateTime, nullable=False, index=True)
    settled = Column(String(16))
    settled_at = Column(DateTime)
    # Settled `clerk` (staff took the conversation while the reply was owed): the bot's late lines,
    # [{"text", "data"}], shown to staff in the console and never sent to the citizen.
    replies = Column(JSON)


class DeskUser(Base):
    __tablename__ = "desk_users"

    id = Column(Integer, primary_key=True)
    # The log-in name: staff pages only. Citizens see `display_name` (issue 10, item 6), or the
    # account's number when it has none (bot/desk/accounts.py `public_name`).
    name = Column(String(64), unique=True, nullable=False)
    display_name = Column(String(64))
    role = Column(String(16), nullable=False)
    password_hash = Column(String(256), nullable=False)
    # Set for a one-time password: the user must choose a new one before working.
    must_change = Column(Boolean, nullable=False, default=False)
    # A one-time password stops working after this (24 h after it was issued).
    password_expires_at = Column(DateTime)
    # Failed log-ins in a row, counted by one UPDATE (no read-modify-write); it locks nothing:
    # throttling is per address (DeskLoginThrottle), so nobody can lock a clerk out.
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime)  # no longer set (the hard lockout is gone); kept for old databases
    # The languages a clerk speaks besides Chinese (codes of knowledge/languages.yml): waiting
    # conversations in these are offered to the clerk first (bot/desk/offers.py).
    languages = Column(JSON)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class DeskSession(Base):
    __tablename__ = "desk_sessions"

    # sha256 of the cookie value: a leaked table does not give working cookies.
    token_hash = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("desk_users.id"), nullable=False, index=True)
    csrf = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    expires_at = Column(DateTime, nullable=False)


class DeskLoginThrottle(Base):
    """Log-in attempts per client address (IPv6 by /64), with a backoff instead of a lockout (issue 10, item 6).

    In the database, so every desk instance shares it. `next_at`: no attempt from the address before then.
    """

    __tablename__ = "desk_login_throttle"

    key = Column(String(96), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)
    last_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    next_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class DeskPresence(Base):
    """One row per open console connection; stale heartbeats count as offline."""

    __tablename__ = "desk_presence"

    sid = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("desk_users.id"), nullable=False, index=True)
    last_seen = Column(DateTime, nullable=False, default=datetime.utcnow)


class DeskNote(Base):
    __tablename__ = "desk_notes"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), nullable=False, index=True)
    user_id = Column(Integer, ForeignKey("desk_users.id"), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class DeskEvent(Base):
    """What happened to a conversation, one row per change, for the reports (bot/reports).

    kind: queued (with the hand-off reason), claimed, handback, closed (user_id: the clerk, if any).
    The conversation row keeps only its present state; the figures need the history.
    """

    __tablename__ = "desk_events"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)
    reason = Column(String(48))
    user_id = Column(Integer)
    at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)


class DeskAnswerFeedback(Base):
    """A citizen's mark on one guide answer: helpful or not, with a reason and a comment. The last mark counts."""

    __tablename__ = "desk_answer_feedback"

    message_id = Column(Integer, ForeignKey("desk_messages.id"), primary_key=True)
    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), nullable=False, index=True)
    helpful = Column(Boolean, nullable=False)
    # One of bot.desk.feedback.REASONS, or None.
    reason = Column(String(24))
    comment = Column(Text)
    at = Column(DateTime, nullable=False, default=datetime.utcnow)


class DeskRating(Base):
    """The end-of-conversation rating: the row exists once it was asked (so it is asked once), score when given."""

    __tablename__ = "desk_ratings"

    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), primary_key=True)
    # closed (a clerk closed it), handback (a clerk handed it back), citizen (closed the widget).
    asked_because = Column(String(16), nullable=False)
    asked_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    score = Column(Integer)
    comment = Column(Text)
    rated_at = Column(DateTime)


class DeskCanned(Base):
    """A canned reply: shared (owner_id None, managed by admins) or a clerk's own, in one language."""

    __tablename__ = "desk_canned"

    id = Column(Integer, primary_key=True)
    owner_id = Column(Integer, ForeignKey("desk_users.id"), nullable=True, index=True)
    language = Column(String(8), nullable=False, index=True)
    title = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class DeskAttachment(Base):
    """A photo or PDF sent in a conversation, kept in the database so that every desk instance serves it.

    Photos are stored re-encoded without their metadata (EXIF, GPS); `thumb` is a small JPEG.
    """

    __tablename__ = "desk_attachments"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), nullable=False, index=True)
    sender = Column(String(16), nullable=False)
    name = Column(String(128), nullable=False)
    mime = Column(String(32), nullable=False)
    size = Column(Integer, nullable=False)
    content = Column(LargeBinary, nullable=False)
    thumb = Column(LargeBinary)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class DeskTicket(Base):
    """A message a citizen left while waiting, with a way to be reached: the console's 留言 list.

    Opened with the citizen's line (one ticket per line); `status` open (待处理), contacted (已联系) or
    resolved (已解决). A clerk's reply in the conversation resolves its open tickets (the citizen reads
    it on the next visit); a clerk may also mark one, with a note. `handled_by`: who did it last.
    """

    __tablename__ = "desk_tickets"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), nullable=False, index=True)
    line_id = Column(Integer, ForeignKey("desk_messages.id"), nullable=False, unique=True)
    contact = Column(String(120), nullable=False)
    language = Column(String(8))
    message = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, default="open", index=True)
    handled_by = Column(Integer, ForeignKey("desk_users.id"), nullable=True)
    note = Column(Text)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    updated_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    closed_at = Column(DateTime)


class DeskWebchatSeen(Base):
    """The last line of a conversation when its rasa-webchat socket went away (issue 11).

    rasa-webchat keeps its own copy of the transcript and asks for no history; the lines a clerk wrote
    while it was closed (an answer to a left message, a file) are sent to it when it comes back.
    """

    __tablename__ = "desk_webchat_seen"

    conversation_id = Column(String(128), ForeignKey("desk_conversations.id"), primary_key=True)
    line_id = Column(Integer, nullable=False)


class DeskAudit(Base):
    """Who looked up what: staff case lookups (issue 10). The case number is stored masked."""

    __tablename__ = "desk_audit"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("desk_users.id"), nullable=False, index=True)
    action = Column(String(32), nullable=False)
    target = Column(String(64), nullable=False)
    found = Column(Boolean, nullable=False)
    at = Column(DateTime, nullable=False, default=datetime.utcnow)


def number_conversations(connection: Connection) -> int:
    """Gives conversations stored before staff numbers existed theirs, oldest first, then makes the numbers unique.

    Run by Database.create_schema (UPGRADES) after add_missing_columns added the column.
    """
    table = DeskConversation.__table__
    missing = connection.execute(
        select(table.c.id).where(table.c.number.is_(None)).order_by(table.c.created_at, table.c.id)
    ).scalars().all()
    if missing:
        connection.execute(
            update(table).where(table.c.id == bindparam("p_id")).values(number=next_conversation_number()),
            [{"p_id": conversation_id} for conversation_id in missing],
        )
    for index in table.indexes:
        index.create(connection, checkfirst=True)
    return len(missing)


UPGRADES.append(number_conversations)


def index_messages(connection: Connection) -> None:
    """The transcript's indexes on a database made before they were declared (`create_all` adds none
    to an existing table): `created_at`, which the sweep of unanswered lines reads by."""
    for index in DeskMessage.__table__.indexes:
        index.create(connection, checkfirst=True)


UPGRADES.append(index_messages)
