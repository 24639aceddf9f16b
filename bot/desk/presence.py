"""Which clerks are online: one row per open console connection, kept fresh by heartbeats.

In the database, not in memory, so that every desk instance sees every clerk.
Plain, blocking code; the desk's service runs it in its thread pool.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.db import Database
from bot.desk.tables import DeskPresence, DeskUser
from bot.roles import STAFF

# A console silent for longer than this counts as offline.
PRESENCE_TTL = timedelta(seconds=45)


class Presence:
    def __init__(self, database: Database):
        self.db = database

    def touch(self, sid: str, user_id: int) -> None:
        with self.db.session() as session:
            row = session.get(DeskPresence, sid)
            if row:
                row.last_seen = datetime.utcnow()
            else:
                session.add(DeskPresence(sid=sid, user_id=user_id, last_seen=datetime.utcnow()))

    def drop(self, sid: str) -> None:
        with self.db.session() as session:
            row = session.get(DeskPresence, sid)
            if row:
                session.delete(row)

    def online_clerks(self) -> list[dict[str, Any]]:
        since = datetime.utcnow() - PRESENCE_TTL
        with self.db.session() as session:
            # IN, not JOIN + DISTINCT: PostgreSQL has no equality for the JSON column `languages`.
            present = select(DeskPresence.user_id).where(DeskPresence.last_seen >= since)
            rows = session.execute(
                select(DeskUser.id, DeskUser.name, DeskUser.languages)
                .where(DeskUser.id.in_(present), DeskUser.role.in_(STAFF))
                .order_by(DeskUser.name)
            ).all()
            return [{"id": user_id, "name": name, "languages": languages or []} for user_id, name, languages in rows]
