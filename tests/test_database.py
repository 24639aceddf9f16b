"""The database layer: seeding and the ownership rule."""

from __future__ import annotations

import time

from bot.db import Database, seed


def make_db() -> Database:
    db = Database("sqlite://")
    seed(db)
    return db


def test_seed_adds_demo_cases_once():
    db = Database("sqlite://")
    assert seed(db) == 8
    assert seed(db) == 0
    assert db.count_cases() == 8


def test_owner_proof_in_any_case_and_spacing():
    db = make_db()
    case = db.find_owned_case("wz202611030005", " 林", "612x")
    assert case is not None and case.status == "in_review"
    assert [step["status"] for step in case.history] == ["received", "in_review"]


def test_same_surname_other_case_is_refused():
    db = make_db()
    # Two demo applicants are named 陈: each proof opens only its own case.
    assert db.find_owned_case("WZ202610080017", "陈", "8804") is None
    assert db.find_owned_case("WZ202611200003", "陈", "8804") is not None


def test_enumeration_gets_nothing_and_costs_the_same():
    db = make_db()
    assert db.find_owned_case("WZ202610080017", "王", "5821") is None
    assert db.find_owned_case("WZ202610080017", "陈", "0000") is None
    assert db.find_owned_case("WZ209901010001", "陈", "5821") is None

    def cost(case_no: str, rounds: int = 200) -> float:
        start = time.perf_counter()
        for _ in range(rounds):
            db.find_owned_case(case_no, "王", "0000")
        return time.perf_counter() - start

    cost("WZ202610080017", 20)  # warm up
    known, unknown = cost("WZ202610080017"), cost("WZ209901010001")
    # Both paths run the same query and comparisons; only noise separates them.
    assert 0.5 < known / unknown < 2.0
