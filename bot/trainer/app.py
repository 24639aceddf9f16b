"""The trainer's workbench as an aiohttp application, mounted by bot/server.py at /trainer.

`init_app` builds it, `setup_routes` holds its one route table, and
`service_ctx` (a cleanup context) starts and stops its service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.db import Database
from bot.rasa_client import RasaClient
from bot.trainer import handlers as h
from bot.trainer.service import TrainerService

# Paths inside the sub-application: "" is /trainer itself.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "", h.workbench_page),
    ("GET", "/api/vocabulary", h.vocabulary),
    ("GET", "/api/inbox", h.inbox),
    ("POST", "/api/inbox/{message_id:\\d+}/correct", h.correct),
    ("GET", "/api/items", h.items),
    ("GET", "/api/items/{intent}/examples", h.examples),
    ("POST", "/api/items/{intent}/examples/{action:add|edit|delete|move}", h.change_example),
    ("GET", "/api/pending", h.pending),
    ("POST", "/api/train", h.train),
    ("GET", "/api/jobs/{job_id:latest|\\d+}", h.job),
    ("GET", "/api/jobs/{job_id:\\d+}/confusion.png", h.confusion),
    ("POST", "/api/jobs/{job_id:\\d+}/activate", h.activate),
    ("POST", "/api/rollback", h.rollback),
    ("GET", "/api/models", h.models),
]


def setup_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)


async def service_ctx(app: web.Application) -> AsyncIterator[None]:
    # Needs the Rasa client started: the composing app's contexts run first.
    await app[h.SERVICE].start()
    yield
    app[h.SERVICE].close()


def init_app(database: Database, rasa: RasaClient, data_dir: Path, config: str = "config.yml") -> web.Application:
    """`data_dir` is the training data the workbench edits and training reads (bot/data; tests give a copy)."""
    app = web.Application()
    app[h.SERVICE] = TrainerService(database, rasa, data_dir, config)
    setup_routes(app)
    app.cleanup_ctx.append(service_ctx)
    return app
