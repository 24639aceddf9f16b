"""The conversation's language at the desk (issue 8): stored from the citizen's pick or the bot's replies,
passed to Rasa, and the desk's own lines to the citizen said in it. Rasa is down here (the desk's own
lines are what is under test); the bot's side runs in tests/desk/test_browser_languages.py."""

from __future__ import annotations

import aiohttp

from bot.db import Database
from bot.desk.conversations import Conversations, Line
from bot.desk.language import client_language, widget_strings
from bot.desk.language import text as desk_text
from bot.desk.service import _rasa_metadata
from bot.i18n import load_languages, load_messages
from bot.knowledge import load_knowledge
from tests.desk.helpers import Citizen, Clerk, drop, new_id, say, wait_for

PICK_IT = {"language": "it", "language_source": "picked"}


def test_the_catalog_has_every_desk_and_widget_text_in_every_language():
    catalog = load_messages()
    assert catalog.check() == []
    for code in load_languages().supported:
        for key in ("desk.bot_down", "desk.no_speaker", "widget.title", "widget.placeholder"):
            assert catalog.texts[code][key], (code, key)
    # Not the Chinese text under another language's name.
    assert desk_text("bot_down", "it") != desk_text("bot_down", "zh")


def test_what_a_client_says_about_the_language():
    assert client_language({"language": "it-IT", "language_source": "picked"}) == ("it", "picked")
    assert client_language({"language": "fr", "language_source": "locale"}) == ("fr", "locale")
    # rasa-webchat's customData.language alone is the citizen's pick.
    assert client_language({"language": "en"}) == ("en", "picked")
    assert client_language({"language": "es"}) == (None, None)
    assert client_language({}) == (None, None)


def test_rasa_gets_the_conversation_language_and_a_pick_wins():
    picked = {"language": "it", "language_source": "picked"}
    by_bot = {"language": "fr", "language_source": "bot"}
    # The stored pick goes with every message, even one that says nothing (the HTTP API, an old tab).
    assert _rasa_metadata({}, picked) == {"language": "it", "language_source": "picked"}
    # A locale guess never overrides a stored pick.
    assert _rasa_metadata({"language": "en", "language_source": "locale"}, picked)["language"] == "it"
    # A new pick in the message wins over the stored one.
    assert _rasa_metadata({"language": "en", "language_source": "picked"}, picked)["language"] == "en"
    # The language the bot answered in before is only a guess for the NLU.
    assert _rasa_metadata({}, by_bot) == {"language": "fr", "language_source": "conversation"}
    assert _rasa_metadata({"country": "意大利"}, {"language": None}) == {"country": "意大利"}


def test_the_bot_reply_language_becomes_the_conversation_language_unless_picked(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'desk.db'}")
    database.create_schema()
    conversations = Conversations(database)
    conversation = new_id()
    conversations.accept_citizen_line(conversation, "Bonjour", {}, None, [])
    conversations.add_lines(conversation, [Line("bot", "Bonjour !")], language="fr")
    assert conversations.conversation(conversation)["language"] == "fr"
    conversations.accept_citizen_line(conversation, "Ciao", {}, None, [], picked="it")
    assert conversations.conversation(conversation)["language_source"] == "picked"
    conversations.add_lines(conversation, [Line("bot", "Hello")], language="en")
    assert conversations.conversation(conversation)["language"] == "it", "a pick stays until the citizen picks again"


def test_an_old_database_gets_the_new_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE desk_users (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL, role VARCHAR(16) "
                    "NOT NULL, password_hash VARCHAR(256) NOT NULL, must_change BOOLEAN NOT NULL, failed_logins "
                    "INTEGER NOT NULL, locked_until DATETIME, created_at DATETIME NOT NULL)")  # fmt: skip
    Database(f"sqlite:///{path}").create_schema()
    with sqlite3.connect(path) as upgraded:
        columns = {row[1] for row in upgraded.execute("PRAGMA table_info(desk_users)")}
    assert "languages" in columns


async def test_the_desk_speaks_the_picked_language_when_the_bot_is_down(desk_without_rasa):
    server = desk_without_rasa
    conversation = new_id()
    reply = await say(server, conversation, "Vorrei rinnovare il passaporto", metadata=PICK_IT)
    texts = [line["text"] for line in reply["replies"]]
    assert texts[0] == desk_text("bot_down", "it")
    hours = load_knowledge().site_text("clerk_hours", "it")
    assert texts[1] == desk_text("nobody_online", "it", hours=hours)
    assert all(line["data"]["language"] == "it" for line in reply["replies"])
    assert server.conversations.conversation(conversation)["language"] == "it"
    clerk = await Clerk.login(server, "Rossi")
    try:
        status, _ = await clerk.act(conversation, "claim")
        assert status == 200
        assert server.conversations.messages(conversation)[-1]["text"] == desk_text("joined", "it", name="Rossi")
        status, _ = await clerk.act(conversation, "close")
        # Then the end-of-conversation rating (issue 9), in the conversation's language too.
        closed, rating = server.conversations.messages(conversation)[-2:]
        assert (closed["text"], rating["text"]) == (desk_text("closed", "it"), desk_text("rating_ask", "it"))
    finally:
        await clerk.close()


async def test_rate_limit_and_errors_in_the_conversation_language(desk_without_rasa):
    server = desk_without_rasa
    conversation = new_id()
    await say(server, conversation, "Bonjour", metadata={"language": "fr", "language_source": "picked"})
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/conversations/{conversation}/messages"
        refused = None
        for n in range(40):
            async with http.post(url, json={"message": f"message {n}"}) as answer:
                if answer.status == 429:
                    refused = (await answer.json())["error"]
                    break
        assert refused == desk_text("too_fast", "fr"), "the stored language, though this message said none"
        async with http.post(url, json={"message": " ", "metadata": {"language": "en"}}) as answer:
            assert answer.status == 400 and (await answer.json())["error"] == desk_text("empty", "en")


async def test_webchat_custom_data_language_is_a_pick_and_lines_carry_their_language(desk_without_rasa):
    citizen = Citizen()
    try:
        session = await citizen.start(desk_without_rasa.url)
        ack = await citizen.utter(session, "Hello, I need a new passport", language="en")
        assert ack["ok"]
        await wait_for(lambda: desk_text("bot_down", "en") in citizen.texts())
        down = next(m for m in citizen.received if m["text"] == desk_text("bot_down", "en"))
        assert down["metadata"]["language"] == "en"
        conversation = desk_without_rasa.conversations.conversation(session)
        assert (conversation["language"], conversation["language_source"]) == ("en", "picked")
    finally:
        await drop(citizen.sio)


async def test_the_widget_strings_come_from_the_catalog(desk_without_rasa):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{desk_without_rasa.url}/api/widget/strings") as reply:
            assert reply.status == 200
            assert reply.headers["Access-Control-Allow-Origin"] == "*"
            served = await reply.json()
    assert served == widget_strings()
    assert [language["code"] for language in served["languages"]] == list(load_languages().supported)
    assert served["strings"]["it"]["send"] == load_messages().texts["it"]["widget.send"]
    assert set(served["strings"]["fr"]) == set(served["strings"]["zh"])
