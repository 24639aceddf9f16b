"""Staff see a conversation's short number, never its id, the citizen's bearer secret (issue 10, item 1).

A real desk (Rasa down, so the conversation goes to the queue) with one conversation that has everything
staff can see of it: citizen lines, an attachment, a bot answer marked unhelpful, a booking, notes, a
transfer, a close and a rating. Every guarded route is walked (or listed below with the reason it is
not), every console socket event is recorded, and the conversation id appears in none of them.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime

import aiohttp
import pytest
import socketio
from PIL import Image

from bot.desk.conversations import Line
from bot.privacy import conversation_ref, install_secret_redaction
from tests.desk.helpers import Citizen, Clerk, DeskServer, drop, ensure_user, offline_desk_with_own_data, wait_for

# Guarded routes the walk does not call, each with the reason it cannot show a conversation's id.
NOT_WALKED = {
    ("POST", "/api/console/password"): "changes the walker's password; answers ok or an error",
    ("POST", "/api/console/canned/{canned_id}/delete"): "deletes a canned reply; answers ok",
    ("POST", "/trainer/api/train"): "starts a Rasa training (minutes); answers a job",
    ("POST", "/trainer/api/jobs/{job_id}/activate"): "puts a model live; answers the job",
    ("POST", "/trainer/api/rollback"): "puts the previous model live; answers the model",
    ("POST", "/trainer/api/items/{intent}/examples/{action}"): "edits training examples; answers the outcome",
    # Its text is compressed (not searchable) and costs seconds to render: its HTML twin is walked.
    ("GET", "/reports/report.pdf"): "/reports/report as a PDF",
}
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture()
async def desk_to_walk(tmp_path):
    """A desk whose Rasa is down, with its own copy of the training data (the walk posts a correction)."""
    server = await offline_desk_with_own_data(tmp_path)
    yield server
    await server.stop()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def _leaks(secret: str, seen: str) -> bool:
    """The id, or either of its two parts (the random part alone is as good as the id to a guesser)."""
    return any(part in seen for part in (secret, *secret.split("-")))


async def _guarded_routes(server: DeskServer) -> list[tuple[str, str]]:
    routes = []
    for route in server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method != "HEAD" and getattr(route.handler, "desk_roles", None):
            routes.append((route.method, path))
    return routes


async def test_no_staff_route_or_console_event_carries_the_conversation_id(desk_to_walk):
    server = desk_to_walk
    admin = await Clerk.login(server, "编号管理员", role="admin")  # an admin passes every guard
    other = await Clerk.login(server, "编号客服乙", role="clerk")
    events: list[tuple[str, object]] = []
    console = socketio.AsyncClient(reconnection=False)
    console.on("*", lambda event, data: events.append((event, data)), namespace="/console")
    cookie = "; ".join(f"{c.key}={c.value}" for c in admin.http.cookie_jar)
    citizen = Citizen()
    try:
        await console.connect(server.url, namespaces=["/console"], transports=["polling"], headers={"Cookie": cookie})
        await wait_for(lambda: any(c["name"] == "编号管理员" for c in server.presence.online_clerks()))

        # --- the citizen's side: a conversation with everything staff can see of it -----------------
        cid = await citizen.start(server.url)
        assert (await citizen.utter(cid, "我叫陈小明，护照过期了，电话 3331234567", client_id="w-1"))["ok"]
        await wait_for(lambda: server.conversations.conversation(cid)["state"] == "waiting", timeout=15)
        number = server.conversations.number_of(cid)
        assert isinstance(number, int)
        async with aiohttp.ClientSession() as http:
            target = f"{server.url}/api/conversations/{cid}/attachments"
            headers = {"Content-Type": "application/octet-stream", "X-File-Name": "passport.jpg"}
            async with http.post(target, data=_jpeg(), headers=headers) as reply:
                assert reply.status == 200, await reply.text()
                attachment = (await reply.json())["line"]["data"]["attachment"]["id"]
        answer = server.conversations.add_line(
            cid, Line("bot", "换发护照需要……", {"custom": {"guide_item": "passport-renewal", "aspect": "materials"}})
        )
        assert (await citizen.utter(cid, f'/feedback{{"message_id": {answer["id"]}, "helpful": false}}'))["ok"]
        booking = server.app_service.database.book(
            place_id="milan", starts_at=datetime(2026, 12, 2, 8, 30), capacity=2, mode="video", name="陈小明",
            contact="+393331234567", item_id="notary-power-of-attorney", language="zh", conversation_id=cid,
        )  # fmt: skip
        citizen_line = next(m for m in server.conversations.messages(cid) if m["sender"] == "citizen")
        # A message left with a contact: a ticket on the 留言 list.
        assert (await citizen.utter(cid, "请回电，谢谢", contact="+39 333 1234567", client_id="w-2"))["ok"]
        ticket = server.app_service.tickets.list()[0]["id"]

        # --- the walk -----------------------------------------------------------------------------
        answers: dict[tuple[str, str], list[str]] = {}

        async def call(who: Clerk, method: str, route: str, url: str, body: object = None, raw: bytes | None = None):
            headers = {"X-CSRF-Token": who.csrf}
            if raw is not None:
                headers |= {"Content-Type": "application/octet-stream", "X-File-Name": "guide.pdf"}
                request = who.http.request(method, server.url + url, data=raw, headers=headers, allow_redirects=False)
            else:
                request = who.http.request(method, server.url + url, json=body, headers=headers, allow_redirects=False)
            async with request as reply:
                seen = (await reply.read()).decode("utf-8", "replace")
                seen += json.dumps(dict(reply.headers), ensure_ascii=False)
                answers.setdefault((method, route), []).append(f"{reply.status} {seen}")
                return reply.status, seen

        base = "/api/console/conversations/{number}"
        action = base + "/{action}"
        # The conversation's own routes, by its number.
        for sub in ("", "/suggestions", "/bookings"):
            status, _ = await call(admin, "GET", base + sub, f"/api/console/conversations/{number}{sub}")
            assert status == 200, sub
        # Acting on it: every console action, a clerk's file, and its end with a rating.
        steps = [
            (admin, "claim", {}), (admin, "reply", {"text": "您好，请把护照照片发来"}), (admin, "note", {"text": "已核对"}),
            (admin, "transfer", {"to": "编号客服乙"}), (other, "handback", {}), (admin, "claim", {}), (admin, "close", {}),
        ]  # fmt: skip
        for who, name, body in steps[:3]:
            assert (await call(who, "POST", action, f"/api/console/conversations/{number}/{name}", body))[0] == 200
        status, _ = await call(
            admin, "POST", base + "/attachments", f"/api/console/conversations/{number}/attachments", raw=PDF
        )
        assert status == 200
        for who, name, body in steps[3:]:
            assert (await call(who, "POST", action, f"/api/console/conversations/{number}/{name}", body))[0] == 200, name
        assert (await citizen.utter(cid, '/rate{"score": 2}'))["ok"]
        # The console's lists, the staff's other pages and APIs, the bookings, the trainer's and the reports'.
        month = datetime.utcnow().strftime("%Y-%m")
        gets = {
            "/console": "/console", "/api/console/me": "/api/console/me", "/api/console/queue": "/api/console/queue",
            "/api/console/live": "/api/console/live", "/api/console/clerks": "/api/console/clerks",
            "/api/console/cases/{case_no}": "/api/console/cases/WZ202610080017",
            "/api/console/canned": "/api/console/canned",
            "/api/console/attachments/{attachment_id}": f"/api/console/attachments/{attachment}",
            "/console/bookings": "/console/bookings", "/api/console/places": "/api/console/places",
            "/api/console/clerk-hours": "/api/console/clerk-hours",
            "/console/tickets": "/console/tickets", "/api/console/tickets": "/api/console/tickets",
            "/api/console/bookings": "/api/console/bookings?place=milan&day=2026-12-02",
            "/api/console/bookings.csv": "/api/console/bookings.csv?place=milan&day=2026-12-02",
            "/api/console/bookings.ics": "/api/console/bookings.ics?place=milan&day=2026-12-02",
            "/trainer": "/trainer", "/trainer/api/vocabulary": "/trainer/api/vocabulary",
            "/trainer/api/inbox": "/trainer/api/inbox", "/trainer/api/items": "/trainer/api/items",
            "/trainer/api/items/{intent}/examples": "/trainer/api/items/item_passport_renewal/examples",
            "/trainer/api/pending": "/trainer/api/pending", "/trainer/api/jobs/{job_id}": "/trainer/api/jobs/1",
            "/trainer/api/jobs/{job_id}/confusion.png": "/trainer/api/jobs/1/confusion.png",
            "/trainer/api/models": "/trainer/api/models", "/reports": "/reports",
            "/reports/api/figures": "/reports/api/figures",
            "/reports/report": f"/reports/report?period={month}",
        }  # fmt: skip
        for route, url in gets.items():
            await call(admin, "GET", route, url)
        for table in ("summary", "unanswered", "not_helpful_items", "item"):
            await call(admin, "GET", "/reports/api/csv/{table}", f"/reports/api/csv/{table}")
        await call(admin, "GET", "/trainer/api/inbox", "/trainer/api/inbox?group=1")
        await call(admin, "POST", "/api/console/bookings/{code}/status", f"/api/console/bookings/{booking.code}/status",
                   {"status": "done"})  # fmt: skip
        await call(admin, "POST", "/api/console/bookings/{code}/cancel", f"/api/console/bookings/{booking.code}/cancel",
                   {"reason": "站点停电"})  # fmt: skip
        await call(admin, "POST", "/trainer/api/inbox/{message_id}/correct",
                   f"/trainer/api/inbox/{citizen_line['id']}/correct", {"item": "passport-renewal"})  # fmt: skip
        await call(admin, "POST", "/api/console/canned", "/api/console/canned",
                   {"language": "zh", "title": "问候", "text": "您好"})  # fmt: skip
        await call(admin, "POST", "/api/console/users/{user_id}/languages",
                   f"/api/console/users/{other.user['id']}/languages", {"languages": ["it"]})  # fmt: skip
        await call(admin, "POST", "/api/console/places/{place_id}", "/api/console/places/milan", {"capacity": 3})
        await call(admin, "POST", "/api/console/clerk-hours", "/api/console/clerk-hours", {"reset": True})
        await call(admin, "POST", "/api/console/tickets/{ticket_id}", f"/api/console/tickets/{ticket}",
                   {"status": "contacted", "note": "已回电"})  # fmt: skip
        await wait_for(lambda: any(event == "feedback" for event, _ in events))
        await wait_for(lambda: any(event == "message" and data["message"]["data"].get("event") == "rated"
                                   for event, data in events))  # fmt: skip
    finally:
        await drop(console)
        if citizen.sio.connected:
            await drop(citizen.sio)
        await admin.close()
        await other.close()

    # Every guarded route was walked, or is listed with its reason.
    guarded = set(await _guarded_routes(server))
    assert guarded - set(answers) - set(NOT_WALKED) == set(), "a staff route neither walked nor listed"
    assert set(NOT_WALKED) <= guarded, "a listed route no longer exists"
    for route, seen in answers.items():
        for answer in seen:
            assert not _leaks(cid, answer), f"{route} gave staff the conversation id: {answer[:300]}"
    kinds = {event for event, _ in events}
    assert {"message", "conversation", "queue", "waiting", "note", "transferred", "feedback", "presence", "ticket"} <= kinds
    for event, data in events:
        assert not _leaks(cid, json.dumps(data, ensure_ascii=False)), f"console event {event}: {data}"

    # What staff do get: the number, in the views, the events, the bookings and the inbox.
    queued = [data for event, data in events if event == "waiting"]
    assert queued and all(data["conversation"]["number"] == number for data in queued)
    lines = [data for event, data in events if event == "message"]
    assert lines and all(data["conversation"] == number for data in lines)
    assert any(data.get("conversation") == number for event, data in events if event == "note")
    assert f'"conversation": {number}' in answers[("GET", base + "/bookings")][0]
    assert f'"conversation": {number}' in answers[("GET", "/trainer/api/inbox")][0]
    assert f'"number": {number}' in answers[("GET", base)][0]
    assert f",{number}\r\n" in answers[("GET", "/api/console/bookings.csv")][0].replace('"', "")


async def test_routes_take_a_number_and_an_id_finds_nothing(desk_to_walk):
    """The console's routes take the number only: the id (or anything else) is not found, never served."""
    server = desk_to_walk
    admin = await Clerk.login(server, "编号管理员丙", role="admin")
    citizen = Citizen()
    try:
        cid = await citizen.start(server.url)
        assert (await citizen.utter(cid, "你好"))["ok"]
        await wait_for(lambda: server.conversations.number_of(cid) is not None)
        number = server.conversations.number_of(cid)
        assert (await admin.get(f"/api/console/conversations/{number}"))[0] == 200
        for wrong in (cid, cid.split("-")[0], str(number + 1000), "0", "1e3", "-1"):
            async with admin.http.get(f"{server.url}/api/console/conversations/{wrong}") as reply:
                assert reply.status == 404, wrong
                assert not _leaks(cid, await reply.text())
        url = f"{server.url}/api/console/conversations/{cid}/claim"
        async with admin.http.post(url, json={}, headers={"X-CSRF-Token": admin.csrf}) as reply:
            assert reply.status == 404
        assert server.conversations.conversation(cid)["state"] != "clerk"
        assert (await admin.post(f"/api/console/conversations/{number}/claim"))[0] == 200
    finally:
        if citizen.sio.connected:
            await drop(citizen.sio)
        await admin.close()


async def test_logs_name_a_conversation_by_a_short_hash(desk_to_walk, caplog):
    """The access log's URLs carry citizens' conversation ids: the desk's log record factory hashes them."""
    server = desk_to_walk
    previous = logging.getLogRecordFactory()
    install_secret_redaction(["x"])  # what `python -m bot.desk serve` installs, with the Rasa token
    caplog.set_level(logging.INFO)
    try:
        ensure_user(server.accounts, "日志员")
        citizen = Citizen()
        try:
            cid = await citizen.start(server.url)
            assert (await citizen.utter(cid, "你好"))["ok"]
        finally:
            await drop(citizen.sio)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/api/conversations/{cid}/messages") as reply:
                assert reply.status == 200
        await wait_for(lambda: any(conversation_ref(cid) in r.getMessage() for r in caplog.records))
        # The access log names the route by its template (bot/access_log.py), never the id in the path.
        template = '"GET /api/conversations/{conversation_id}/messages" 200 '
        await wait_for(lambda: any(template in r.getMessage() for r in caplog.records if r.name == "aiohttp.access"))
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert not _leaks(cid, logged)
    finally:
        logging.setLogRecordFactory(previous)


async def test_lines_made_only_of_hashes_and_numbers_skip_masking_and_others_are_masked(desk_to_walk, caplog):
    """Issue 12: masking every log line cost about a tenth of the desk's CPU per message. A record whose
    arguments are all LogSafe (a conversation's hash, a route's template) or numbers passes as it is;
    any other argument, or a path that matched no route, is still masked and redacted."""
    from bot.privacy import LogSafe, MaskingFilter, safe_record

    server = desk_to_walk
    previous = logging.getLogRecordFactory()
    install_secret_redaction(["x"])
    masking = MaskingFilter()
    caplog.handler.addFilter(masking)
    caplog.set_level(logging.INFO)
    try:
        logger = logging.getLogger("tests.logsafe")
        logger.info("conversation=%s chars=%d", conversation_ref("abc"), 12)
        logger.info("asked: %s", "手机 13812345678 办件 WZ202610080017")
        logger.info("asked: %s", LogSafe("手机 13812345678"))  # a LogSafe that lies is shown as it is: the rule is the caller's
        safe, personal, trusted = [r for r in caplog.records if r.name == "tests.logsafe"]
        assert safe_record(safe) and safe.getMessage() == f"conversation={conversation_ref('abc')} chars=12"
        assert "13812345678" not in personal.getMessage() and "WZ202610080017" not in personal.getMessage()
        assert "13812345678" in trusted.getMessage()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/no/such/page/13812345678") as reply:
                assert reply.status == 404
        unmatched = await wait_for(
            lambda: next((r for r in caplog.records if r.name == "aiohttp.access" and '" 404 ' in r.getMessage()), None)
        )
        assert "/no/such/page/" in unmatched.getMessage() and "13812345678" not in unmatched.getMessage()
    finally:
        caplog.handler.removeFilter(masking)
        logging.setLogRecordFactory(previous)
