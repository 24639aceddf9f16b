"""The trainer's pages and API in the desk's console (role trainer or admin).

Handlers stay thin: they parse, call the workbench, inbox, runner or
activation, and answer JSON. `setup(app)` wires them into the desk's app.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.desk.auth import requires
from bot.desk.config import DATABASE, SERVICE
from bot.desk.handlers import STATIC, json_reply, read_json_body
from bot.knowledge import SAMPLE_NOTICE, intent_for, item_for, load_knowledge
from bot.trainer.activation import Activation
from bot.trainer.inbox import FILTERS, Inbox, InboxQuery
from bot.trainer.jobs import DATA_DIR, TrainingRunner, resolve_model
from bot.trainer.validation import domain_vocabulary
from bot.trainer.workbench import Workbench

logger = logging.getLogger(__name__)

TRAINERS = ("trainer", "admin")
WORKBENCH = web.AppKey("trainer_workbench", Workbench)
INBOX = web.AppKey("trainer_inbox", Inbox)
RUNNER = web.AppKey("trainer_runner", TrainingRunner)
ACTIVATION = web.AppKey("trainer_activation", Activation)
TASKS = web.AppKey("trainer_tasks", set)


def _user(request: web.Request) -> dict[str, Any]:
    return request["user"]


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as error:
        raise web.HTTPBadRequest(
            text='{"error": "日期格式应为 YYYY-MM-DD。"}', content_type="application/json"
        ) from error


def _outcome(outcome: Any) -> web.Response:
    if not outcome.ok:
        return json_reply({"ok": False, "problems": outcome.problems}, 422)
    return json_reply({"ok": True, "change_id": outcome.change_id, "text": outcome.text})


# --- pages ---------------------------------------------------------------------------


@requires(*TRAINERS, page=True)
async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "trainer.html", headers={"Cache-Control": "no-cache"})


@requires(*TRAINERS)
async def vocabulary(request: web.Request) -> web.Response:
    knowledge = load_knowledge()
    intents, entities = domain_vocabulary()
    general = sorted(i for i in intents if item_for(i) is None)
    return json_reply(
        {
            "items": [
                {"id": e["id"], "intent": intent_for(e["id"]), "title": e["title"], "category": e["category"]}
                for e in knowledge.catalog
            ],
            "general_intents": general,
            "aspects": {key: value["label"] for key, value in knowledge.aspects.items()},
            "entities": sorted(entities),
            "filters": list(FILTERS),
            "sample_notice": SAMPLE_NOTICE,
        }
    )


# --- inbox and corrections ------------------------------------------------------------


@requires(*TRAINERS)
async def inbox(request: web.Request) -> web.Response:
    query = InboxQuery(
        filter=request.query.get("filter", "all") if request.query.get("filter") in FILTERS else "all",
        item=request.query.get("item") or None,
        since=_date(request.query.get("since")),
        until=_date(request.query.get("until")),
    )
    entries = await asyncio.get_running_loop().run_in_executor(None, request.app[INBOX].entries, query)
    return json_reply({"entries": entries})


@requires(*TRAINERS)
async def correct(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    message_id = int(request.match_info["message_id"])
    inbox_ = request.app[INBOX]
    text = inbox_.message_text(message_id)
    if text is None:
        return json_reply({"ok": False, "problems": ["找不到这条消息。"]}, 404)
    intent = "out_of_scope" if body.get("out_of_scope") else body.get("intent") or intent_for(str(body.get("item", "")))
    entities = _spans(text, body.get("entities"))
    outcome = request.app[WORKBENCH].correct_message(text, intent, _user(request)["name"], entities, message_id)
    if outcome.ok:
        inbox_.mark_corrected(
            message_id, {"intent": intent, "aspect": body.get("aspect"), "by": _user(request)["name"]}
        )
    return _outcome(outcome)


def _spans(text: str, entities: Any) -> list[dict[str, Any]]:
    """Entity spans given as {entity, text[, value]}: offsets are found in the message."""
    spans = []
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict) or not entity.get("text"):
            continue
        start = text.find(str(entity["text"]))
        if start < 0:
            raise web.HTTPUnprocessableEntity(
                text='{"ok": false, "problems": ["标注的文字不在这条消息里。"]}', content_type="application/json"
            )
        span = {"entity": str(entity.get("entity")), "start": start, "end": start + len(str(entity["text"]))}
        if entity.get("value"):
            span["value"] = str(entity["value"])
        spans.append(span)
    return spans


# --- items and their examples -----------------------------------------------------------


def _latest_accuracy(runner: TrainingRunner) -> dict[str, float]:
    for job in runner.jobs(limit=20):
        result = job.get("result") or {}
        rows = result.get("per_item")
        if job["status"] == "done" and rows:
            return {row["item"]: row["live"] if row["live"] is not None else row["candidate"] for row in rows}
    return {}


@requires(*TRAINERS)
async def items(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    examples = await loop.run_in_executor(None, request.app[WORKBENCH].examples)
    asked = await loop.run_in_executor(None, request.app[INBOX].asked_counts)
    accuracy = _latest_accuracy(request.app[RUNNER])
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.intent] = counts.get(example.intent, 0) + 1
    rows = [
        {
            "id": entry["id"],
            "intent": intent_for(entry["id"]),
            "title": entry["title"],
            "examples": counts.get(intent_for(entry["id"]), 0),
            "asked": asked.get(entry["id"], 0),
            "accuracy": accuracy.get(entry["id"]),
        }
        for entry in load_knowledge().catalog
    ]
    return json_reply({"items": rows})


@requires(*TRAINERS)
async def examples(request: web.Request) -> web.Response:
    intent = request.match_info["intent"]
    rows = request.app[WORKBENCH].examples_for(intent)
    return json_reply({"intent": intent, "examples": [{"text": e.text, "file": e.file} for e in rows]})


@requires(*TRAINERS)
async def change_example(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    intent, action = request.match_info["intent"], request.match_info["action"]
    bench, author = request.app[WORKBENCH], _user(request)["name"]
    text = str(body.get("text", ""))
    if action == "add":
        return _outcome(bench.add(intent, text, author))
    if action == "edit":
        return _outcome(bench.edit(intent, text, str(body.get("new_text", "")), author))
    if action == "delete":
        return _outcome(bench.delete(intent, text, author))
    if action == "move":
        return _outcome(bench.move(intent, text, str(body.get("to", "")), author))
    raise web.HTTPNotFound()


@requires(*TRAINERS)
async def pending(request: web.Request) -> web.Response:
    bench = request.app[WORKBENCH]
    return json_reply({"pending": bench.pending(), "diff": bench.pending_diff()})


# --- training, comparison, activation ----------------------------------------------------


@requires(*TRAINERS)
async def train(request: web.Request) -> web.Response:
    runner = request.app[RUNNER]
    job_id = runner.create(_user(request)["name"])
    if job_id is None:
        return json_reply({"ok": False, "problems": ["已有训练在进行，请等它完成。"], "job": runner.job()}, 409)
    task = asyncio.create_task(runner.run(job_id))
    request.app[TASKS].add(task)
    task.add_done_callback(request.app[TASKS].discard)
    logger.info("training job %s started by %s", job_id, _user(request)["name"])
    return json_reply({"ok": True, "job": runner.job(job_id)})


def _public_job(job: dict[str, Any] | None) -> dict[str, Any] | None:
    if job and job.get("result"):
        job = {**job, "result": {k: v for k, v in job["result"].items() if k != "confusion_png_b64"}}
    return job


@requires(*TRAINERS)
async def job(request: web.Request) -> web.Response:
    runner = request.app[RUNNER]
    runner.fail_stale()
    key = request.match_info["job_id"]
    return json_reply({"job": _public_job(runner.job(None if key == "latest" else int(key)))})


@requires(*TRAINERS)
async def confusion(request: web.Request) -> web.Response:
    found = request.app[RUNNER].job(int(request.match_info["job_id"]))
    encoded = ((found or {}).get("result") or {}).get("confusion_png_b64")
    if not encoded:
        raise web.HTTPNotFound()
    return web.Response(body=base64.b64decode(encoded), content_type="image/png")


@requires(*TRAINERS)
async def activate(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    user = _user(request)
    decision = await request.app[ACTIVATION].activate(
        int(request.match_info["job_id"]), user["name"], user["role"], bool(body.get("override"))
    )
    return json_reply({"ok": decision.ok, "message": decision.message}, 200 if decision.ok else 409)


@requires(*TRAINERS)
async def rollback(request: web.Request) -> web.Response:
    decision = await request.app[ACTIVATION].rollback(_user(request)["name"])
    return json_reply({"ok": decision.ok, "message": decision.message}, 200 if decision.ok else 409)


@requires(*TRAINERS)
async def models(request: web.Request) -> web.Response:
    live = await request.app[SERVICE].rasa.model_file()
    return json_reply({"live": live, "history": request.app[ACTIVATION].history()})


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/trainer", page),
    ("GET", "/api/trainer/vocabulary", vocabulary),
    ("GET", "/api/trainer/inbox", inbox),
    ("POST", "/api/trainer/inbox/{message_id:\\d+}/correct", correct),
    ("GET", "/api/trainer/items", items),
    ("GET", "/api/trainer/items/{intent}/examples", examples),
    ("POST", "/api/trainer/items/{intent}/examples/{action:add|edit|delete|move}", change_example),
    ("GET", "/api/trainer/pending", pending),
    ("POST", "/api/trainer/train", train),
    ("GET", "/api/trainer/jobs/{job_id:latest|\\d+}", job),
    ("GET", "/api/trainer/jobs/{job_id:\\d+}/confusion.png", confusion),
    ("POST", "/api/trainer/jobs/{job_id:\\d+}/activate", activate),
    ("POST", "/api/trainer/rollback", rollback),
    ("GET", "/api/trainer/models", models),
]


def setup(app: web.Application, config: str = "config.yml", data_dir: Path = DATA_DIR) -> None:
    """Adds the trainer's services and routes to the desk's app.

    `data_dir` is the training data the workbench edits and training reads
    (the project's bot/data; tests give a copy).
    """
    database = app[DATABASE]
    rasa = app[SERVICE].rasa
    app[WORKBENCH] = Workbench(database, Path(data_dir) / "nlu")
    app[INBOX] = Inbox(database)
    app[RUNNER] = TrainingRunner(database, rasa.model_file, config=config, data_dir=Path(data_dir))
    app[ACTIVATION] = Activation(database, rasa)
    app[TASKS] = set()
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)

    async def remember_initial_model(_: web.Application) -> None:
        live = resolve_model(await rasa.model_file())
        if live:
            app[ACTIVATION].record_initial(str(live))
        app[RUNNER].fail_stale()

    app.on_startup.append(remember_initial_model)
