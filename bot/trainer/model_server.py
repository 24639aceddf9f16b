"""The desk as Rasa's model server, so that every Rasa replica serves the model the workbench put live.

With several Rasa servers (`make cluster`) the workbench cannot load a model into "the" Rasa
server: HAProxy would hand the request to one replica. Instead each replica pulls
`GET /api/models/live` (Rasa's `models:` endpoint, every `wait_time_between_pulls` seconds,
with the ETag of the model it has as If-None-Match): the newest activation in the database is
the live model, so putting a model live, or rolling back, is one row, and every replica has it
within one pull interval. The model files live in one configured location (`MODELS_DIR`,
shared storage when the desks run on several hosts).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from bot.db import Database
from bot.trainer.tables import ModelActivation

MODEL_TOKEN_ENV = "DESK_MODEL_TOKEN"
INITIAL_MODEL_ENV = "DESK_INITIAL_MODEL"


class PulledModels:
    """The workbench's `ModelServer` when the replicas pull: the activation's record is what makes a model live."""

    def __init__(self, database: Database):
        self.database = database

    async def load_model(self, model_path: str) -> bool:
        return Path(model_path).is_file()

    async def model_file(self) -> str | None:
        """The live model (what the replicas pull), as Rasa's /status names it."""
        path = await asyncio.get_running_loop().run_in_executor(None, live_model_path, self.database)
        return path.name if path else None


def pulled() -> bool:
    """Whether the Rasa servers pull their model from the desks (a model token is configured)."""
    return bool(os.environ.get(MODEL_TOKEN_ENV))


def initial_model() -> Path | None:
    """The model the cluster started with (DESK_INITIAL_MODEL)."""
    path = os.environ.get(INITIAL_MODEL_ENV)
    return Path(path) if path and Path(path).is_file() else None


def live_model_path(database: Database) -> Path | None:
    """The newest activation's model, else the one the cluster started with."""
    with database.session() as session:
        path = session.execute(
            select(ModelActivation.model_path).order_by(ModelActivation.id.desc()).limit(1)
        ).scalar_one_or_none()
    return Path(path) if path and Path(path).is_file() else initial_model()


def handler(database: Database) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """GET /api/models/live for the Rasa servers; 404 unless the model token (header X-Model-Token) matches."""

    async def live(request: web.Request) -> web.StreamResponse:
        token = os.environ.get(MODEL_TOKEN_ENV, "")
        if not token or not hmac.compare_digest(request.headers.get("X-Model-Token", ""), token):
            raise web.HTTPNotFound()
        path = await asyncio.get_running_loop().run_in_executor(None, live_model_path, database)
        if path is None:
            raise web.HTTPNotFound()
        # aiohttp's file response answers If-None-Match with 304 from its ETag (mtime and size);
        # Rasa keeps the ETag as the model's fingerprint. `filename` keeps the model's name in /status.
        return web.FileResponse(path, headers={"filename": path.name, "Content-Type": "application/gzip"})

    return live
