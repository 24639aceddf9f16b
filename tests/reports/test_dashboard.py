"""The /reports dashboard over HTTP: every route for every role, the figures against the hand counts, the CSV."""

from __future__ import annotations

import csv
import io
import json
import re

import aiohttp

from bot.db import Database
from tests.desk.helpers import ROUTE_SAMPLE_PARAMS, Clerk
from tests.reports.known_set import CLERK_NAME, write_known_set
from tests.reports.test_figures import DEPARTMENTS, SUMMARY

OCTOBER = "since=2026-10-01&until=2026-10-31"
ROLES = ("clerk", "trainer", "admin", "supervisor")
# What a supervisor may reach besides the reports: who they are, their own password, logging out.
SUPERVISOR_ALSO = {"/api/console/me", "/api/console/password"}
SAMPLE = ROUTE_SAMPLE_PARAMS | {"table": "summary", "conversation_id": "tconversation1"}


def _url(path: str) -> str:
    url = re.sub(r"\{(\w+)[^}]*\}", lambda m: SAMPLE.get(m.group(1), "x" * 10), path)
    return url + ("?period=2026-10" if path.startswith("/reports/report") else "")


def _guarded(app) -> list[tuple[str, str, tuple[str, ...]]]:
    routes = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        roles = getattr(route.handler, "desk_roles", None)
        if route.method != "HEAD" and roles:
            routes.append((route.method, path, tuple(roles)))
    return routes


async def test_every_route_for_every_role(desk_without_rasa):
    server = desk_without_rasa
    routes = _guarded(server.app)
    paths = {path for _, path, _ in routes}
    assert {"/reports", "/reports/api/figures", "/reports/api/csv/{table}", "/reports/report", "/reports/report.pdf"} <= paths
    for _, path, roles in routes:
        # Reports: the supervisor and the admin only; the supervisor nowhere else but their own account.
        if path.startswith("/reports"):
            assert set(roles) == {"supervisor", "admin"}, path
        elif path not in SUPERVISOR_ALSO:
            assert "supervisor" not in roles, path
    sessions = {role: await Clerk.login(server, f"路由测试-{role}", role=role) for role in ROLES}
    try:
        for role, session in sessions.items():
            for method, path, roles in routes:
                if path == "/reports/report.pdf":
                    continue  # allowed roles: tests/reports/test_report.py renders it once
                headers = {"X-CSRF-Token": session.csrf}
                allowed = role in roles
                if allowed and method != "GET":
                    continue  # not acting (training, closing) just to probe the guard
                async with session.http.request(
                    method, server.url + _url(path), json={}, headers=headers, allow_redirects=False
                ) as reply:
                    if allowed:
                        assert reply.status not in (401, 403), f"{role} {method} {path}: {reply.status}"
                    else:
                        assert reply.status == 403, f"{role} {method} {path}: {reply.status}"
        # The console's socket refuses the supervisor as it refuses anyone without a console role.
        from tests.desk.helpers import console_handshake

        cookie = "; ".join(f"{c.key}={c.value}" for c in sessions["supervisor"].http.cookie_jar)
        assert await console_handshake(server.url, cookie) == "refused"
        assert await console_handshake(server.url, "; ".join(f"{c.key}={c.value}" for c in sessions["clerk"].http.cookie_jar)) == "accepted"
    finally:
        for session in sessions.values():
            await session.close()


async def test_dashboard_figures_match_the_hand_counts_and_show_no_transcript(desk_without_rasa):
    server = desk_without_rasa
    write_known_set(Database(server.config.database_url))
    supervisor = await Clerk.login(server, "督导甲", role="supervisor")
    try:
        async with supervisor.http.get(f"{server.url}/reports/api/figures?{OCTOBER}") as reply:
            assert reply.status == 200
            text = await reply.text()
        data = json.loads(text)
        assert data["summary"] == SUMMARY
        assert data["previous"]["period"] == {"start": "2026-09-01", "last": "2026-09-30", "label": "2026-09-01 至 2026-09-30"}
        assert data["previous"]["summary"]["conversations"] == 1
        departments = [{k: v for k, v in row.items() if k != "label"} for row in data["breakdowns"]["department"]]
        assert departments == DEPARTMENTS
        assert data["definitions"]["contained"].startswith("机器人独立解决")
        # Figures and masked examples only: no conversation id, no clerk's name, no unmasked number.
        for private in ("known-c", CLERK_NAME, "13812345678", "WZ202610080017"):
            assert private not in text
        # Drill-down from a category to its items.
        async with supervisor.http.get(f"{server.url}/reports/api/figures?{OCTOBER}&category=exit_entry") as reply:
            drill = (await reply.json())["drill"]
        assert [(r["key"], r["conversations"], r["not_helpful"]) for r in drill["items"]] == [("passport-renewal", 4, 1)]
        async with supervisor.http.get(f"{server.url}/reports/api/figures?since=2026-10-31&until=2026-10-01") as reply:
            assert reply.status == 400
    finally:
        await supervisor.close()


async def test_csv_of_every_table_is_utf8_with_a_bom(desk_without_rasa):
    server = desk_without_rasa
    write_known_set(Database(server.config.database_url))
    admin = await Clerk.login(server, "管理员甲", role="admin")
    try:
        tables = {}
        for table in ("summary", "item", "category", "department", "site", "country", "language", "hour", "day", "month",
                      "unanswered", "not_helpful_items"):  # fmt: skip
            async with admin.http.get(f"{server.url}/reports/api/csv/{table}?{OCTOBER}") as reply:
                assert reply.status == 200, table
                assert reply.headers["Content-Type"].startswith("text/csv")
                body = await reply.read()
            assert body.startswith(b"\xef\xbb\xbf"), table
            tables[table] = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        async with admin.http.get(f"{server.url}/reports/api/csv/nothing?{OCTOBER}") as reply:
            assert reply.status == 404
    finally:
        await admin.close()
    summary = dict(tables["summary"][1:])
    assert summary["conversations"] == "11" and summary["contained"] == "3" and summary["average_rating"] == "3.0"
    assert summary["first_reply_p90_s"] == "600.0"
    header, *rows = tables["department"]
    assert header[:3] == ["key", "名称", "会话数"]
    expected = [[row["key"], *("" if row[k] is None else str(row[k]) for k in list(row)[1:])] for row in DEPARTMENTS]
    assert [[r[0], *r[2:]] for r in rows] == expected
    assert tables["unanswered"][1] == ["那个东西怎么弄", "2", "那个东西怎么弄 | 那个东西怎么弄！"]
    assert tables["not_helpful_items"][1][:4] == ["hukou-cancel-emigration", "出国（境）定居注销户口", "2", "unclear=1; wrong_item=1"]


async def test_the_dashboard_page_needs_a_reports_role(desk_without_rasa):
    server = desk_without_rasa
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/reports", allow_redirects=False) as reply:
            assert reply.status == 302 and reply.headers["Location"].startswith("/login")
    clerk = await Clerk.login(server, "客服乙", role="clerk")
    try:
        async with clerk.http.get(f"{server.url}/reports", allow_redirects=False) as reply:
            assert reply.status == 403
    finally:
        await clerk.close()
