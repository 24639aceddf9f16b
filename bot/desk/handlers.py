"""Thin HTTP handlers: parse, call the service or the store, answer JSON. Routes are in app.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.desk.auth import ANY_ROLE, COOKIE, STAFF, current_user, requires, set_session_cookie
from bot.desk.config import CONFIG, DATABASE, SERVICE, STORE
from bot.desk.realtime import valid_session_id
from bot.desk.service import DeskError, DeskService
from bot.desk.store import DeskStore
from bot.desk.webchat import bot_uttered
from bot.knowledge import SAMPLE_NOTICE, load_knowledge
from bot.privacy import client_key

STATIC = Path(__file__).parent / "static"


def json_reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _error(error: DeskError) -> web.Response:
    return json_reply({"error": error.message}, error.status)


async def read_json_body(request: web.Request) -> dict[str, Any]:
    # JSON only: a cross-site HTML form cannot send it, which also shields the log-in from CSRF.
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text='{"error": "需要 JSON。"}', content_type="application/json")
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep to parse
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "需要 JSON 对象。"}', content_type="application/json")
    return body


def _service(request: web.Request) -> DeskService:
    return request.app[SERVICE]


def _store(request: web.Request) -> DeskStore:
    return request.app[STORE]


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


# --- public pages and the citizens' API ---------------------------------------


async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/demo")


async def demo(request: web.Request) -> web.FileResponse:
    return _page("demo.html")


async def widget_js(request: web.Request) -> web.FileResponse:
    response = _page("widget.js")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def health(request: web.Request) -> web.Response:
    return json_reply({"status": "ok"})


async def status(request: web.Request) -> web.Response:
    return json_reply(await _service(request).status())


async def post_message(request: web.Request) -> web.Response:
    """Other channels and tests: send a citizen message, get the lines that answered it."""
    conversation_id = valid_session_id(request.match_info["conversation_id"])
    if conversation_id is None:
        return json_reply({"error": "会话编号不正确。"}, 400)
    body = await read_json_body(request)
    text, client_id = body.get("message"), body.get("client_id")
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    metadata = {**metadata, "client": client_key(request.remote)}
    if not isinstance(text, str) or (client_id is not None and not isinstance(client_id, str)):
        return json_reply({"error": "message 必须是字符串。"}, 400)
    service = _service(request)
    try:
        stored, created = await service.accept(conversation_id, body.get("title") or text, client_id, text, metadata)
    except DeskError as error:
        return _error(error)
    replies = await service.route(stored, metadata) if created else []
    conversation = _store(request).conversation(conversation_id)
    return json_reply({"stored": stored, "replies": replies, "state": conversation["state"]})


async def get_messages(request: web.Request) -> web.Response:
    conversation_id = valid_session_id(request.match_info["conversation_id"])
    if conversation_id is None:
        return json_reply({"error": "会话编号不正确。"}, 400)
    after = int(request.query.get("after", "0") or 0) if request.query.get("after", "0").isdigit() else 0
    store = _store(request)
    conversation = store.conversation(conversation_id)
    if conversation is None:
        return json_reply({"error": "找不到这个会话。"}, 404)
    lines = store.messages(conversation_id, after)
    return json_reply({"state": conversation["state"], "messages": lines, "webchat": [bot_uttered(m) for m in lines]})


# --- log-in ---------------------------------------------------------------------


async def login_page(request: web.Request) -> web.FileResponse:
    return _page("login.html")


async def login(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    name, password = str(body.get("name", "")), str(body.get("password", ""))
    store = _store(request)
    loop = asyncio.get_running_loop()
    user, reason = await loop.run_in_executor(None, store.login, name, password)
    if user is None:
        message = "尝试次数过多，请5分钟后再试。" if reason == "locked" else "用户名或密码不正确。"
        return json_reply({"error": message}, 401)
    token, csrf = store.create_session(user["id"])
    response = json_reply(
        {"name": user["name"], "role": user["role"], "must_change": user["must_change"], "csrf": csrf}
    )
    set_session_cookie(response, token, request.app[CONFIG].secure_cookies)
    return response


async def logout(request: web.Request) -> web.Response:
    user = current_user(request)
    if user and request.headers.get("X-CSRF-Token") == user["csrf"]:
        _store(request).drop_session(request.cookies.get(COOKIE, ""))
    response = json_reply({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


# --- the console ----------------------------------------------------------------


@requires(*ANY_ROLE, page=True)
async def console_page(request: web.Request) -> web.FileResponse:
    return _page("console.html")


@requires(*ANY_ROLE, allow_must_change=True)
async def me(request: web.Request) -> web.Response:
    user = request["user"]
    return json_reply({k: user[k] for k in ("id", "name", "role", "must_change", "csrf")})


@requires(*ANY_ROLE, allow_must_change=True)
async def change_password(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    old, new = str(body.get("old", "")), str(body.get("new", ""))
    if len(new) < 10:
        return json_reply({"error": "新密码至少10位。"}, 400)
    store, user = _store(request), request["user"]
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, store.check_password, user["id"], old):
        return json_reply({"error": "原密码不正确。"}, 400)
    await loop.run_in_executor(None, store.set_password, user["id"], new)
    return json_reply({"ok": True})


@requires(*ANY_ROLE)
async def queue(request: web.Request) -> web.Response:
    store = _store(request)
    return json_reply({"queue": store.queue(), "clerks": store.online_clerks()})


@requires(*ANY_ROLE)
async def live(request: web.Request) -> web.Response:
    return json_reply({"conversations": _store(request).live()})


def _guide_titles(lines: list[dict[str, Any]], understood: dict[str, Any]) -> dict[str, str]:
    knowledge = load_knowledge()
    items = {(m["data"].get("custom") or {}).get("guide_item") for m in lines} | {understood.get("guide_item")}
    items |= set(understood.get("candidates") or [])
    return {item: knowledge.title(item) for item in items if item and knowledge.guide(item)}


@requires(*ANY_ROLE)
async def conversation(request: web.Request) -> web.Response:
    store, conversation_id = _store(request), request.match_info["conversation_id"]
    found = store.conversation(conversation_id)
    if found is None:
        return json_reply({"error": "找不到这个会话。"}, 404)
    lines = store.messages(conversation_id)
    return json_reply(
        {
            "conversation": found,
            "messages": lines,
            "notes": store.notes(conversation_id),
            "guides": _guide_titles(lines, found["understood"]),
            # Guide texts are sample content until the operating agency replaces them.
            "sample_notice": SAMPLE_NOTICE,
        }
    )


def _action(name: str):
    """A console action on one conversation (claim, reply, ...), staff only."""

    @requires(*STAFF)
    async def handler(request: web.Request) -> web.Response:
        body = await read_json_body(request)
        service, conversation_id = _service(request), request.match_info["conversation_id"]
        user = request["user"]
        try:
            if name == "claim":
                result = await service.claim(conversation_id, user)
            elif name == "reply":
                result = await service.reply(conversation_id, user, str(body.get("text", "")))
            elif name == "note":
                result = await service.note(conversation_id, user, str(body.get("text", "")))
            elif name == "transfer":
                result = await service.transfer(conversation_id, user, str(body.get("to", "")))
            elif name == "handback":
                result = await service.hand_back(conversation_id, user)
            else:
                result = await service.close(conversation_id, user)
        except DeskError as error:
            return _error(error)
        return json_reply({"ok": True, "result": result})

    handler.__name__ = f"console_{name}"
    return handler


@requires(*ANY_ROLE)
async def case_lookup(request: web.Request) -> web.Response:
    case = request.app[DATABASE].case_by_number(request.match_info["case_no"].strip())
    if case is None:
        return json_reply({"error": "没有找到这个办件编号。"}, 404)
    knowledge = load_knowledge()
    title = knowledge.title(case.item_id) if knowledge.guide(case.item_id) else case.item_id
    history = [
        {"at": h["at"].isoformat(sep=" ", timespec="minutes"), **{k: h[k] for k in ("status", "note")}}
        for h in case.history
    ]
    return json_reply(
        {"case_no": case.case_no, "item": title, "status": case.status, "site": case.site, "history": history}
    )


@requires(*ANY_ROLE)
async def clerks(request: web.Request) -> web.Response:
    store = _store(request)
    staff = [u for u in store.users() if u["role"] in STAFF]
    return json_reply({"online": store.online_clerks(), "staff": staff})
