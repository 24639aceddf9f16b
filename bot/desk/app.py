"""The desk's application factory and its one route table."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web
from sqlalchemy.exc import OperationalError

from bot.db import Database
from bot.desk import handlers as h
from bot.desk.config import CONFIG, DATABASE, SERVICE, SIO, STORE, DeskConfig
from bot.desk.rasa import RasaClient
from bot.desk.realtime import SocketNotifier, attach
from bot.desk.service import DATABASE_DOWN, DeskService
from bot.desk.store import DeskStore
from bot.trainer import web as trainer_web

logger = logging.getLogger(__name__)

# (method, path, handler). Everything under /console and /api/console carries @requires.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/", h.index),
    ("GET", "/demo", h.demo),
    ("GET", "/widget.js", h.widget_js),
    ("GET", "/health", h.health),
    ("GET", "/api/status", h.status),
    ("POST", "/api/conversations/{conversation_id}/messages", h.post_message),
    ("GET", "/api/conversations/{conversation_id}/messages", h.get_messages),
    ("GET", "/login", h.login_page),
    ("POST", "/api/login", h.login),
    ("POST", "/api/logout", h.logout),
    ("GET", "/console", h.console_page),
    ("GET", "/api/console/me", h.me),
    ("POST", "/api/console/password", h.change_password),
    ("GET", "/api/console/queue", h.queue),
    ("GET", "/api/console/live", h.live),
    ("GET", "/api/console/clerks", h.clerks),
    ("GET", "/api/console/cases/{case_no}", h.case_lookup),
    ("GET", "/api/console/conversations/{conversation_id}", h.conversation),
    *[
        ("POST", f"/api/console/conversations/{{conversation_id}}/{name}", h._action(name))
        for name in ("claim", "reply", "note", "transfer", "handback", "close")
    ],
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@web.middleware
async def database_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The database locked past its timeout, or gone: a clear 503, and nothing was acknowledged."""
    try:
        return await handler(request)
    except OperationalError as error:
        logger.error("database unavailable: %s", type(error.orig).__name__ if error.orig else "OperationalError")
        return h.json_reply({"error": DATABASE_DOWN}, 503)


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        # Redirects and refusals get the headers too.
        _harden(request, error)
        raise
    _harden(request, response)
    return response


def _harden(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path != "/widget.js":
        response.headers.setdefault("Content-Security-Policy", CSP)


def create_app(config: DeskConfig | None = None, database: Database | None = None) -> web.Application:
    config = config or DeskConfig.from_env()
    database = database or Database(config.database_url)
    database.create_schema()
    store = DeskStore(database)
    rasa = RasaClient(config.rasa_url, config.rasa_token, config.rasa_timeout)
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=config.widget_origins, logger=False)
    service = DeskService(
        store,
        rasa,
        SocketNotifier(sio),
        config.clerk_hours,
        limits=(config.messages_per_conversation, config.messages_per_address),
    )

    app = web.Application(middlewares=[security_headers, database_errors], client_max_size=64 * 1024)
    app[CONFIG], app[DATABASE], app[STORE], app[SERVICE], app[SIO] = config, database, store, service, sio
    sio.attach(app)
    attach(sio, service, store)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_static("/static", h.STATIC, append_version=False)

    async def start(_: web.Application) -> None:
        await rasa.start()

    async def stop(_: web.Application) -> None:
        await rasa.close()

    async def disconnect_clients(_: web.Application) -> None:
        # Open websockets would otherwise hold the shutdown; widgets reconnect on their own.
        await sio.shutdown()

    app.on_startup.append(start)
    app.on_shutdown.append(disconnect_clients)
    app.on_cleanup.append(stop)
    # After the Rasa client starts: the trainer's start-up asks Rasa for the live model.
    trainer_web.setup(app, data_dir=Path(config.training_data_dir))
    return app
