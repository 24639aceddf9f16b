"""Appointments in the database: places' settings, slot counts and bookings (issue 14).

A mixin of `Database`, so that bookings go through the one data layer with its engines and
sessions. The last place in a slot is decided by one conditional UPDATE
(`taken = taken + 1 WHERE taken < capacity`): SQLite lets one writer in at a time, and PostgreSQL
re-checks the WHERE clause on the row after a concurrent update commits, so on both engines two
transactions never both see the last place free.
"""

from __future__ import annotations

import hmac
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.tables import Booking, BookingPlace, BookingSlot, ClerkHours
from bot.surnames import is_latin, romanisations

# Built once: a statement keeps its cache key, so the check on every bot-routed message neither
# builds nor keys it again.
ANY_UNSEEN_STAFF_CANCELLATION = (
    select(Booking.id)
    .where(
        Booking.conversation_id == bindparam("p_conversation"),
        Booking.cancelled_by == "staff",
        Booking.reason_seen.is_(None),
    )
    .limit(1)
)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read out on the phone
CODE_PREFIX = "BK"
CODE_LENGTH = 6
STAFF_STATUSES = ("booked", "arrived", "done", "no_show")
ACTIVE = ("booked", "arrived")
COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "司徒",
    "东方",
    "夏侯",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
    "宇文",
    "令狐",
)


def new_code() -> str:
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def surname_of(name: str) -> str:
    """The surname to ask for later: the first character(s) of a Chinese name, the last word of a Latin one."""
    name = " ".join((name or "").split())
    if not name:
        return ""
    if is_latin(name.replace(" ", "")):
        return name.split()[-1].lower()
    for compound in COMPOUND_SURNAMES:
        if name.startswith(compound):
            return compound
    return name[0]


def accepted_surnames(name: str) -> set[str]:
    """Every way the citizen may give the surname back: characters or pinyin; any word of a Latin name."""
    name = " ".join((name or "").split())
    if is_latin(name.replace(" ", "")):
        return {word.lower() for word in name.split()}
    surname = surname_of(name)
    return {surname, *romanisations(surname)}


@dataclass(frozen=True)
class BookingView:
    code: str
    place_id: str
    starts_at: datetime  # naive UTC
    item_id: str | None
    mode: str
    name: str
    contact: str
    language: str | None
    conversation_id: str | None
    status: str
    cancel_reason: str | None
    cancelled_by: str | None
    created_at: datetime
    calendar_token: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


def _view(booking: Booking) -> BookingView:
    return BookingView(
        code=booking.code,
        place_id=booking.place_id,
        starts_at=booking.starts_at,
        item_id=booking.item_id,
        mode=booking.mode,
        name=booking.name,
        contact=booking.contact,
        language=booking.language,
        conversation_id=booking.conversation_id,
        status=booking.status,
        cancel_reason=booking.cancel_reason,
        cancelled_by=booking.cancelled_by,
        created_at=booking.created_at,
        calendar_token=booking.calendar_token,
    )


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        from datetime import timezone

        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(second=0, microsecond=0)


def _take_place(session: Session, place_id: str, starts_at: datetime, capacity: int) -> bool:
    """One place of the slot, or False when it is full: the atomic step."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(
        insert(BookingSlot.__table__)
        .values(place_id=place_id, starts_at=starts_at, taken=0)
        .on_conflict_do_nothing(index_elements=["place_id", "starts_at"])
    )
    result = session.execute(
        update(BookingSlot.__table__)
        .where(
            BookingSlot.place_id == place_id,
            BookingSlot.starts_at == starts_at,
            BookingSlot.taken < capacity,
        )
        .values(taken=BookingSlot.taken + 1)
    )
    return result.rowcount == 1


def _release_place(session: Session, place_id: str, starts_at: datetime) -> None:
    session.execute(
        update(BookingSlot.__table__)
        .where(BookingSlot.place_id == place_id, BookingSlot.starts_at == starts_at, BookingSlot.taken > 0)
        .values(taken=BookingSlot.taken - 1)
    )


class BookingStore:
    """Mixed into `bot.db.Database`."""

    session: Callable[[], AbstractContextManager[Session]]

    # --- places' settings ---------------------------------------------------------------

    def place_settings(self) -> dict[str, dict[str, Any]]:
        with self.session() as session:
            return {
                row.place_id: {
                    "hours": row.hours,
                    "closures": row.closures,
                    "capacity": row.capacity,
                    "slot_minutes": row.slot_minutes,
                    "updated_by": row.updated_by,
                    "updated_at": row.updated_at,
                }
                for row in session.execute(select(BookingPlace)).scalars()
            }

    def save_place_settings(self, place_id: str, by: str, **settings: Any) -> None:
        """Hours, closures, capacity or slot length of a place (None keeps sites.yml's default)."""
        with self.session() as session:
            row = session.get(BookingPlace, place_id) or BookingPlace(place_id=place_id)
            for key in ("hours", "closures", "capacity", "slot_minutes"):
                if key in settings:
                    setattr(row, key, settings[key])
            row.updated_by, row.updated_at = by, datetime.utcnow()
            session.add(row)

    # --- the clerks' online desk's hours (bot/clerk_hours.py), set by an admin like a place's ---

    def clerk_hours_settings(self, desk_id: str) -> dict[str, Any] | None:
        with self.session() as session:
            row = session.get(ClerkHours, desk_id)
            if row is None:
                return None
            return {
                "hours": row.hours,
                "closures": row.closures or [],
                "holidays": row.holidays,
                "updated_by": row.updated_by,
                "updated_at": row.updated_at,
            }

    def save_clerk_hours(
        self, desk_id: str, by: str, hours: str | None, closures: list[str], holidays: str | None
    ) -> None:
        with self.session() as session:
            row = session.get(ClerkHours, desk_id) or ClerkHours(desk_id=desk_id)
            row.hours, row.closures, row.holidays = hours, closures, holidays
            row.updated_by, row.updated_at = by, datetime.utcnow()
            session.add(row)

    def reset_clerk_hours(self, desk_id: str) -> None:
        """Back to knowledge/sites.yml's hours."""
        with self.session() as session:
            row = session.get(ClerkHours, desk_id)
            if row is not None:
                session.delete(row)

    # --- slots --------------------------------------------------------------------------

    def taken_counts(self, place_id: str, start: datetime, end: datetime) -> dict[datetime, int]:
        """Places taken per slot start (naive UTC) between start and end."""
        with self.session() as session:
            rows = session.execute(
                select(BookingSlot.starts_at, BookingSlot.taken).where(
                    BookingSlot.place_id == place_id,
                    BookingSlot.starts_at >= _naive_utc(start),
                    BookingSlot.starts_at < _naive_utc(end),
                )
            ).all()
            return {at: taken for at, taken in rows if taken}

    # --- bookings -----------------------------------------------------------------------

    def book(
        self,
        *,
        place_id: str,
        starts_at: datetime,
        capacity: int,
        mode: str,
        name: str,
        contact: str,
        item_id: str | None = None,
        language: str | None = None,
        conversation_id: str | None = None,
    ) -> BookingView | None:
        """A booking in that slot, or None when its last place went to someone else."""
        starts_at = _naive_utc(starts_at)
        for _ in range(5):  # a new code collides about never; retried rather than assumed
            try:
                with self.session() as session:
                    if not _take_place(session, place_id, starts_at, capacity):
                        return None
                    booking = Booking(
                        code=new_code(),
                        calendar_token=secrets.token_urlsafe(18),
                        place_id=place_id,
                        starts_at=starts_at,
                        item_id=item_id,
                        mode=mode,
                        name=name.strip(),
                        surname=surname_of(name),
                        contact=contact.strip(),
                        language=language,
                        conversation_id=conversation_id,
                        status="booked",
                        created_at=datetime.utcnow(),
                    )
                    session.add(booking)
                    session.flush()
                    return _view(booking)
            except IntegrityError:
                continue
        raise RuntimeError("could not draw a free booking code")

    def _owned(self, session: Session, code: str, surname: str) -> Booking | None:
        """The booking only when the surname matches; an unknown code costs the same comparisons."""
        booking = session.execute(select(Booking).where(Booking.code == normalise_code(code))).scalar_one_or_none()
        accepted = sorted(accepted_surnames(booking.name)) if booking else ["\u0000"]
        given = surname.strip().lower() if is_latin(surname) else surname.strip()
        ok = any([hmac.compare_digest(name.encode(), given.encode()) for name in accepted])
        return booking if booking is not None and ok else None

    def find_booking(self, code: str, surname: str) -> BookingView | None:
        with self.session() as session:
            booking = self._owned(session, code, surname)
            return _view(booking) if booking else None

    def cancel_booking(self, code: str, surname: str) -> BookingView | None:
        """The citizen's cancellation (code and surname as proof); the place goes back to the slot."""
        with self.session() as session:
            booking = self._owned(session, code, surname)
            if booking is None:
                return None
            if booking.status in ACTIVE:
                _release_place(session, booking.place_id, booking.starts_at)
                booking.status, booking.cancelled_by, booking.updated_at = "cancelled", "citizen", datetime.utcnow()
            return _view(booking)

    def move_booking(
        self, code: str, surname: str, starts_at: datetime, capacity: int
    ) -> tuple[str, BookingView | None]:
        """("moved", view), ("full", view) when the new slot has no place left, ("not_found", None)."""
        starts_at = _naive_utc(starts_at)
        with self.session() as session:
            booking = self._owned(session, code, surname)
            if booking is None or booking.status not in ACTIVE:
                return ("not_found", None) if booking is None else ("inactive", _view(booking))
            if not _take_place(session, booking.place_id, starts_at, capacity):
                return "full", _view(booking)
            _release_place(session, booking.place_id, booking.starts_at)
            booking.starts_at, booking.updated_at = starts_at, datetime.utcnow()
            return "moved", _view(booking)

    # --- staff ----------------------------------------------------------------------------

    def bookings_between(self, start: datetime, end: datetime, place_id: str | None = None) -> list[BookingView]:
        with self.session() as session:
            query = select(Booking).where(Booking.starts_at >= _naive_utc(start), Booking.starts_at < _naive_utc(end))
            if place_id:
                query = query.where(Booking.place_id == place_id)
            return [_view(b) for b in session.execute(query.order_by(Booking.starts_at, Booking.id)).scalars()]

    def booking_by_code(self, code: str) -> BookingView | None:
        """For staff, who are logged in and need no proof."""
        with self.session() as session:
            booking = session.execute(select(Booking).where(Booking.code == normalise_code(code))).scalar_one_or_none()
            return _view(booking) if booking else None

    def booking_by_calendar_token(self, token: str) -> BookingView | None:
        if not token:
            return None
        with self.session() as session:
            booking = session.execute(select(Booking).where(Booking.calendar_token == token)).scalar_one_or_none()
            return _view(booking) if booking else None

    def set_booking_status(self, code: str, status: str) -> BookingView | None:
        if status not in STAFF_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self.session() as session:
            booking = session.execute(select(Booking).where(Booking.code == normalise_code(code))).scalar_one_or_none()
            if booking is None or booking.status == "cancelled":
                return None
            booking.status, booking.updated_at = status, datetime.utcnow()
            return _view(booking)

    def staff_cancel_booking(self, code: str, reason: str) -> BookingView | None:
        """Staff cancel with a reason; the citizen is told on the next visit (`unseen_staff_cancellations`)."""
        with self.session() as session:
            booking = session.execute(select(Booking).where(Booking.code == normalise_code(code))).scalar_one_or_none()
            if booking is None:
                return None
            if booking.status in ACTIVE:
                _release_place(session, booking.place_id, booking.starts_at)
            booking.status, booking.cancelled_by = "cancelled", "staff"
            booking.cancel_reason, booking.reason_seen, booking.updated_at = reason.strip(), None, datetime.utcnow()
            return _view(booking)

    def bookings_of_conversation(self, conversation_id: str) -> list[BookingView]:
        with self.session() as session:
            rows = session.execute(
                select(Booking).where(Booking.conversation_id == conversation_id).order_by(Booking.starts_at)
            ).scalars()
            return [_view(b) for b in rows]

    def has_unseen_staff_cancellations(self, conversation_id: str) -> bool:
        """Whether `unseen_staff_cancellations` has news: a read that commits nothing.

        Asked on every bot-routed message (the desk asks while Rasa works on the message), so it adds
        no transaction to a citizen's message (tests/desk/test_live.py).
        """
        with self.engine.connect() as connection:
            return connection.execute(ANY_UNSEEN_STAFF_CANCELLATION, {"p_conversation": conversation_id}).first() is not None

    def unseen_staff_cancellations(self, conversation_id: str) -> list[BookingView]:
        """Staff cancellations of this conversation's bookings not yet told to the citizen; marked told."""
        if not self.has_unseen_staff_cancellations(conversation_id):
            return []
        unseen = select(Booking).where(
            Booking.conversation_id == conversation_id,
            Booking.cancelled_by == "staff",
            Booking.reason_seen.is_(None),
        )
        with self.session() as session:
            rows = list(session.execute(unseen).scalars())
            for booking in rows:
                booking.reason_seen = datetime.utcnow()
            return [_view(b) for b in rows]
