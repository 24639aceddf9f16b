"""The trainer's tables: pending changes to the training data, training jobs, activations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Integer, String, Text

from bot.db.tables import Base

PENDING, TRAINED, DISCARDED = "pending", "trained", "discarded"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class TrainingChange(Base):
    """One correction or edit of the NLU training data, as a trainer made it."""

    __tablename__ = "trainer_changes"

    id = Column(Integer, primary_key=True)
    # add: a new example; move: an example to another intent; edit: new wording; delete.
    kind = Column(String(16), nullable=False)
    intent = Column(String(96))
    text = Column(Text)
    old_intent = Column(String(96))
    old_text = Column(Text)
    entities = Column(JSON, nullable=False, default=list)
    aspect = Column(String(24))
    source_message_id = Column(Integer)
    author = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False, default=PENDING, index=True)
    job_id = Column(Integer)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class TrainingJob(Base):
    __tablename__ = "trainer_jobs"

    id = Column(Integer, primary_key=True)
    status = Column(String(16), nullable=False, default=QUEUED, index=True)
    stage = Column(String(32), nullable=False, default="queued")
    progress = Column(Float, nullable=False, default=0.0)
    started_by = Column(String(64), nullable=False)
    config = Column(String(256), nullable=False)
    model_path = Column(String(512))
    error = Column(Text)
    result = Column(JSON)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    started_at = Column(DateTime)
    finished_at = Column(DateTime)
    heartbeat_at = Column(DateTime)


class ModelActivation(Base):
    """Who put which model live, and when; the newest row is the live model."""

    __tablename__ = "trainer_activations"

    id = Column(Integer, primary_key=True)
    model_path = Column(String(512), nullable=False)
    job_id = Column(Integer)
    activated_by = Column(String(64), nullable=False)
    override = Column(Boolean, nullable=False, default=False)
    rollback_of = Column(Integer)
    note = Column(Text)
    at = Column(DateTime, nullable=False, default=datetime.utcnow)
