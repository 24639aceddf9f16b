"""The trainer's HTTP handlers (role trainer or admin): parse, call the TrainerService, answer JSON."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.http_helpers import json_error, json_reply, page, read_json_body, requires
from bot.roles import TRAINERS
from bot.trainer.inbox import FILTERS, InboxQuery
from bot.trainer.service import BUSY, NotFound, TrainerService
from bot.trainer.workbench import Outcome

SERVICE = web.AppKey("trainer_service", TrainerService)


def _service(request: web.Request) -> TrainerService:
    return request.app[SERVICE]


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as error:
        raise json_error(web.HTTPBadRequest, "日期格式应为 YYYY-MM-DD。") from error


def _outcome(outcome: Outcome) -> web.Response:
    if not outcome.ok:
        return json_reply({"ok": False, "problems": outcome.problems}, 422)
    return json_reply({"ok": True, "change_id": outcome.change_id, "text": outcome.text})


def _public_job(job: dict[str, Any] | None) -> dict[str, Any] | None:
    if job and job.get("result"):
        job = {**job, "result": {k: v for k, v in job["result"].items() if k != "confusion_png_b64"}}
    return job


@requires(*TRAINERS, page=True)
async def workbench_page(request: web.Request) -> web.FileResponse:
    return page("trainer.html")


@requires(*TRAINERS)
async def vocabulary(request: web.Request) -> web.Response:
    return json_reply(_service(request).vocabulary())


@requires(*TRAINERS)
async def inbox(request: web.Request) -> web.Response:
    query = InboxQuery(
        filter=request.query.get("filter", "all") if request.query.get("filter") in FILTERS else "all",
        item=request.query.get("item") or None,
        since=_date(request.query.get("since")),
        until=_date(request.query.get("until")),
        language=request.query.get("language") or None,
        limit=min(200, _int(request.query.get("limit"), 200)),
        offset=max(0, _int(request.query.get("offset"), 0)),
        # Identical and near-identical questions as one row with a count (issue 11).
        group=request.query.get("group") == "1",
    )
    return json_reply(await _service(request).inbox_page(query))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@requires(*TRAINERS)
async def correct(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    try:
        outcome = await _service(request).correct(int(request.match_info["message_id"]), body, request["user"]["name"])
    except NotFound as error:
        return json_reply({"ok": False, "problems": [str(error)]}, 404)
    except ValueError as error:
        return json_reply({"ok": False, "problems": [str(error)]}, 422)
    return _outcome(outcome)


@requires(*TRAINERS)
async def items(request: web.Request) -> web.Response:
    return json_reply({"items": await _service(request).items()})


@requires(*TRAINERS)
async def examples(request: web.Request) -> web.Response:
    intent = request.match_info["intent"]
    return json_reply({"intent": intent, "examples": await _service(request).examples(intent)})


@requires(*TRAINERS)
async def change_example(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    intent, action = request.match_info["intent"], request.match_info["action"]
    try:
        return _outcome(await _service(request).change_example(intent, action, body, request["user"]["name"]))
    except NotFound as error:
        raise web.HTTPNotFound() from error


@requires(*TRAINERS)
async def pending(request: web.Request) -> web.Response:
    return json_reply(await _service(request).pending())


@requires(*TRAINERS)
async def train(request: web.Request) -> web.Response:
    job, started = await _service(request).train(request["user"]["name"])
    if not started:
        return json_reply({"ok": False, "problems": [BUSY], "job": job}, 409)
    return json_reply({"ok": True, "job": job})


@requires(*TRAINERS)
async def job(request: web.Request) -> web.Response:
    key = request.match_info["job_id"]
    return json_reply({"job": _public_job(await _service(request).job(None if key == "latest" else int(key)))})


@requires(*TRAINERS)
async def confusion(request: web.Request) -> web.Response:
    found = await _service(request).job(int(request.match_info["job_id"]))
    encoded = ((found or {}).get("result") or {}).get("confusion_png_b64")
    if not encoded:
        raise web.HTTPNotFound()
    return web.Response(body=base64.b64decode(encoded), content_type="image/png")


@requires(*TRAINERS)
async def activate(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    decision = await _service(request).activate(
        int(request.match_info["job_id"]), request["user"], bool(body.get("override"))
    )
    return json_reply({"ok": decision.ok, "message": decision.message}, 200 if decision.ok else 409)


@requires(*TRAINERS)
async def rollback(request: web.Request) -> web.Response:
    decision = await _service(request).rollback(request["user"])
    return json_reply({"ok": decision.ok, "message": decision.message}, 200 if decision.ok else 409)


@requires(*TRAINERS)
async def models(request: web.Request) -> web.Response:
    return json_reply(await _service(request).models())
