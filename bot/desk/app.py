"""The desk as an aiohttp application: the widget's socket, the citizens' API, log-in and the clerks' console.

`init_app` builds it, `setup_routes` holds its one route table, and
`services_ctx` (a cleanup context) stops its services. bot/server.py
composes it with the trainer's workbench.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Iterable

import socketio
from aiohttp import web

from bot.db import Database
from bot.desk import bookings
from bot.desk import handlers as h
from bot.desk.account_service import AccountService
from bot.desk.config import DeskConfig
from bot.desk.hardening import StaticFiles
from bot.desk.locks import ClusterLocks
from bot.desk.realtime import CitizenNamespace, ConsoleNamespace, RedisManager, SocketNotifier
from bot.desk.service import DeskService
from bot.desk.staff import StaffNumbers
from bot.http_helpers import SESSIONS, STATIC
from bot.rasa_client import RasaClient

SIO = web.AppKey("sio", socketio.AsyncServer)
# How often each desk looks for citizen lines that were stored but never routed.
SWEEP_EVERY_S = 5.0

logger = logging.getLogger(__name__)

# (method, path, handler). Everything under /console and /api/console carries @requires.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/", h.index),
    ("GET", "/demo", h.demo),
    ("GET", "/widget.js", h.widget_js),
    ("GET", "/api/widget/strings", h.widget_strings),
    ("GET", "/health", h.health),
    ("GET", "/api/status", h.status),
    ("POST", "/api/conversations", h.new_conversation),
    ("POST", "/api/conversations/{conversation_id}/messages", h.post_message),
    ("GET", "/api/conversations/{conversation_id}/messages", h.get_messages),
    ("POST", "/api/conversations/{conversation_id}/attachments", h.citizen_attachment),
    ("GET", "/api/conversations/{conversation_id}/attachments/{attachment_id}", h.citizen_attachment_file),
    # A file by its signed, expiring link: rasa-webchat's images and PDF links (bot/desk/webchat.py).
    ("GET", r"/files/{attachment_id:\d+}/{expires:\d+}/{tag:[0-9a-f]{32}}", h.signed_file),
    ("GET", "/login", h.login_page),
    ("POST", "/api/login", h.login),
    ("POST", "/api/logout", h.logout),
    ("GET", "/console", h.console_page),
    ("GET", "/api/console/me", h.me),
    ("POST", "/api/console/password", h.change_password),
    ("GET", "/api/console/queue", h.queue),
    ("GET", "/api/console/live", h.live),
    ("GET", "/api/console/clerks", h.clerks),
    ("POST", "/api/console/users/{user_id}/languages", h.set_languages),
    ("GET", "/api/console/cases/{case_no}", h.case_lookup),
    # Staff name a conversation by its number, never by its id, the citizen's bearer secret (issue 10, item 1).
    ("GET", r"/api/console/conversations/{number:\d+}", h.conversation),
    ("GET", r"/api/console/conversations/{number:\d+}/suggestions", h.suggestions),
    ("GET", "/api/console/canned", h.canned),
    ("POST", "/api/console/canned", h.canned_add),
    ("POST", "/api/console/canned/{canned_id}/delete", h.canned_delete),
    ("GET", "/api/console/attachments/{attachment_id}", h.console_attachment_file),
    # Left messages (issue 11): the 留言 page and its API.
    ("GET", "/console/tickets", h.tickets_page),
    ("GET", "/api/console/tickets", h.tickets),
    ("POST", r"/api/console/tickets/{ticket_id:\d+}", h.ticket_mark),
    # Before the {action} route, which would take "attachments" for an action.
    ("POST", r"/api/console/conversations/{number:\d+}/attachments", h.clerk_attachment),
    # {action}: one of handlers.CONSOLE_ACTIONS (claim, reply, note, transfer, handback, close).
    ("POST", r"/api/console/conversations/{number:\d+}/{action}", h.console_action),
    # Appointments (issue 14): the bookings page, its API, the citizens' calendar files.
    *bookings.ROUTES,
]


def setup_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    # A fixed list of files, not web.static: no probing of the disk through /static (CVE-2025-69226).
    app.router.add_get("/static/{name:.+}", StaticFiles(STATIC).handle)


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    # The decoy hash exists before the first log-in (issue 10, item 6).
    await app[h.ACCOUNTS].start()
    # Lines stored but never routed (a desk that died after the commit) are routed now (issue 10, item 4).
    left_behind = asyncio.create_task(app[h.SERVICE].route_left_behind())
    # Rate-limit and log-in throttle rows older than every window are purged at start and hourly (item 8).
    purge = asyncio.create_task(app[h.SERVICE].purge_every(3600))
    yield
    left_behind.cancel()
    purge.cancel()
    app[h.SERVICE].shutdown()
    app[h.ACCOUNTS].close()


def init_app(
    config: DeskConfig, database: Database, rasa: RasaClient, middlewares: Iterable[Any] = ()
) -> web.Application:
    manager, locks, redis = None, None, None
    if config.redis_url:
        import redis.asyncio as aioredis

        # Several desks: rooms span them (a clerk here, a citizen there) and so do the conversations' locks.
        manager = RedisManager(config.redis_url)
        redis = aioredis.Redis.from_url(config.redis_url, socket_timeout=5, socket_connect_timeout=2)
        locks = ClusterLocks(redis)
        if not config.public_url:
            # rasa-webchat's file links are built from each socket's own request, known on its desk only.
            logger.warning("DESK_PUBLIC_URL unset: files reach rasa-webchat citizens on the sending desk only")
    sio = socketio.AsyncServer(
        async_mode="aiohttp", cors_allowed_origins=config.widget_origins, logger=False, client_manager=manager
    )
    notifier = SocketNotifier(sio, public_url=config.public_url)
    service = DeskService(
        database,
        rasa,
        notifier,
        config.clerk_hours,
        limits=(config.messages_per_conversation, config.messages_per_address),
        offer_delay=config.offer_delay_s,
        locks=locks,
        redis=redis,
        manager=manager,
        schedule=config.clerk_schedule,
        late_reply_s=config.late_reply_s,
    )
    accounts = AccountService(database)
    # Staff see conversation numbers, never ids: the console's routes and its socket's events (issue 10, item 1).
    numbers = StaffNumbers(service.conversations, service.reads)
    notifier.staff = numbers
    app = web.Application(middlewares=list(middlewares), client_max_size=64 * 1024)
    app[h.CONFIG], app[h.SERVICE], app[h.ACCOUNTS], app[SIO] = config, service, accounts, sio
    app[h.NUMBERS] = numbers
    # Who is logged in, for `requires` in this app and in any app mounted under it.
    app[SESSIONS] = accounts
    sio.attach(app)
    sio.register_namespace(CitizenNamespace(service, config))
    console = ConsoleNamespace(service, accounts)
    sio.register_namespace(console)
    app[h.CONSOLE_SOCKETS] = console
    setup_routes(app)
    app.on_shutdown.append(_disconnect_clients)
    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(sweep_ctx)
    return app


async def sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    """Citizen lines acknowledged but never routed (a desk died, Redis or Rasa was lost): at start, then every few seconds."""
    service: DeskService = app[h.SERVICE]

    async def sweep() -> None:
        while True:
            try:
                await service.route_unanswered()
                # Replies owed by a desk that stopped while it waited for Rasa (issue 10, item 4).
                await service.settle_overdue()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database or Redis away: the next round will do it
                logger.warning("sweep of unrouted messages failed: %s", type(error).__name__)
            await asyncio.sleep(SWEEP_EVERY_S)

    sio: socketio.AsyncServer = app[SIO]
    if service.manager is not None and not sio.manager_initialized:
        # python-socketio starts its Redis listener at the first connection; a desk must hear the
        # others (and say so in /health) from the start.
        sio.manager_initialized = True
        sio.manager.initialize()
    task = asyncio.create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if service.redis is not None:
        await service.redis.close()


async def _disconnect_clients(app: web.Application) -> None:
    # Open websockets would otherwise hold the shutdown; widgets reconnect on their own.
    await app[SIO].shutdown()
