"""Every figure of October 2026 over the known set (tests/reports/known_set.py), against counts made by hand.

No server: the figures module reads the database. The dashboard, the CSV and the report are
checked against the same hand counts in their own tests (test_dashboard.py, test_report.py).
"""

from __future__ import annotations

from datetime import date

import pytest

from bot.db import Database
from bot.reports.figures import DEFINITIONS, DIMENSIONS, Period, compute
from tests.reports.known_set import write_known_set

OCTOBER = Period.month(2026, 10)

# Counted by hand from the table in known_set.py.
# Conversations: c1..c10 and c14 (c11 is empty, c12 is September, c13 November) = 11.
# Citizen messages: c1 2, c2 1, c3 1, c4 2, c5 2, c6 3, c7 1, c8 2, c9 1, c10 1, c14 2 = 18.
# Answered (guide or case): c1 c2 c3 c5 c8 c10 c14. Handed off: c4 c5 c6 c7 c9. Clerk lines: c4 c5 c7 c9 c10.
# Repeated: c2 (c3 at +10 h), c14 (c13 at +2.5 h, after the period's end). Contained: c1, c3, c8 = 3.
# Clarification: c6 once. Fallback: c6 once, c14 once. Out of scope: c8 once.
# First clerk reply after queuing: c4 120, c5 330, c7 600, c9 60 → median (120+330)/2 = 225, p90 nearest rank
# ⌈0.9·4⌉ = 4th = 600. Handling (claimed → closed/handed back): c4 660, c5 690, c7 600, c9 130, c10 300 → median 600.
# Abandoned: c6. Marks: helpful c1 c5, not helpful c2 c3 c8 → 2/5. Ratings: 5, 2, 4, 1 → 3.0; ≤2: two.
SUMMARY = {
    "conversations": 11,
    "citizen_messages": 18,
    "contained": 3,
    "contained_rate": round(3 / 11, 4),
    "handed_off": 5,
    "handoff_rate": round(5 / 11, 4),
    "handoff_by_reason": {
        "bot_unavailable": 1, "case_verification_failed": 1, "complaint": 1, "repeated_misunderstanding": 1,
        "user_request": 1,
    },  # fmt: skip
    "clarified": 1,
    "clarification_rate": round(1 / 18, 4),
    "fallback": 2,
    "fallback_rate": round(2 / 18, 4),
    "out_of_scope": 1,
    "out_of_scope_rate": round(1 / 18, 4),
    "first_reply_median_s": 225.0,
    "first_reply_p90_s": 600.0,
    "first_replies": 4,
    "handling_median_s": 600.0,
    "abandoned": 1,
    "marks": 5,
    "helpful": 2,
    "not_helpful": 3,
    "helpful_share": 0.4,
    "ratings": 4,
    "average_rating": 3.0,
    "low_ratings": 2,
}

# By department (the first answered item's; marks by the marked answer's item):
# 出入境: c1 c5 c8 c14; contained c1 c8; handed c5; marks passport: helpful c1 c5, not helpful c8; ratings 5, 4.
# 公安局: c2 c3; contained c3; marks not helpful 2. 未知: c4 c6 c7 c9, all handed off, c6 abandoned, ratings 2, 1.
# 公证处: c10.
DEPARTMENTS = [
    {"key": "公安局出入境管理部门", "conversations": 4, "citizen_messages": 8, "contained": 2, "contained_rate": 0.5,
     "handed_off": 1, "handoff_rate": 0.25, "abandoned": 0, "helpful": 2, "not_helpful": 1,
     "helpful_share": round(2 / 3, 4), "ratings": 2, "average_rating": 4.5},
    {"key": "未知", "conversations": 4, "citizen_messages": 7, "contained": 0, "contained_rate": 0.0,
     "handed_off": 4, "handoff_rate": 1.0, "abandoned": 1, "helpful": 0, "not_helpful": 0,
     "helpful_share": None, "ratings": 2, "average_rating": 1.5},
    {"key": "公安局", "conversations": 2, "citizen_messages": 2, "contained": 1, "contained_rate": 0.5,
     "handed_off": 0, "handoff_rate": 0.0, "abandoned": 0, "helpful": 0, "not_helpful": 2,
     "helpful_share": 0.0, "ratings": 0, "average_rating": None},
    {"key": "公证处", "conversations": 1, "citizen_messages": 1, "contained": 0, "contained_rate": 0.0,
     "handed_off": 0, "handoff_rate": 0.0, "abandoned": 0, "helpful": 0, "not_helpful": 0,
     "helpful_share": None, "ratings": 0, "average_rating": None},
]  # fmt: skip


@pytest.fixture()
def known(tmp_path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'known.db'}")
    write_known_set(database)
    return database


def test_summary_of_october(known):
    assert compute(known, OCTOBER)["summary"] == SUMMARY


def test_breakdown_by_department(known):
    rows = compute(known, OCTOBER)["breakdowns"]["department"]
    assert [{k: v for k, v in row.items() if k != "label"} for row in rows] == DEPARTMENTS


def test_breakdowns_by_language_site_country_category_item_and_time(known):
    breakdowns = compute(known, OCTOBER)["breakdowns"]

    def conversations(dimension: str) -> dict[str, int]:
        return {row["key"]: row["conversations"] for row in breakdowns[dimension]}

    assert conversations("language") == {"zh": 8, "it": 1, "fr": 1, "en": 1}
    assert conversations("country") == {"意大利": 4, "西班牙": 2, "未知": 2, "法国": 1, "荷兰": 1, "英国": 1}
    assert conversations("site") == {"未知": 7, "米兰服务站": 2, "普拉托服务站": 2}
    assert conversations("category") == {"exit_entry": 4, "未知": 4, "household": 2, "notary": 1}
    assert {row["key"]: row["label"] for row in breakdowns["category"]}["exit_entry"] == "出入境"
    assert conversations("item") == {
        "passport-renewal": 4, "未知": 4, "hukou-cancel-emigration": 2, "notary-power-of-attorney": 1,
    }  # fmt: skip
    # Beijing hours: c1 00, c7 09, c6 08, c2 10, c9 11, c4 14, c8 16, c3 20, c14 22, c5 and c10 23.
    assert conversations("hour") == {
        "00": 1, "08": 1, "09": 1, "10": 1, "11": 1, "14": 1, "16": 1, "20": 1, "22": 1, "23": 2,
    }  # fmt: skip
    assert [row["key"] for row in breakdowns["hour"]] == sorted(conversations("hour"))
    assert conversations("month") == {"2026-10": 11}
    assert conversations("day")["2026-10-05"] == 2 and conversations("day")["2026-10-01"] == 1
    assert sum(conversations("day").values()) == 11
    # The Italian conversation (c4): handed off, rated 2.
    italian = next(row for row in breakdowns["language"] if row["key"] == "it")
    assert (italian["handed_off"], italian["ratings"], italian["average_rating"]) == (1, 1, 2.0)


def test_lists_unanswered_and_not_helpful_and_comments(known):
    figures = compute(known, OCTOBER)
    # "那个东西怎么弄" (c6) and "那个东西怎么弄！" (c14) are one question; the weather (c8) another.
    assert figures["unanswered"] == [
        {"question": "那个东西怎么弄", "count": 2, "examples": ["那个东西怎么弄", "那个东西怎么弄！"]},
        {"question": "What's the weather in Wenzhou?", "count": 1, "examples": ["What's the weather in Wenzhou?"]},
    ]
    assert figures["not_helpful_items"] == [
        {"item": "hukou-cancel-emigration", "title": "出国（境）定居注销户口", "count": 2,
         "reasons": {"unclear": 1, "wrong_item": 1}, "examples": ["出国了户口要注销吗", "注销户口要带什么材料"]},
        {"item": "passport-renewal", "title": "普通护照换发", "count": 1, "reasons": {"outdated": 1},
         "examples": ["How do I renew my passport?"]},
    ]  # fmt: skip
    # Comments masked: the phone number in c4's comment is gone.
    assert figures["comments"] == [{"score": 5, "comment": "很方便"}, {"score": 2, "comment": "等太久了，电话[号码]"}]


def test_previous_period_and_reproducibility(known):
    # September: c12 only, repeated by c1 twenty minutes later (across the month's end): not contained.
    september = compute(known, OCTOBER.previous())
    assert OCTOBER.previous() == Period.month(2026, 9)
    assert (september["summary"]["conversations"], september["summary"]["contained"]) == (1, 0)
    assert compute(known, OCTOBER) == compute(known, OCTOBER)
    # A year and an arbitrary range.
    assert compute(known, Period.year(2026))["summary"]["conversations"] == 13  # + c12 and c13
    assert Period.year(2026).previous() == Period.year(2025)
    week = Period.between(date(2026, 10, 5), date(2026, 10, 11))
    assert week.previous() == Period.between(date(2026, 9, 28), date(2026, 10, 4))
    assert compute(known, week)["summary"]["conversations"] == 3  # c2 c3 c4


def test_every_figure_is_defined():
    for name in ("conversations", "citizen_messages", "contained", "handoff_rate", "clarification_rate",
                 "fallback_rate", "out_of_scope_rate", "first_reply", "handling", "abandoned", "helpful_share",
                 "average_rating", "breakdowns", "unanswered", "not_helpful_items"):  # fmt: skip
        assert DEFINITIONS[name]
    assert set(DIMENSIONS) == {"item", "category", "department", "site", "country", "language", "hour", "day", "month"}
