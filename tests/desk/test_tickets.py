"""Left messages as tickets (issue 11): opened by a message left with a contact, listed by status for
staff, marked with a note, resolved by a clerk's answer, which the citizen reads on the next visit.
Real sockets and HTTP on a loopback port, no mocks."""

from __future__ import annotations

import aiohttp

from tests.desk.helpers import Citizen, Clerk, drop, wait_for


async def tickets(clerk: Clerk, status: str = "") -> dict:
    status_code, body = await clerk.get(f"/api/console/tickets?status={status}")
    assert status_code == 200, body
    return body


async def test_a_left_message_is_a_ticket_that_a_mark_or_an_answer_closes(desk_without_rasa):
    server = desk_without_rasa
    citizen, other = Citizen(), Citizen()
    clerk = await Clerk.login(server, "留言员")
    try:
        first = await citizen.start(server.url)
        left = await citizen.utter(first, "护照快过期了，请尽快联系我", contact="wx: lin_1988", language="zh", client_id="c-1")
        assert left["ok"]
        # A re-send of the same line (the widget after a reconnect) opens no second ticket.
        assert (await citizen.utter(first, "护照快过期了，请尽快联系我", contact="wx: lin_1988", client_id="c-1"))["ok"]
        second = await other.start(server.url)
        assert (await other.utter(second, "Vorrei parlare con qualcuno", contact="+39 333 1234567", language="it"))["ok"]
        # A message without a contact is no ticket.
        assert (await other.utter(second, "grazie"))["ok"]

        listed = await wait_for(lambda: tickets(clerk, "open"))
        assert listed["counts"] == {"open": 2, "contacted": 0, "resolved": 0}
        newest, oldest = listed["tickets"]
        assert newest["message"] == "Vorrei parlare con qualcuno" and newest["language"] == "it"
        assert oldest["contact"] == "wx: lin_1988" and oldest["language"] == "zh" and oldest["status"] == "open"
        assert oldest["number"] == clerk.number(first) and "conversation_id" not in oldest
        assert first not in str(listed), "staff never see a conversation id (issue 10, item 1)"

        # Marked 已联系 with a note: it leaves the open list and shows who did it.
        status, marked = await clerk.post(f"/api/console/tickets/{oldest['id']}", {"status": "contacted", "note": "已加微信，约明天回电"})
        assert status == 200 and marked["ticket"]["handled_by"] == "留言员"
        contacted = await tickets(clerk, "contacted")
        assert [t["note"] for t in contacted["tickets"]] == ["已加微信，约明天回电"]
        assert contacted["counts"] == {"open": 1, "contacted": 1, "resolved": 0}

        # The clerk answers the Italian one in its conversation: it is resolved, and the citizen reads the
        # answer on the next visit (a new socket, the same conversation, its history).
        assert (await clerk.act(second, "claim"))[0] == 200
        assert (await clerk.act(second, "reply", text="Buongiorno, la richiamo oggi."))[0] == 200
        resolved = await tickets(clerk, "resolved")
        assert [t["number"] for t in resolved["tickets"]] == [clerk.number(second)]
        assert resolved["tickets"][0]["handled_by"] == "留言员" and resolved["tickets"][0]["closed_at"]
        await drop(other.sio)
        later = Citizen()
        try:
            assert await later.start(server.url, second) == second
            history = await later.sio.call("history_request", {"session_id": second, "after": 0}, timeout=5)
            assert "Buongiorno, la richiamo oggi." in [m["text"] for m in history["messages"]]
        finally:
            await drop(later.sio)

        # All, newest first; the open count for the console's badge alone.
        assert len((await tickets(clerk))["tickets"]) == 2
        status, counts = await clerk.get("/api/console/tickets?only=counts")
        assert status == 200 and counts["tickets"] == [] and counts["counts"]["open"] == 0

        # Refusals: a status that does not exist, a ticket that does not exist, a note too long.
        assert (await clerk.get("/api/console/tickets?status=done"))[0] == 400
        assert (await clerk.post(f"/api/console/tickets/{oldest['id']}", {"status": "done"}))[0] == 400
        assert (await clerk.post("/api/console/tickets/99999", {"status": "resolved"}))[0] == 404
        assert (await clerk.post(f"/api/console/tickets/{oldest['id']}", {"status": "resolved", "note": "长" * 1001}))[0] == 400
    finally:
        await clerk.close()
        await drop(citizen.sio)
        await drop(other.sio)


async def test_tickets_are_for_clerks_and_admins_only(desk_without_rasa):
    """Roles as for the console: contacts are personal data (issue 10, item 5)."""
    server = desk_without_rasa
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{server.url}/api/console/tickets") as reply:
            assert reply.status == 401
        async with anonymous.get(f"{server.url}/console/tickets", allow_redirects=False) as reply:
            assert reply.status in (302, 303) and "/login" in reply.headers["Location"]
    trainer = await Clerk.login(server, "留言训练师", "trainer")
    admin = await Clerk.login(server, "留言管理员", "admin")
    try:
        assert (await trainer.get("/api/console/tickets"))[0] == 403
        assert (await trainer.post("/api/console/tickets/1", {"status": "resolved"}))[0] == 403
        assert (await admin.get("/api/console/tickets"))[0] == 200
        # A mark needs the session's CSRF token, like every console action.
        async with admin.http.post(f"{server.url}/api/console/tickets/1", json={"status": "resolved"}) as reply:
            assert reply.status == 403
    finally:
        await trainer.close()
        await admin.close()
