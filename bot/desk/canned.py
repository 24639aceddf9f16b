"""Canned replies: shared ones (admins manage them) and each clerk's own, per language.

The console inserts them with "/" and a search in the reply box; the clerk edits before sending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from bot.db import Database
from bot.desk.tables import DeskCanned
from bot.i18n import load_languages

MAX_TITLE, MAX_TEXT = 64, 2000


class CannedError(ValueError):
    """A refused change, with the message for the clerk (in Chinese: staff pages are in Chinese)."""


def _view(row: DeskCanned) -> dict[str, Any]:
    return {
        "id": row.id, "shared": row.owner_id is None, "language": row.language, "title": row.title, "text": row.text,
    }  # fmt: skip


class CannedReplies:
    def __init__(self, database: Database):
        self.db = database

    def search(self, user_id: int, language: str | None = None, query: str = "") -> list[dict[str, Any]]:
        """The shared replies and the user's own, in `language` (all languages when None), matching `query`
        in the title or the text; the user's own first."""
        with self.db.session() as session:
            statement = select(DeskCanned).where(or_(DeskCanned.owner_id.is_(None), DeskCanned.owner_id == user_id))
            if language:
                statement = statement.where(DeskCanned.language == language)
            rows = list(session.execute(statement.order_by(DeskCanned.title)).scalars())
            found = [_view(r) for r in rows]
        words = query.strip().lower()
        if words:
            found = [r for r in found if words in r["title"].lower() or words in r["text"].lower()]
        return sorted(found, key=lambda r: r["shared"])

    def add(self, user: dict[str, Any], shared: bool, language: str, title: str, text: str) -> dict[str, Any]:
        title, text = title.strip(), text.strip()
        if shared and user["role"] != "admin":
            raise CannedError("只有管理员可以添加共享的常用回复。")
        if language not in load_languages().names:
            raise CannedError("不支持这个语言。")
        if not title or len(title) > MAX_TITLE or not text or len(text) > MAX_TEXT:
            raise CannedError(f"标题（{MAX_TITLE}字以内）和内容（{MAX_TEXT}字以内）都不能为空。")
        with self.db.session() as session:
            row = DeskCanned(owner_id=None if shared else user["id"], language=language, title=title, text=text)
            session.add(row)
            session.flush()
            return _view(row)

    def delete(self, user: dict[str, Any], canned_id: int) -> None:
        with self.db.session() as session:
            row = session.get(DeskCanned, canned_id)
            if row is None:
                raise CannedError("没有这条常用回复。")
            if (row.owner_id is None and user["role"] != "admin") or (row.owner_id not in (None, user["id"])):
                raise CannedError("不能删除别人的常用回复。")
            session.delete(row)
