"""The action server: rasa-sdk's endpoint, bound to loopback, with input checks.

`python -m bot.actions.server --port 5055` is what `make run` and the tests
start. Compared with `rasa run actions` it listens on 127.0.0.1 only, answers
a malformed action call with 400 instead of 500, and never echoes a request
body (which holds what the user typed) in an error.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import zlib
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import endpoint
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.privacy import install_secret_redaction

logger = logging.getLogger(__name__)

ACTIONS_PACKAGE = "bot.actions"
DOMAIN = Path(__file__).resolve().parents[2] / "domain.yml"
_SLOT_KINDS: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "any": (object,),
}


@functools.lru_cache(maxsize=1)
def slot_types() -> dict[str, tuple[type, ...]]:
    """The Python types each slot of the domain may hold (None is always allowed)."""
    slots = yaml.safe_load(DOMAIN.read_text(encoding="utf-8")).get("slots", {})
    return {name: _SLOT_KINDS.get(spec.get("type"), (object,)) for name, spec in slots.items()}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def problem_with(call: Any) -> str | None:
    """What is wrong with an action call's shape, or None when it can be run."""
    if not isinstance(call, dict):
        return "body must be a JSON object"
    if not isinstance(call.get("next_action"), str) or not call["next_action"]:
        return "next_action must be a non-empty string"
    tracker = call.get("tracker")
    if not isinstance(tracker, dict):
        return "tracker must be an object"
    if not isinstance(tracker.get("sender_id"), str):
        return "tracker.sender_id must be a string"
    for key, kind in (("slots", dict), ("events", list), ("latest_message", dict), ("active_loop", dict)):
        if tracker.get(key) is not None and not isinstance(tracker[key], kind):
            return f"tracker.{key} must be a {kind.__name__}"
    for name, value in (tracker.get("slots") or {}).items():
        kinds = slot_types().get(name, (object,))
        if value is not None and (not isinstance(value, kinds) or (float in kinds and not _number(value))):
            return f"slot {name} has a value of the wrong type"
    latest = tracker.get("latest_message") or {}
    intent = latest.get("intent") or {}
    if not isinstance(intent, dict) or (
        "confidence" in intent and intent["confidence"] is not None and not _number(intent["confidence"])
    ):
        return "tracker.latest_message.intent.confidence must be a number"
    for entry in latest.get("intent_ranking") or []:
        if not isinstance(entry, dict) or not _number(entry.get("confidence", 0)):
            return "tracker.latest_message.intent_ranking must hold {name, confidence} objects"
    for key, kind in (("intent", dict), ("entities", list), ("intent_ranking", list), ("text", str)):
        if latest.get(key) is not None and not isinstance(latest[key], kind):
            return f"tracker.latest_message.{key} must be a {kind.__name__}"
    if any(not isinstance(entity, dict) for entity in latest.get("entities") or []):
        return "tracker.latest_message.entities must hold objects"
    if call.get("domain") is not None and not isinstance(call["domain"], dict):
        return "domain must be an object"
    return None


def _parse(request: Request) -> Any:
    body = request.body
    if request.headers.get("Content-Encoding") == "deflate":
        body = zlib.decompress(body)
    return json.loads(body)


async def health() -> HTTPResponse:
    """rasa-sdk's /health, plus the one thing the actions depend on: the database (cases, limits)."""
    from bot.actions.resources import database

    loop = asyncio.get_running_loop()
    try:
        ok = await asyncio.wait_for(loop.run_in_executor(None, lambda: database().ping()), 2.0)
    except Exception:  # a timeout, or the database gone before it was first reached (create_schema)
        ok = False
    body = {"status": "ok" if ok else "down", "checks": {"database": ok}}
    return response.json(body, status=200 if ok else 503)


def create_app() -> Sanic:
    app = endpoint.create_app(ACTIONS_PACKAGE)

    @app.middleware("request")
    async def reject_malformed(request: Request):
        if request.path == "/health" and request.method == "GET":
            return await health()
        if request.path != "/webhook" or request.method != "POST":
            return None
        try:
            problem = problem_with(_parse(request))
        except (ValueError, RecursionError, zlib.error):
            problem = "body must be JSON"
        if problem:
            return response.json({"error": problem}, status=400)
        return None

    async def failed(request: Request, exception: Exception):
        # rasa-sdk's own handler echoes the request body; it holds what the user typed.
        logger.error("action call failed: %s", type(exception).__name__, exc_info=exception)
        return response.json({"error": "action failed"}, status=500)

    app.error_handler.add(Exception, failed)
    return app


def warm_up() -> None:
    """Load the knowledge base (84 guides in every language) and the message catalog before the first
    call, so that the first citizen does not wait for them (nor time out while they load)."""
    from bot.actions.context import _item_units
    from bot.actions.resources import database, knowledge
    from bot.i18n import load_messages

    _item_units(knowledge())  # the context's word tables (bot/actions/context.py)
    load_messages()
    database()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The tracker's sender id is the conversation id, the citizen's bearer secret: never in a log (issue 10).
    install_secret_redaction([])
    warm_up()
    create_app().run(args.host, args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
