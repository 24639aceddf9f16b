"""The widget's own languages in headless Chromium: default from the browser's locale, the switcher,
the pick remembered across reloads and sent as metadata, `lang` on the widget and on each line.
Rasa is down here: the desk's own lines are the ones in the conversation's language."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.desk.language import text as desk_text
from bot.i18n import load_messages
from tests.desk.helpers import CHROMIUM, RESULTS, citizen_says, line, open_widget

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


def widget(code: str, key: str) -> str:
    return load_messages().texts[code][f"widget.{key}"]


async def test_locale_default_switcher_pick_remembered_and_lang_attributes(desk_without_rasa, browser):
    server = desk_without_rasa
    context = await browser.new_context(viewport={"width": 390, "height": 780}, locale="fr-FR")
    page = await open_widget(context, server.url)
    # The browser's locale gives the default: French strings, lang="fr".
    assert await page.get_attribute(".wzd-panel", "lang") == "fr"
    assert await page.input_value(".wzd-lang") == "fr"
    assert await page.get_attribute(".wzd-input", "placeholder") == widget("fr", "placeholder")
    assert (await page.text_content(".wzd-send")) == widget("fr", "send")
    # Each language is named in itself, with its own lang attribute.
    assert await page.get_attribute('.wzd-lang option[value="it"]', "lang") == "it"

    # The citizen picks Italiano: the widget's strings change at once, and the pick survives a reload.
    await page.select_option(".wzd-lang", "it")
    assert await page.get_attribute(".wzd-panel", "lang") == "it"
    assert (await page.text_content(".wzd-human")) == widget("it", "human")
    await page.reload()
    await page.wait_for_selector(".wzd-panel.open")
    assert await page.get_attribute(".wzd-panel", "lang") == "it"
    assert await page.get_attribute(".wzd-input", "placeholder") == widget("it", "placeholder")

    # Sent as a pick: the desk stores it, and its own lines are Italian, with lang="it" on the bubble.
    await citizen_says(page, "Ho bisogno di rinnovare il passaporto")
    bubble = line(page, "system", desk_text("bot_down", "it"))
    await bubble.wait_for(timeout=8000)
    assert await bubble.get_attribute("lang") == "it"
    # Queued with no clerk online (issue 11): the status says so, in Italian. The desk pushes the
    # queue's state just after the bubble, so the status is awaited, not read at once.
    await page.locator(".wzd-status", has_text=widget("it", "status.waiting")).wait_for(timeout=5000)
    session_key = await page.evaluate("Object.keys(localStorage).find(k => k.endsWith(':session'))")
    conversation = await page.evaluate(f"JSON.parse(localStorage.getItem({session_key!r}))")
    stored = server.conversations.conversation(conversation)
    assert (stored["language"], stored["language_source"]) == ("it", "picked")
    await page.screenshot(path=str(RESULTS / "widget_italiano.png"))
    await context.close()


async def test_without_a_pick_the_locale_is_only_a_guess(desk_without_rasa, browser):
    server = desk_without_rasa
    context = await browser.new_context(viewport={"width": 390, "height": 780}, locale="en-GB")
    page = await open_widget(context, server.url)
    assert await page.get_attribute(".wzd-panel", "lang") == "en"
    await citizen_says(page, "hello")
    await line(page, "system", desk_text("bot_down", "en")).wait_for(timeout=8000)
    session_key = await page.evaluate("Object.keys(localStorage).find(k => k.endsWith(':session'))")
    conversation = await page.evaluate(f"JSON.parse(localStorage.getItem({session_key!r}))")
    # A locale is not stored as the conversation's language (the bot's replies or a pick decide).
    assert server.conversations.conversation(conversation)["language"] is None
    await context.close()
