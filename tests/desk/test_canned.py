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
            "/api/console/canned", {"shared": True, "language": "it", "title": "Saluto", "text": "Buongiorno, come posso aiutarla?"}
        )
        assert status == 200
        status, mine = await clerk.post("/api/console/canned", {"language": "zh", "title": "结束语", "text": "感谢您的咨询，再见。"})
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
