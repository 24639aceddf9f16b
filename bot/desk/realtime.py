"""socket.io: the rasa-webchat protocol on "/" for citizens, live updates on "/console" for clerks.

Rooms only deliver; what a client needs after a reconnect it asks for again
(`history_request`, `console_state`) and gets from the database.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from http.cookies import SimpleCookie
from typing import Any

import socketio
from sqlalchemy.exc import OperationalError

from bot.desk.auth import ANY_ROLE, COOKIE
from bot.desk.service import DATABASE_DOWN, DeskError, DeskService, run_in_background
from bot.desk.store import DeskStore
from bot.desk.webchat import bot_uttered
from bot.privacy import client_key

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")
CONSOLE = "/console"


def valid_session_id(value: Any) -> str | None:
    return value if isinstance(value, str) and SESSION_ID.match(value) else None


class SocketNotifier:
    """Delivers stored lines and console events through socket.io rooms."""

    def __init__(self, sio: socketio.AsyncServer):
        self.sio = sio

    async def to_citizen(self, conversation_id: str, message: dict[str, Any]) -> None:
        if message["sender"] != "citizen":
            await self.sio.emit("bot_uttered", bot_uttered(message), room=conversation_id)

    async def typing(self, conversation_id: str, on: bool) -> None:
        await self.sio.emit("desk_typing", {"on": on}, room=conversation_id)

    async def to_console(self, event: str, payload: dict[str, Any]) -> None:
        await self.sio.emit(event, payload, room="clerks", namespace=CONSOLE)


def attach(sio: socketio.AsyncServer, service: DeskService, store: DeskStore) -> None:
    """Registers the event handlers of both namespaces."""

    async def run(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # --- citizens: rasa-webchat protocol ---------------------------------------

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        # engineio's environ has a fixed REMOTE_ADDR; the aiohttp request has the peer.
        request = environ.get("aiohttp.request")
        await sio.save_session(sid, {"client": client_key(getattr(request, "remote", None))})
        return True

    @sio.on("session_request")
    async def session_request(sid: str, data: Any = None) -> None:
        session_id = valid_session_id((data or {}).get("session_id") if isinstance(data, dict) else None)
        session_id = session_id or uuid.uuid4().hex
        await run(store.ensure_conversation, session_id)
        await sio.enter_room(sid, session_id)
        await sio.save_session(sid, {**(await sio.get_session(sid)), "session_id": session_id})
        # rasa-webchat accepts the bare id (as Rasa sends it) and reuses it after a reload.
        await sio.emit("session_confirm", session_id, room=sid)

    async def _session_id(sid: str, data: dict[str, Any]) -> str | None:
        session_id = valid_session_id(data.get("session_id"))
        if session_id is None:
            session_id = (await sio.get_session(sid)).get("session_id")
        return session_id

    @sio.on("user_uttered")
    async def user_uttered(sid: str, data: Any = None) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return {"ok": False, "error": "消息格式不正确。"}
        session_id = await _session_id(sid, data)
        if session_id is None:
            return {"ok": False, "error": "请先建立会话。"}
        custom = data.get("customData") if isinstance(data.get("customData"), dict) else {}
        client_id = data.get("client_id") or custom.get("client_id")
        client_id = client_id if isinstance(client_id, str) and len(client_id) <= 64 else None
        # A quick reply is sent as its payload; our widget also sends the title the citizen saw.
        title = custom.get("title") if isinstance(custom.get("title"), str) else None
        message = data["message"]
        metadata = {k: custom[k] for k in ("country", "site", "page", "lang") if isinstance(custom.get(k), str)}
        metadata["client"] = (await sio.get_session(sid)).get("client")
        try:
            stored, created = await service.accept(session_id, title or message, client_id, message, metadata)
        except DeskError as error:
            return {"ok": False, "error": error.message}
        except OperationalError:
            # Not stored, so not acknowledged: the widget keeps it and sends it again.
            logger.error("database unavailable while storing a citizen message")
            return {"ok": False, "error": DATABASE_DOWN}
        if sid not in {s for s, _ in sio.manager.get_participants("/", session_id)}:
            await sio.enter_room(sid, session_id)
        if created:
            asyncio.create_task(run_in_background(service.route(stored, metadata)))
        # The acknowledgement, sent only now that the message is stored.
        return {"ok": True, "id": stored["id"], "client_id": stored["client_id"]}

    @sio.on("history_request")
    async def history_request(sid: str, data: Any = None) -> dict[str, Any]:
        data = data if isinstance(data, dict) else {}
        session_id = await _session_id(sid, data)
        if session_id is None:
            return {"messages": []}
        after = data.get("after") if isinstance(data.get("after"), int) else 0
        lines = await run(store.messages, session_id, after)
        conversation = await run(store.conversation, session_id)
        return {
            "messages": [bot_uttered(line) for line in lines],
            "state": conversation["state"] if conversation else "bot",
            "clerk": conversation["clerk"] if conversation else None,
            **await service.status(),
        }

    # --- clerks ----------------------------------------------------------------

    @sio.on("connect", namespace=CONSOLE)
    async def console_connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        token = cookie[COOKIE].value if COOKIE in cookie else ""
        user = await run(store.session_user, token)
        if user is None or user["role"] not in ANY_ROLE or user["must_change"]:
            return False
        # SameSite=Strict already keeps the cookie off cross-site requests; the origin check is a second lock.
        origin, host = environ.get("HTTP_ORIGIN", ""), environ.get("HTTP_HOST", "")
        if origin and origin.split("://", 1)[-1] != host:
            return False
        await sio.save_session(sid, {"user": user}, namespace=CONSOLE)
        await sio.enter_room(sid, "clerks", namespace=CONSOLE)
        await run(store.touch_presence, sid, user["id"])
        await service.notifier.to_console("presence", {"clerks": await run(store.online_clerks)})
        return True

    @sio.on("heartbeat", namespace=CONSOLE)
    async def heartbeat(sid: str, data: Any = None) -> dict[str, Any]:
        user = (await sio.get_session(sid, namespace=CONSOLE))["user"]
        await run(store.touch_presence, sid, user["id"])
        return {"ok": True}

    @sio.on("disconnect", namespace=CONSOLE)
    async def console_disconnect(sid: str, *args: Any) -> None:
        await run(store.drop_presence, sid)
        await service.notifier.to_console("presence", {"clerks": await run(store.online_clerks)})
