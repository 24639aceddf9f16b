"""The one place the desk and the trainer's workbench are composed into the server `python -m bot.desk serve` runs.

The desk is the root application (its pages live at "/"); the workbench is a
sub-application at /trainer. They share the database, one client for Rasa and
the log-in (`bot.http_helpers.SESSIONS`, set by the desk), and the middlewares
below apply to both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.exc import OperationalError

from bot.db import Database
from bot.desk import app as desk_app
from bot.desk.config import DeskConfig
from bot.desk.handlers import CONFIG
from bot.desk.service import DATABASE_DOWN
from bot.http_helpers import json_reply
from bot.rasa_client import RasaClient
from bot.trainer import app as trainer_app

logger = logging.getLogger(__name__)

TRAINER_PREFIX = "/trainer"
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
    rasa = RasaClient(config.rasa_url, config.rasa_token, config.rasa_timeout)

    async def rasa_client_ctx(_: web.Application) -> AsyncIterator[None]:
        # Started before the sub-application's start-up, which asks Rasa for the live model.
        await rasa.start()
        yield
        await rasa.close()
        if owns_database:
            database.engine.dispose()  # the pooled connections

    app = desk_app.init_app(config, database, rasa, middlewares=[security_headers, database_errors])
    app.cleanup_ctx.insert(0, rasa_client_ctx)
    app.add_subapp(TRAINER_PREFIX, trainer_app.init_app(database, rasa, Path(config.training_data_dir)))
    return app
