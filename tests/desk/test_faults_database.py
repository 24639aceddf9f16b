"""Faults of the database: locked for a moment, or gone. The citizen is told, nothing acknowledged is lost."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

from bot.desk.service import DATABASE_DOWN
from tests.desk.helpers import new_id, post, texts


async def test_database_locked_for_a_moment_the_message_waits_and_is_kept(desk_without_rasa, desk_db_url):
    path = desk_db_url.split("sqlite:///", 1)[1]
    locker = sqlite3.connect(path, timeout=5, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, locker.rollback).start()
    conversation = new_id()
    started = time.monotonic()
    status, _ = await post(desk_without_rasa, conversation, "你好，我的材料寄到了吗")
    locker.close()
    assert status == 200
    assert time.monotonic() - started >= 0.9, "the write waited for the lock"
    assert texts(desk_without_rasa, conversation, "citizen") == ["你好，我的材料寄到了吗"]


async def test_database_gone_answers_503_and_acknowledges_nothing(desk_without_rasa, desk_db_url):
    path = Path(desk_db_url.split("sqlite:///", 1)[1])
    conversation = new_id()
    assert (await post(desk_without_rasa, conversation, "第一条"))[0] == 200
    aside = path.with_suffix(".aside")
    path.rename(aside)
    path.mkdir()  # the file is gone and nothing can create it: every connection fails
    # A connection already open in write-ahead-log mode keeps writing through its open files (the
    # WAL is not checked for a moved database, unlike the rollback journal): the desk must open
    # new connections to find the database gone, as it would after a restart or a lost disk.
    desk_without_rasa.app_service.database.dispose()
    try:
        status, body = await post(desk_without_rasa, conversation, "第二条")
        assert status == 503 and body["error"] == DATABASE_DOWN
    finally:
        shutil.rmtree(path)
        aside.rename(path)
    assert (await post(desk_without_rasa, conversation, "第二条"))[0] == 200
    assert texts(desk_without_rasa, conversation, "citizen") == ["第一条", "第二条"]
