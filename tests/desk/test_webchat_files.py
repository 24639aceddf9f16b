"""Files over the rasa-webchat protocol (issue 11): a clerk's photo reaches a rasa-webchat citizen as an
image with an absolute, signed, expiring URL, a PDF as a text line with a Markdown link; rasa-webchat
gets its own bare shapes (no `metadata`, which makes rasa-webchat 1.0.1 drop a line); it cannot upload,
and `/upload` is answered politely. Real sockets and HTTP on a loopback port, no mocks."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from bot.desk import DeskConfig
from bot.desk.attachments import signed_path
from tests.desk.helpers import Citizen, Clerk, DeskServer, drop, free_port, new_id, wait_for
from tests.desk.test_attachments import PDF, png


async def clerk_sends(clerk: Clerk, conversation: str, content: bytes, name: str) -> dict:
    headers = {"X-CSRF-Token": clerk.csrf, "Content-Type": "application/octet-stream", "X-File-Name": name}
    url = f"{clerk.server.url}/api/console/conversations/{clerk.number(conversation)}/attachments"
    async with clerk.http.post(url, data=content, headers=headers) as reply:
        assert reply.status == 200, await reply.text()
        return (await reply.json())["line"]


async def fetch(url: str, **headers: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers) as reply:
            return reply.status, await reply.read(), reply.headers.get("Content-Type", "")


async def test_a_rasa_webchat_citizen_gets_bare_lines_a_signed_image_and_a_pdf_link(desk_without_rasa):
    server = desk_without_rasa
    webchat, widget = Citizen(widget=False), Citizen()
    clerk = await Clerk.login(server, "文件员")
    try:
        conversation = await webchat.start(server.url)
        assert (await webchat.utter(conversation, "请帮我看一下材料"))["ok"]
        # The project's widget on the same conversation (another tab) keeps its metadata.
        await widget.start(server.url, conversation)
        status, _ = await clerk.act(conversation, "claim")
        assert status == 200
        status, _ = await clerk.act(conversation, "reply", text="您好，我来看看。")
        assert status == 200
        reply = await wait_for(lambda: next((m for m in webchat.received if m.get("text") == "您好，我来看看。"), None))
        # rasa-webchat draws a text only when `text` is the message's one key (msgProcessor.isText).
        assert reply == {"text": "您好，我来看看。"}
        mine = await wait_for(lambda: next((m for m in widget.received if m.get("text") == "您好，我来看看。"), None))
        assert mine["metadata"]["sender"] == "clerk" and mine["metadata"]["author"] == "文件员"
        assert all("metadata" not in m for m in webchat.received), webchat.received

        # A photo: an image whose src is absolute (the desk's host, as the citizen's socket reached it).
        await clerk_sends(clerk, conversation, png(), "表格.png")
        image = await wait_for(lambda: next((m for m in webchat.received if "attachment" in m), None))
        assert image["attachment"]["type"] == "image" and image["attachment"]["payload"]["title"] == "📎 表格.png"
        src = image["attachment"]["payload"]["src"]
        assert re.fullmatch(re.escape(server.url) + r"/files/\d+/\d+/[0-9a-f]{32}", src), src
        assert conversation not in src, "the conversation id (the citizen's key to the transcript) stays out of the URL"
        status, body, mime = await fetch(src)
        assert status == 200 and mime == "image/png" and body.startswith(b"\x89PNG")
        # The project's widget draws the same file from its metadata (its own fetch with the conversation id).
        drawn = await wait_for(lambda: next((m for m in widget.received if (m["metadata"] or {}).get("attachment")), None))
        assert drawn["metadata"]["attachment"]["name"] == "表格.png"

        # The link is a capability for that file of that conversation only.
        file_id = int(src.split("/")[4])
        status, _, _ = await fetch(src[:-1] + ("0" if src[-1] != "0" else "1"))
        assert status == 404, "a changed tag opens nothing"
        status, _, _ = await fetch(f"{server.url}{signed_path(file_id, new_id())}")
        assert status == 404, "a tag made for another conversation opens nothing"
        expired = signed_path(file_id, conversation, now=0)
        status, _, _ = await fetch(f"{server.url}{expired}")
        assert status == 410, "an expired link is refused"

        # A PDF: a text line with a Markdown link (rasa-webchat renders Markdown), the name escaped.
        await clerk_sends(clerk, conversation, PDF, "申请表[1].pdf")
        line = await wait_for(lambda: next((m for m in webchat.received if "申请表" in m.get("text", "")), None))
        assert set(line) == {"text"}
        found = re.fullmatch(r"📎 \[申请表\\\[1\\\]\.pdf\]\((http://[^)]+)\)", line["text"])
        assert found, line["text"]
        status, body, mime = await fetch(found.group(1))
        assert status == 200 and mime == "application/pdf" and body.startswith(b"%PDF-")

        # No upload in rasa-webchat's protocol: `/upload` is answered, in the language it sent, and not stored.
        before = len(server.conversations.messages(conversation))
        assert (await webchat.utter(conversation, "/upload", language="it"))["ok"]
        polite = await wait_for(lambda: next((m for m in webchat.received if "Questa" in m.get("text", "")), None))
        assert polite["text"].startswith("Questa finestra di chat non può inviare file")
        assert len(server.conversations.messages(conversation)) == before
    finally:
        await clerk.close()
        await drop(webchat.sio)
        await drop(widget.sio)


async def test_the_file_links_base_is_configured_or_the_hosts_and_proxy_headers_only_from_a_trusted_proxy(desk_db_url):
    """DESK_PUBLIC_URL wins; else Host; X-Forwarded-Proto/-Host only when the peer is a trusted proxy."""

    async def image_src(server: DeskServer, **headers: str) -> str:
        citizen = Citizen(widget=False)
        clerk = await Clerk.login(server, "文件员")
        try:
            await citizen.sio.connect(server.url, transports=["polling"], headers=headers)
            conversation = await citizen.start(server.url)
            assert (await citizen.utter(conversation, "需要什么材料"))["ok"]
            assert (await clerk.act(conversation, "claim"))[0] == 200
            await clerk_sends(clerk, conversation, png(), "a.png")
            image = await wait_for(lambda: next((m for m in citizen.received if "attachment" in m), None))
            return image["attachment"]["payload"]["src"]
        finally:
            await clerk.close()
            await drop(citizen.sio)

    port = free_port()
    base = {"database_url": desk_db_url, "rasa_url": f"http://127.0.0.1:{port}", "rasa_token": "x", "rasa_timeout": 2.0}
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example.org"}
    for config, headers, expected in (
        # Not from a trusted proxy: the client's X-Forwarded-* are ignored, its Host is kept.
        (DeskConfig(**base), {**forwarded, "Host": "desk.example.net:8080"}, "http://desk.example.net:8080/files/"),
        # From the trusted proxy (loopback here): the proxy's headers say where citizens are.
        (DeskConfig(**base, trusted_proxies="127.0.0.1"), forwarded, "https://chat.example.org/files/"),
        # Configured: whatever the request says.
        (DeskConfig(**base, public_url="https://wz.example.cn/"), forwarded, "https://wz.example.cn/files/"),
    ):
        server = await DeskServer(config).start()
        try:
            src = await asyncio.wait_for(image_src(server, **headers), 30)
            assert src.startswith(expected), (src, expected)
        finally:
            await server.stop()


async def test_rasa_webchat_gets_what_a_clerk_wrote_while_it_was_closed_once(desk_without_rasa):
    """rasa-webchat asks for no history: the lines of its absence come when it is back, and only once."""
    server = desk_without_rasa
    clerk = await Clerk.login(server, "回访员")
    away = Citizen(widget=False)
    leaving: list[asyncio.Task] = []
    try:
        conversation = await away.start(server.url)
        assert (await away.utter(conversation, "我想留言，请明天回复我"))["ok"]
        await wait_for(lambda: any("没有工作人员在线" in m.get("text", "") for m in away.received), timeout=10)
        seen_before = len(server.conversations.messages(conversation))
        # A polite disconnect reaches the desk at once; the polling client itself then waits out its
        # long-poll, so it goes on in the background.
        leaving.append(asyncio.create_task(away.sio.disconnect()))
        await wait_for(lambda: _seen(server, conversation) == server.conversations.messages(conversation)[-1]["id"])
        assert len(server.conversations.messages(conversation)) == seen_before

        # While it is closed: the clerk takes the conversation, answers and sends a form.
        assert (await clerk.act(conversation, "claim"))[0] == 200
        assert (await clerk.act(conversation, "reply", text="您好，已收到您的留言。"))[0] == 200
        await clerk_sends(clerk, conversation, PDF, "回执.pdf")

        back = Citizen(widget=False)
        try:
            assert await back.start(server.url, conversation) == conversation
            texts = lambda: [m.get("text", "") for m in back.received]  # noqa: E731
            await wait_for(lambda: any("回执.pdf" in t for t in texts()), timeout=10)
            assert "您好，已收到您的留言。" in texts()
            assert all("我想留言" not in t for t in texts()), "the citizen's own lines are rasa-webchat's to keep"
            leaving.append(asyncio.create_task(back.sio.disconnect()))
            await wait_for(lambda: _seen(server, conversation) == server.conversations.messages(conversation)[-1]["id"])
        finally:
            await drop(back.sio)

        again = Citizen(widget=False)
        try:
            assert await again.start(server.url, conversation) == conversation
            # Every earlier line was delivered: nothing comes twice (a reply typed now still arrives).
            assert (await clerk.act(conversation, "reply", text="还有别的问题吗？"))[0] == 200
            await wait_for(lambda: any(m.get("text") == "还有别的问题吗？" for m in again.received))
            assert [m.get("text") for m in again.received] == ["还有别的问题吗？"]
        finally:
            await drop(again.sio)
    finally:
        for task in leaving:
            task.cancel()
        await clerk.close()
        await drop(away.sio)


def _seen(server: DeskServer, conversation: str) -> int | None:
    from bot.desk.tables import DeskWebchatSeen

    with server.app_service.database.session() as session:
        row = session.get(DeskWebchatSeen, conversation)
        return row.line_id if row else None


async def test_rasa_webchat_is_asked_to_write_its_message_here_and_a_contact_typed_while_queued_is_a_ticket(
    desk_without_rasa,
):
    """rasa-webchat has no 留言 form: the waiting message says to write the question and a contact in the
    chat, and such a line, typed while queued, opens a ticket (the widget's citizens get the form)."""
    server = desk_without_rasa
    webchat = Citizen(widget=False)
    clerk = await Clerk.login(server, "票据员")
    try:
        conversation = await webchat.start(server.url)
        # The bot is down: queued, nobody online. A contact in a line the bot had is no left message.
        assert (await webchat.utter(conversation, "我的电话是 333 1234567，护照怎么换"))["ok"]
        told = await wait_for(lambda: next((m for m in webchat.received if "没有工作人员在线" in m.get("text", "")), None))
        assert "直接在这里写下问题和联系方式" in told["text"] and "点“留言”" not in told["text"]
        stored = next(m for m in server.conversations.messages(conversation) if "没有工作人员在线" in m["text"])
        assert "点“留言”" in stored["text"], "the widget's citizens keep the wording with its button"
        await wait_for(lambda: server.conversations.conversation(conversation)["state"] == "waiting")
        assert (await webchat.utter(conversation, "谢谢"))["ok"]
        assert (await webchat.utter(conversation, "请明天上午回电，或者加微信 lin_1988 也行"))["ok"]
        status, listed = await clerk.get("/api/console/tickets?status=open")
        assert status == 200
        assert [(t["contact"], t["message"]) for t in listed["tickets"]] == [
            ("微信 lin_1988", "请明天上午回电，或者加微信 lin_1988 也行")
        ]
    finally:
        await clerk.close()
        await drop(webchat.sio)


def test_a_contact_is_found_in_a_typed_line():
    from bot.desk.tickets import contact_in

    assert contact_in("my mail is a.rossi+wz@example.it thanks") == "a.rossi+wz@example.it"
    assert contact_in("chiamatemi al +39 333 123 4567") == "+39 333 123 4567"
    assert contact_in("微信号：chen_wz88") == "微信号：chen_wz88"
    assert contact_in("办件编号 2026 年 12 月") is None
    assert contact_in("我需要 3 份材料") is None
    assert contact_in("查办件 WZ202610080017 陈 5821") is None, "a case number is no phone number"
    assert contact_in("预约 2026-12-01 上午") is None, "nor is a date"
    assert contact_in("tel. (02) 8646 1234") == "(02) 8646 1234"
    assert contact_in("电话13800138000谢谢") == "13800138000"
