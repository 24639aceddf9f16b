"""Bookings in the data layer: the race for the last place, proofs, moves, cancellations (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.db.tables import BookingSlot
from tests.postgres import empty_postgres_url

SLOT = datetime(2026, 12, 2, 8, 30)  # UTC


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Database:
    if request.param == "sqlite":
        # A file, not memory: the race needs separate connections, as in production.
        database = Database(f"sqlite:///{tmp_path / 'bookings.db'}")
    else:
        database = Database(empty_postgres_url())
    database.create_schema()
    yield database
    database.engine.dispose()


def book(db: Database, name: str = "陈小明", at: datetime = SLOT, capacity: int = 2, **extra):
    fields = {"place_id": "milan", "mode": "video", "contact": "+39 333 1234567", "item_id": "notary-power-of-attorney"}
    return db.book(starts_at=at, capacity=capacity, name=name, **(fields | extra))


def test_twenty_concurrent_requests_for_the_last_place_exactly_one_wins(db):
    assert book(db, capacity=3) and book(db, capacity=3)  # two of three places taken
    barrier = threading.Barrier(20)

    def attempt(index: int):
        barrier.wait()
        return book(db, name=f"Rossi{index}", capacity=3, conversation_id=f"c{index}")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    with db.session() as session:
        assert session.execute(select(BookingSlot.taken)).scalar_one() == 3
    assert len(db.bookings_between(SLOT, SLOT + timedelta(minutes=1))) == 3


def test_code_and_surname_prove_a_booking_and_a_wrong_one_gets_the_same_nothing(db):
    made = book(db, name="陈小明")
    assert made.code.startswith("BK") and len(made.code) == 8
    assert db.find_booking(made.code.lower(), "陈").code == made.code
    assert db.find_booking(made.code, "Chen").code == made.code  # pinyin, as written abroad
    assert db.find_booking(made.code, "王") is None
    assert db.find_booking("BK2222222", "陈") is None
    latin = book(db, name="Marco Rossi")
    assert db.find_booking(latin.code, "rossi") and db.find_booking(latin.code, "Bianchi") is None


def test_move_takes_the_new_place_and_frees_the_old_one_or_refuses_a_full_slot(db):
    made = book(db)
    later = SLOT + timedelta(hours=1)
    book(db, at=later, capacity=1, name="王五")
    status, _ = db.move_booking(made.code, "陈", later, capacity=1)
    assert status == "full"
    status, moved = db.move_booking(made.code, "陈", later + timedelta(minutes=30), capacity=1)
    assert status == "moved" and moved.starts_at == later + timedelta(minutes=30)
    assert db.taken_counts("milan", SLOT, SLOT + timedelta(days=1)) == {later: 1, later + timedelta(minutes=30): 1}
    assert db.move_booking(made.code, "王", later, capacity=2) == ("not_found", None)


def test_cancellations_free_the_place_and_staff_reasons_are_told_once(db):
    mine = book(db, conversation_id="conv-1")
    other = book(db, conversation_id="conv-1", at=SLOT + timedelta(hours=2))
    assert db.cancel_booking(mine.code, "陈").status == "cancelled"
    assert db.taken_counts("milan", SLOT, SLOT + timedelta(minutes=1)) == {}
    assert db.set_booking_status(other.code, "arrived").status == "arrived"
    with pytest.raises(ValueError):
        db.set_booking_status(other.code, "cancelled")
    assert db.staff_cancel_booking(other.code, "站点停电").cancelled_by == "staff"
    told = db.unseen_staff_cancellations("conv-1")
    assert [b.cancel_reason for b in told] == ["站点停电"]
    assert db.unseen_staff_cancellations("conv-1") == []
    assert [b.status for b in db.bookings_of_conversation("conv-1")] == ["cancelled", "cancelled"]


def test_place_settings_are_saved_per_place(db):
    db.save_place_settings("milan", "admin", capacity=4, closures=["2026-12-24"])
    db.save_place_settings("milan", "admin", hours={"0": [["10:00", "12:00"]]})
    saved = db.place_settings()["milan"]
    assert (
        saved["capacity"] == 4 and saved["closures"] == ["2026-12-24"] and saved["hours"]["0"] == [["10:00", "12:00"]]
    )
