"""The project's Rasa patches (bot/channels/rasa_patches.py) compute what Rasa's own code does."""

from __future__ import annotations

import asyncio
import json
import re

import jsonschema
import numpy as np
import pytest
import scipy.sparse
import sqlalchemy as sa
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.engine import make_url

from bot.channels import rasa_patches
from bot.nlu.components import FastLogisticRegressionClassifier
from tests.postgres import postgres_url

GOOD = {
    "events": [{"event": "slot", "name": "guide_item", "value": "x"}],
    "responses": [{"text": "好", "custom": {"a": 1}}],
}
BAD = [{"events": "not a list"}, {"events": [{"no_event_key": 1}]}, {"responses": [1]}]


def test_same_verdicts_as_rasas_own_validation():
    rasa_patches.validate_action_replies_once()
    action = RemoteAction("action_answer_guide", None)
    assert action._validate_action_result(GOOD) is True
    jsonschema.validate(GOOD, RemoteAction.action_response_format_spec())
    for bad in BAD:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, RemoteAction.action_response_format_spec())
        with pytest.raises(jsonschema.ValidationError) as error:
            action._validate_action_result(bad)
        assert "Failed to validate Action server response" in error.value.message


# --- the graph runner's pruned graph ----------------------------------------------------------


class _Add(GraphComponent):
    @classmethod
    def create(cls, config, model_storage, resource, execution_context) -> _Add:  # noqa: ANN001
        return cls(config["amount"])

    def __init__(self, amount: int) -> None:
        self.amount = amount

    def run(self, value: int) -> int:
        return value + self.amount


def _runner(tmp_path) -> DaskGraphRunner:
    def node(needs: dict, amount: int) -> SchemaNode:
        return SchemaNode(needs=needs, uses=_Add, fn="run", constructor_name="create", config={"amount": amount})

    schema = GraphSchema(
        {
            "plus_one": node({"value": "__start__"}, 1),
            "plus_ten": node({"value": "plus_one"}, 10),
            "unrelated": node({"value": "__start__"}, 100),
        }
    )
    return DaskGraphRunner(schema, LocalModelStorage(tmp_path), ExecutionContext(schema, "test"))


def test_a_pruned_graph_built_once_gives_each_run_its_own_inputs(tmp_path, monkeypatch):
    rasa_patches.prune_graphs_once()
    runner = _runner(tmp_path)
    prunings = []
    original = GraphSchema.minimal_graph_schema
    monkeypatch.setattr(
        GraphSchema,
        "minimal_graph_schema",
        lambda self, targets=None: prunings.append(targets) or original(self, targets),
    )
    assert runner.run({"__start__": 1}, ["plus_ten"]) == {"plus_ten": 12}
    assert runner.run({"__start__": 5}, ["plus_ten"]) == {"plus_ten": 16}
    assert runner.run({"__start__": 5}, ["unrelated", "plus_one"]) == {"unrelated": 105, "plus_one": 6}
    assert runner.run({"__start__": 7}, ["plus_ten"]) == {"plus_ten": 18}
    assert prunings == [["plus_ten"], ["unrelated", "plus_one"]]


# --- event classes by type name ---------------------------------------------------------------


def test_event_classes_resolve_as_rasas_own_walk_does():
    rasa_patches.resolve_event_types_once()
    for cls in all_subclasses(Event):
        assert Event.resolve_by_type(cls.type_name) is rasa_patches._rasa_resolve_by_type(cls.type_name)
        assert Event.resolve_by_type(cls.type_name) is rasa_patches._rasa_resolve_by_type(cls.type_name)
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")
    # A default given once is not remembered for the name.
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")


# --- the tracker store's count of stored events -------------------------------------------------


# The tests' PostgreSQL database is shared with the desk's run, which runs beside this one and
# drops its own tables: Rasa's `events` table goes in a schema of its own (Rasa's POSTGRESQL_SCHEMA).
TRACKER_SCHEMA = "rasa_patches_test"


@pytest.fixture(params=["sqlite", "postgresql"])
def tracker_store(request, tmp_path, monkeypatch) -> SQLTrackerStore:
    """Rasa's SQL tracker store, patched, on a file of its own or on the tests' PostgreSQL."""
    rasa_patches.count_stored_events_once()
    if request.param == "sqlite":
        return SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "trackers.db"))
    url = make_url(postgres_url())
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {TRACKER_SCHEMA}"))
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {TRACKER_SCHEMA}.events"))
    engine.dispose()
    monkeypatch.setenv("POSTGRESQL_SCHEMA", TRACKER_SCHEMA)
    return SQLTrackerStore(
        Domain.empty(),
        dialect="postgresql",
        host=url.host,
        port=url.port,
        db=url.database,
        username=url.username,
        password=url.password,
    )


def _stored_events(store: SQLTrackerStore, sender: str) -> list[dict]:
    with store.session_scope() as session:
        rows = session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender).order_by(store.SQLEvent.id)
        return [json.loads(row.data) for row in rows]


def _said(text: str, at: float) -> UserUttered:
    return UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=at)


async def test_a_loaded_tracker_saves_only_its_new_events_across_a_new_session(tracker_store):
    store = tracker_store
    first = DialogueStateTracker.from_events("c1", [ActionExecuted("action_listen", timestamp=1), _said("一", 2)])
    # Not loaded by the store: Rasa's own count (none stored yet).
    assert getattr(first, rasa_patches.STORED_EVENTS, None) is None
    await store.save(first)
    assert len(_stored_events(store, "c1")) == 2

    loaded = await store.retrieve("c1")
    assert getattr(loaded, rasa_patches.STORED_EVENTS) == 2
    loaded.update(ActionExecuted("action_listen", timestamp=3))
    await store.save(loaded)
    # A new session starts within the same turn, then the turn goes on and is saved again. (Rasa's
    # own count, taken from the store's newest session, wrote events 3 to 6 a second time here.)
    for event in (ActionExecuted("action_session_start", timestamp=4), SessionStarted(timestamp=5), _said("二", 6)):
        loaded.update(event)
    await store.save(loaded)
    loaded.update(ActionExecuted("action_listen", timestamp=7))
    await store.save(loaded)
    assert [e["timestamp"] for e in _stored_events(store, "c1")] == [1, 2, 3, 4, 5, 6, 7]

    # Only the latest session comes back, and it knows all its events are stored.
    again = await store.retrieve("c1")
    assert [e.timestamp for e in again.events] == [5, 6, 7]
    again.update(_said("三", 8))
    await store.save(again)
    assert [e["timestamp"] for e in _stored_events(store, "c1")] == [1, 2, 3, 4, 5, 6, 7, 8]


async def test_saved_rows_have_rasas_columns(tracker_store):
    store = tracker_store
    events = [ActionExecuted("action_listen", timestamp=1), _said("你好", 2), SlotSet("guide_item", "x", timestamp=3)]
    await store.save(DialogueStateTracker.from_events("c3", events))
    with store.session_scope() as session:
        rows = session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == "c3").order_by(store.SQLEvent.id)
        columns = [(r.type_name, r.timestamp, r.intent_name, r.action_name, json.loads(r.data)) for r in rows]
    assert columns == [
        ("action", 1, None, "action_listen", events[0].as_dict()),
        ("user", 2, "greet", None, events[1].as_dict()),
        ("slot", 3, None, "guide_item", events[2].as_dict()),
    ]


async def test_trackers_load_as_rasas_own_query_loads_them(tracker_store):
    store = tracker_store
    events = [ActionExecuted("action_listen", timestamp=1), _said("一", 2), SlotSet("guide_item", "x", timestamp=3)]
    events += [ActionExecuted("action_session_start", timestamp=4), SessionStarted(timestamp=5), _said("二", 6)]
    await store.save(DialogueStateTracker.from_events("c4", events))
    await store.save(DialogueStateTracker.from_events("other", [_said("别人", 7)]))
    for all_sessions in (False, True):
        ours = await store._retrieve("c4", all_sessions)
        rasas = await rasa_patches._rasa_retrieve(store, "c4", all_sessions)
        assert [e.as_dict() for e in ours.events] == [e.as_dict() for e in rasas.events]
        assert len(ours.events) == (6 if all_sessions else 2)
    assert await store.retrieve("nobody") is None


async def test_a_sqlite_tracker_store_writes_ahead_on_connections_it_keeps(tmp_path):
    rasa_patches.sqlite_trackers_write_ahead()
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "trackers.db"))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    opened = []
    sa.event.listen(store.engine, "connect", lambda *_: opened.append(1))
    for turn in range(5):
        await store.save(DialogueStateTracker.from_events(f"c{turn}", [_said("一", turn)]))
        assert (await store.retrieve(f"c{turn}")).events[-1].text == "一"
    assert len(opened) <= 1, "sessions reuse the pool's connection"
    # Another thread (Rasa's health check runs in an executor) may use a pooled connection.
    assert await asyncio.get_running_loop().run_in_executor(None, lambda: len(_stored_events(store, "c1"))) == 1
    # An in-memory store keeps Rasa's own engine settings.
    memory = SQLTrackerStore(Domain.empty(), dialect="sqlite", db="")
    await memory.save(DialogueStateTracker.from_events("m", [_said("一", 1)]))
    assert (await memory.retrieve("m")).events[-1].text == "一"


async def test_a_tracker_the_store_did_not_load_is_counted_by_rasas_query(tracker_store):
    store = tracker_store
    events = [ActionExecuted("action_listen", timestamp=1), _said("一", 2)]
    await store.save(DialogueStateTracker.from_events("c2", events))
    # A history rebuilt elsewhere (Rasa's API replacing events): its first two are already stored.
    rebuilt = DialogueStateTracker.from_events("c2", [*events, ActionExecuted("action_listen", timestamp=3)])
    await store.save(rebuilt)
    assert [e["timestamp"] for e in _stored_events(store, "c2")] == [1, 2, 3]
    # The full history (all sessions) is not marked: it is more than `_additional_events` counts.
    assert getattr(await store.retrieve_full_tracker("c2"), rasa_patches.STORED_EVENTS, None) is None


# --- the classifier's message matrix ----------------------------------------------------------


def test_the_classifiers_matrix_from_sentence_features_is_rasas_matrix():
    rng = np.random.default_rng(7)

    def sparse_features(kind: str, rows: int, width: int, origin: str) -> Features:
        return Features(
            scipy.sparse.random(rows, width, density=0.3, format="coo", random_state=rng), kind, TEXT, origin
        )

    messages = []
    for tokens in (1, 4, 9):
        message = Message(data={TEXT: "x" * tokens})
        for origin, width in (("words", 30), ("chars", 50), ("long_chars", 20)):
            message.add_features(sparse_features(FEATURE_TYPE_SEQUENCE, tokens, width, origin))
            message.add_features(sparse_features(FEATURE_TYPE_SENTENCE, 1, width, origin))
        messages.append(message)
    dense = Message(data={TEXT: "dense"})
    dense.add_features(sparse_features(FEATURE_TYPE_SENTENCE, 1, 100, "words"))
    dense.add_features(Features(rng.random((1, 5)), FEATURE_TYPE_SENTENCE, TEXT, "dense"))
    dense.add_features(Features(rng.random((1, 3)), FEATURE_TYPE_SENTENCE, TEXT, "dense_too"))

    for batch in (messages, [dense]):
        ours = FastLogisticRegressionClassifier._create_X(None, batch).tocsr()
        rasas = LogisticRegressionClassifier._create_X(None, batch).tocsr()
        assert ours.shape == rasas.shape
        assert (ours != rasas).nnz == 0


# --- connections to the action server ---------------------------------------------------------


class _CountingServer:
    """A small real HTTP/1.1 server with keep-alive (asyncio streams), counting its connections.

    Not aiohttp's server: this file runs in Rasa's environment, where the desk's server is not used.
    """

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        body = json.dumps({"events": [], "responses": []}).encode()
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                self.requests += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def test_action_calls_share_a_connection_until_it_idles_or_the_server_restarts():
    rasa_patches.keep_action_server_connections()
    server = _CountingServer()
    port = await server.start()
    endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
    try:
        for _ in range(3):
            assert await endpoint.request(json={"next_action": "x"}, method="post") == {"events": [], "responses": []}
        assert (server.requests, server.connections) == (3, 1), "three calls, one connection"
        await asyncio.sleep(rasa_patches.IDLE_CONNECTION_S + 0.5)
        await endpoint.request(json={}, method="post")
        assert server.connections == 2, "an idle connection is let go before the server would close it"
        # The action server restarts (supervision): the next call reaches the new one.
        await server.stop()
        server = _CountingServer()
        await server.start(port)
        assert await endpoint.request(json={}, method="post") == {"events": [], "responses": []}
        assert (server.requests, server.connections) == (1, 1)
    finally:
        await server.stop()
        async with endpoint.session() as session:
            await session.close()
