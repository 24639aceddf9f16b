"""What happens to a message and to a conversation: the desk's logic, free of HTTP and socket.io.

A citizen's message is stored first (that is the acknowledgement), then routed:
to Rasa while the bot is in charge, to the clerks otherwise. Whatever Rasa or a
clerk answers is stored before it is delivered, so the transcript is complete
even when a delivery fails.

Handlers and socket.io namespaces call this service, never the tables: the
service owns the thread pool that keeps database work off the event loop.
A citizen's message costs three transactions: one to count the rate limits and
store it, one (without a disk sync of its own) to claim it before it goes to
Rasa, so that no second desk sends it again, and one to store the bot's lines
with what the NLU understood (which Rasa's reply carries, so the tracker is not
read again) and settle the claim.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Protocol

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from bot.clerk_hours import CLERK_DESK, default_schedule, effective_schedule, hours_text
from bot.db import Database
from bot.desk import feedback as satisfaction
from bot.desk.accounts import Accounts
from bot.desk.attachments import Attachments, BadFile, clean
from bot.desk.canned import CannedError, CannedReplies
from bot.desk.conversations import APOLOGIZED, TAKEN_OVER, AlreadySettled, Conversations, Line, RateLimited
from bot.desk.feedback import ASKED_CITIZEN, ASKED_CLOSED, ASKED_HANDBACK, Feedback
from bot.desk.language import PICKED, client_language, speaks
from bot.desk.language import text as say_text
from bot.desk.locks import ClusterLocks, KeyedLocks
from bot.desk.offers import OFFER_DELAY_S, annotate, queue_for
from bot.desk.presence import Presence
from bot.desk.tables import BOT, CLERK, CLOSED, WAITING
from bot.desk.tickets import MAX_NOTE, STATUSES, Tickets
from bot.desk.waiting import Schedule, WaitStatus, expected_minutes, wait_status
from bot.desk.webchat import bot_data
from bot.i18n import load_languages
from bot.knowledge import SAMPLE_NOTICE, item_for, load_knowledge
from bot.knowledge.places import place_in
from bot.limits import (
    ATTACHMENTS_PER_ADDRESS,
    HISTORY_REQUESTS_PER_ADDRESS,
    MAX_TEXT,
    MESSAGES_PER_ADDRESS,
    MESSAGES_PER_CONVERSATION,
    SESSION_REQUESTS_PER_ADDRESS,
)
from bot.offload import ThreadPool
from bot.privacy import LogSafe, conversation_ref, mask_case_no
from bot.rasa_client import (
    LATE_REPLY_S,
    TRACKER_READ_S,
    RasaClient,
    RasaTimeout,
    RasaUnavailable,
    desk_message_id,
    replies_in_tracker,
)
from bot.reports.metrics import DeskMetrics, outcome
from bot.roles import STAFF

logger = logging.getLogger(__name__)

# The desk's lines to citizens are in the catalog (knowledge/messages/<code>.yml, `desk.*`), said in
# the conversation's language; these are the default language's, for logs and callers without one.
DATABASE_DOWN = say_text("database_down", None)
TOO_FAST = say_text("too_fast", None)
BOT_DOWN = say_text("bot_down", None)
HUMAN_PAYLOAD = "/request_human"
# A dependency slower than this counts as down for /health (HAProxy checks every second).
HEALTH_TIMEOUT_S = 2.0
# A citizen line still unanswered after this long was never routed (a desk died, or lost Redis);
# longer than Rasa's timeout plus a conversation lock's expiry. Older than the look-back: let it be.
UNROUTED_AFTER_S = 15.0
UNROUTED_LOOKBACK = timedelta(hours=1)
MAX_CONTACT = 120
# After a webhook call timed out, the reply is looked for in Rasa's tracker LATE_REPLY_S seconds,
# first after LATE_FIRST_POLL_S, then twice as long each time up to LATE_MAX_POLL_S (issue 10, item 4).
LATE_FIRST_POLL_S, LATE_MAX_POLL_S = 0.25, 4.0
# An owed reply still unsettled this long after its window: its desk died; any desk's sweep settles it.
LATE_MARGIN_S = 10.0
# Settled owed replies are purged after a day (the transcript keeps what the citizen was told).
OWED_KEPT = timedelta(days=1)
# Attachments one conversation may hold: a citizen cannot fill the shared database.
MAX_ATTACHMENTS = 20
# The widget's suggested questions: the most answered items among the bot's last answers, re-read every 10 minutes.
FREQUENT_WINDOW, FREQUENT_TTL_S = 5000, 600
# A payload is stored with the line when it differs from the text shown: bounded like the text (issue 10, item 8).
MAX_PAYLOAD = MAX_TEXT
# Events on system lines: the widget switches on these (bot_uttered metadata), never on the wording.
EVENT_JOINED, EVENT_LEFT, EVENT_CLOSED, EVENT_QUEUED = "joined", "left", "closed", "queued"
# The end-of-conversation rating is asked (with 1–5 buttons), and was given.
EVENT_RATE, EVENT_RATED = "rate", "rated"


class Notifier(Protocol):
    async def to_citizen(self, conversation_id: str, message: dict[str, Any]) -> None: ...

    async def typing(self, conversation_id: str, on: bool) -> None: ...

    async def to_console(self, event: str, payload: dict[str, Any]) -> None: ...

    async def queue_position(self, conversation_id: str, status: dict[str, Any]) -> None: ...


# Rasa reads text starting with "/" as an intent ("/restart" would reset the conversation and
# its failed-lookup count). Only button payloads of the kinds the bot itself offers pass as such.
BUTTON_PAYLOAD = re.compile(
    r"^/(item_[a-z0-9_]+|ask_aspect|check_case_status|request_human|affirm|deny"
    # the booking forms' buttons (issue 14); their values are checked again by the form
    r"|book_appointment|manage_booking|booking_choice)(\{[^{}]*\})?$"
)


def to_rasa_text(text: str, payload: str | None) -> str:
    if payload and BUTTON_PAYLOAD.match(payload):
        return payload
    # Typed text is text: a leading slash is sent as its full-width twin, which the NLU reads as "/".
    return "／" + text[1:] if text.startswith("/") else text


class RouteFailed(Exception):
    """A stored message could not be routed now (Redis or the database away); the sweep will route it."""


class DeskError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _too_long(what: str) -> str:
    return f"{what}不能为空，且不超过{MAX_TEXT}字。"


class DeskService:
    def __init__(
        self,
        database: Database,
        rasa: RasaClient,
        notifier: Notifier,
        clerk_hours: str,
        limits: tuple[tuple[int, int], tuple[int, int]] = (MESSAGES_PER_CONVERSATION, MESSAGES_PER_ADDRESS),
        offer_delay: float = OFFER_DELAY_S,
        locks: KeyedLocks | ClusterLocks | None = None,
        redis: Any = None,
        manager: Any = None,
        schedule: Schedule | None = None,
        late_reply_s: float = LATE_REPLY_S,
    ):
        self.limits = limits
        self.late_reply_s = late_reply_s
        # When clerks work (waiting.py); None: always, the wording then depends on who is online.
        self.schedule = schedule
        self.offer_delay = offer_delay
        self.database = database
        self.conversations = Conversations(database)
        self.feedback = Feedback(database)
        # Prometheus metrics of this instance (bot/reports/metrics.py, served at /metrics).
        self.metrics = DeskMetrics()
        self.presence = Presence(database)
        self.accounts = Accounts(database)
        self.canned = CannedReplies(database)
        self.attachments = Attachments(database)
        self.tickets = Tickets(database)
        self._frequent: tuple[float, list[str]] | None = None
        self.rasa = rasa
        self.notifier = notifier
        self.clerk_hours = clerk_hours
        # Database work off the event loop, so a slow disk never stalls every socket. Messages and
        # state changes go through `pool` (one thread on SQLite: no writer waits for another);
        # what consoles and reconnecting widgets read goes through `reads`, so a clerk's big
        # transcript never queues in front of a citizen's message.
        self.pool = ThreadPool("desk-db", database.workers)
        self.reads = ThreadPool("desk-reads", 2)
        # Keeps one conversation's messages in order within this process (and, with Redis, across desks).
        self.locks = locks or KeyedLocks()
        # Held from a bot reply's "is the bot still in charge" check until its lines are emitted, and around
        # a clerk's claim, close or hand-back: the citizen never sees the bot's answer after the clerk's
        # "joined" line, not even when both are sent at the same moment (issue 10, item 4). Short: never
        # held over a call to Rasa. Across desks with Redis; without it, what each desk emits reaches only
        # its own sockets, and the database alone orders the transcript. Redis away: this desk's lock only,
        # after half a second (a clerk's claim does not fail for want of Redis).
        self.delivering: KeyedLocks | ClusterLocks = KeyedLocks()
        if isinstance(locks, ClusterLocks):
            self.delivering = ClusterLocks(redis, prefix="desk:delivery-lock:", redis_wait_s=0.5, required=False)
        # With several desks: the Redis client (locks) and socket.io's Redis manager, for /health.
        self.redis = redis
        self.manager = manager

    def shutdown(self) -> None:
        self.pool.close()
        self.reads.close()

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.pool.run(fn, *args, **kwargs)

    async def _read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.reads.run(fn, *args, **kwargs)

    async def health(self) -> dict[str, bool]:
        """Each dependency of the desk, checked now: the database and Rasa."""
        try:
            database = await asyncio.wait_for(self._read(self.database.ping), HEALTH_TIMEOUT_S)
        except asyncio.TimeoutError:
            database = False
        checks = {"database": database, "rasa": await self.rasa.healthy()}
        if self.redis is not None:
            try:
                checks["redis"] = bool(await asyncio.wait_for(self.redis.ping(), HEALTH_TIMEOUT_S))
            except Exception:
                checks["redis"] = False
            # Subscribed: this desk hears what the other desks emit (RedisManager).
            checks["redis_listener"] = bool(self.manager is not None and self.manager.hears())
        return checks

    async def route_unanswered(self, older_than_s: float = UNROUTED_AFTER_S) -> int:
        """Routes citizen lines that were stored (acknowledged) but never routed; returns how many.

        Every desk runs this at start and then every few seconds; the conversation's lock (in Redis
        across desks) and the check that the line is still unanswered make it safe with two desks.
        """
        now = datetime.utcnow()
        found = await self._db(
            self.conversations.unanswered, now - timedelta(seconds=older_than_s), now - UNROUTED_LOOKBACK
        )
        for line in found:
            if line["data"].get("routed"):
                continue  # Rasa has it: answered, or its reply owed (settle_overdue), never sent twice
            logger.warning("routing a stored message that was never routed: conversation=%s", conversation_ref(line["conversation_id"]))
            await self.route(line, only_if_unanswered=True)
        return len(found)

    # --- citizens ------------------------------------------------------------

    async def accept(
        self,
        conversation_id: str,
        text: str,
        client_id: str | None = None,
        payload: str | None = None,
        metadata: dict[str, Any] | None = None,
        synced: bool = True,
    ) -> tuple[dict[str, Any], bool, dict[str, Any]]:
        """Stores a citizen message; returns (stored line, created, conversation). Only then may it be acknowledged.

        One transaction: the rate limits (per conversation and per client address, counted in
        the database so all instances share them), the conversation, the line and, while the bot is in
        charge, the line's claim for Rasa (`route` sends it next; issue 10 item 4, issue 12).
        `synced=False`: a caller that acknowledges only after the bot's answer (the HTTP API) stores the
        line without a disk sync and calls `durable` before it acknowledges (while Rasa works).
        """
        text = (text or "").strip()
        metadata = metadata or {}
        language, source = client_language(metadata)
        if not text:
            raise DeskError(400, say_text("empty", language))
        if len(text) > MAX_TEXT:
            raise DeskError(413, say_text("too_long", language, max=MAX_TEXT))
        if payload is not None and len(payload) > MAX_PAYLOAD:
            # A button's payload is short ("/item_x{...}"): a long one is typed text, already checked as `text`.
            raise DeskError(413, say_text("too_long", language, max=MAX_TEXT))
        per_conversation, per_address = self.limits
        limits = [(f"msg:conv:{conversation_id}", *per_conversation)]
        if metadata.get("client"):
            limits.append((f"msg:addr:{metadata['client']}", *per_address))
        data = {"payload": payload} if payload and payload != text else {}
        contact = str(metadata.get("contact") or "").strip()[:MAX_CONTACT]
        if contact:
            # A message left with a way to be reached: the console shows it as a ticket.
            data["contact"] = contact
        # The place the citizen names, for the console's 国家/站点 when the widget did not send it.
        said_country, said_site = place_in(text)
        country, site = metadata.get("country") or said_country, metadata.get("site") or said_site
        try:
            stored, created, conversation = await self._db(
                self.conversations.accept_citizen_line,
                conversation_id, text, data, client_id, limits, country, site,
                language if source == PICKED else None, metadata.get("client"), synced, self._owed_window_s(),
            )  # fmt: skip
        except RateLimited as refused:
            logger.warning("rate limited: %s", _limit_ref(refused.key))
            if language is None:
                # Refusals only: one read for the language the conversation is in.
                known = await self._db(self.conversations.conversation, conversation_id)
                language = known["language"] if known else None
            raise DeskError(429, say_text("too_fast", language)) from None
        if created:
            # The length, not the text: nothing personal in the log, and no masking on every message.
            logger.info("citizen message stored: conversation=%s chars=%d", conversation_ref(conversation_id), len(text))
        if contact and created:
            # A message left with a way to be reached: a ticket in the console's 留言 list.
            await self.open_ticket(conversation_id, stored, contact, language or (conversation or {}).get("language"))
        return stored, created, conversation

    def unsynced(self) -> int:
        """A mark for `durable`: every commit of this process so far, synced or not."""
        return self.database.unsynced_commits

    async def durable(self, mark: int) -> None:
        """Returns once every commit before `mark` is on disk: at once if a synced commit came after it,
        else after one sync of the database's log. On the readers' pool: a sync needs no connection, and
        the HTTP API runs it while Rasa works on the message, beside the writer's transactions."""
        if not self.database.synced(mark):
            await self._read(self.database.sync, mark)

    async def open_ticket(self, conversation_id: str, line: dict[str, Any], contact: str, language: str | None) -> None:
        """Opens the ticket of a citizen's line (once per line) and tells the consoles."""
        if await self._db(self.tickets.open, conversation_id, line["id"], contact, language, line["text"]):
            await self.notifier.to_console("ticket", {"conversation_id": conversation_id})

    # --- satisfaction ------------------------------------------------------------

    async def satisfaction(self, conversation_id: str, message: Any) -> dict[str, Any] | None:
        """Handles a satisfaction payload (bot/desk/feedback.py) and returns the acknowledgement; None for any other message."""
        parsed = satisfaction.parse(message)
        if parsed is None:
            return None
        kind, body = parsed
        conversation = await self._db(self.conversations.conversation, conversation_id)
        if conversation is None:
            return {"ok": False, "error": say_text("feedback_refused", None)}
        language = _language(conversation, None)
        if kind == "rating_request":
            return {"ok": True, "asked": await self.ask_rating(conversation_id, ASKED_CITIZEN, language)}
        if kind == "feedback":
            args = (body.get("message_id"), body.get("helpful"), body.get("reason"), body.get("comment"))
            done = await self._db(self.feedback.mark_answer, conversation_id, *args)
        else:
            done = await self._db(self.feedback.rate, conversation_id, body.get("score"), body.get("comment"))
            # Thanked once, for the score; a comment sent after it changes the stored rating quietly.
            if done and not body.get("comment"):
                await self.say(conversation_id, self._system("rating_thanks", EVENT_RATED, language))
        if not done:
            return {"ok": False, "error": say_text("feedback_refused", language)}
        if kind == "feedback":
            await self.notifier.to_console("feedback", {"conversation_id": conversation_id})
        return {"ok": True}

    async def ask_rating(self, conversation_id: str, because: str, language: str | None) -> bool:
        """Asks for the 1–5 rating, once per conversation; the citizen's own close only after a real exchange."""
        if because == ASKED_CITIZEN and not await self._db(self.feedback.real_exchange, conversation_id):
            return False
        if not await self._db(self.feedback.ask_rating, conversation_id, because):
            return False
        line = self._system("rating_ask", EVENT_RATE, language)
        line.data = {**(line.data or {}), "buttons": satisfaction.rating_buttons()}
        await self.say(conversation_id, line)
        return True

    async def route(
        self,
        stored: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        conversation: dict[str, Any] | None = None,
        only_if_unanswered: bool = False,
    ) -> tuple[list[dict[str, Any]], str]:
        """Sends a stored citizen message to whoever is in charge; returns (the lines that answered it, state).

        `conversation` is what `accept` read in its transaction; it is used when no earlier
        message of the conversation is still being routed, else the conversation is read again.
        `only_if_unanswered` (the sweep of unrouted lines): route it only if it is still the
        conversation's last line once the lock is held, so that two desks never route it twice.
        Every line goes to Rasa only after its owed row is inserted, which one desk alone manages even
        when the desks share no lock (no Redis; a re-send reaching a second desk while the first desk's
        call is in flight; a sweep): Rasa gets it once, its reply is settled once. A new line is claimed
        with the line itself (`accept`, `conversation["claimed_line"]`); any other by `claim_routing`.
        """
        try:
            return await self._route(stored, metadata, conversation, only_if_unanswered)
        except (OperationalError, RedisError) as error:
            logger.warning("routing deferred (conversation=%s): %s", conversation_ref(stored["conversation_id"]), type(error).__name__)
            raise RouteFailed(type(error).__name__) from error

    async def _route(
        self,
        stored: dict[str, Any],
        metadata: dict[str, Any] | None,
        conversation: dict[str, Any] | None,
        only_if_unanswered: bool,
    ) -> tuple[list[dict[str, Any]], str]:
        conversation_id = stored["conversation_id"]
        # Claimed in accept's transaction: this desk, and only it, sends the line.
        claimed = conversation is not None and conversation.get("claimed_line") == stored["id"]
        claimed_due = conversation["claimed_due"] if claimed else None
        async with self.locks.hold(conversation_id) as was_free:
            if only_if_unanswered and not await self._db(self.conversations.is_last_line, conversation_id, stored["id"]):
                return [], BOT
            if stored["data"].get("routed") or (
                not was_free and await self._db(self.conversations.routed, stored["id"])
            ):
                # A re-send of a line that another task routed meanwhile (issue 10, item 4).
                return [], (await self._db(self.conversations.conversation, conversation_id))["state"]
            await self.notifier.to_console("message", {"conversation_id": conversation_id, "message": stored})
            if conversation is None or not was_free:
                conversation = await self._db(self.conversations.conversation, conversation_id)
            if conversation["state"] == CLOSED:
                await self._db(self.conversations.reopen, conversation_id)
                conversation = {**conversation, "state": BOT}
            if conversation["state"] == BOT:
                if claimed:
                    # Waited behind an earlier line: due again from now, unless a sweep settled it meanwhile.
                    if not was_free and not await self._db(
                        self.conversations.renew_claim, stored["id"], self._owed_window_s(), claimed_due
                    ):
                        return [], (await self._db(self.conversations.conversation, conversation_id))["state"]
                elif not await self._db(
                    self.conversations.claim_routing, stored["id"], conversation_id, self._owed_window_s()
                ):
                    return [], BOT  # another desk sends it (or sent it): its reply comes from there
                started = time.perf_counter()
                answered = await self._to_bot(conversation, stored, metadata or {})
                self.metrics.full_seconds.observe(time.perf_counter() - started)
                return answered
            self.metrics.messages.labels(outcome="to_clerk").inc()
            # A person is in charge: the line is in their transcript; that is its routing.
            await self._db(self.conversations.mark_routed, stored["id"], release_claim=claimed)
            if stored["data"].get("payload") == HUMAN_PAYLOAD and conversation["state"] == WAITING:
                queued = self._system("already_queued", EVENT_QUEUED, _language(conversation, metadata))
                return [await self.say(conversation_id, queued)], WAITING
            return [], conversation["state"]

    async def purge_every(self, seconds: float) -> None:
        while True:
            try:
                await self._db(self.database.purge_rate_events)
                await self._db(self.accounts.purge_login_throttle)
                await self._db(self.conversations.purge_owed, datetime.utcnow() - OWED_KEPT)
            except Exception:
                logger.exception("purging rate-limit events failed")
            await asyncio.sleep(seconds)

    async def route_left_behind(self, minutes: int = 30) -> int:
        """At start: routes citizen lines stored but never routed (the desk died after the commit)."""
        count = 0
        for stored in await self._db(self.conversations.unrouted, minutes):
            await run_in_background(self.route(stored))
            count += 1
        return count

    def _owed_window_s(self) -> float:
        """How long a desk has to settle a reply it claimed before it counts as dead: Rasa's timeout,
        then the late-reply window, then a margin."""
        return (self.rasa.timeout.total or 0.0) + self.late_reply_s + LATE_MARGIN_S

    async def _to_bot(
        self, conversation: dict[str, Any], stored: dict[str, Any], metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str]:
        """Sends a claimed line (its owed row exists) to Rasa; its reply, or the apology, is settled through the row."""
        conversation_id = conversation["id"]
        await self.notifier.typing(conversation_id, True)
        timed_out = False
        try:
            if conversation["bot_paused"]:
                if not await self.rasa.resume(conversation_id):
                    raise RasaUnavailable("resume failed")
                await self._db(self.conversations.set_bot_paused, conversation_id, False)
            text = to_rasa_text(stored["text"], stored["data"].get("payload"))
            # Asked on every message, answered "no" almost always: by accept's transaction for a new line;
            # otherwise read on the readers' pool while Rasa works, so it neither waits behind the
            # writer's commits nor adds to the citizen's wait.
            known_news = conversation.get("staff_news")
            news = None
            if known_news is None:
                news = asyncio.ensure_future(self._read(self.database.has_unseen_staff_cancellations, conversation_id))
                news.add_done_callback(_retrieved)
            started = time.perf_counter()
            message_id = desk_message_id(stored["id"])
            try:
                replies, understood = await self.rasa.send(
                    conversation_id, text, _rasa_metadata(metadata, conversation), message_id
                )
            except RasaTimeout as error:
                # Rasa finishes the message after the desk hung up (bot/channels/rest.py) and its tracker
                # moves on (a case revealed, the conversation paused): its reply is owed, read back from
                # the tracker and delivered, or else the apology; the database says which, once (item 4).
                logger.warning("bot slow for conversation=%s (%s): reading its reply from the tracker", conversation_ref(conversation_id), error)
                timed_out = True
                await self._db(self.conversations.owe_reply, stored["id"], conversation_id, self.late_reply_s + LATE_MARGIN_S)
                late = await self._late_reply(conversation_id, message_id, self.late_reply_s)
                if late is None:
                    raise RasaUnavailable(f"no reply within {self.late_reply_s:.0f} s after the timeout") from error
                replies, understood = late
                # Not a second outcome of the message (its answer counts below): a timeout that was read back.
                self.metrics.rasa_errors.labels(kind="late_reply").inc()
            self.metrics.bot_seconds.observe(time.perf_counter() - started)
            if not replies:
                # Every intent of the domain gets an answer: silence means the action server failed.
                raise RasaUnavailable("no reply (action server down?)")
            # A booking staff cancelled since the citizen's last visit: told first, with the reason.
            if (await news) if news is not None else known_news:
                replies = await self._staff_cancellations(conversation_id, _reply_language(replies)) + replies
        except RasaUnavailable as error:
            logger.warning("bot unavailable for conversation=%s: %s", conversation_ref(conversation_id), error)
            self.metrics.rasa_errors.labels(kind="timeout" if timed_out or "Timeout" in str(error) else "error").inc()
            await self.notifier.typing(conversation_id, False)
            return await self._apologize(conversation, stored, metadata)
        await self.notifier.typing(conversation_id, False)
        return await self._bot_replied(conversation, stored, metadata, replies, understood)

    async def _late_reply(
        self, conversation_id: str, message_id: str, window_s: float
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None] | None:
        """The reply to `message_id` read from Rasa's tracker, polled with backoff for `window_s`; None if it never came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window_s
        delay = LATE_FIRST_POLL_S
        while True:
            remaining = deadline - loop.time()
            # Each read is bounded by what is left: a hung Rasa answers no read either.
            tracker = await self.rasa.tracker(conversation_id, timeout=max(0.5, min(TRACKER_READ_S, remaining)))
            found = replies_in_tracker(tracker, message_id) if tracker else None
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, LATE_MAX_POLL_S)

    async def _apologize(
        self, conversation: dict[str, Any], stored: dict[str, Any], metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str]:
        """The bot did not answer: the polite apology, and the conversation queued for a clerk. Once per owed reply."""
        conversation_id = conversation["id"]
        language = _language(conversation, metadata)
        down = self._system("bot_down", EVENT_QUEUED, language)
        routed = {**stored["data"], "routed": True}
        async with self.delivering.hold(conversation_id):
            how, said = await self._db(self.conversations.apologize, conversation_id, stored["id"], down, routed)
            if said is not None:
                await self._deliver(conversation_id, said)
        if how != APOLOGIZED:
            # Another desk settled it (delivered the late reply, or apologized) meanwhile, or a clerk took
            # the conversation while the bot was silent (or slow): the clerk answers, no apology.
            return [], (await self._db(self.conversations.conversation, conversation_id))["state"]
        self.metrics.messages.labels(outcome="bot_unavailable").inc()
        zone = metadata.get("timezone")
        more, state = await self._to_queue(conversation_id, "bot_unavailable", {}, None, False, language, zone=zone)
        return [said, *more], state

    async def _bot_replied(
        self,
        conversation: dict[str, Any],
        stored: dict[str, Any],
        metadata: dict[str, Any],
        replies: list[dict[str, Any]],
        understood: dict[str, Any] | None,
    ) -> tuple[list[dict[str, Any]], str]:
        """Stores the bot's reply to a citizen line, then delivers it; a hand-off queues the conversation.

        On time or read late from the tracker, it settles the line's owed row: stored only if the row is
        still unsettled and the bot still in charge (no clerk claimed, closed or handed back since the line).
        """
        conversation_id = conversation["id"]
        self.metrics.messages.labels(outcome=outcome(replies)).inc()
        handoff = _handoff(replies)
        language = None
        if handoff:
            # One coherent message: the bot's hand-off line says where the citizen stands (position and
            # expected wait), or, with nobody online or out of hours, is replaced by what the desk says then.
            picked = conversation.get("language") if conversation.get("language_source") == PICKED else None
            language = picked or _reply_language(replies) or _language(conversation, metadata)
            status = await self._wait_status(conversation_id, language, metadata.get("timezone"))
            said = say_text(status.key, language, **status.values)
            for reply in replies:
                if (reply.get("custom") or {}).get("handoff") is not None:
                    reply["text"] = f"{reply.get('text') or ''}{_space(language)}{said}" if status.kind == "position" else said
                    if status.webchat_key:
                        reply["webchat_text"] = say_text(status.webchat_key, language, **status.values)
        # What the NLU made of the citizen's line goes to its `data.nlu` (the trainers' inbox).
        # `routed`: the line got its answer; a re-send or a restart does not send it again (item 4).
        data = {**stored["data"], "routed": True}
        annotate = (stored["id"], {**data, "nlu": understood} if understood else data)
        answered_in = _reply_language(replies)
        said = [Line("bot", reply.get("text") or "", bot_data(reply)) for reply in replies]
        # Stored only while the bot is still in charge, on time or late, and emitted before a claim's
        # "joined" line can be (`delivering`): the database decides, in the reply's own transaction.
        # Without a disk sync of its own (issue 12): what must be on disk before it is acknowledged is
        # the citizen's line, synced by its own commit (socket) or by `durable` while Rasa works (HTTP).
        # The bot's lines follow at the next synced commit or checkpoint; lost with the machine before
        # that, they are not lost for good: the claim is then unsettled, and the sweep of overdue claims
        # delivers the reply from Rasa's tracker, or sends the line again if Rasa never got it.
        async with self.delivering.hold(conversation_id):
            try:
                how, lines = await self._db(
                    self.conversations.deliver_owed, conversation_id, stored["id"], said, annotate, answered_in, synced=False
                )
            except AlreadySettled:
                # Delivered (or apologized for) by another desk: exactly once.
                return [], (await self._db(self.conversations.conversation, conversation_id))["state"]
            if how != TAKEN_OVER:
                for line in lines:
                    await self._deliver(conversation_id, line)
        if how == TAKEN_OVER:
            # A clerk took the conversation while the bot was answering (in time or late): the clerk owns
            # it now. The citizen does not get the bot's answer after the clerk's lines; the clerk sees it
            # in the console, to use or ignore (issue 10, item 4).
            logger.info("bot reply kept for staff: conversation=%s", conversation_ref(conversation_id))
            await self.notifier.to_console("late_reply", {"conversation_id": conversation_id, "late_reply": lines[0]})
            return [], (await self._db(self.conversations.conversation, conversation_id))["state"]
        if handoff:
            reason = handoff.get("reason") or "user_request"
            more, state = await self._to_queue(conversation_id, reason, None, None, True, language, told=True)
            return lines + more, state
        return lines, BOT

    async def settle_overdue(self) -> int:
        """Owed replies past due (the desk that owed them died): delivered from the tracker, else the apology.

        Every desk's sweep runs this; the conversation's lock and the owed row's conditional
        settlement make it safe with several desks. Returns how many were settled here.
        """
        settled = 0
        for line in await self._db(self.conversations.owed_overdue, datetime.utcnow()):
            conversation_id = line["conversation_id"]
            async with self.locks.hold(conversation_id):
                owed = await self._db(self.conversations.owed, line["id"])
                conversation = await self._db(self.conversations.conversation, conversation_id)
                if owed is None or owed["settled"] or conversation is None or owed["due_at"] > datetime.utcnow():
                    continue  # settled, or taken again (`renew_claim`) by another desk meanwhile
                logger.warning("settling a reply owed by a desk that stopped: conversation=%s", conversation_ref(conversation_id))
                tracker = await self.rasa.tracker(conversation_id)
                found = replies_in_tracker(tracker, desk_message_id(line["id"])) if tracker else None
                if found is not None and found[0]:
                    replies = await self._staff_cancellations(conversation_id, _reply_language(found[0])) + found[0]
                    await self._bot_replied(conversation, line, {}, replies, found[1])
                elif tracker and found is None and conversation["state"] == BOT and not line["data"].get("routed"):
                    # Claimed with the line and never sent: the desk stopped between storing and sending it
                    # (Rasa's tracker has no such message, and no call timed out on it). Sent now, once.
                    logger.warning("sending a line its desk claimed and never sent: conversation=%s", conversation_ref(conversation_id))
                    if await self._db(self.conversations.renew_claim, line["id"], self._owed_window_s(), owed["due_at"]):
                        await self._to_bot(conversation, line, {})
                else:
                    await self._apologize(conversation, line, {})
                settled += 1
        return settled

    async def _staff_cancellations(self, conversation_id: str, language: str | None) -> list[dict[str, Any]]:
        cancelled = await self._db(self.database.unseen_staff_cancellations, conversation_id)
        if not cancelled:
            return []
        from bot.booking.notices import staff_cancellation_replies

        settings = await self._read(self.database.place_settings)
        return staff_cancellation_replies(cancelled, settings, language)

    async def _to_queue(
        self,
        conversation_id: str,
        reason: str,
        understood: dict | None,
        line: Line | None,
        bot_paused: bool,
        language: str | None = None,
        told: bool = False,
        zone: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """Queues the conversation; unless `told` (the hand-off line said it), a desk line says where the
        citizen stands (waiting.py)."""
        lines = []
        if line:
            lines.append(await self.say(conversation_id, line))
        queued = await self._db(self.conversations.enqueue, conversation_id, reason, understood, bot_paused)
        if not queued:
            # A clerk has it already.
            return lines, (await self._db(self.conversations.conversation, conversation_id))["state"]
        online = await self._db(self.presence.online_clerks)
        if not told:
            status = await self._wait_status(conversation_id, language, zone)
            told_line = self._system(status.key, EVENT_QUEUED, language, **status.values)
            if status.webchat_key:
                # What rasa-webchat shows instead (bot/desk/webchat.py): it has no 留言 button.
                told_line.data = {**(told_line.data or {}), "webchat_text": say_text(status.webchat_key, language, **status.values)}
            lines.append(await self.say(conversation_id, told_line))
        if online and not any(speaks(clerk, language) for clerk in online):
            # Said in the citizen's language: a clerk will answer, in Chinese or English.
            lines.append(await self.say(conversation_id, self._system("no_speaker", EVENT_QUEUED, language)))
        await self._announce(conversation_id, waiting=True)
        return lines, WAITING

    async def _wait_status(self, conversation_id: str, language: str | None, zone: str | None) -> WaitStatus:
        """Where the conversation stands (or would stand, if not queued yet) in the queue, and who is there."""
        online = await self._db(self.presence.online_clerks)
        waiting = [c["id"] for c in await self._db(self.conversations.queue)]
        position = waiting.index(conversation_id) + 1 if conversation_id in waiting else len(waiting) + 1
        schedule = await self.clerk_schedule()
        staffed_by = schedule if self.schedule is not None else None
        return wait_status(staffed_by, position, len(online), self.hours(language, schedule), zone)

    async def clerk_schedule(self) -> Schedule:
        """The clerks' hours now: the desk's (sites.yml's) with an admin's change, read from the database
        on every hand-off so that every desk of a cluster follows the change without a restart."""
        row = await self._read(self.database.clerk_hours_settings, CLERK_DESK)
        return effective_schedule(self.schedule or default_schedule(load_knowledge().sites), row)

    def hours(self, language: str | None, schedule: Schedule | None = None) -> str:
        """The clerks' hours in `language`: the configured text for Chinese, the translation otherwise,
        or the admin's hours put in words."""
        if not language or language == load_languages().default:
            written = self.clerk_hours
        else:
            written = load_knowledge().site_text("clerk_hours", language)
        return hours_text(schedule, written, language) if schedule is not None else written

    @staticmethod
    def _system(key: str, event: str, language: str | None, author: str | None = None, **values: Any) -> Line:
        """A desk line to the citizen in the conversation's language; `data.language` is its `lang`."""
        language = language or load_languages().default
        return Line("system", say_text(key, language, **values), {"event": event, "language": language}, author)

    async def say(self, conversation_id: str, line: Line) -> dict[str, Any]:
        """Stores a line for the citizen, then delivers it."""
        stored = await self._db(self.conversations.add_line, conversation_id, line)
        await self._deliver(conversation_id, stored)
        return stored

    async def _deliver(self, conversation_id: str, line: dict[str, Any]) -> None:
        await self.notifier.to_citizen(conversation_id, line)
        await self.notifier.to_console("message", {"conversation_id": conversation_id, "message": line})

    async def _announce(self, conversation_id: str, waiting: bool = False) -> None:
        conversation = await self._db(self.conversations.conversation, conversation_id)
        await self.notifier.to_console("conversation", {"conversation": conversation})
        # Every console gets the queue with who it is offered to first and when to everyone
        # (offers.py); each console shows and alerts accordingly, and GET /queue filters the same way.
        online = await self._db(self.presence.online_clerks)
        queue = [annotate(c, online, self.offer_delay) for c in await self._db(self.conversations.queue)]
        await self.notifier.to_console("queue", {"queue": queue})
        # Each waiting citizen's widget shows its position and expected wait, updated as the queue moves.
        for position, waiting_one in enumerate(queue, start=1):
            minutes = expected_minutes(position, len(online)) if online else None
            await self.notifier.queue_position(waiting_one["id"], {"position": position, "minutes": minutes})
        if waiting:
            await self.notifier.to_console("waiting", {"conversation": annotate(conversation, online, self.offer_delay)})

    async def allow_citizen_request(self, kind: str, client: str | None) -> bool:
        """Rate limit of `session_request` / `history_request` per client address (issue 10, item 1).

        A missing address shares one bucket rather than escaping the limit.
        """
        limits = {"session": SESSION_REQUESTS_PER_ADDRESS, "attachment": ATTACHMENTS_PER_ADDRESS}
        events, seconds = limits.get(kind, HISTORY_REQUESTS_PER_ADDRESS)
        return await self._db(self.database.allow, f"{kind}:addr:{client or 'unknown'}", events, seconds)

    async def history(self, conversation_id: str, after: int = 0) -> tuple[dict[str, Any] | None, list[dict]]:
        """(conversation or None, its lines after `after`)."""
        conversation = await self._read(self.conversations.conversation, conversation_id)
        if conversation is None:
            return None, []
        return conversation, await self._read(self.conversations.messages, conversation_id, after)

    async def metrics_exposition(self) -> bytes:
        """The metrics text, with the queue and the clerks read from the database now."""
        queue = await self._read(self.conversations.queue)
        clerks = await self._read(self.presence.online_clerks)
        self.metrics.set_state(queue, len(clerks), datetime.utcnow())
        return self.metrics.exposition()

    async def status(self) -> dict[str, Any]:
        clerks = await self._read(self.presence.online_clerks)
        hours = self.hours(None, await self.clerk_schedule())
        return {"clerks_online": len(clerks), "clerk_hours": hours, "max_text": MAX_TEXT}

    # --- the console: reading ----------------------------------------------------

    async def queue(self, user: dict[str, Any]) -> dict[str, Any]:
        """The queue as this clerk sees it now: offered to them, their languages first (offers.py)."""
        online = await self._read(self.presence.online_clerks)
        waiting = await self._read(self.conversations.queue)
        return {
            "queue": queue_for(waiting, user, online, self.offer_delay, datetime.utcnow()),
            "clerks": online,
            "offer_delay_s": self.offer_delay,
        }

    async def live(self) -> list[dict[str, Any]]:
        return await self._read(self.conversations.live)

    async def conversation_view(self, conversation_id: str) -> dict[str, Any]:
        """A conversation with its transcript, notes and the titles of the guides it mentions."""
        found = await self._conversation(conversation_id)
        lines = await self._read(self.conversations.messages, conversation_id)
        return {
            "conversation": found,
            "messages": lines,
            "notes": await self._read(self.conversations.notes, conversation_id),
            # The bot's answers that came after a clerk took over: for the clerk, never sent (item 4).
            "late_replies": await self._read(self.conversations.late_replies, conversation_id),
            "guides": _guide_titles(lines, found["understood"]),
            # Guide texts are sample content until the operating agency replaces them.
            "sample_notice": SAMPLE_NOTICE,
        }

    async def frequent_items(self, limit: int = 5) -> list[str]:
        """The items the bot answered most often lately (its last FREQUENT_WINDOW answers), read at most
        every FREQUENT_TTL_S seconds: the widget's suggested questions."""
        now = time.monotonic()
        if self._frequent is None or now - self._frequent[0] > FREQUENT_TTL_S:
            self._frequent = (now, await self._read(self.conversations.frequent_items, FREQUENT_WINDOW))
        return self._frequent[1][:limit]

    async def canned_search(self, user_id: int, language: str | None, query: str) -> list[dict[str, Any]]:
        return await self._read(self.canned.search, user_id, language, query)

    async def canned_add(self, user: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._db(
                self.canned.add, user, bool(body.get("shared")), str(body.get("language") or ""),
                str(body.get("title") or ""), str(body.get("text") or ""),
            )  # fmt: skip
        except CannedError as refused:
            raise DeskError(400, str(refused)) from None

    async def canned_delete(self, user: dict[str, Any], canned_id: int) -> None:
        try:
            await self._db(self.canned.delete, user, canned_id)
        except CannedError as refused:
            raise DeskError(403, str(refused)) from None

    async def suggestions(self, conversation_id: str) -> dict[str, Any]:
        """The bot's top three guide items for the citizen's last message, each with its sections in the
        conversation's language, for the clerk to insert into a reply and edit."""
        from bot.actions.answers import ASPECT_ORDER, COMPOSERS  # the bot's own wording of each section

        found = await self._conversation(conversation_id)
        lines = await self._read(self.conversations.messages, conversation_id)
        last = next((m["text"] for m in reversed(lines) if m["sender"] == "citizen"), "")
        kb = load_knowledge()
        ranked = [item_for(intent) for intent, _ in await self.rasa.ranking(last)] if last else []
        understood = found.get("understood") or {}
        fallback = [understood.get("guide_item"), *(understood.get("candidates") or [])]
        items: list[str] = []
        for item in [*ranked, *fallback]:
            if item and kb.guide(item) and item not in items:
                items.append(item)
        language = found.get("language") or load_languages().default
        result = []
        for item in items[:3]:
            guide = kb.guide(item, language)
            sections = [
                {"aspect": aspect, "label": kb.aspect_label(aspect, language), "text": COMPOSERS[aspect](guide, kb, language)}
                for aspect in ASPECT_ORDER
                if aspect in COMPOSERS
            ]
            result.append({"item": item, "title": kb.title(item), "sections": sections})
        return {"for_text": last, "language": language, "items": result}

    async def case(self, case_no: str, user: dict[str, Any] | None = None) -> dict[str, Any]:
        case = await self._read(self.database.case_by_number, case_no.strip())
        if user is not None:
            # Every staff lookup leaves an audit row, found or not (issue 10).
            await self._db(self.conversations.audit, user["id"], "case_lookup", mask_case_no(case_no), case is not None)
        if case is None:
            raise DeskError(404, "没有找到这个办件编号。")
        knowledge = load_knowledge()
        title = knowledge.title(case.item_id) if knowledge.guide(case.item_id) else case.item_id
        history = [
            {"at": h["at"].isoformat(sep=" ", timespec="minutes"), **{k: h[k] for k in ("status", "note")}}
            for h in case.history
        ]
        return {"case_no": case.case_no, "item": title, "status": case.status, "site": case.site, "history": history}

    async def online_clerks(self) -> list[dict[str, Any]]:
        return await self._read(self.presence.online_clerks)

    # --- the console: presence ----------------------------------------------------

    async def console_seen(self, sid: str, user_id: int) -> None:
        await self._db(self.presence.touch, sid, user_id)

    async def console_connected(self, sid: str, user_id: int) -> None:
        await self._db(self.presence.touch, sid, user_id)
        await self.notifier.to_console("presence", {"clerks": await self.online_clerks()})

    async def console_gone(self, sid: str) -> None:
        await self._db(self.presence.drop, sid)
        await self.notifier.to_console("presence", {"clerks": await self.online_clerks()})

    # --- the console: acting ------------------------------------------------------

    async def _conversation(self, conversation_id: str) -> dict[str, Any]:
        conversation = await self._db(self.conversations.conversation, conversation_id)
        if conversation is None:
            raise DeskError(404, "找不到这个会话。")
        return conversation

    async def _after_change(self, conversation_id: str) -> dict[str, Any]:
        await self._announce(conversation_id)
        return await self._db(self.conversations.conversation, conversation_id)

    async def claim(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """Claims a waiting conversation, or takes over one the bot is serving. One clerk wins."""
        conversation = await self._conversation(conversation_id)
        if conversation["claimed_by"] == user["id"]:
            return conversation
        if not await self._staff_change(self.conversations.claim, conversation_id, user["id"]):
            current = await self._db(self.conversations.conversation, conversation_id)
            if current["state"] == CLOSED:
                raise DeskError(409, "这个会话已经结束。")
            raise DeskError(409, f"这个会话已由 {current['clerk'] or '其他工作人员'} 接待。")
        # Citizens see the display name, never the log-in name (issue 10, item 6).
        shown = user["display_name"]
        joined = self._system("joined", EVENT_JOINED, conversation["language"], shown, name=shown)
        await self.say(conversation_id, joined)
        return await self._after_change(conversation_id)

    async def _own(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        if conversation["state"] != CLERK or conversation["claimed_by"] != user["id"]:
            raise DeskError(409, "请先接入这个会话。")
        return conversation

    async def reply(self, conversation_id: str, user: dict[str, Any], text: str) -> dict[str, Any]:
        text = (text or "").strip()
        if not text or len(text) > MAX_TEXT:
            raise DeskError(400, _too_long("回复"))
        await self._own(conversation_id, user)
        said = await self.say(conversation_id, Line("clerk", text, {}, user["display_name"]))
        # The answer to a left message: the citizen reads it on the next visit; its ticket is resolved.
        if await self._db(self.tickets.answered, conversation_id, user["id"]):
            await self.notifier.to_console("ticket", {"conversation_id": conversation_id})
        return said

    # --- rasa-webchat: lines written while it was closed ----------------------------

    async def webchat_gone(self, conversation_id: str) -> None:
        await self._db(self.conversations.webchat_gone, conversation_id)

    async def webchat_missed(self, conversation_id: str) -> list[dict[str, Any]]:
        return await self._read(self.conversations.webchat_missed, conversation_id)

    # --- left messages (tickets) -------------------------------------------------

    async def ticket_list(self, status: str | None, counts_only: bool = False) -> dict[str, Any]:
        """Tickets of a status (None: all) and how many there are of each; `counts_only`: the console's badge."""
        if status and status not in STATUSES:
            raise DeskError(400, "状态不正确。")
        tickets = [] if counts_only else await self._read(self.tickets.list, status or None)
        return {"tickets": tickets, "counts": await self._read(self.tickets.counts)}

    async def ticket_mark(self, ticket_id: int, user: dict[str, Any], status: Any, note: Any) -> dict[str, Any]:
        if status not in STATUSES:
            raise DeskError(400, "状态不正确。")
        if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
            raise DeskError(400, f"备注最多 {MAX_NOTE} 个字。")
        marked = await self._db(self.tickets.mark, ticket_id, status, note.strip() if note else note, user["id"])
        if marked is None:
            raise DeskError(404, "没有这条留言。")
        await self.notifier.to_console("ticket", {"id": ticket_id})
        return marked

    async def attach(
        self, conversation_id: str, content: bytes, name: str, user: dict[str, Any] | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Stores a citizen's (no `user`) or a clerk's attachment and delivers its line to both sides.

        A refused file raises DeskError with the reason in the conversation's language (desk.attachment_*).
        """
        if user is not None:
            conversation = await self._own(conversation_id, user)
        else:
            await self._db(self.conversations.ensure_conversation, conversation_id)
            conversation = await self._conversation(conversation_id)
        language = conversation.get("language") or language
        if await self._read(self.attachments.count, conversation_id) >= MAX_ATTACHMENTS:
            raise DeskError(429, say_text("attachment_too_many", language, max=MAX_ATTACHMENTS))
        try:
            # Decoding and re-encoding a photo is CPU work: off the event loop.
            cleaned = await asyncio.get_running_loop().run_in_executor(None, clean, content)
        except BadFile as refused:
            raise DeskError(413 if refused.key == "attachment_too_big" else 415, say_text(refused.key, language)) from None
        stored = await self._db(self.attachments.store, conversation_id, "clerk" if user else "citizen", name, cleaned)
        sender, author = ("clerk", user["display_name"]) if user else ("citizen", None)
        return await self.say(conversation_id, Line(sender, f"📎 {stored['name']}", {"attachment": stored}, author))

    async def attachment(self, conversation_id: str | None, attachment_id: int) -> Any:
        found = await self._read(self.attachments.get, conversation_id, attachment_id)
        if found is None:
            raise DeskError(404, "没有这个附件。")
        return found

    async def _staff_change(self, change: Callable[..., bool], conversation_id: str, *args: Any) -> bool:
        """A claim, hand-back or close (one conditional UPDATE) under the delivery lock: it lands after a
        bot reply being emitted, never inside it, so "joined" never precedes the bot's answer on screen."""
        async with self.delivering.hold(conversation_id):
            return await self._db(change, conversation_id, *args)

    async def hand_back(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        conversation = await self._own(conversation_id, user)
        if not await self._staff_change(self.conversations.hand_back, conversation_id, user["id"]):
            raise DeskError(409, "会话状态已变化，请刷新。")
        # The tracker keeps its slots, so the bot resumes with the conversation's context.
        resumed = await self.rasa.resume(conversation_id)
        await self._db(self.conversations.set_bot_paused, conversation_id, not resumed)
        shown = user["display_name"]
        left = self._system("left", EVENT_LEFT, conversation["language"], shown, name=shown)
        await self.say(conversation_id, left)
        await self.ask_rating(conversation_id, ASKED_HANDBACK, conversation["language"])
        return await self._after_change(conversation_id)

    async def close(self, conversation_id: str, user: dict[str, Any]) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        owner = conversation["claimed_by"]
        if owner not in (None, user["id"]):
            raise DeskError(409, f"这个会话由 {conversation['clerk']} 接待，不能关闭。")
        if not await self._staff_change(self.conversations.close, conversation_id, owner):
            raise DeskError(409, "会话状态已变化，请刷新。")
        resumed = await self.rasa.resume(conversation_id)
        await self._db(self.conversations.set_bot_paused, conversation_id, not resumed)
        closed = self._system("closed", EVENT_CLOSED, conversation["language"], user["display_name"])
        await self.say(conversation_id, closed)
        # A conversation closed without any clerk (an admin clearing the queue) has had no service to rate.
        if owner is not None:
            await self.ask_rating(conversation_id, ASKED_CLOSED, conversation["language"])
        return await self._after_change(conversation_id)

    async def transfer(self, conversation_id: str, user: dict[str, Any], to_name: str) -> dict[str, Any]:
        conversation = await self._own(conversation_id, user)
        target = await self._db(self.accounts.user_by_name, to_name or "")
        if target is None or target["role"] not in STAFF or target["id"] == user["id"]:
            raise DeskError(400, "请选择另一位工作人员。")
        if not await self._db(self.conversations.transfer, conversation_id, user["id"], target["id"]):
            raise DeskError(409, "会话状态已变化，请刷新。")
        # The same event as a claim: for the citizen, a clerk (the new one) has joined.
        shown = target["display_name"]
        joined = self._system("transferred", EVENT_JOINED, conversation["language"], shown, name=shown)
        await self.say(conversation_id, joined)
        conversation = await self._after_change(conversation_id)
        await self.notifier.to_console("transferred", {"conversation_id": conversation_id, "to": target["name"]})
        return conversation

    async def note(self, conversation_id: str, user: dict[str, Any], text: str) -> dict[str, Any]:
        await self._conversation(conversation_id)
        text = (text or "").strip()
        if not text or len(text) > MAX_TEXT:
            raise DeskError(400, _too_long("备注"))
        note = await self._db(self.conversations.add_note, conversation_id, user["id"], text)
        await self.notifier.to_console("note", {"conversation_id": conversation_id, "note": note})
        return note


def _handoff(replies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The bot's hand-off (`custom.handoff`), if one of its replies carries it."""
    for reply in replies:
        custom = reply.get("custom")
        if isinstance(custom, dict) and custom.get("handoff"):
            return custom["handoff"]
    return None


def _reply_language(replies: list[dict[str, Any]]) -> str | None:
    """The language the bot answered in: its replies' `custom.language` (the last one that says)."""
    for reply in reversed(replies):
        custom = reply.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("language"), str):
            return custom["language"]
    return None


def _language(conversation: dict[str, Any] | None, metadata: dict[str, Any] | None) -> str:
    """The language to talk to the citizen in: the conversation's, else the client's guess, else the default."""
    stored = (conversation or {}).get("language")
    return stored or client_language(metadata or {})[0] or load_languages().default


def _rasa_metadata(metadata: dict[str, Any], conversation: dict[str, Any]) -> dict[str, Any]:
    """The message's metadata for Rasa, with the conversation's language.

    The citizen's pick (in this message, or stored) goes as `language_source: picked`, which wins over
    detection in the NLU; a language the bot answered in before goes as a guess ("conversation"), for
    messages that decide nothing; the browser's locale stays a guess ("locale").
    """
    language, source = client_language(metadata)
    if conversation.get("language_source") == PICKED and source != PICKED:
        language, source = conversation["language"], PICKED
    elif language is None and conversation.get("language"):
        language, source = conversation["language"], "conversation"
    if language is None:
        return metadata
    return {**metadata, "language": language, "language_source": source}


def _guide_titles(lines: list[dict[str, Any]], understood: dict[str, Any]) -> dict[str, str]:
    knowledge = load_knowledge()
    items = {(m["data"].get("custom") or {}).get("guide_item") for m in lines} | {understood.get("guide_item")}
    items |= set(understood.get("candidates") or [])
    return {item: knowledge.title(item) for item in items if item and knowledge.guide(item)}


def _retrieved(future: asyncio.Future) -> None:
    """Marks a side read's failure as seen: the turn it served failed already and says so."""
    if not future.cancelled():
        future.exception()


async def run_in_background(coro: Awaitable[Any]) -> None:
    """Routes after the acknowledgement; a failure is logged, the message stays stored."""
    try:
        await coro
    except Exception:
        logger.exception("routing a citizen message failed")


def _space(language: str | None) -> str:
    """Chinese sentences follow each other without a space; the other languages' with one."""
    return "" if (language or load_languages().default) == "zh" else " "


def _limit_ref(key: str) -> str:
    """A rate limit's key ("msg:conv:<id>", "msg:addr:<client>") as logs may show it: its kind and a hash."""
    parts = key.split(":", 2)
    if len(parts) < 3:
        return parts[-1]
    return LogSafe(f"{parts[1]}:{conversation_ref(parts[2]).removeprefix('conv:')}")
