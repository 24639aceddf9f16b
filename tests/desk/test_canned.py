"""Canned replies over the console's API: shared ones only by admins, personal ones per clerk, per language."""

from __future__ import annotations

from tests.desk.helpers import Clerk


async def test_shared_by_admins_personal_per_clerk_searched_by_language(desk_without_rasa):
    server = desk_without_rasa
    admin = await Clerk.login(server, "管理员乙", "admin")
    clerk = await Clerk.login(server, "客服丙")
    other = await Clerk.login(server, "客服丁")
    try:
        shared = {"shared": True, "language": "zh", "title": "问候", "text": "您好，我是工作人员，请问有什么可以帮您？"}
        status, refused = await clerk.post("/api/console/canned", shared)
        assert status == 400 and "管理员" in refused["error"]
        status, made = await admin.post("/api/console/canned", shared)
        assert status == 200 and made["shared"]
        status, it = await admin.post(
            "/api/console/canned",
            {"shared": True, "language": "it", "title": "Saluto", "text": "Buongiorno, come posso aiutarla?"},
        )
        assert status == 200
        status, mine = await clerk.post(
            "/api/console/canned", {"language": "zh", "title": "结束语", "text": "感谢您的咨询，再见。"}
        )
        assert status == 200 and not mine["shared"]
        status, _ = await clerk.post("/api/console/canned", {"language": "xx", "title": "t", "text": "x"})
        assert status == 400

        # "/" + a search: the clerk's own first, then the shared ones, in the conversation's language.
        _, found = await clerk.get("/api/console/canned?language=zh")
        assert [c["title"] for c in found["canned"]] == ["结束语", "问候"]
        _, found = await clerk.get("/api/console/canned?language=zh&q=咨询")
        assert [c["title"] for c in found["canned"]] == ["结束语"]
        _, found = await clerk.get("/api/console/canned?language=it")
        assert [c["title"] for c in found["canned"]] == ["Saluto"]
        # Another clerk does not see my personal ones, and cannot delete them or the shared ones.
        _, theirs = await other.get("/api/console/canned?language=zh")
        assert [c["title"] for c in theirs["canned"]] == ["问候"]
        status, _ = await other.post(f"/api/console/canned/{mine['id']}/delete")
        assert status == 403
        status, _ = await other.post(f"/api/console/canned/{made['id']}/delete")
        assert status == 403
        status, _ = await clerk.post(f"/api/console/canned/{mine['id']}/delete")
        assert status == 200
        status, _ = await admin.post(f"/api/console/canned/{it['id']}/delete")
        assert status == 200
        _, left = await admin.get("/api/console/canned")
        assert [c["title"] for c in left["canned"]] == ["问候"]
    finally:
        for session in (admin, clerk, other):
            await session.close()


async def test_the_welcomes_suggestions_are_the_most_answered_items(desk_without_rasa):
    """With enough traffic the widget suggests the items the bot answered most, by their titles."""
    import aiohttp

    from bot.desk.conversations import Line
    from tests.desk.helpers import new_id

    server = desk_without_rasa
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/widget/strings") as reply:
            static = (await reply.json())["strings"]["zh"]["suggestions"].split("|")
    assert 4 <= len(static) <= 6, "without traffic: the catalog's frequent questions"
    answered = {
        "passport-renewal": 5,
        "hukou-restore-return": 4,
        "notary-kinship": 3,
        "pension-qualification-certification": 2,
    }
    conversation = new_id()
    server.conversations.ensure_conversation(conversation)
    for item, times in answered.items():
        for _ in range(times):
            server.conversations.add_line(conversation, Line("bot", "…", {"custom": {"guide_item": item}}))
    server.app_service._frequent = None  # the 10-minute cache, read again now
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/widget/strings") as reply:
            strings = (await reply.json())["strings"]
    from bot.knowledge import load_knowledge

    kb = load_knowledge()
    assert strings["zh"]["suggestions"].split("|") == [kb.title(item) for item in answered]
    assert strings["it"]["suggestions"].split("|")[0] == kb.title("passport-renewal", "it")
