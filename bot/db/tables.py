"""Tables of the embedded database (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String, Text
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
