"""Tables of the embedded database (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class Case(Base):
    __tablename__ = "cases"

    id = Column(Integer, primary_key=True)
    case_no = Column(String(32), unique=True, nullable=False, index=True)
    item_id = Column(String(64), nullable=False)
    surname = Column(String(8), nullable=False)
    given_name = Column(String(16), nullable=False)
    doc_last4 = Column(String(4), nullable=False)
    country = Column(String(32))
    city = Column(String(32))
    site = Column(String(64))
    status = Column(String(24), nullable=False)
    history = relationship("CaseEvent", order_by="CaseEvent.at", back_populates="case", cascade="all, delete-orphan")


class CaseEvent(Base):
    __tablename__ = "case_events"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    at = Column(DateTime, nullable=False)
    status = Column(String(24), nullable=False)
    note = Column(Text)
    case = relationship("Case", back_populates="history")


class HandoffRequest(Base):
    """A conversation waiting for a clerk; the desk's console serves this queue."""

    __tablename__ = "handoff_requests"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    reason = Column(String(48), nullable=False)
    understood = Column(JSON, nullable=False, default=dict)
    status = Column(String(16), nullable=False, default="waiting", index=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class RateEvent(Base):
    """One counted event (a message, a case lookup) for a rate limit; shared by all instances."""

    __tablename__ = "rate_events"

    id = Column(Integer, primary_key=True)
    key = Column(String(96), nullable=False, index=True)
    at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)


# --- appointments (bot/booking, issue 14) ---------------------------------------------


class BookingPlace(Base):
    """An admin's settings for one place; a place without a row uses knowledge/sites.yml's defaults."""

    __tablename__ = "booking_places"

    place_id = Column(String(64), primary_key=True)
    # {"0": [["09:00", "12:00"], ...], ...}: weekday (Monday 0) to local opening ranges.
    hours = Column(JSON)
    closures = Column(JSON)  # ["2026-12-24", ...]: local dates the place is closed
    capacity = Column(Integer)
    slot_minutes = Column(Integer)
    updated_by = Column(String(64))
    updated_at = Column(DateTime)


class ClerkHours(Base):
    """An admin's hours for the clerks' online desk (bot/clerk_hours.py); no row: knowledge/sites.yml's."""

    __tablename__ = "clerk_hours"

    desk_id = Column(String(64), primary_key=True)
    hours = Column(Text)  # "周一至周五 9:00-18:00", sites.yml's notation, in the desk's time zone
    closures = Column(JSON)  # ["2026-12-24", ...]: local dates the desk is closed
    holidays = Column(String(8))  # the country whose public holidays close the desk, or NULL
    updated_by = Column(String(64))
    updated_at = Column(DateTime)


class BookingSlot(Base):
    """How many places of one slot are taken: the row the atomic conditional UPDATE decides on."""

    __tablename__ = "booking_slots"
    __table_args__ = (UniqueConstraint("place_id", "starts_at", name="uq_booking_slot"),)

    id = Column(Integer, primary_key=True)
    place_id = Column(String(64), nullable=False)
    starts_at = Column(DateTime, nullable=False)  # UTC, naive
    taken = Column(Integer, nullable=False, default=0)


class Booking(Base):
    __tablename__ = "bookings"

    id = Column(Integer, primary_key=True)
    code = Column(String(16), unique=True, nullable=False, index=True)
    # The calendar link's secret (/calendar/<token>.ics): a code alone must not open the details.
    calendar_token = Column(String(32), unique=True, index=True)
    place_id = Column(String(64), nullable=False, index=True)
    starts_at = Column(DateTime, nullable=False, index=True)  # UTC, naive
    item_id = Column(String(64))
    mode = Column(String(16), nullable=False)  # in_person / video
    name = Column(String(64), nullable=False)
    surname = Column(String(32), nullable=False)
    contact = Column(String(128), nullable=False)
    language = Column(String(8))
    conversation_id = Column(String(128), index=True)
    # booked -> arrived -> done, or no_show, or cancelled (by the citizen or by staff, with a reason)
    status = Column(String(16), nullable=False, default="booked")
    cancel_reason = Column(Text)
    cancelled_by = Column(String(16))  # citizen / staff
    reason_seen = Column(DateTime)  # when the citizen was told of a staff cancellation
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    updated_at = Column(DateTime)
