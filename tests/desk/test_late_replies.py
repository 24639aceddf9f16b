"""Issue 10, item 4: a Rasa reply that comes after the desk's timeout is read back from the tracker and
delivered once; if it never comes, the apology, once. And a model put live waits for the replies in flight.

Rasa is made slow for real: the action server is stopped (SIGSTOP) while Rasa waits for it, so the
desk's webhook call (a one-second timeout here) times out and Rasa finishes the message later. These
tests pause processes of the shared stack and put them back: marked `destructive`, they run last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
import socketio

from bot.desk import DeskConfig
from bot.desk.conversations import APOLOGIZED, DELIVERED, TAKEN_OVER, Line
from bot.desk.service import BOT_DOWN
from bot.desk.tables import DeskOwedReply
from bot.rasa_client import RasaClient, desk_message_id, replies_in_tracker
from bot.trainer.tables import DONE, TrainingJob
from tests.desk.helpers import (
    RESULTS,
    Citizen,
    Clerk,
    DeskServer,
    drop,
    ensure_user,
    login,
    new_id,
    number_of,
    say,
    texts,
    wait_for,
)
from tests.postgres import empty_postgres_url

pytestmark = [pytest.mark.stack, pytest.mark.destructive]

QUESTION = "护照过期了怎么换"


@contextmanager
def paused(process) -> Iterator[None]:
    """The process (group) stopped: it keeps its sockets but does nothing until the end of the block."""
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGCONT)


async def slow_desk(rasa_stack, database_url: str, rasa_timeout: float = 1.0, **settings) -> DeskServer:
    config = DeskConfig(
        database_url=database_url, rasa_url=rasa_stack.rasa_url, rasa_token=rasa_stack.token,
        rasa_timeout=rasa_timeout, **settings,
    )  # fmt: skip
    return await DeskServer(config).start()


def owed(server: DeskServer, line_id: int) -> dict | None:
    return server.conversations.owed(line_id)


def citizen_line(server: DeskServer, conversation: str, text: str) -> dict | None:
    return next((m for m in server.conversations.messages(conversation) if m["sender"] == "citizen" and m["text"] == text), None)


async def test_a_reply_after_the_timeout_is_read_from_the_tracker_and_delivered_once(rasa_stack, stack_database_url):
    server = await slow_desk(rasa_stack, stack_database_url, late_reply_s=90)
    citizen = Citizen()
    try:
        conversation = await citizen.start(server.url)
        with paused(rasa_stack.processes["actions"]):
            ack = await citizen.utter(conversation, QUESTION, client_id="late-1")
            assert ack["ok"]
            # The desk's call timed out (Rasa waits for the stopped action server): the reply is owed.
            await wait_for(lambda: owed(server, ack["id"]), timeout=30)
            assert not any("护照" in (m.get("text") or "") for m in citizen.received)
        # The action server goes on; Rasa finishes the message; the desk reads the reply from the tracker.
        await wait_for(lambda: texts(server, conversation, "bot"), timeout=60)
        answer = texts(server, conversation, "bot")
        assert any("护照" in text for text in answer), answer
        await wait_for(lambda: any(m.get("text") == answer[0] for m in citizen.received), timeout=10)
        assert owed(server, ack["id"])["settled"] == DELIVERED
        assert BOT_DOWN not in texts(server, conversation, "system") and BOT_DOWN not in citizen.texts()
        line = citizen_line(server, conversation, QUESTION)
        assert line["data"]["routed"] and line["data"]["nlu"]["item"] == "passport-renewal"
        assert server.conversations.conversation(conversation)["state"] == "bot"
        # The widget re-sends the line (a reconnect): nothing is sent or delivered twice.
        again = await citizen.utter(conversation, QUESTION, client_id="late-1")
        assert again["ok"] and again["id"] == ack["id"]
        # A sweep of overdue owed replies (another desk's, after a crash) finds nothing to settle.
        assert await server.app_service.settle_overdue() == 0
        assert texts(server, conversation, "bot") == answer
        assert [m.get("text") for m in citizen.received].count(answer[0]) == 1
        # The conversation goes on in order: Rasa's tracker and the desk agree.
        follow = await citizen.utter(conversation, "要多少钱", client_id="late-2")
        assert follow["ok"]
        await wait_for(lambda: len(texts(server, conversation, "bot")) > len(answer), timeout=30)
    finally:
        await drop(citizen.sio)
        await server.stop()


async def test_a_reply_that_never_comes_gets_the_apology_once(rasa_stack, stack_database_url):
    server = await slow_desk(rasa_stack, stack_database_url, late_reply_s=2)
    conversation = new_id()
    try:
        with paused(rasa_stack.processes["actions"]):
            answer = await say(server, conversation, QUESTION)
            assert [line["text"] for line in answer["replies"]][0] == BOT_DOWN and answer["state"] == "waiting"
        line = citizen_line(server, conversation, QUESTION)
        assert owed(server, line["id"])["settled"] == APOLOGIZED
        # Rasa finishes the message once the action server runs again; the reply it wrote is not delivered.
        async def processed() -> bool:
            tracker = await server.app_service.rasa.tracker(conversation)
            return bool(tracker and replies_in_tracker(tracker, desk_message_id(line["id"])))

        await wait_for(processed, timeout=60, interval=0.3)
        assert await server.app_service.settle_overdue() == 0
        assert texts(server, conversation, "bot") == []
        assert texts(server, conversation, "system").count(BOT_DOWN) == 1
        # Settled rows go with the daily purge (item 8); the transcript keeps what the citizen was told.
        server.conversations.purge_owed(datetime.utcnow() - timedelta(days=1))
        assert owed(server, line["id"]) is not None, "a fresh row is kept"
        server.conversations.purge_owed(datetime.utcnow() + timedelta(seconds=1))
        assert owed(server, line["id"]) is None
    finally:
        await server.stop()


async def test_a_reply_owed_by_a_desk_that_stopped_is_delivered_by_the_sweep(rasa_stack, stack_database_url):
    """The state is in the database: a desk that times out and stops leaves the reply to any other desk."""
    server = await slow_desk(rasa_stack, stack_database_url, late_reply_s=90)
    conversation = new_id()
    with paused(rasa_stack.processes["actions"]):
        routing = asyncio.ensure_future(say(server, conversation, QUESTION))
        line = await wait_for(lambda: citizen_line(server, conversation, QUESTION), timeout=10)
        await wait_for(lambda: owed(server, line["id"]), timeout=30)
        await server.stop()  # this desk goes away while the reply is owed
        routing.cancel()
        with contextlib.suppress(BaseException):
            await routing
    other = await slow_desk(rasa_stack, stack_database_url, late_reply_s=90)
    try:
        # Past its due time (a crashed desk's), the other desk's sweep settles it from the tracker.
        with other.app_service.database.session() as session:
            session.get(DeskOwedReply, line["id"]).due_at = datetime.utcnow() - timedelta(seconds=1)

        async def swept() -> bool:
            await other.app_service.settle_overdue()
            return bool(texts(other, conversation, "bot"))

        await wait_for(swept, timeout=60, interval=0.5)
        assert any("护照" in text for text in texts(other, conversation, "bot"))
        assert owed(other, line["id"])["settled"] == DELIVERED
        assert BOT_DOWN not in texts(other, conversation, "system")
    finally:
        await other.stop()


CLERK_SAYS = "您好，我是人工客服，这就为您查。"


async def console_events(server: DeskServer, clerk: Clerk, event: str) -> tuple[socketio.AsyncClient, list[dict]]:
    """A console socket of `clerk`, recording the payloads of one event."""
    received: list[dict] = []
    console = socketio.AsyncClient(reconnection=False)
    console.on(event, received.append, namespace="/console")
    cookie = "; ".join(f"{c.key}={c.value}" for c in clerk.http.cookie_jar)
    await console.connect(server.url, namespaces=["/console"], transports=["polling"], headers={"Cookie": cookie})
    return console, received


async def test_a_late_reply_after_a_clerk_claimed_goes_to_the_clerk_not_the_citizen(rasa_stack, stack_database_url):
    """A clerk who takes the conversation while the bot's reply is owed owns it: the bot's late answer
    does not reach the citizen after the clerk's lines; the clerk sees it in the console."""
    server = await slow_desk(rasa_stack, stack_database_url, late_reply_s=90)
    citizen = Citizen()
    clerk = await Clerk.login(server, "迟到回复客服")
    console, late = await console_events(server, clerk, "late_reply")
    try:
        conversation = await citizen.start(server.url)
        with paused(rasa_stack.processes["actions"]):
            ack = await citizen.utter(conversation, QUESTION, client_id="late-claimed-1")
            assert ack["ok"]
            await wait_for(lambda: owed(server, ack["id"]), timeout=30)
            status, body = await clerk.act(conversation, "claim")
            assert status == 200, body
            status, body = await clerk.act(conversation, "reply", text=CLERK_SAYS)
            assert status == 200, body
            await wait_for(lambda: CLERK_SAYS in citizen.texts(), timeout=10)
        # Rasa finishes the message; the desk finds the reply in the tracker, and a clerk has the conversation.
        await wait_for(lambda: (owed(server, ack["id"]) or {}).get("settled"), timeout=60, interval=0.3)
        assert owed(server, ack["id"])["settled"] == TAKEN_OVER
        # The clerk's console hears of it, by the conversation's number (never its id).
        await wait_for(lambda: late, timeout=10)
        assert late[0]["conversation"] == clerk.number(conversation) and conversation not in str(late[0])
        answer = late[0]["late_reply"]
        assert answer["asked"] == QUESTION and any("护照" in reply["text"] for reply in answer["replies"]), answer
        # The conversation's view keeps it for the clerk (a reload, another clerk after a transfer).
        status, view = await clerk.view(conversation)
        assert status == 200 and [r["replies"] for r in view["late_replies"]] == [answer["replies"]]
        # The citizen got neither the late answer nor the apology; the clerk's line is the last they saw.
        assert texts(server, conversation, "bot") == []
        assert BOT_DOWN not in texts(server, conversation, "system") and BOT_DOWN not in citizen.texts()
        assert not any("护照" in text for text in citizen.texts()) and citizen.texts()[-1] == CLERK_SAYS
        # What the NLU understood still reaches the trainers' inbox; nothing is left for a sweep.
        assert citizen_line(server, conversation, QUESTION)["data"]["nlu"]["item"] == "passport-renewal"
        assert await server.app_service.settle_overdue() == 0
        # The purge of settled rows keeps it: it is in no transcript line.
        server.conversations.purge_owed(datetime.utcnow() + timedelta(seconds=1))
        assert owed(server, ack["id"])["replies"]
        assert server.conversations.conversation(conversation)["state"] == "clerk"
    finally:
        await drop(console)
        await drop(citizen.sio)
        await clerk.close()
        await server.stop()


async def test_no_apology_after_a_clerk_claimed_while_the_bot_was_silent(rasa_stack, stack_database_url):
    """The bot never answers in time, but a clerk took the conversation meanwhile: no apology ("the
    assistant cannot answer, a clerk will…") after the clerk's own greeting."""
    server = await slow_desk(rasa_stack, stack_database_url, late_reply_s=3)
    clerk = await Clerk.login(server, "迟到回复客服")
    conversation = new_id()
    try:
        with paused(rasa_stack.processes["actions"]):
            routing = asyncio.ensure_future(say(server, conversation, QUESTION))
            line = await wait_for(lambda: citizen_line(server, conversation, QUESTION), timeout=10)
            await wait_for(lambda: owed(server, line["id"]), timeout=30)
            status, body = await clerk.act(conversation, "claim")
            assert status == 200, body
            answer = await asyncio.wait_for(routing, 30)
        assert answer["replies"] == [] and answer["state"] == "clerk", answer
        assert owed(server, line["id"])["settled"] == TAKEN_OVER and not owed(server, line["id"])["replies"]
        assert BOT_DOWN not in texts(server, conversation, "system")
        status, view = await clerk.view(conversation)
        assert view["late_replies"] == [] and view["conversation"]["state"] == "clerk"
    finally:
        await clerk.close()
        await server.stop()


async def test_activation_waits_for_replies_in_flight_and_holds_new_ones(rasa_stack, stack_database_url, trained_model):
    """Messages sent while a model is put live (Rasa's PUT /model) are all answered by the bot."""
    server = await slow_desk(rasa_stack, stack_database_url, rasa_timeout=60.0, late_reply_s=0.5)
    rasa = server.app_service.rasa
    trainer = await Clerk.login(server, "上线培训师", role="trainer")
    job_id = finished_job(server, trained_model)
    before, during = [new_id() for _ in range(3)], [new_id() for _ in range(3)]
    try:
        with paused(rasa_stack.processes["actions"]):
            # Replies in flight: Rasa waits for the stopped action server.
            asked = [asyncio.ensure_future(say(server, c, QUESTION)) for c in before]
            await wait_for(lambda: rasa.in_flight == 3, timeout=30)
            activation = asyncio.ensure_future(trainer.post(f"/trainer/api/jobs/{job_id}/activate"))
            await wait_for(lambda: rasa.holding, timeout=10)
            # New messages while the activation waits: stored, held at the gate, not sent to Rasa.
            asked += [asyncio.ensure_future(say(server, c, QUESTION)) for c in during]
            await wait_for(lambda: all(citizen_line(server, c, QUESTION) for c in during), timeout=10)
            assert rasa.in_flight == 3 and not activation.done()
        status, body = await asyncio.wait_for(activation, 200)
        assert status == 200 and body["ok"], body
        answers = await asyncio.wait_for(asyncio.gather(*asked), 200)
        for answer in answers:
            assert answer["state"] == "bot" and BOT_DOWN not in [r["text"] for r in answer["replies"]], answer
            assert answer["replies"][0]["data"]["custom"]["guide_item"] == "passport-renewal"
        assert rasa.calls_during_load == 0
    finally:
        await trainer.close()
        await server.stop()


def finished_job(server: DeskServer, model) -> int:
    """A finished training job whose model is the stack's own: putting it live makes Rasa load it again."""
    with server.app_service.database.session() as session:
        job = TrainingJob(status=DONE, stage="done", progress=1.0, started_by="t", config="config.yml",
                          model_path=str(model), result={})  # fmt: skip
        session.add(job)
        session.flush()
        return job.id


async def test_activation_says_so_when_replies_in_flight_do_not_finish(rasa_stack, stack_database_url, trained_model):
    server = await slow_desk(rasa_stack, stack_database_url, rasa_timeout=60.0, late_reply_s=0.5, activation_drain_s=1.0)
    rasa = server.app_service.rasa
    trainer = await Clerk.login(server, "上线培训师", role="trainer")
    job_id = finished_job(server, trained_model)
    try:
        with paused(rasa_stack.processes["actions"]):
            stuck = asyncio.ensure_future(say(server, new_id(), QUESTION))
            await wait_for(lambda: rasa.in_flight == 1, timeout=30)
            status, body = await trainer.post(f"/trainer/api/jobs/{job_id}/activate")
            assert status == 409 and not body["ok"] and "等待机器人回复" in body["message"], body
            assert not rasa.holding, "held calls are released when the activation gives up"
        answer = await asyncio.wait_for(stuck, 60)
        assert answer["state"] == "bot"
    finally:
        await trainer.close()
        await server.stop()


# --- two desks sweeping at once (issue 10, item 4: exactly once) ------------------------------------



@pytest.fixture(params=["sqlite", "postgresql"])
def race_database_url(request, stack_database_url) -> str:
    """The database both desks share: the stack's SQLite, or a PostgreSQL emptied first."""
    if request.param == "sqlite":
        return stack_database_url
    return empty_postgres_url()


def user_events(tracker: dict, message_id: str) -> int:
    return sum(1 for e in tracker.get("events") or [] if e.get("event") == "user" and e.get("message_id") == message_id)


async def test_two_desks_sweeping_at_once_deliver_each_owed_reply_and_route_each_line_once(rasa_stack, race_database_url):
    """Two desks on one database, sharing no lock (two processes without Redis, or a Redis lock that
    expired), sweep at the same time: replies owed by a desk that died, lines it stored and claimed but
    never sent (it died between the two), and lines stored by no desk's `accept` (never claimed). Each
    reply reaches the transcript once, each line reaches Rasa once."""
    dead = await slow_desk(rasa_stack, race_database_url, late_reply_s=90)
    owed_conversations, unrouted_conversations = [new_id() for _ in range(4)], [new_id() for _ in range(3)]
    with paused(rasa_stack.processes["actions"]):
        asked = [asyncio.ensure_future(say(dead, c, QUESTION)) for c in owed_conversations]
        lines = [await wait_for(lambda c=c: citizen_line(dead, c, QUESTION), timeout=10) for c in owed_conversations]
        await wait_for(lambda: all(owed(dead, line["id"]) for line in lines), timeout=30)
        # Stored, claimed and acknowledged, never sent: the desk died right after the commit (issue 12:
        # the claim is made in the line's transaction); the sweep of overdue claims sends them.
        claimed = [(await dead.app_service.accept(c, QUESTION))[0] for c in unrouted_conversations[:2]]
        # Stored without a claim (the way lines reach the sweep of unrouted lines): it sends them.
        unclaimed = [dead.conversations.accept_citizen_line(c, QUESTION, {}, None, [])[0] for c in unrouted_conversations[2:]]
        unrouted = claimed + unclaimed
        assert all(owed(dead, line["id"]) for line in claimed) and not any(owed(dead, line["id"]) for line in unclaimed)
        await dead.stop()
        for routing in asked:
            routing.cancel()
        await asyncio.gather(*asked, return_exceptions=True)
    with dead.app_service.database.session() as session:
        for line in [*lines, *claimed]:
            session.get(DeskOwedReply, line["id"]).due_at = datetime.utcnow() - timedelta(seconds=1)
    rasa = RasaClient(rasa_stack.rasa_url, rasa_stack.token, timeout=10.0)
    await rasa.start()
    first = second = None
    try:

        async def processed(line: dict) -> bool:
            tracker = await rasa.tracker(line["conversation_id"])
            return bool(tracker and replies_in_tracker(tracker, desk_message_id(line["id"])))

        # Rasa finishes the owed messages once the action server runs again.
        for line in lines:
            await wait_for(lambda line=line: processed(line), timeout=60, interval=0.3)

        first, second = [await slow_desk(rasa_stack, race_database_url, rasa_timeout=30.0, late_reply_s=90) for _ in range(2)]
        # Each desk also sweeps on its own at start and every few seconds; these rounds race them too.
        for _ in range(3):
            await asyncio.gather(
                first.app_service.settle_overdue(), second.app_service.settle_overdue(),
                first.app_service.route_unanswered(older_than_s=0), second.app_service.route_unanswered(older_than_s=0),
            )  # fmt: skip
        # Everything is settled or answered, whichever desk did it.
        await wait_for(lambda: all((owed(first, line["id"]) or {}).get("settled") for line in lines), timeout=60)
        await wait_for(lambda: all(texts(first, c, "bot") for c in unrouted_conversations), timeout=60)
        # One more round of both sweeps once all is answered: nothing is sent or delivered again.
        await asyncio.gather(
            first.app_service.settle_overdue(), second.app_service.settle_overdue(),
            first.app_service.route_unanswered(older_than_s=0), second.app_service.route_unanswered(older_than_s=0),
        )  # fmt: skip
        for line in [*lines, *unrouted]:
            conversation = line["conversation_id"]
            tracker = await rasa.tracker(conversation)
            replies, _ = replies_in_tracker(tracker, desk_message_id(line["id"]))
            # Rasa got the line once, and its reply is in the transcript once.
            assert user_events(tracker, desk_message_id(line["id"])) == 1, conversation
            assert texts(first, conversation, "bot") == [r["text"] for r in replies], conversation
            assert BOT_DOWN not in texts(first, conversation, "system")
        assert all(owed(first, line["id"])["settled"] == DELIVERED for line in [*lines, *claimed])
    finally:
        await rasa.close()
        for desk in (first, second):
            if desk is not None:
                await desk.stop()


async def test_a_resend_after_the_desk_that_claimed_the_line_died_is_not_sent_to_rasa_again(rasa_stack, stack_database_url):
    """A desk claimed a line and sent it to Rasa, then died. The widget re-sends the line to another
    desk: the claim stands, so Rasa does not get it a second time, and the reply Rasa wrote is
    delivered once, by the sweep of overdue owed replies. Both ways a line is claimed: with the line
    (a new message, issue 12) and by a sweep of a stored line that was never claimed."""
    dead = await slow_desk(rasa_stack, stack_database_url, rasa_timeout=60.0, late_reply_s=90)
    conversation, swept = new_id(), new_id()
    stored = dead.conversations.accept_citizen_line(swept, QUESTION, {}, "resend-0", [])[0]
    with paused(rasa_stack.processes["actions"]):
        sending = [
            asyncio.ensure_future(say(dead, conversation, QUESTION, client_id="resend-1")),
            asyncio.ensure_future(dead.app_service.route_unanswered(older_than_s=0)),
        ]
        new_line = await wait_for(lambda: citizen_line(dead, conversation, QUESTION), timeout=10)
        await wait_for(lambda: owed(dead, new_line["id"]) and owed(dead, stored["id"]) and dead.app_service.rasa.in_flight == 2, timeout=30)
        await dead.stop()  # dies while Rasa works on both lines
        for task in sending:
            task.cancel()
        await asyncio.gather(*sending, return_exceptions=True)
    other = await slow_desk(rasa_stack, stack_database_url, rasa_timeout=60.0, late_reply_s=90)
    try:
        for line, client_id in ((new_line, "resend-1"), (stored, "resend-0")):
            conversation = line["conversation_id"]

            async def processed(conversation: str = conversation, line: dict = line) -> dict | None:
                tracker = await other.app_service.rasa.tracker(conversation)
                return tracker if tracker and replies_in_tracker(tracker, desk_message_id(line["id"])) else None

            await wait_for(processed, timeout=60, interval=0.3)
            again = await say(other, conversation, QUESTION, client_id=client_id)
            assert again["stored"]["id"] == line["id"] and again["replies"] == [], again
            with other.app_service.database.session() as session:
                session.get(DeskOwedReply, line["id"]).due_at = datetime.utcnow() - timedelta(seconds=1)
            await other.app_service.settle_overdue()
            tracker = await processed()
            replies, _ = replies_in_tracker(tracker, desk_message_id(line["id"]))
            assert user_events(tracker, desk_message_id(line["id"])) == 1
            assert texts(other, conversation, "bot") == [r["text"] for r in replies] and replies
            assert owed(other, line["id"])["settled"] == DELIVERED
    finally:
        await other.stop()


async def test_the_console_shows_a_late_reply_kept_for_the_clerk_and_inserts_it_into_the_reply_box(desk_without_rasa, browser):
    """What the clerk sees of a late reply kept for them: the question, the bot's lines and their
    buttons, and a button that puts the bot's text into the reply box to edit (the console page)."""
    from playwright.async_api import expect

    server = desk_without_rasa
    clerk = ensure_user(server.accounts, "迟到回复客服")
    conversation = new_id()
    stored, _, _ = await server.app_service.accept(conversation, QUESTION)
    server.conversations.owe_reply(stored["id"], conversation, 60)
    assert server.conversations.claim(conversation, clerk["id"])
    answer = "换发护照需要：护照、照片、申请表。"
    said = [Line("bot", answer, {"buttons": [{"title": "所需材料", "payload": "/ask_aspect"}]})]
    how, kept = server.conversations.deliver_owed(conversation, stored["id"], said)
    assert how == TAKEN_OVER and kept[0]["asked"] == QUESTION and texts(server, conversation, "bot") == []
    context = await browser.new_context(viewport={"width": 1360, "height": 860})
    try:
        console = await login(context, server.url, "迟到回复客服")
        await console.click(f'#live li[data-id="{number_of(server, conversation)}"]')
        late = console.locator("#late-replies li", has_text=answer)
        await late.wait_for(timeout=10000)
        await expect(late).to_contain_text(QUESTION)
        await expect(late).to_contain_text("所需材料")
        await late.locator("button.insert").click()
        await expect(console.locator("#reply")).to_have_value(answer, timeout=10000)
        await console.screenshot(path=str(RESULTS / "console_late_reply.png"))
    finally:
        await context.close()


# --- an on-time reply racing a clerk's claim; a re-send on a second desk (issue 10, item 4) ----------


async def test_an_on_time_reply_after_a_clerk_claimed_reaches_no_citizen_on_any_path(rasa_stack, race_database_url):
    """The bot answers in time (no timeout), but a clerk claimed the conversation while Rasa was answering:
    the answer does not follow the clerk's "joined" line, on the widget's socket, rasa-webchat's socket or
    the HTTP API. A claim made on another desk (same database, no lock shared) counts the same: the
    database decides. The clerk sees the answer as a late one."""
    server = await slow_desk(rasa_stack, race_database_url, rasa_timeout=60.0, late_reply_s=90)
    other = await slow_desk(rasa_stack, race_database_url, rasa_timeout=60.0, late_reply_s=90)
    widget, webchat = Citizen(), Citizen(widget=False)
    clerk = await Clerk.login(server, "准时回复客服")
    far = await Clerk.login(other, "另一台的客服")
    console, kept = await console_events(server, clerk, "late_reply")
    try:
        by_widget, by_webchat, by_http = await widget.start(server.url), await webchat.start(server.url), new_id()
        with paused(rasa_stack.processes["actions"]):
            assert (await widget.utter(by_widget, QUESTION, client_id="on-time-1"))["ok"]
            assert (await webchat.utter(by_webchat, QUESTION, client_id="on-time-2"))["ok"]
            asking = asyncio.ensure_future(say(server, by_http, QUESTION))
            # All three calls are in flight, within the desk's timeout: Rasa waits for the stopped action server.
            await wait_for(lambda: server.app_service.rasa.in_flight == 3, timeout=30)
            for conversation in (by_widget, by_webchat):
                status, body = await clerk.act(conversation, "claim")
                assert status == 200, body
            status, body = await far.act(by_http, "claim")
            assert status == 200, body
            await wait_for(lambda: widget.received and webchat.received, timeout=10)
            seen = (widget.texts(), webchat.texts())
        answer = await asyncio.wait_for(asking, 60)
        assert answer["replies"] == [] and answer["state"] == "clerk", answer
        lines = {c: citizen_line(server, c, QUESTION) for c in (by_widget, by_webchat, by_http)}
        await wait_for(lambda: all((owed(server, line["id"]) or {}).get("settled") for line in lines.values()), timeout=60)
        for conversation, line in lines.items():
            assert owed(server, line["id"])["settled"] == TAKEN_OVER, conversation
            assert texts(server, conversation, "bot") == [] and BOT_DOWN not in texts(server, conversation, "system")
            assert line["data"]["nlu"]["item"] == "passport-renewal"  # the trainers' inbox still learns
        # The consoles hear of each kept answer, by number; the view on the other desk shows its own.
        await wait_for(lambda: len(kept) == 3, timeout=10)
        assert {event["conversation"] for event in kept} == {clerk.number(c) for c in lines}
        assert all(any("护照" in reply["text"] for reply in event["late_reply"]["replies"]) for event in kept)
        status, view = await far.view(by_http)
        assert status == 200 and view["late_replies"][0]["asked"] == QUESTION, view
        # Each citizen's last line is the clerk's "joined": nothing came after it, the apology neither.
        assert (widget.texts(), webchat.texts()) == seen
        assert not any("护照" in text for text in [*seen[0], *seen[1]]), seen
    finally:
        await drop(console)
        for citizen in (widget, webchat):
            await drop(citizen.sio)
        for desk in (clerk, far):
            await desk.close()
        await server.stop()
        await other.stop()


async def test_a_resend_on_a_second_desk_while_the_first_desks_call_is_in_flight_is_not_sent_again(rasa_stack, race_database_url):
    """No Redis: two desks share the database only. The widget re-sends a line to the second desk (its
    socket moved) while the first desk's call to Rasa is still in flight, by socket and over HTTP. The
    second desk does not send it to Rasa: the first send claimed it. Rasa gets it once; the citizen's
    transcript gets its answer once."""
    first = await slow_desk(rasa_stack, race_database_url, rasa_timeout=60.0, late_reply_s=90)
    second = await slow_desk(rasa_stack, race_database_url, rasa_timeout=60.0, late_reply_s=90)
    citizen, moved = Citizen(), Citizen()
    try:
        conversation = await citizen.start(first.url)
        with paused(rasa_stack.processes["actions"]):
            ack = await citizen.utter(conversation, QUESTION, client_id="twice-1")
            assert ack["ok"]
            await wait_for(lambda: first.app_service.rasa.in_flight == 1, timeout=30)
            assert await moved.start(second.url, conversation) == conversation
            again = await moved.utter(conversation, QUESTION, client_id="twice-1")
            assert again["ok"] and again["id"] == ack["id"]
            # Over HTTP the answer waits for the routing: at once, nothing sent (else Rasa would hold it here).
            resent = await asyncio.wait_for(say(second, conversation, QUESTION, client_id="twice-1"), 10)
            assert resent["stored"]["id"] == ack["id"] and resent["replies"] == [], resent
            assert second.app_service.rasa.in_flight == 0
        await wait_for(lambda: texts(first, conversation, "bot"), timeout=60)
        await wait_for(lambda: (owed(first, ack["id"]) or {}).get("settled") == DELIVERED, timeout=10)
        tracker = await first.app_service.rasa.tracker(conversation)
        replies, _ = replies_in_tracker(tracker, desk_message_id(ack["id"]))
        assert user_events(tracker, desk_message_id(ack["id"])) == 1
        assert texts(first, conversation, "bot") == [r["text"] for r in replies] and replies
        await wait_for(lambda: replies[0]["text"] in citizen.texts(), timeout=10)
        assert citizen.texts().count(replies[0]["text"]) == 1 and replies[0]["text"] not in moved.texts()
    finally:
        for one in (citizen, moved):
            await drop(one.sio)
        await first.stop()
        await second.stop()
