"""The trainer's API (the workbench sub-application at /trainer): roles, the masked inbox, corrections and their validation."""

from __future__ import annotations

import pytest

from bot.db import Database
from bot.desk.conversations import Line
from bot.knowledge import intent_for
from bot.trainer.nlu_files import corrections_file
from tests.desk.helpers import Clerk, DeskServer, new_id, offline_desk_with_own_data


@pytest.fixture()
async def desk_for_trainers(tmp_path):
    server = await offline_desk_with_own_data(tmp_path)
    yield server
    await server.stop()


def seed_message(server: DeskServer, text: str, nlu: dict, bot_custom: dict) -> int:
    conversation = new_id()
    server.conversations.ensure_conversation(conversation)
    line = server.conversations.add_line(conversation, Line("citizen", text, {"nlu": nlu}))
    server.conversations.add_line(conversation, Line("bot", "…", {"custom": bot_custom}))
    return line["id"]


async def test_a_clerk_cannot_reach_any_trainer_route(desk_for_trainers):
    clerk = await Clerk.login(desk_for_trainers, "客服甲", role="clerk")
    try:
        for route in desk_for_trainers.app.router.routes():
            path = route.resource.canonical if route.resource else ""
            if route.method == "HEAD" or not (path.startswith("/trainer") or path.startswith("/api/trainer")):
                continue
            assert set(route.handler.desk_roles) == {"trainer", "admin"}, path
        status, _ = await clerk.get("/trainer/api/inbox")
        assert status == 403
        status, _ = await clerk.post("/trainer/api/train")
        assert status == 403
    finally:
        await clerk.close()


async def test_inbox_is_masked_least_certain_first_and_filtered(desk_for_trainers):
    sure = seed_message(
        desk_for_trainers,
        "护照过期了怎么换",
        {"intent": intent_for("passport-renewal"), "confidence": 0.93},
        {"guide_item": "passport-renewal", "aspect": None},
    )
    unsure = seed_message(
        desk_for_trainers,
        "我叫王建国，电话+39 333 1234567，WZ202610080017 怎么样了",
        {"intent": "nlu_fallback", "confidence": 0.12},
        {"candidates": []},
    )
    trainer = await Clerk.login(desk_for_trainers, "训练员甲", role="trainer")
    try:
        status, data = await trainer.get("/trainer/api/inbox")
        assert status == 200
        ids = [entry["message_id"] for entry in data["entries"]]
        assert ids.index(unsure) < ids.index(sure)
        masked = next(entry for entry in data["entries"] if entry["message_id"] == unsure)
        for secret in ("王建国", "1234567", "202610080017"):
            assert secret not in masked["text"]
        assert masked["outcome"] == "fallback"
        _, low = await trainer.get("/trainer/api/inbox?filter=low_confidence")
        assert [entry["message_id"] for entry in low["entries"]] == [unsure]
        _, one = await trainer.get("/trainer/api/inbox?item=passport-renewal")
        assert [entry["message_id"] for entry in one["entries"]] == [sure]
    finally:
        await trainer.close()


async def test_the_inbox_comes_in_pages_and_reads_only_recent_lines(desk_for_trainers):
    """Issue 10, item 8: not every message on each request."""
    from bot.trainer.inbox import Inbox, InboxQuery

    ids = [
        seed_message(desk_for_trainers, f"第{n}个问题", {"intent": "nlu_fallback", "confidence": n / 10}, {})
        for n in range(7)
    ]
    trainer = await Clerk.login(desk_for_trainers, "训练员翻页", role="trainer")
    try:
        pages = []
        for offset in (0, 3, 6):
            status, page = await trainer.get(f"/trainer/api/inbox?limit=3&offset={offset}")
            assert status == 200 and page["total"] == 7
            pages.append(page)
        assert [len(p["entries"]) for p in pages] == [3, 3, 1]
        assert [p["more"] for p in pages] == [True, True, False]
        seen = [e["message_id"] for p in pages for e in p["entries"]]
        assert seen == ids, "least certain first, each entry on one page"
    finally:
        await trainer.close()
    # Only the most recent citizen lines are read: the oldest fall out of a small scan.
    recent = Inbox(Database(desk_for_trainers.config.database_url)).page(InboxQuery(scan=4))
    assert recent["total"] == 4 and {e["message_id"] for e in recent["entries"]} == set(ids[3:])


async def test_correction_is_validated_saved_masked_and_pending(desk_for_trainers):
    message = seed_message(
        desk_for_trainers,
        "欠我钱的人判了还是不还，电话13812345678",
        {"intent": "complain", "confidence": 0.38},
        {"handoff": {"reason": "complaint"}},
    )
    trainer = await Clerk.login(desk_for_trainers, "训练员乙", role="trainer")
    try:
        status, refused = await trainer.post(f"/trainer/api/inbox/{message}/correct", {"intent": "item_no_such_item"})
        assert status == 422 and refused["problems"]
        status, saved = await trainer.post(f"/trainer/api/inbox/{message}/correct", {"item": "court-enforcement"})
        assert status == 200, saved
        written = (desk_for_trainers.data_dir / "nlu" / corrections_file()).read_text()
        assert "欠我钱的人判了还是不还" in written and "13812345678" not in written
        _, pending = await trainer.get("/trainer/api/pending")
        assert any(line.startswith("+ item_court_enforcement: 欠我钱的人判了还是不还") for line in pending["diff"])
        _, inbox = await trainer.get("/trainer/api/inbox")
        assert (
            next(e for e in inbox["entries"] if e["message_id"] == message)["corrected"]["intent"]
            == "item_court_enforcement"
        )
        # The same text again under another item is refused: one example, one item.
        status, again = await trainer.post("/trainer/api/items/item_legal_aid/examples/add", {"text": saved["text"]})
        assert status == 422 and "已属于" in again["problems"][0]
    finally:
        await trainer.close()


async def test_only_one_training_at_a_time_and_no_live_model_without_rasa(desk_for_trainers):
    trainer = await Clerk.login(desk_for_trainers, "训练员丙", role="trainer")
    try:
        status, models = await trainer.get("/trainer/api/models")
        assert status == 200 and models["live"] is None
        status, _ = await trainer.post("/trainer/api/jobs/999/activate", {})
        assert status == 409
    finally:
        await trainer.close()


async def test_correction_with_a_marked_entity_span(desk_for_trainers):
    message = seed_message(
        desk_for_trainers,
        "我在普拉托，要办委托书公证",
        {"intent": "item_proxy_handling", "confidence": 0.4},
        {"guide_item": "proxy-handling", "aspect": None},
    )
    trainer = await Clerk.login(desk_for_trainers, "训练员丁", role="trainer")
    try:
        body = {
            "item": "notary-power-of-attorney",
            "entities": [{"entity": "place", "text": "普拉托", "value": "prato"}],
        }
        status, saved = await trainer.post(f"/trainer/api/inbox/{message}/correct", body)
        assert status == 200, saved
        written = (desk_for_trainers.data_dir / "nlu" / corrections_file()).read_text()
        assert '我在[普拉托]{"entity": "place", "value": "prato"}，要办委托书公证' in written
        status, refused = await trainer.post(
            f"/trainer/api/inbox/{message}/correct",
            {"item": "legal-aid", "entities": [{"entity": "place", "text": "米兰"}]},
        )
        assert status == 422
    finally:
        await trainer.close()


async def test_marked_spans_are_checked_against_the_masked_text(desk_for_trainers):
    """Issue 10, item 5: a span of masked digits gets the same answer as a span not in the message at all."""
    message = seed_message(
        desk_for_trainers,
        "我的办件 WZ202610080017 进度怎么样",
        {"intent": "check_case_status", "confidence": 0.4},
        {},
    )
    trainer = await Clerk.login(desk_for_trainers, "训练员戊", role="trainer")
    try:
        answers = []
        for guess in ("1008", "9999"):
            body = {"intent": "check_case_status", "entities": [{"entity": "case_no", "text": guess}]}
            answers.append(await trainer.post(f"/trainer/api/inbox/{message}/correct", body))
        assert answers[0] == answers[1] and answers[0][0] == 422
    finally:
        await trainer.close()


async def test_answers_to_the_booking_name_and_contact_questions_are_masked_whole(desk_for_trainers):
    """A bare "陈小明" has no pattern to mask: the question it answered (`requested_slot`) tells (issue 14)."""
    server = desk_for_trainers
    conversation = new_id()
    server.conversations.ensure_conversation(conversation)
    asked = {"intent": "booking_choice", "confidence": 1.0, "slots": {"requested_slot": "booking_name"}}
    server.conversations.add_line(conversation, Line("citizen", "/booking_choice", {"nlu": asked}))
    name = server.conversations.add_line(
        conversation, Line("citizen", "陈小明", {"nlu": {"intent": "greet", "slots": {"requested_slot": "booking_contact"}}})
    )
    contact = server.conversations.add_line(
        conversation, Line("citizen", "chen.xm@example.com", {"nlu": {"intent": "greet", "slots": {"requested_slot": None}}})
    )
    after = server.conversations.add_line(conversation, Line("citizen", "谢谢", {"nlu": {"intent": "thank", "slots": {}}}))
    trainer = await Clerk.login(server, "训练员乙", role="trainer")
    try:
        _, data = await trainer.get("/trainer/api/inbox")
        texts = {entry["message_id"]: entry["text"] for entry in data["entries"]}
        assert texts[name["id"]] == texts[contact["id"]] == "[预约信息]"
        assert texts[after["id"]] == "谢谢"
    finally:
        await trainer.close()
