"""socket.io: the rasa-webchat protocol on "/" for citizens, live updates on "/console" for clerks.

Two namespaces, one class each (python-socketio's class-based namespaces); both
call the DeskService, never the tables. Rooms only deliver; what a client needs
after a reconnect it asks for again (`history_request`, the console its HTTP API) and
gets from the database.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from http.cookies import SimpleCookie
from typing import Any

import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager
from sqlalchemy.exc import OperationalError

from bot.desk.account_service import AccountService
from bot.desk.config import DeskConfig
from bot.desk.handlers import citizen_key
from bot.desk.ids import issue_id
from bot.desk.language import client_language
from bot.desk.language import text as say_text
from bot.desk.service import MAX_CONTACT, DeskError, DeskService, run_in_background
from bot.desk.staff import StaffNumbers
from bot.desk.tables import WAITING
from bot.desk.tickets import contact_in
from bot.desk.webchat import WIDGET, bot_uttered, public_base, valid_session_id, webchat_messages, webchat_room
from bot.http_helpers import COOKIE
from bot.privacy import client_key
from bot.roles import STAFF

logger = logging.getLogger(__name__)

CITIZENS = "/"
CONSOLE = "/console"
CLERKS_ROOM = "clerks"
METADATA_CHARS = 32
# What a rasa-webchat citizen may type to send a file: the protocol has no upload, so the desk says so.
UPLOAD_COMMAND = re.compile(r"^/(upload|attach|file)\b", re.IGNORECASE)


class RedisManager(socketio.AsyncRedisManager):
    """python-socketio's Redis manager, so that a clerk on one desk and a citizen on another talk live.

    Its listener reconnects after Redis restarts, but waits 1, 2, 4 ... up to 60 s between
    attempts, and a desk that does not listen is deaf to the other desks without any error
    its clients could see. Here it retries every half second, and records when it last
    (re)subscribed and whether it is subscribed now, for the desk's /health.
    """

    RETRY_S = 0.5

    def __init__(self, url: str, **kwargs: Any):
        super().__init__(url, **kwargs)
        self.listening = False
        self.subscriptions = 0  # how many times the listener (re)subscribed
        self.lost_at = time.monotonic()  # when it last stopped listening (or was created)

    def hears(self, grace: float = 3.0) -> bool:
        """Listening, or not for longer than `grace` seconds (a Redis restart is ridden out in about one)."""
        return self.listening or time.monotonic() - self.lost_at < grace

    async def _redis_listen_with_retries(self):  # type: ignore[override]
        while True:
            try:
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                self.listening = True
                self.subscriptions += 1
                if self.subscriptions > 1:
                    logger.warning("socket.io listener subscribed to Redis again")
                async for message in self.pubsub.listen():
                    yield message
                logger.error("socket.io listener: Redis subscription ended; subscribing again")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.listening:
                    logger.error("socket.io listener lost Redis (%s); retrying every %.1f s", type(error).__name__, self.RETRY_S)
            if self.listening:
                self.lost_at = time.monotonic()
            self.listening = False
            await asyncio.sleep(self.RETRY_S)


class SocketNotifier:
    """Delivers stored lines and console events through socket.io rooms."""

    def __init__(self, sio: socketio.AsyncServer, staff: StaffNumbers | None = None, public_url: str = ""):
        self.sio = sio
        # Console events name conversations by number, never by id (issue 10, item 1); set by init_app.
        self.staff = staff
        # DESK_PUBLIC_URL: the base of the links to files that rasa-webchat gets (bot/desk/webchat.py).
        self.public_url = public_url.rstrip("/")

    def _heard(self, room: str, namespace: str) -> bool:
        """Whether an emit to `room` can reach anyone: with one desk, only if a socket of this process is in it.

        python-socketio builds and JSON-encodes the packet before it looks at the room, and the console's
        payload is converted for staff first: six to eight emits per citizen message, most of them to an
        empty room (an HTTP-channel citizen has no socket; no console open). With a pub/sub manager
        (Redis, several desks) the room may be on another desk, so every emit goes out.
        """
        if isinstance(self.sio.manager, AsyncPubSubManager):
            return True
        return next(iter(self.sio.manager.get_participants(namespace, room)), None) is not None

    async def to_citizen(self, conversation_id: str, message: dict[str, Any]) -> None:
        """A line to the conversation's sockets: the project's widget's shape, then rasa-webchat's."""
        if message["sender"] == "citizen":
            return
        if self._heard(conversation_id, CITIZENS):
            await self.sio.emit("bot_uttered", bot_uttered(message), room=conversation_id, namespace=CITIZENS)
        room = webchat_room(conversation_id)
        if not self._heard(room, CITIZENS):
            # One desk and no rasa-webchat socket on this conversation (the usual case): no second packet
            # to encode. With several desks, sockets on the others are not known here: always emitted.
            return
        if (message.get("data") or {}).get("attachment") and not self.public_url:
            # A file's link is absolute: each rasa-webchat socket on this desk gets the host it came in by.
            for sid, _ in list(self.sio.manager.get_participants(CITIZENS, room)):
                base = (await self.sio.get_session(sid, namespace=CITIZENS)).get("base")
                for out in webchat_messages(message, base):
                    await self.sio.emit("bot_uttered", out, to=sid, namespace=CITIZENS)
            return
        for out in webchat_messages(message, self.public_url or None):
            await self.sio.emit("bot_uttered", out, room=room, namespace=CITIZENS)

    async def typing(self, conversation_id: str, on: bool) -> None:
        if self._heard(conversation_id, CITIZENS):
            await self.sio.emit("desk_typing", {"on": on}, room=conversation_id, namespace=CITIZENS)

    async def queue_position(self, conversation_id: str, status: dict[str, Any]) -> None:
        if self._heard(conversation_id, CITIZENS):
            await self.sio.emit("desk_queue", status, room=conversation_id, namespace=CITIZENS)

    async def to_console(self, event: str, payload: dict[str, Any]) -> None:
        if self.staff is None:
            raise RuntimeError("console events need the staff numbers (SocketNotifier.staff)")
        if self._heard(CLERKS_ROOM, CONSOLE):
            await self.sio.emit(event, await self.staff.for_staff(payload), room=CLERKS_ROOM, namespace=CONSOLE)


class CitizenNamespace(socketio.AsyncNamespace):
    """The rasa-webchat protocol: session_request / session_confirm, user_uttered, bot_uttered."""

    def __init__(self, service: DeskService, config: DeskConfig | None = None):
        super().__init__(CITIZENS)
        self.service = service
        self.config = config or DeskConfig()
        self._background: set[asyncio.Task] = set()

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        # engineio's environ has a fixed REMOTE_ADDR; the aiohttp request has the peer.
        request = environ.get("aiohttp.request")
        await self.save_session(
            sid,
            {
                "client": citizen_key(request) if request is not None else client_key(None),
                # Where this citizen reaches the desk: the base of the file links rasa-webchat gets.
                "base": public_base(request, self.config.public_url, self.config.trusted_proxies),
            },
        )
        return True

    async def on_session_request(self, sid: str, data: Any = None) -> None:
        session = await self.get_session(sid)
        if not await self.service.allow_citizen_request("session", session.get("client")):
            # No confirm: rasa-webchat asks again on its next reconnect.
            await self.emit("desk_busy", {"retry_after": 60}, room=sid)
            return
        # A socket is bound to the one conversation it was confirmed for (issue 10, item 1).
        session_id = session.get("session_id")
        if session_id is None:
            proposed = data.get("session_id") if isinstance(data, dict) else None
            # Only an id this server issued is kept; any other gets a new one. No row is written
            # here: the conversation is stored with its first message (item 8).
            session_id = valid_session_id(proposed) or issue_id()
            # The project's widget says so; any other client gets rasa-webchat's bare shapes (webchat.py).
            widget = isinstance(data, dict) and data.get("widget") == WIDGET
            room = session_id if widget else webchat_room(session_id)
            session = {**session, "session_id": session_id, "room": room}
            await self.save_session(sid, session)
        await self.enter_room(sid, session["room"])
        # rasa-webchat accepts the bare id (as Rasa sends it) and reuses it after a reload.
        await self.emit("session_confirm", session_id, room=sid)
        if session["room"] == webchat_room(session_id):
            # rasa-webchat asks for no history: what the desk said while it was away (a clerk's answer
            # to a left message, a file) is sent now, once.
            for line in await self.service.webchat_missed(session_id):
                for out in webchat_messages(line, session.get("base")):
                    await self.emit("bot_uttered", out, room=sid)

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        session = await self.get_session(sid)
        session_id = session.get("session_id")
        if session_id and session.get("room") == webchat_room(session_id):
            try:
                await self.service.webchat_gone(session_id)
            except OperationalError:
                logger.warning("database unavailable: a rasa-webchat socket's last line is not recorded")

    async def _session_id(self, sid: str, data: dict[str, Any]) -> str | None:
        """The conversation this socket was confirmed for; None if the client names another one."""
        bound = (await self.get_session(sid)).get("session_id")
        named = data.get("session_id")
        if named is not None and named != bound:
            return None
        return bound

    async def on_user_uttered(self, sid: str, data: Any = None) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return {"ok": False, "error": "消息格式不正确。"}
        session_id = await self._session_id(sid, data)
        if session_id is None:
            return {"ok": False, "error": "请先建立会话。"}
        custom = data.get("customData") if isinstance(data.get("customData"), dict) else {}
        client_id = data.get("client_id") or custom.get("client_id")
        client_id = client_id if isinstance(client_id, str) and len(client_id) <= 64 else None
        # A quick reply is sent as its payload; our widget also sends the title the citizen saw.
        title = custom.get("title") if isinstance(custom.get("title"), str) else None
        message = data["message"]
        session = await self.get_session(sid)
        if session.get("room") == webchat_room(session_id) and UPLOAD_COMMAND.match(message):
            # rasa-webchat has no upload: the citizen learns how to send a document instead (not stored).
            language = client_language({"language": custom.get("language")})[0]
            await self.emit("bot_uttered", {"text": say_text("attachment_webchat", language)}, room=sid)
            return {"ok": True}
        # A mark on an answer or the rating: the desk's own, not a line of the transcript.
        handled = await self.service.satisfaction(session_id, message)
        if handled is not None:
            return handled
        # `language` + `language_source` (our widget: "picked" or "locale"; rasa-webchat's
        # customData.language alone counts as the citizen's pick, see bot/desk/language.py).
        # Bounded: what a client sends is stored (country, site) and passed on to Rasa (issue 10, item 8).
        # `timezone` (an IANA name from the browser): "back at 01:30 your time" out of hours.
        keys = ("country", "site", "page", "lang", "language", "language_source", "timezone")
        metadata = {k: custom[k][:METADATA_CHARS] for k in keys if isinstance(custom.get(k), str)}
        # `contact` (e-mail, phone or WeChat id): a message left while waiting, answered later (a ticket);
        # longer than the other fields, bounded by the service (MAX_CONTACT).
        if isinstance(custom.get("contact"), str):
            metadata["contact"] = custom["contact"][:MAX_CONTACT]
        metadata["client"] = session.get("client")
        try:
            stored, created, conversation = await self.service.accept(
                session_id, title or message, client_id, message, metadata
            )
        except DeskError as error:
            # `retry`: rate limited, so the widget keeps the line and sends it again later (item 4).
            return {"ok": False, "error": error.message, "retry": error.status == 429}
        except OperationalError:
            # Not stored, so not acknowledged: the widget keeps it and sends it again.
            logger.error("database unavailable while storing a citizen message")
            return {"ok": False, "error": say_text("database_down", client_language(metadata)[0]), "retry": True}
        room = session.get("room", session_id)
        if sid not in {s for s, _ in self.server.manager.get_participants(CITIZENS, room)}:
            await self.enter_room(sid, room)
        if created and room != session_id and "contact" not in metadata and conversation["state"] == WAITING:
            # rasa-webchat has no 留言 form: a question with a contact typed while queued is the left message.
            contact = contact_in(message)
            if contact:
                await self.service.open_ticket(session_id, stored, contact, client_language(metadata)[0] or conversation["language"])
        # A re-send of a line that was stored but never routed (the desk died, routing failed) is routed now.
        if created or not stored["data"].get("routed"):
            # Every send claims the line first (DeskService.route): a re-send on another desk while the first
            # desk's call is in flight is not sent again; Rasa gets it once.
            routing = self.service.route(stored, metadata, conversation)
            task = asyncio.create_task(run_in_background(routing))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        # The acknowledgement, sent only now that the message is stored.
        return {"ok": True, "id": stored["id"], "client_id": stored["client_id"]}

    async def on_history_request(self, sid: str, data: Any = None) -> dict[str, Any]:
        data = data if isinstance(data, dict) else {}
        if not await self.service.allow_citizen_request("history", (await self.get_session(sid)).get("client")):
            return {"messages": [], "error": "too_many_requests"}
        session_id = await self._session_id(sid, data)
        if session_id is None:
            return {"messages": []}
        after = data.get("after") if isinstance(data.get("after"), int) else 0
        conversation, lines = await self.service.history(session_id, after)
        return {
            "messages": [bot_uttered(line) for line in lines],
            "state": conversation["state"] if conversation else "bot",
            # The clerk's display name: citizens never see a log-in name (issue 10, item 6).
            "clerk": conversation["clerk_display"] if conversation else None,
            **await self.service.status(),
        }


class ConsoleNamespace(socketio.AsyncNamespace):
    """Clerks' consoles: log-in by the session cookie, presence by heartbeat, events in one room."""

    def __init__(self, service: DeskService, accounts: AccountService):
        super().__init__(CONSOLE)
        self.service = service
        self.accounts = accounts

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        token = cookie[COOKIE].value if COOKIE in cookie else ""
        user = await self.accounts.session_user(token)
        # Every transcript line passes through this socket unmasked: clerks and admins only (item 5);
        # never the supervisor (issue 9), who sees figures only.
        if user is None or user["role"] not in STAFF or user["must_change"]:
            return False
        # SameSite=Strict already keeps the cookie off cross-site requests; the origin check is a second lock.
        origin, host = environ.get("HTTP_ORIGIN", ""), environ.get("HTTP_HOST", "")
        if origin and origin.split("://", 1)[-1] != host:
            return False
        # The session's token stays with the socket: it is checked again on every heartbeat, and a
        # log-out or a password change ends the sockets it let in (issue 10, item 6).
        await self.save_session(sid, {"user": user, "token": token})
        await self.enter_room(sid, CLERKS_ROOM)
        await self.service.console_connected(sid, user["id"])
        return True

    async def on_heartbeat(self, sid: str, data: Any = None) -> dict[str, Any]:
        session = await self.get_session(sid)
        # A session ended on another desk instance (log-out, password change, expiry) ends here too.
        user = await self.accounts.session_user(session.get("token", ""))
        if user is None or user["role"] not in STAFF or user["id"] != session["user"]["id"]:
            await self.disconnect(sid)
            return {"ok": False}
        await self.service.console_seen(sid, user["id"])
        return {"ok": True}

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        await self.service.console_gone(sid)

    async def end(self, token: str | None = None, user_id: int | None = None) -> int:
        """Disconnects this instance's console sockets let in by `token`, or all of `user_id`'s."""
        ended = 0
        for sid, _ in list(self.server.manager.get_participants(CONSOLE, CLERKS_ROOM)):
            session = await self.get_session(sid)
            if (token is not None and session.get("token") == token) or (
                user_id is not None and session["user"]["id"] == user_id
            ):
                await self.disconnect(sid)
                ended += 1
        return ended
