"""The project's changes to Rasa 3.6, each a named function; `install()` applies them all.

They are applied when the Rasa server sets up the project's REST channel
(`RestChannel.from_credentials`, called for credentials.yml), not on import.

- `validate_action_replies_once`: Rasa checks every action server reply with
  `jsonschema.validate()`, which checks the schema itself again on each call:
  14 ms of the 35 ms a guide answer took on this machine (bench/latency.py). A
  validator built once does the same check in 0.4 ms. Replies that do not fit
  the schema are still refused, with Rasa's own message.
- `show_channel_the_turn`: once the policies have run, an output channel that
  asks for it (`turn_done`) sees the tracker, so the REST channel can answer with
  what the NLU understood without a second request for the tracker.

The next ones remove work Rasa repeats on every message without need. Each was
found in a py-spy profile of Rasa under bench.latency's load (10 citizens, closed
loop), and each leaves what Rasa computes unchanged:

- `prune_graphs_once`: the graph runner prunes its schema to the nodes the
  targets need, walking every path of the graph again on each run (twice per
  message): 4.5% of Rasa's time. The schema never changes after loading, so the
  pruned graph is kept per set of targets.
- `resolve_event_types_once`: each event read back from the tracker store finds
  its class by walking all subclasses of `Event` and asking `inspect` whether
  each is abstract: 3.7%. The class found is kept by type name.
- `count_stored_events_once`: before saving a tracker, the SQL tracker store
  counts the conversation's stored events with a query whose statement is
  rebuilt and re-keyed for SQLAlchemy's cache each time: 6.8%. The tracker it
  loaded already knows how many of its events are stored; saving updates that
  number. A tracker that was not loaded by the store (a new conversation, a
  replaced history) is counted by Rasa's query as before. The new events are
  written by one INSERT built once, with Rasa's columns and values, instead of
  an ORM object each and the session's flush: 5%. Loading a tracker runs Rasa's
  own query, built once with the sender as a parameter.
- `sqlite_trackers_write_ahead`: a SQLite tracker store commits each turn in the
  rollback-journal mode, two or three disk syncs that hold Rasa's event loop
  (6% of its time). In WAL mode a commit is one sync of the log, as durable.
  Its connections are also pooled: SQLAlchemy 1.4 opens and closes a SQLite
  file's connection for each session, and in WAL mode the last connection to
  close copies the log back into the database (5% more).
- `keep_action_server_connections`: Rasa opens a new HTTP session, and so a new
  TCP connection, for each call to the action server, and closes it after the
  answer: 6% of Rasa's time, and an accept on the action server's side. Each
  endpoint now keeps one session per event loop, whose connections stay open
  between calls. They are dropped after 2 s idle, before the action server
  (Sanic, 5 s) closes them itself, so a call never goes out on a connection the
  server is closing.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from typing import Any, Callable, Dict, Iterator, List

import aiohttp
import dask
import jsonschema
import rasa.core.tracker_store as tracker_store_module
import sqlalchemy as sa
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import OutputChannel
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import SQLTrackerStore
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.engine import make_url


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    spec = RemoteAction.action_response_format_spec()
    return jsonschema.validators.validator_for(spec)(spec)


def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    try:
        _validator().validate(result)
        return True
    except jsonschema.ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the "
            f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error


def validate_action_replies_once() -> None:
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


_rasa_prediction_loop = MessageProcessor._run_prediction_loop


async def _prediction_loop_then_tell_channel(
    self: MessageProcessor, output_channel: OutputChannel, tracker: DialogueStateTracker
) -> None:
    await _rasa_prediction_loop(self, output_channel, tracker)
    turn_done = getattr(output_channel, "turn_done", None)
    if turn_done is not None:
        turn_done(tracker)


def show_channel_the_turn() -> None:
    MessageProcessor._run_prediction_loop = _prediction_loop_then_tell_channel  # type: ignore[method-assign]


def _kept(owner: Any, key: Any, build: Callable[[], Any]) -> Any:
    """What `build` returns, made once per Rasa object (a runner, a store) and kept on it by `key`."""
    kept = owner.__dict__.setdefault("_kept_by_patches", {})
    if key not in kept:
        kept[key] = build()
    return kept[key]


# --- the graph runner's pruned schema, once per set of targets ---------------------------------


def _run_pruned_once(
    self: DaskGraphRunner, inputs: Dict[str, Any] | None = None, targets: List[str] | None = None
) -> Dict[str, Any]:
    """`DaskGraphRunner.run`, with the pruned dask graph built once per set of targets."""
    run_targets = targets if targets else self._graph_schema.target_names
    pruned = _kept(
        self,
        ("pruned graph", tuple(run_targets)),
        lambda: self._build_dask_graph(self._graph_schema.minimal_graph_schema(run_targets)),
    )
    # A copy: the inputs are added to the graph of this run only.
    run_graph = dict(pruned)
    if inputs:
        self._add_inputs_to_graph(inputs, run_graph)
    try:
        return dict(dask.get(run_graph, run_targets))
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error


def prune_graphs_once() -> None:
    DaskGraphRunner.run = _run_pruned_once  # type: ignore[method-assign]


# --- event classes by type name ---------------------------------------------------------------

_rasa_resolve_by_type = Event.resolve_by_type
_event_classes: Dict[str, type] = {}


def _resolve_event_type(type_name: str, default: type | None = None) -> type | None:
    found = _event_classes.get(type_name)
    if found is None:
        # Rasa's own walk, with its fallbacks and its error for an unknown name.
        found = _rasa_resolve_by_type(type_name, default)
        if found is not None and getattr(found, "type_name", None) == type_name:
            _event_classes[type_name] = found
    return found


def resolve_event_types_once() -> None:
    Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore[method-assign]


# --- the tracker store's count of stored events -------------------------------------------------

# Set on a tracker the SQL store loaded or saved: how many of its first events are in the store.
STORED_EVENTS = "_stored_event_count"

_rasa_additional_events = SQLTrackerStore._additional_events
# Rasa's own, which the tests compare with.
_rasa_retrieve = SQLTrackerStore._retrieve


def _mark_stored(tracker: DialogueStateTracker) -> None:
    # A tracker that keeps only its last events (max_event_history) cannot say which are stored.
    if tracker.events.maxlen is None:
        setattr(tracker, STORED_EVENTS, len(tracker.events))


async def _retrieve_and_mark(
    self: SQLTrackerStore, sender_id: str, fetch_events_from_all_sessions: bool
) -> DialogueStateTracker | None:
    """Rasa's `_retrieve`, by Rasa's own query built once per store with the sender as a parameter."""
    with self.session_scope() as session:
        statement = _events_statement(self, session, fetch_events_from_all_sessions)
        events = [json.loads(data) for data in session.execute(statement, {"sender_id": sender_id}).scalars()]
    if not (self.domain and events):
        return None
    tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
    # Only the latest session's events are what `_additional_events` counts.
    if not fetch_events_from_all_sessions:
        _mark_stored(tracker)
    return tracker


def _events_statement(store: SQLTrackerStore, session: Any, all_sessions: bool) -> Any:
    # Built once per store: SQLAlchemy keys its statement cache on the statement object, so a
    # statement rebuilt per call is keyed again each time (what made the ORM's queries costly).
    def build() -> Any:
        query = store._event_query(session, sa.bindparam("sender_id"), fetch_events_from_all_sessions=all_sessions)
        return query.with_entities(store.SQLEvent.data).statement

    return _kept(store, ("events", all_sessions), build)


def _events_not_yet_stored(self: SQLTrackerStore, session: Any, tracker: DialogueStateTracker) -> Iterator:
    stored = getattr(tracker, STORED_EVENTS, None)
    if stored is None:
        return _rasa_additional_events(self, session, tracker)
    return itertools.islice(tracker.events, stored, len(tracker.events))


async def _save_new_events(self: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
    """Rasa's `SQLTrackerStore.save`, the same rows written by one prepared INSERT instead of ORM objects."""
    await self.stream_events(tracker)
    with self.session_scope() as session:
        rows = []
        for event in self._additional_events(session, tracker):
            data = event.as_dict()
            rows.append(
                {
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                }
            )
        if rows:
            # Executed with a list, in order: the ids keep the events' order, which `_retrieve` sorts by.
            # Built once per store, like the load query.
            session.execute(_kept(self, "insert event", self.SQLEvent.__table__.insert), rows)
        session.commit()
    _mark_stored(tracker)


_rasa_store_init = SQLTrackerStore.__init__
_rasa_engine_kwargs = tracker_store_module.create_engine_kwargs


def _engine_kwargs_pooling_sqlite_files(url: Any) -> Dict[str, Any]:
    kwargs = _rasa_engine_kwargs(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # A connection is used by one thread at a time (the pool's guarantee), not only by its creator's.
        kwargs.update(poolclass=sa.pool.QueuePool, connect_args={"check_same_thread": False})
    return kwargs


def _init_in_wal_mode(self: SQLTrackerStore, *args: Any, **kwargs: Any) -> None:
    _rasa_store_init(self, *args, **kwargs)
    if self.engine.dialect.name == "sqlite":
        # Kept in the database file: every connection, now and later, writes ahead.
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")


def sqlite_trackers_write_ahead() -> None:
    tracker_store_module.create_engine_kwargs = _engine_kwargs_pooling_sqlite_files
    SQLTrackerStore.__init__ = _init_in_wal_mode  # type: ignore[method-assign]


def count_stored_events_once() -> None:
    SQLTrackerStore._retrieve = _retrieve_and_mark  # type: ignore[method-assign]
    SQLTrackerStore._additional_events = _events_not_yet_stored  # type: ignore[method-assign]
    SQLTrackerStore.save = _save_new_events  # type: ignore[method-assign]


# --- connections to the action server, kept between calls ----------------------------------------

# Below Sanic's KEEP_ALIVE_TIMEOUT (5 s), the action server's: the client lets go first.
IDLE_CONNECTION_S = 2.0


class _KeptSession:
    """What `async with endpoint.session()` gets: the shared session, left open on exit."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def _kept_session(self: EndpointConfig) -> _KeptSession:
    loop = asyncio.get_running_loop()
    kept = self.__dict__.get("_kept_session")
    if kept is None or kept[0] is not loop or kept[1].closed:
        # Rasa's own `EndpointConfig.session()` settings, with a connector that keeps its connections.
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_S),
        )
        kept = self.__dict__["_kept_session"] = (loop, session)
    return _KeptSession(kept[1])


def keep_action_server_connections() -> None:
    EndpointConfig.session = _kept_session  # type: ignore[method-assign,assignment]


def install() -> None:
    """All changes; applying them twice is harmless."""
    validate_action_replies_once()
    show_channel_the_turn()
    prune_graphs_once()
    resolve_event_types_once()
    count_stored_events_once()
    sqlite_trackers_write_ahead()
    keep_action_server_connections()
