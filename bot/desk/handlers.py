"""The desk's HTTP handlers: parse, call the service, answer JSON. The route table is in app.py.

Handlers never touch the tables: the DeskService and AccountService do, in their thread pools.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Protocol
from urllib.parse import quote, unquote

from aiohttp import web

from bot.desk import language
from bot.desk.account_service import AccountService
from bot.desk.attachments import MAX_BYTES, BadFile, link_valid
from bot.desk.config import DeskConfig
from bot.desk.ids import issue_id
from bot.desk.language import text as language_text
from bot.desk.service import DeskError, DeskService, RouteFailed
from bot.desk.staff import StaffNumbers
from bot.desk.webchat import bot_uttered, valid_session_id
from bot.http_helpers import (
    COOKIE,
    CSRF_HEADER,
    current_user,
    json_error,
    json_reply,
    page,
    read_json_body,
    requires,
    set_session_cookie,
)
from bot.knowledge import load_knowledge
from bot.privacy import client_address, client_key, trusted_networks
from bot.roles import CONSOLE, ROLES, STAFF


class ConsoleSockets(Protocol):
    """The console's socket.io namespace (bot/desk/realtime.py): a log-out or a new password ends its sockets."""

    async def end(self, token: str | None = None, user_id: int | None = None) -> int: ...


CONFIG = web.AppKey("config", DeskConfig)
SERVICE = web.AppKey("service", DeskService)
ACCOUNTS = web.AppKey("accounts", AccountService)
CONSOLE_SOCKETS = web.AppKey("console_sockets", ConsoleSockets)
# Staff name conversations by number, never by id (issue 10, item 1; bot/desk/staff.py).
NUMBERS = web.AppKey("numbers", StaffNumbers)


def _service(request: web.Request) -> DeskService:
    return request.app[SERVICE]


def _accounts(request: web.Request) -> AccountService:
    return request.app[ACCOUNTS]


def citizen_key(request: web.Request) -> str:
    """The rate-limit key of the citizen behind `request` (through trusted proxies only, item 2)."""
    trusted = trusted_networks(request.config_dict[CONFIG].trusted_proxies)
    return client_key(client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted))


def numbers(request: web.Request) -> StaffNumbers:
    return request.config_dict[NUMBERS]


async def conversation_of(request: web.Request) -> str:
    """The conversation a console route's `{number}` names; 404 (JSON) when there is none."""
    found = await numbers(request).conversation_id(request.match_info["number"])
    if found is None:
        raise json_error(web.HTTPNotFound, "找不到这个会话。")
    return found


async def staff_reply(request: web.Request, payload: Any, status: int = 200) -> web.Response:
    """A JSON answer to staff: conversation ids replaced by numbers."""
    return json_reply(await numbers(request).for_staff(payload), status)


def _error(error: DeskError) -> web.Response:
    return json_reply({"error": error.message}, error.status)


# --- public pages and the citizens' API ---------------------------------------


async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/demo")


async def demo(request: web.Request) -> web.FileResponse:
    return page("demo.html")


async def widget_js(request: web.Request) -> web.FileResponse:
    response = page("widget.js")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def widget_strings(request: web.Request) -> web.Response:
    """The widget's languages and its own strings in each, from the catalog (knowledge/messages)."""
    strings = language.widget_strings()
    # The welcome's suggestions are the most asked items (their titles), once there is enough traffic.
    frequent = await _service(request).frequent_items()
    if len(frequent) >= 4:
        knowledge = load_knowledge()
        for code, texts in strings["strings"].items():
            texts["suggestions"] = "|".join(knowledge.title(item, code) for item in frequent)
    response = json_reply(strings)
    # Like widget.js: the widget may be embedded on any site.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def health(request: web.Request) -> web.Response:
    """What this desk depends on. 503 (out of a load balancer's rotation) when it cannot store a message,
    or when it alone is deaf to the other desks (its socket.io listener lost Redis while Redis answers).
    Without Rasa, or without Redis (which every desk shares), it still stores and queues: "degraded"."""
    checks = await _service(request).health()
    deaf = checks.get("redis") is True and checks.get("redis_listener") is False
    required = checks["database"] and not deaf
    status = "ok" if all(checks.values()) else "degraded" if required else "down"
    return json_reply({"status": status, "checks": checks}, 200 if required else 503)


async def status(request: web.Request) -> web.Response:
    return json_reply(await _service(request).status())


async def new_conversation(request: web.Request) -> web.Response:
    """A conversation id for an HTTP client: like `session_confirm`, the server issues it (issue 10, item 1)."""
    if not await _service(request).allow_citizen_request("session", citizen_key(request)):
        # In the client's language when it names one (`?language=`), else the default.
        return json_reply({"error": language.text("too_fast", language.normalise(request.query.get("language")))}, 429)
    return json_reply({"conversation_id": issue_id()})


async def post_message(request: web.Request) -> web.Response:
    """Other channels and tests: send a citizen message, get the lines that answered it."""
    conversation_id = valid_session_id(request.match_info["conversation_id"])
    if conversation_id is None:
        return json_reply({"error": "会话编号不正确。"}, 400)
    body = await read_json_body(request)
    text, client_id = body.get("message"), body.get("client_id")
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    metadata = {**metadata, "client": citizen_key(request)}
    if not isinstance(text, str) or (client_id is not None and not isinstance(client_id, str)):
        return json_reply({"error": "message 必须是字符串。"}, 400)
    service = _service(request)
    handled = await service.satisfaction(conversation_id, text)
    if handled is not None:
        return json_reply(handled, 200 if handled["ok"] else 400)
    try:
        # Acknowledged by this request's answer, after the bot's: stored without a disk sync of its
        # own, the bot's lines' transaction syncs both (one sync per message); `durable` before any answer.
        stored, created, conversation = await service.accept(
            conversation_id, body.get("title") or text, client_id, text, metadata, synced=False
        )
    except DeskError as error:
        return _error(error)
    # On disk while Rasa works on the message; the answer waits for it (one sync per message, off its path).
    syncing = asyncio.ensure_future(service.durable(service.unsynced()))
    routing = created or not stored["data"].get("routed")  # a re-send of a line never routed: route it now
    if not routing:
        await syncing
        return json_reply({"stored": stored, "replies": [], "state": conversation["state"]})
    try:
        # A line is claimed before it goes to Rasa: a re-send of a line another desk is sending, or that a
        # desk sent and died, is not sent again; its reply comes from that desk or the sweep (issue 10, item 4).
        replies, state = await service.route(stored, metadata, conversation)
    except RouteFailed:
        # Stored, so acknowledged: the sweep of unrouted messages answers it once Redis or the database is back.
        await syncing
        return json_reply({"stored": stored, "replies": [], "state": "pending"}, 202)
    except BaseException:
        syncing.cancel()
        raise
    await syncing
    return json_reply({"stored": stored, "replies": replies, "state": state})


async def get_messages(request: web.Request) -> web.Response:
    conversation_id = valid_session_id(request.match_info["conversation_id"])
    if conversation_id is None:
        return json_reply({"error": "会话编号不正确。"}, 400)
    after = int(request.query.get("after", "0") or 0) if request.query.get("after", "0").isdigit() else 0
    conversation, lines = await _service(request).history(conversation_id, after)
    if conversation is None:
        return json_reply({"error": "找不到这个会话。"}, 404)
    return json_reply({"state": conversation["state"], "messages": lines, "webchat": [bot_uttered(m) for m in lines]})


# --- log-in ---------------------------------------------------------------------


async def login_page(request: web.Request) -> web.FileResponse:
    return page("login.html")


async def login(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    name, password = str(body.get("name", "")), str(body.get("password", ""))
    accounts = _accounts(request)
    # Throttled per address (through trusted proxies, IPv6 by /64), never per account (issue 10, item 6).
    user, reason, wait = await accounts.login(name, password, citizen_key(request))
    if reason == "throttled":
        seconds = max(1, round(wait))
        response = json_reply({"error": f"登录尝试过于频繁，请{seconds}秒后再试。", "retry_after": seconds}, 429)
        response.headers["Retry-After"] = str(seconds)
        return response
    if user is None:
        message = "一次性密码已过期，请联系管理员重新设置。" if reason == "expired" else "用户名或密码不正确。"
        return json_reply({"error": message}, 401)
    return await _new_session(request, user)


async def _new_session(request: web.Request, user: dict[str, Any]) -> web.Response:
    token, csrf = await _accounts(request).create_session(user["id"])
    response = json_reply(
        {"ok": True, "name": user["name"], "role": user["role"], "must_change": user["must_change"], "csrf": csrf}
    )
    set_session_cookie(response, token, request.app[CONFIG].secure_cookies)
    return response


async def logout(request: web.Request) -> web.Response:
    user = await current_user(request)
    if user and request.headers.get(CSRF_HEADER) == user["csrf"]:
        token = request.cookies.get(COOKIE, "")
        await _accounts(request).logout(token)
        # The console's socket was let in with this cookie: it goes too (issue 10, item 6).
        await request.app[CONSOLE_SOCKETS].end(token=token)
    response = json_reply({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


# --- the console ----------------------------------------------------------------


@requires(*CONSOLE, page=True, allow_must_change=True)
async def console_page(request: web.Request) -> web.FileResponse:
    user = request["user"]
    # Trainers work on the workbench: the console's transcripts are the clerks' (issue 10, item 5).
    # They come here only to change a one-time password.
    if user["role"] not in STAFF and not user["must_change"]:
        raise web.HTTPFound("/trainer")
    return page("console.html")


@requires(*ROLES, allow_must_change=True)
async def me(request: web.Request) -> web.Response:
    user = request["user"]
    # The supported languages (badges, filter, the admin's language page) come with who is logged in.
    names = language.load_languages().names
    supported = [{"code": code, "name": name} for code, name in names.items()]
    knowledge = load_knowledge()
    return json_reply(
        {
            **{k: user[k] for k in ("id", "name", "display_name", "role", "must_change", "csrf")},
            "languages": user.get("languages") or [],
            "supported_languages": supported,
            "default_language": language.default_language(),
            # The console shows items and aspects by their names, never by their internal ids (issue 11).
            "guide_titles": {item_id: knowledge.title(item_id) for item_id in knowledge.guides},
            "aspect_labels": {key: knowledge.aspect_label(key) for key in knowledge.aspects},
        }
    )


@requires(*ROLES, allow_must_change=True)
async def change_password(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    problem = await _accounts(request).change_password(
        request["user"]["id"], str(body.get("old", "")), str(body.get("new", ""))
    )
    if problem:
        return json_reply({"error": problem}, 400)
    # Every session of the account ended with the old password (a stolen cookie too), and so do
    # its console sockets; this browser gets a new session (issue 10, item 6).
    await request.app[CONSOLE_SOCKETS].end(user_id=request["user"]["id"])
    user = {**request["user"], "must_change": False}
    response = await _new_session(request, user)
    return response


@requires(*STAFF)  # clerks and admins: unmasked transcripts and cases (item 5)
async def queue(request: web.Request) -> web.Response:
    return await staff_reply(request, await _service(request).queue(request["user"]))


@requires(*STAFF)  # clerks and admins: unmasked transcripts and cases (item 5)
async def live(request: web.Request) -> web.Response:
    return await staff_reply(request, {"conversations": await _service(request).live()})


async def _upload(request: web.Request) -> tuple[bytes, str]:
    """The raw body of an upload (at most MAX_BYTES, read in chunks) and its display name (X-File-Name)."""
    if (request.content_length or 0) > MAX_BYTES:
        raise BadFile("attachment_too_big")
    content = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        content += chunk
        if len(content) > MAX_BYTES:
            raise BadFile("attachment_too_big")
    return bytes(content), unquote(request.headers.get("X-File-Name", "file"))[:200]


async def _serve(found: Any, thumb: bool) -> web.Response:
    body = found.thumb if thumb and found.thumb else found.content
    mime = "image/jpeg" if thumb and found.thumb else found.mime
    name = quote(found.name)
    return web.Response(
        body=body,
        content_type=mime,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            # A PDF opens in the browser's viewer, never as a page of the desk's origin.
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )


async def citizen_attachment(request: web.Request) -> web.Response:
    """A citizen sends a photo or a PDF (raw body): the conversation id is the key, as for messages."""
    conversation_id = valid_session_id(request.match_info["conversation_id"])
    if conversation_id is None:
        return json_reply({"error": "会话编号不正确。"}, 400)
    lang = language.normalise(request.headers.get("X-Language"))
    if not await _service(request).allow_citizen_request("attachment", citizen_key(request)):
        return json_reply({"error": language_text("too_fast", lang)}, 429)
    try:
        content, name = await _upload(request)
    except BadFile as refused:
        return json_reply({"error": language_text(refused.key, lang)}, 413)
    try:
        line = await _service(request).attach(conversation_id, content, name, language=lang)
    except DeskError as error:
        return _error(error)
    return json_reply({"ok": True, "line": line})


async def citizen_attachment_file(request: web.Request) -> web.Response:
    conversation_id = valid_session_id(request.match_info["conversation_id"])
    if conversation_id is None:
        raise web.HTTPNotFound()
    try:
        found = await _service(request).attachment(conversation_id, int(request.match_info["attachment_id"]))
    except (DeskError, ValueError):
        raise web.HTTPNotFound() from None
    return await _serve(found, request.query.get("thumb") == "1")


async def signed_file(request: web.Request) -> web.Response:
    """A file by its signed link (/files/<id>/<expires>/<tag>): what rasa-webchat draws and links to.

    404 for a tag this server did not make for that file's conversation, 410 once it has expired.
    """
    try:
        attachment_id, expires = int(request.match_info["attachment_id"]), int(request.match_info["expires"])
        found = await _service(request).attachment(None, attachment_id)
    except (DeskError, ValueError):
        raise web.HTTPNotFound() from None
    tag = request.match_info["tag"]
    if not link_valid(attachment_id, found.conversation_id, expires, tag, now=0):
        raise web.HTTPNotFound()
    if not link_valid(attachment_id, found.conversation_id, expires, tag):
        raise web.HTTPGone(text="链接已过期 · link expired")
    return await _serve(found, False)


@requires(*STAFF)  # clerks and admins: unmasked transcripts (issue 10, item 5)
async def console_attachment_file(request: web.Request) -> web.Response:
    try:
        found = await _service(request).attachment(None, int(request.match_info["attachment_id"]))
    except (DeskError, ValueError):
        raise web.HTTPNotFound() from None
    return await _serve(found, request.query.get("thumb") == "1")


@requires(*STAFF)
async def clerk_attachment(request: web.Request) -> web.Response:
    """A clerk sends a file into the conversation they serve."""
    conversation_id = await conversation_of(request)
    try:
        content, name = await _upload(request)
        line = await _service(request).attach(conversation_id, content, name, request["user"])
    except BadFile as refused:
        return json_reply({"error": language_text(refused.key, None)}, 413)
    except DeskError as error:
        return _error(error)
    return await staff_reply(request, {"ok": True, "line": line})


@requires(*STAFF)
async def canned(request: web.Request) -> web.Response:
    """Shared and personal canned replies, in a language (`language`), matching a search (`q`)."""
    language = request.query.get("language") or None
    found = await _service(request).canned_search(request["user"]["id"], language, request.query.get("q", "")[:100])
    return json_reply({"canned": found})


@requires(*STAFF)
async def canned_add(request: web.Request) -> web.Response:
    try:
        return json_reply(await _service(request).canned_add(request["user"], await read_json_body(request)))
    except DeskError as error:
        return _error(error)


@requires(*STAFF)
async def canned_delete(request: web.Request) -> web.Response:
    try:
        canned_id = int(request.match_info["canned_id"])
    except ValueError:
        return json_reply({"error": "没有这条常用回复。"}, 404)
    try:
        await _service(request).canned_delete(request["user"], canned_id)
    except DeskError as error:
        return _error(error)
    return json_reply({"ok": True})


@requires(*STAFF)  # clerks and admins: unmasked transcripts (issue 10, item 5)
async def suggestions(request: web.Request) -> web.Response:
    """The bot's top three items for the citizen's last message, with insertable sections."""
    conversation_id = await conversation_of(request)
    try:
        return await staff_reply(request, await _service(request).suggestions(conversation_id))
    except DeskError as error:
        return _error(error)


@requires(*STAFF)  # clerks and admins: unmasked transcripts and cases (item 5)
async def conversation(request: web.Request) -> web.Response:
    conversation_id = await conversation_of(request)
    try:
        return await staff_reply(request, await _service(request).conversation_view(conversation_id))
    except DeskError as error:
        return _error(error)


@requires(*STAFF)  # clerks and admins: unmasked transcripts and cases (item 5)
async def case_lookup(request: web.Request) -> web.Response:
    try:
        return json_reply(await _service(request).case(request.match_info["case_no"], request["user"]))
    except DeskError as error:
        return _error(error)


@requires(*STAFF)  # clerks and admins: unmasked transcripts and cases (item 5)
async def clerks(request: web.Request) -> web.Response:
    online = await _service(request).online_clerks()
    return json_reply({"online": online, "staff": await _accounts(request).staff(STAFF)})


@requires("admin")
async def set_languages(request: web.Request) -> web.Response:
    """The admin's language page: the languages a clerk speaks besides Chinese."""
    body = await read_json_body(request)
    try:
        user_id = int(request.match_info["user_id"])
        languages = await _accounts(request).set_languages(user_id, body.get("languages"))
    except ValueError as error:
        return json_reply({"error": str(error)}, 400)
    if languages is None:
        return json_reply({"error": "找不到这个用户。"}, 404)
    return json_reply({"ok": True, "languages": languages})


# --- left messages (tickets): the console's 留言 list -----------------------------------


@requires(*STAFF, page=True)
async def tickets_page(request: web.Request) -> web.FileResponse:
    return page("tickets.html")


@requires(*STAFF)  # clerks and admins: contacts and messages unmasked, as in the console (issue 10, item 5)
async def tickets(request: web.Request) -> web.Response:
    """Left messages, newest first, of one status (`status`: open, contacted, resolved) or all, and the
    counts of each; `only=counts`: the counts alone (the console's badge)."""
    try:
        status, counts_only = request.query.get("status") or None, request.query.get("only") == "counts"
        return json_reply(await _service(request).ticket_list(status, counts_only))
    except DeskError as error:
        return _error(error)


@requires(*STAFF)
async def ticket_mark(request: web.Request) -> web.Response:
    """A clerk marks a left message 已联系 or 已解决 (or back to 待处理), with a note."""
    body = await read_json_body(request)
    try:
        ticket_id = int(request.match_info["ticket_id"])
    except ValueError:
        return json_reply({"error": "没有这条留言。"}, 404)
    try:
        marked = await _service(request).ticket_mark(ticket_id, request["user"], body.get("status"), body.get("note"))
    except DeskError as error:
        return _error(error)
    return json_reply({"ok": True, "ticket": marked})


# --- console actions on one conversation -------------------------------------------

Action = Callable[[DeskService, str, dict[str, Any], dict[str, Any]], Awaitable[Any]]

# One entry per action (the route's last segment): what the service does with the body.
CONSOLE_ACTIONS: dict[str, Action] = {
    "claim": lambda service, cid, user, body: service.claim(cid, user),
    "reply": lambda service, cid, user, body: service.reply(cid, user, str(body.get("text", ""))),
    "note": lambda service, cid, user, body: service.note(cid, user, str(body.get("text", ""))),
    "transfer": lambda service, cid, user, body: service.transfer(cid, user, str(body.get("to", ""))),
    "handback": lambda service, cid, user, body: service.hand_back(cid, user),
    "close": lambda service, cid, user, body: service.close(cid, user),
}


@requires(*STAFF)
async def console_action(request: web.Request) -> web.Response:
    """A console action on one conversation (claim, reply, ...), staff only."""
    action = CONSOLE_ACTIONS.get(request.match_info["action"])
    if action is None:
        raise web.HTTPNotFound()
    conversation_id = await conversation_of(request)
    body = await read_json_body(request)
    try:
        result = await action(_service(request), conversation_id, request["user"], body)
    except DeskError as error:
        return _error(error)
    return await staff_reply(request, {"ok": True, "result": result})
