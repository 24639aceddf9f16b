"""The one place the desk and the trainer's workbench are composed into the server `python -m bot.desk serve` runs.

The desk is the root application (its pages live at "/"); the workbench is a
sub-application at /trainer. They share the database, one client for Rasa and
the log-in (`bot.http_helpers.SESSIONS`, set by the desk), and the middlewares
below apply to both.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.exc import OperationalError

from bot.access_log import TemplateAccessLogger
from bot.db import Database
from bot.desk import app as desk_app
from bot.desk import handlers as desk_handlers
from bot.desk.config import DeskConfig
from bot.desk.handlers import CONFIG
from bot.desk.hardening import SERVER_OPTIONS, refuse_unsafe_bodies
from bot.desk.service import DATABASE_DOWN
from bot.http_helpers import json_reply
from bot.rasa_client import RasaClient
from bot.reports import app as reports_app
from bot.reports import metrics
from bot.trainer import app as trainer_app
from bot.trainer import model_server

logger = logging.getLogger(__name__)

TRAINER_PREFIX = "/trainer"
REPORTS_PREFIX = "/reports"
# What `web.AppRunner` gets wherever the composed server runs (`python -m bot.desk serve`, the tests):
# the hardened request parsing, and an access log of route templates (bot/access_log.py).
RUNNER_OPTIONS: dict[str, Any] = {**SERVER_OPTIONS, "access_log_class": TemplateAccessLogger}
CSP = (
    # connect-src: the page's own origin only ('self' covers its ws:/wss:, CSP level 3); before issue 10
    # any ws:/wss: host was allowed, a way out for stolen data. style-src keeps 'unsafe-inline' on the
    # pages only because widget.js injects its stylesheet (it is embedded on other sites as one file).
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@web.middleware
async def database_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The database locked past its timeout, or gone: a clear 503, and nothing was acknowledged."""
    try:
        return await handler(request)
    except OperationalError as error:
        logger.error("database unavailable: %s", type(error.orig).__name__ if error.orig else "OperationalError")
        return json_reply({"error": DATABASE_DOWN}, 503)


def forwarded_for(trusted: set[str]) -> Any:
    """Behind HAProxy (`make cluster`) every client comes from the proxy's address: the rate limits per
    client address would count all citizens as one. From a trusted proxy only, the address HAProxy
    appends to X-Forwarded-For is the client's."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded and request.remote in trusted:
            request = request.clone(remote=forwarded.rsplit(",", 1)[-1].strip())
        return await handler(request)

    return middleware


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
    # Behind HTTPS (secure cookies on): browsers keep to HTTPS for a year (issue 10).
    if request.config_dict[CONFIG].secure_cookies:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def create_app(config: DeskConfig | None = None, database: Database | None = None) -> web.Application:
    config = config or DeskConfig.from_env()
    owns_database = database is None
    database = database or Database(config.database_url)
    database.create_schema()
    rasa = RasaClient(
        config.rasa_url, config.rasa_token, config.rasa_timeout, config.activation_drain_s, config.model_load_timeout_s
    )

    async def rasa_client_ctx(_: web.Application) -> AsyncIterator[None]:
        # Started before the sub-application's start-up, which asks Rasa for the live model.
        await rasa.start()
        yield
        await rasa.close()
        if owns_database:
            database.dispose()  # the pooled connections

    # refuse_unsafe_bodies: aiohttp 3.9.5's advisories (bot/desk/hardening.py); inside security_headers,
    # so that its refusals carry the headers too.
    middlewares = [security_headers, refuse_unsafe_bodies, database_errors]
    trusted = {address.strip() for address in os.environ.get("DESK_TRUSTED_PROXIES", "").split(",") if address.strip()}
    if trusted:
        middlewares.insert(0, forwarded_for(trusted))
    app = desk_app.init_app(config, database, rasa, middlewares=middlewares)
    app.cleanup_ctx.insert(0, rasa_client_ctx)
    # Rasa's model server (`models:` in deploy/endpoints.yml): token-guarded, off without DESK_MODEL_TOKEN.
    app.router.add_get("/api/models/live", model_server.handler(database))
    app.add_subapp(TRAINER_PREFIX, trainer_app.init_app(database, rasa, Path(config.training_data_dir)))
    app.add_subapp(REPORTS_PREFIX, reports_app.init_app(database))
    app.router.add_get("/metrics", metrics_endpoint)
    return app


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus: loopback without proxy headers, or the METRICS_TOKEN bearer (bot/reports/metrics.py)."""
    if not metrics.allowed(request):
        raise web.HTTPForbidden(text="forbidden")
    return metrics.response(await request.app[desk_handlers.SERVICE].metrics_exposition())
