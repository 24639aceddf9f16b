"""The knowledge base and the database, shared by all actions of one process."""

from __future__ import annotations

import functools

from bot.db import Database
from bot.knowledge import KnowledgeBase, load_knowledge


def knowledge() -> KnowledgeBase:
    return load_knowledge()


@functools.lru_cache(maxsize=1)
def database() -> Database:
    db = Database()
    db.create_schema()
    return db
