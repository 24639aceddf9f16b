"""The cluster of `make cluster` (deploy/), started by the test on free loopback ports with the model the suite
trained: two desks, two Rasa servers, two action servers behind HAProxy, on PostgreSQL and Redis.

- 50 conversations through HAProxy while one desk, one Rasa server and one action server are killed (-9), then
  Redis and PostgreSQL restarted: nothing acknowledged is lost, every message is answered or queued for a
  clerk, order is kept, and a new conversation is served again within 10 s of each fault;
- a citizen on one desk and a clerk on the other: claim, reply, hand back; p95 delivery under 1 s; and
  again after Redis restarted (the desks' socket.io listeners subscribe again);
- a model put live from the workbench reaches both Rasa replicas, and so does the rollback.

Needs PostgreSQL, Redis and HAProxy (deploy/install.sh; .ci/run installs them); skipped without them.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import random
import shutil
import signal
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import socketio

from bot.db import Database
from bot.desk.accounts import Accounts
from bot.desk.conversations import Conversations
from bot.desk.ids import issue_id  # the desks share var/desk_id_secret with this process
from bot.desk.tables import BOT
from bot.http_helpers import COOKIE
from bot.tools.cluster import Cluster, ClusterConfig
from bot.trainer.tables import DONE, TrainingJob
from tests.desk.helpers import Citizen, Clerk, drop

pytestmark = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("haproxy") and glob.glob("/usr/lib/postgresql/*/bin/postgres")),
    reason="PostgreSQL, Redis and HAProxy are not installed (deploy/install.sh; .ci/run installs them)",
)

CONVERSATIONS = 50
TURNS = ["护照过期了怎么换", "那要多少钱？", "需要什么材料", "在哪里办理", "办多久"]
RECOVERY_S = 10.0
# The issue asks for 30 s from activation to both replicas (pull every 5 s, then the load: 4–5 s measured
# on 2 idle cores). CLUSTER_MODEL_LIVE_S widens it on a machine shared with other test runs, where the
# load alone took up to a minute; `make test` (bot/tools/run_tests.py) sets 90 s, as it trains beside.
MODEL_LIVE_S = float(os.environ.get("CLUSTER_MODEL_LIVE_S", "30"))
RESULTS = Path(__file__).resolve().parents[2] / "results"


@pytest.fixture(scope="module")
def cluster(trained_model):
    # Outside pytest's tmp: PostgreSQL (as `postgres`) must reach its data after other sessions started
    # (pytest makes its root 0700 again); the logs stay there for a failed run.
    workdir = Path(tempfile.mkdtemp(prefix="wz-cluster-test-"))
    config = ClusterConfig.load().on_free_ports()
    config.models_dir = str(workdir / "models")
    Path(config.models_dir).mkdir()
    # Fifty conversations from one address, as fast as they can: the abuse limits would refuse them.
    lifted = {"DESK_MESSAGES_PER_CONVERSATION": "100000/60", "DESK_MESSAGES_PER_ADDRESS": "100000/60"}
    running = Cluster(config, Path(trained_model).resolve(), workdir, extra_env=lifted)
    stop = None
    started = time.monotonic()
    try:
        running.start(install=False)
        print(f"cluster started in {time.monotonic() - started:.0f} s")
        stop = running.supervise_in_background()
        yield running
    finally:
        if stop:
            stop.set()
        running.stop()
        shutil.rmtree(workdir / "pg", ignore_errors=True)
        print(f"cluster logs in {workdir / 'logs'}")


def conversations(cluster: Cluster) -> Conversations:
    return Conversations(Database(cluster.config.database_url))


async def send(http: aiohttp.ClientSession, url: str, conversation: str, text: str, client_id: str) -> dict | None:
    """One citizen message; the stored line when the desk acknowledged it (200, or 202: stored, routed later)."""
    try:
        async with http.post(
            f"{url}/api/conversations/{conversation}/messages",
            json={"message": text, "client_id": client_id},
            timeout=aiohttp.ClientTimeout(total=20),
        ) as reply:
            if reply.status in (200, 202):
                return await reply.json()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass
    return None


async def citizen(url: str, conversation: str, stop: asyncio.Event, acked: list[str]) -> None:
    """Sends turn after turn; a message not acknowledged is sent again with the same client_id."""
    async with aiohttp.ClientSession() as http:
        number = 0
        while not stop.is_set():
            client_id = f"{conversation[-6:]}-{number:04d}"
            while await send(http, url, conversation, TURNS[number % len(TURNS)], client_id) is None:
                await asyncio.sleep(0.3)
            acked.append(client_id)
            number += 1
            await asyncio.sleep(random.uniform(1.0, 2.0))  # a person reads the answer


async def served_again(url: str, since: float) -> float:
    """Seconds from `since` until the cluster serves again: the send time of the first message of a new
    conversation that was stored and answered by the bot (its own round trip, slow on a loaded machine,
    is not the outage)."""
    async with aiohttp.ClientSession() as http:
        while True:
            sent_at = time.monotonic()
            body = await send(http, url, issue_id(), "护照过期了怎么换", uuid.uuid4().hex[:12])
            if body and any(line["sender"] == "bot" for line in body.get("replies", [])):
                return sent_at - since
            if time.monotonic() - since > 60:
                return float("inf")
            await asyncio.sleep(0.2)


def fault(cluster: Cluster, name: str) -> None:
    """kill -9 for the assistant's processes; a clean restart for Redis and PostgreSQL. The supervisor restarts each."""
    process = cluster.stack.processes[name]
    if name in ("redis", "postgres"):
        os.killpg(process.pid, cluster.stack.stop_signals.get(name, signal.SIGTERM))
    else:
        os.killpg(process.pid, signal.SIGKILL)


async def test_fifty_conversations_survive_the_loss_of_any_one_process(cluster):
    url = cluster.config.url("desk")
    stop = asyncio.Event()
    ids = [issue_id() for _ in range(CONVERSATIONS)]
    acked: dict[str, list[str]] = {conversation: [] for conversation in ids}
    tasks = [asyncio.create_task(citizen(url, c, stop, acked[c])) for c in ids]
    recovery: dict[str, float] = {}
    try:
        await asyncio.sleep(8)
        for name in ("desk-1", "rasa-1", "actions-1", "redis", "postgres"):
            since = time.monotonic()
            fault(cluster, name)
            recovery[name] = await served_again(url, since)
            print(f"{name}: served again after {recovery[name]:.1f} s")
            await asyncio.sleep(6)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    table = conversations(cluster)
    # Messages stored but never routed (a desk killed in between) are routed by the desks' sweep.
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        now = datetime.utcnow()
        if not table.unanswered(now, datetime(2000, 1, 1)):
            break
        await asyncio.sleep(1)
    sent = sum(len(v) for v in acked.values())
    problems = []
    for conversation in ids:
        lines = table.messages(conversation)
        mine = [line["client_id"] for line in lines if line["sender"] == "citizen"]
        if mine != acked[conversation][: len(mine)] or set(acked[conversation]) - set(mine):
            problems.append(f"{conversation[:8]}: acknowledged {acked[conversation]} stored {mine}")
        state = table.conversation(conversation)["state"]
        unanswered = [
            line["client_id"]
            for i, line in enumerate(lines)
            if line["sender"] == "citizen" and not any(later["sender"] != "citizen" for later in lines[i + 1 :])
        ]
        if unanswered and state == BOT:
            problems.append(f"{conversation[:8]}: never answered nor queued: {unanswered}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster_faults.json").write_text(
        json.dumps({"conversations": CONVERSATIONS, "messages_acknowledged": sent, "served_again_s": recovery}, indent=1),
        encoding="utf-8",
    )
    print(f"{sent} messages acknowledged in {CONVERSATIONS} conversations; recovery {recovery}")
    assert not problems, "\n".join(problems[:10])
    assert sent >= CONVERSATIONS * 3
    slow = {name: s for name, s in recovery.items() if s > RECOVERY_S}
    assert not slow, f"not served again within {RECOVERY_S:.0f} s: {slow}"


class Console:
    """A clerk's console socket on one desk, recording the events it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2)
        self.events: asyncio.Queue = asyncio.Queue()
        self.sio.on("message", self._message, namespace="/console")

    async def _message(self, payload: dict) -> None:
        await self.events.put((time.monotonic(), payload["message"]))

    async def connect(self, url: str, token: str) -> None:
        # Long-polling (python-socketio's websocket client needs a newer aiohttp than the project pins).
        await self.sio.connect(url, namespaces=["/console"], headers={"Cookie": f"{COOKIE}={token}"}, transports=["polling"])

    async def wait_text(self, text: str, timeout: float = 5) -> float:
        deadline = time.monotonic() + timeout
        while True:
            at, message = await asyncio.wait_for(self.events.get(), max(0.01, deadline - time.monotonic()))
            if message.get("text") == text:
                return at


async def received(citizen: Citizen, text: str, timeout: float = 5) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(m.get("text") == text for m in citizen.received):
            return time.monotonic()
        await asyncio.sleep(0.005)
    raise AssertionError(f"the citizen never received {text!r}")


async def test_a_clerk_on_one_desk_and_a_citizen_on_the_other(cluster):
    desk_a, desk_b = (f"http://{address}" for address in cluster.config.processes["desk"])
    database = Database(cluster.config.database_url)
    # `conversations`: the clerk acts by the conversation's staff number, looked up in the shared database.
    desk = SimpleNamespace(url=desk_a, accounts=Accounts(database), conversations=Conversations(database))
    clerk = await Clerk.login(desk, "集群甲", "clerk")
    token = clerk.http.cookie_jar.filter_cookies(desk_a)[COOKIE].value
    console = Console()
    await console.connect(desk_a, token)
    person = Citizen()
    try:
        conversation = await person.start(desk_b)
        # Presence is shared: desk B knows the clerk who is on desk A.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{desk_b}/api/status") as reply:
                assert (await reply.json())["clerks_online"] >= 1
        assert (await person.utter(conversation, "转人工"))["ok"]
        await asyncio.sleep(1)
        status, _ = await clerk.act(conversation, "claim")
        assert status == 200
        delays = await exchange(clerk, console, person, conversation, rounds=15)
        delays.sort()
        p95 = delays[int(0.95 * (len(delays) - 1))]
        print(f"cross-desk delivery: median {delays[len(delays) // 2] * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
        assert p95 < 1.0

        # Redis restarted: both desks' listeners subscribe again, and the two sides hear each other again.
        since = time.monotonic()
        fault(cluster, "redis")
        await asyncio.sleep(0.5)
        again = await back_in_touch(clerk, console, person, conversation)
        print(f"after a Redis restart, cross-desk delivery again after {again - since:.1f} s")
        assert again - since < RECOVERY_S

        status, _ = await clerk.act(conversation, "handback")
        assert status == 200
        (RESULTS / "cluster_delivery.json").write_text(
            json.dumps({"rounds": len(delays), "median_s": delays[len(delays) // 2], "p95_s": p95,
                        "after_redis_restart_s": again - since}, indent=1),
            encoding="utf-8",
        )  # fmt: skip
    finally:
        await drop(person.sio)
        await console.sio.disconnect()
        await clerk.close()


async def exchange(clerk: Clerk, console: Console, person: Citizen, conversation: str, rounds: int) -> list[float]:
    delays = []
    for number in range(rounds):
        text = f"您好，第{number}次回复"
        start = time.monotonic()
        status, _ = await clerk.act(conversation, "reply", text=text)
        assert status == 200
        delays.append(await received(person, text) - start)
        question = f"第{number}个问题"
        start = time.monotonic()
        assert (await person.utter(conversation, question))["ok"]
        delays.append(await console.wait_text(question) - start)
    return delays


async def back_in_touch(clerk: Clerk, console: Console, person: Citizen, conversation: str) -> float:
    """The time when a clerk's reply on desk A reaches the citizen on desk B again."""
    for attempt in range(100):
        text = f"Redis 重启后第{attempt}次"
        status, _ = await clerk.act(conversation, "reply", text=text)
        if status == 200:
            try:
                return await received(person, text, timeout=1)
            except AssertionError:
                pass
        await asyncio.sleep(0.2)
    raise AssertionError("the desks never heard each other again after Redis restarted")


async def test_a_model_put_live_and_rolled_back_reaches_both_rasa_replicas(cluster):
    live = Path(cluster.model)
    candidate = Path(cluster.config.models_dir) / "candidate-cluster-test.tar.gz"
    shutil.copyfile(live, candidate)
    database = Database(cluster.config.database_url)
    with database.session() as session:
        job = TrainingJob(status=DONE, stage="compare", progress=1.0, started_by="test", config="config.yml",
                          model_path=str(candidate), result={"worse_than_live": False})  # fmt: skip
        session.add(job)
        session.flush()
        job_id = job.id
    desk = SimpleNamespace(url=cluster.config.url("desk"), accounts=Accounts(database))
    admin = await Clerk.login(desk, "集群管理员", "admin")
    results: dict[str, float] = {}
    try:
        for what, path, request in (("activation", candidate, f"/trainer/api/jobs/{job_id}/activate"),
                                    ("rollback", live, "/trainer/api/rollback")):  # fmt: skip
            start = time.monotonic()
            status, body = await admin.post(request, {})
            assert status == 200, body
            # Each replica fetches it within one pull interval (5 s), then loads it: what that takes is the
            # machine's (about 15 s idle, near a minute on 2 cores shared with six other test runs).
            took = await both_replicas_serve(cluster, path.name, MODEL_LIVE_S)
            print(f"{what}: both replicas serve the model {took - start:.1f} s after it was asked")
            results[what] = round(took - start, 1)
        (RESULTS / "cluster_models.json").write_text(json.dumps(results), encoding="utf-8")
    finally:
        await admin.close()


async def wait_until(check: Any, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.get_running_loop().run_in_executor(None, check):
            return time.monotonic()
        await asyncio.sleep(0.3)
    raise AssertionError(f"not within {timeout:.0f} s")


def rasa_in_rotation(cluster: Cluster, requests: int = 6) -> bool:
    """Whether HAProxy's Rasa frontend answers its health route, request after request (round robin: both)."""
    url = f"{cluster.config.url('rasa')}/webhooks/rest/"
    for _ in range(requests):
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status != 200:
                    return False
        except OSError:  # HTTPError (HAProxy's 503) included
            return False
    return True


async def both_replicas_serve(cluster: Cluster, name: str, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            names: list[Any] = []
            for address in cluster.config.processes["rasa"]:
                try:
                    async with http.get(
                        f"http://{address}/status", params={"token": cluster.token}, timeout=aiohttp.ClientTimeout(total=5)
                    ) as reply:
                        names.append((await reply.json()).get("model_file") if reply.status == 200 else reply.status)
                except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                    names.append(type(error).__name__)
            if all(isinstance(found, str) and Path(found).name == name for found in names):
                return time.monotonic()
            await asyncio.sleep(0.5)
    raise AssertionError(f"both Rasa replicas did not serve {name} within {timeout:.0f} s: {names}")


async def test_two_desks_never_send_one_conversation_to_two_rasa_replicas_at_once(cluster):
    """RasaHQ/rasa#9213: Rasa's Redis lock store alone lets two replicas process one conversation at once.
    Messages of one conversation sent at the same moment to both desks reach Rasa one at a time: in the
    tracker, every user message is followed by the bot's turn before the next user message."""
    # Both replicas up with a model (an earlier test may have had them load one), and in HAProxy's rotation:
    # it takes them back only after two good checks, half a second apart, later still on a loaded machine.
    # Until then the desks' first message got HAProxy's 503 and the apology, and the conversation went
    # to the clerks' queue (a failure seen under load, on main's code as well).
    await wait_until(lambda: all(cluster.health("rasa", n) == 200 for n in (1, 2)), 90)
    await wait_until(lambda: rasa_in_rotation(cluster), 90)
    conversation = issue_id()
    desks = [f"http://{address}" for address in cluster.config.processes["desk"]]
    async with aiohttp.ClientSession() as http:
        sent = [send(http, desks[n % 2], conversation, TURNS[n % len(TURNS)], f"race-{n}") for n in range(8)]
        bodies = await asyncio.gather(*sent)
        assert all(bodies)
        assert all(any(line["sender"] == "bot" for line in body["replies"]) for body in bodies), bodies
        async with http.get(
            f"{cluster.config.url('rasa')}/conversations/{conversation}/tracker", params={"token": cluster.token}
        ) as reply:
            events = (await reply.json())["events"]
    turns, open_turn = 0, False
    for event in events:
        if event["event"] == "user":
            assert not open_turn, "a user message reached Rasa before the previous one was answered"
            open_turn, turns = True, turns + 1
        elif event["event"] == "action" and event.get("name") == "action_listen":
            open_turn = False
    assert turns == 8


async def test_the_desks_conversation_lock_excludes_across_desks_and_expires_after_a_dead_holder(cluster):
    """ClusterLocks of two desks (two Redis clients) on the cluster's Redis: never two holders at once;
    a holder that dies without releasing blocks the conversation for the lock's expiry only."""
    import redis.asyncio as aioredis

    from bot.desk.locks import ClusterLocks

    clients = [aioredis.Redis.from_url(cluster.config.redis_url) for _ in range(2)]
    desks = [ClusterLocks(client, ttl=2.0) for client in clients]
    holding, most = 0, 0

    async def work(locks: ClusterLocks) -> None:
        nonlocal holding, most
        async with locks.hold("race"):
            holding += 1
            most = max(most, holding)
            await asyncio.sleep(0.01)
            holding -= 1

    try:
        await asyncio.gather(*(work(desks[n % 2]) for n in range(40)))
        assert most == 1
        # A desk killed while holding: its lock is never released, only no longer renewed.
        dead = clients[0].lock(desks[0].prefix + "orphan", timeout=2.0)
        assert await dead.acquire()
        start = time.monotonic()
        async with desks[1].hold("orphan"):
            waited = time.monotonic() - start
        assert 1.0 < waited < 3.0
    finally:
        for client in clients:
            await client.close()


async def test_the_widget_talks_over_a_websocket_through_haproxy_and_survives_its_desk_being_killed(cluster):
    """The widget as a citizen's phone uses it, through HAProxy's desk frontend: socket.io upgrades to a
    websocket (HAProxy's `timeout tunnel`) and the answer comes over it; then each desk in turn is killed
    (-9) under it, and the widget, reconnecting through HAProxy to the other desk with the same
    conversation, has its next question answered there."""
    from playwright.async_api import async_playwright

    from tests.desk.helpers import ARGS, CHROMIUM, citizen_says, line, open_widget

    front = cluster.config.url("desk")
    sockets: list[Any] = []
    frames: list[str] = []

    def opened(socket: Any) -> None:
        sockets.append(socket)
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    session_js = "() => Object.entries(localStorage).filter(([k]) => k.endsWith(':session')).map(([, v]) => v).join()"
    bot_lines = '.wzd-msg[data-sender="bot"]'
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN")
            context.on("page", lambda page: page.on("websocket", opened))
            page = await open_widget(context, front)
            await citizen_says(page, "护照过期了怎么换")
            await line(page, "bot", "护照").first.wait_for(timeout=30_000)
            over_haproxy = [s for s in sockets if s.url.startswith("ws" + front[4:]) and "transport=websocket" in s.url]
            assert over_haproxy, [s.url for s in sockets]
            assert any("bot_uttered" in frame for frame in frames), "the answer did not come over the websocket"
            session = await page.evaluate(session_js)
            assert session

            for number, question in ((1, "需要什么材料"), (2, "在哪里办理")):
                # The other desk must be up to take the citizen over (the supervisor restarted an earlier kill).
                await wait_until(lambda other=3 - number: cluster.health("desk", other) == 200, 60)
                sockets_before, answers_before = len(sockets), await page.locator(bot_lines).count()
                fault(cluster, f"desk-{number}")
                # Said at once: a line typed while the socket is down is kept by the widget and sent on reconnect.
                await citizen_says(page, question)
                await line(page, "citizen", question).first.wait_for(timeout=5_000)
                await page.wait_for_function(
                    "([selector, n]) => document.querySelectorAll(selector).length > n",
                    arg=[bot_lines, answers_before],
                    timeout=60_000,
                )
                print(f"desk-{number} killed: {len(sockets) - sockets_before} new websocket(s), answered")
            # One conversation throughout: the server confirmed the same id on every reconnection.
            assert await page.evaluate(session_js) == session
            assert len(sockets) >= 2, "the widget never had to reconnect: the kills missed its desk"
            await page.screenshot(path=str(RESULTS / "cluster_widget_websocket.png"))
        finally:
            await browser.close()
