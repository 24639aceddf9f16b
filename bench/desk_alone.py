"""The desk alone, in front of a stub Rasa that answers at once: its own latency and CPU per message.

    python -m bench.desk_alone [--messages 400]

With the real Rasa, the desk's share of a message is a few milliseconds beside Rasa's 25-40, and a
shared machine moves Rasa's far more than that: a change to the desk hardly shows. Here the webhook
is a stub in this process that answers one fixed reply (with the NLU reading, as the project's REST
channel does), so what one citizen waits is the desk's own work, its two transactions and its disk
syncs. Messages go through the desk's HTTP API, five to a conversation, one at a time after a warm-up.
The desk's CPU is read from /proc (user + system, all threads). Run it on two trees one after the
other (`cd <tree> && python -m bench.desk_alone`) to compare them. The desk runs in its own environment
(.venv-desk); WZ_DESK_PYTHON=.venv/bin/python runs it on Rasa's older aiohttp instead. Writes results/desk_alone.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import (
    LIFTED_LIMITS,
    cpu_seconds,
    machine_note,
    median,
    percentile,
    results_dir,
    thread_cpu_seconds,
    write_json,
)
from bot.knowledge.store import PROJECT_ROOT
from bot.tools.interpreters import desk_python

MESSAGES = 400
WARM_UP = 100
# jieba's dictionary loads in a background thread at the desk's start (log masking): not counted.
SETTLE_S = 8.0
TEXTS = ["护照过期了怎么换", "那要多少钱？", "需要带什么材料", "在米兰可以办吗", "谢谢"]
REPLY = {
    "messages": [
        {
            "recipient_id": "bench",
            "text": "护照换发需要：有效护照原件、近期照片、申请表。办理地点：温州市出入境接待大厅。",
            "buttons": [{"title": "要多少钱", "payload": '/ask_aspect{"aspect":"fee"}'}],
            "custom": {"item": "passport-renewal"},
        }
    ],
    "nlu": {"intent": "item_passport_renewal", "confidence": 0.97, "item": "passport-renewal", "aspect": None},
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _stub_rasa() -> tuple[web.AppRunner, int]:
    async def webhook(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(REPLY)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_get("/webhooks/rest/", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _send(http: aiohttp.ClientSession, base: str, count: int) -> list[float]:
    """`count` messages one after the other, five to a conversation; the milliseconds each took."""
    from bot.desk.ids import issue_id

    took = []
    conversation = issue_id()
    for index in range(count):
        if index % len(TEXTS) == 0:
            conversation = issue_id()
        body = {"message": TEXTS[index % len(TEXTS)], "client_id": uuid.uuid4().hex}
        started = time.perf_counter()
        async with http.post(f"{base}/api/conversations/{conversation}/messages", json=body) as reply:
            answer = await reply.json()
        took.append((time.perf_counter() - started) * 1000)
        if reply.status != 200 or not answer.get("replies"):
            raise RuntimeError(f"the desk answered {reply.status}: {answer}")
    return took


async def measure(messages: int, profile: str | None = None) -> dict[str, Any]:
    # The conversation ids this process issues must be the desk's: one secret for both.
    os.environ.setdefault("DESK_ID_SECRET", uuid.uuid4().hex)
    runner, stub_port = await _stub_rasa()
    desk_port = _free_port()
    with tempfile.TemporaryDirectory(prefix="wz-desk-alone-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'desk.db'}",
            "DESK_RASA_URL": f"http://127.0.0.1:{stub_port}",
            "DESK_RASA_TOKEN": uuid.uuid4().hex,
            # One client sends everything: the abuse limits would measure refusals.
            **LIFTED_LIMITS,
        }
        with open(Path(tmp) / "desk.log", "wb") as log:
            # `profile`: the event loop's thread under cProfile (bench/desk_cpu.py), written when it stops.
            program = ["-m", "bench.desk_cpu", "--desk-profile", profile] if profile else ["-m", "bot.desk"]
            desk = subprocess.Popen(
                [desk_python(), *program, "serve", "--port", str(desk_port)],
                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{desk_port}"
        try:
            async with aiohttp.ClientSession() as http:
                await _wait_ready(http, base, desk)
                await asyncio.sleep(SETTLE_S)
                await _send(http, base, WARM_UP)
                before, threads_before = cpu_seconds(desk.pid), thread_cpu_seconds(desk.pid)
                took = await _send(http, base, messages)
                cpu_ms = (cpu_seconds(desk.pid) - before) * 1000 / messages
                threads = {
                    name: round((spent - threads_before.get(name, 0.0)) * 1000 / messages, 2)
                    for name, spent in thread_cpu_seconds(desk.pid).items()
                }
        finally:
            desk.terminate()
            desk.wait(20)
            await runner.cleanup()
    return {
        "messages": messages,
        "desk_cpu_ms_per_message": round(cpu_ms, 2),
        # Where that CPU goes: the event loop ("python") and each pool of threads, ms per message.
        "desk_cpu_ms_per_message_by_thread": {name: ms for name, ms in sorted(threads.items()) if ms > 0},
        "median_ms": round(median(took), 2),
        "p95_ms": round(percentile(took, 0.95), 2),
    }


async def _wait_ready(http: aiohttp.ClientSession, base: str, desk: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if desk.poll() is not None:
            raise RuntimeError("the desk stopped at start")
        try:
            async with http.get(f"{base}/health") as reply:
                if reply.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the desk did not answer /health")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--cprofile", action="store_true", help="the desk's event loop under cProfile: results/desk_alone.prof")
    args = parser.parse_args(argv)
    note = machine_note("before")
    profile = str(results_dir() / "desk_alone.prof") if args.cprofile else None
    figures = asyncio.run(measure(args.messages, profile))
    figures["machine"] = [note, machine_note("after")]
    write_json("desk_alone", figures)
    print(
        f"desk alone, 1 citizen, {figures['messages']} messages: median {figures['median_ms']} ms, "
        f"p95 {figures['p95_ms']} ms, desk CPU {figures['desk_cpu_ms_per_message']} ms per message"
        f" (by thread: {figures['desk_cpu_ms_per_message_by_thread']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
