"""Issue 8's browser test, on the real stack: an Italian citizen picks Italiano in the widget, gets
Italian answers, asks for a person, and the Italian-speaking clerk is offered the conversation first
(the Chinese-only clerk does not see it in the first `offer_delay_s` seconds). Screenshots in results/."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import aiohttp
import pytest

from bot.desk.language import text as desk_text
from bot.i18n import load_messages
from tests.desk.helpers import CHROMIUM, RESULTS, citizen_says, ensure_user, line, login, number_of, open_widget

pytestmark = pytest.mark.stack

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


async def warm_up(rasa_url: str) -> None:
    """The first guide answers of a fresh stack (the action server loads the guides) can exceed the desk's 5 s timeout on a busy machine."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as http:
        for text in ("护照过期了怎么换", "Come si rinnova la carta d'identità?", "我要转人工"):
            body = {"sender": "warm-up-" + uuid.uuid4().hex, "message": text}
            async with http.post(f"{rasa_url}/webhooks/rest/webhook", json=body) as reply:
                assert reply.status == 200


async def test_italian_citizen_is_offered_first_to_the_italian_speaking_clerk(desk, browser, rasa_stack):
    await warm_up(rasa_stack.rasa_url)
    assert desk.config.offer_delay_s >= 20, "the test needs the default delay to see the Chinese-only clerk wait"
    rossi = ensure_user(desk.accounts, "Rossi")
    desk.accounts.set_languages(rossi["id"], ["it"])
    ensure_user(desk.accounts, "王五")
    rossi_console = await login(await browser.new_context(viewport={"width": 1360, "height": 860}), desk.url, "Rossi")
    wang_console = await login(await browser.new_context(viewport={"width": 1360, "height": 860}), desk.url, "王五")
    await wang_console.wait_for_function("document.querySelector('#online').textContent.includes('Rossi')")

    # The citizen's browser is set to English; they pick Italiano in the widget's header.
    citizen = await browser.new_context(viewport={"width": 390, "height": 780}, locale="en-US")
    widget = await open_widget(citizen, desk.url)
    assert await widget.get_attribute(".wzd-panel", "lang") == "en"
    await widget.select_option(".wzd-lang", "it")
    assert await widget.get_attribute(".wzd-panel", "lang") == "it"

    await citizen_says(widget, "Buongiorno, come posso rinnovare il passaporto scaduto?")
    answer = widget.locator('.wzd-msg[data-sender="bot"]').first
    await answer.wait_for(timeout=20000)
    assert await answer.get_attribute("lang") == "it", "the bot's answer says it is Italian (custom.language)"
    assert "passaporto" in (await answer.text_content()).lower(), "an Italian answer (Chinese names kept in brackets)"
    await widget.screenshot(path=str(RESULTS / "widget_italian_answer.png"))

    # Asks for a person with the header's button (its label is Italian).
    assert (await widget.text_content(".wzd-human")) == load_messages().texts["it"]["widget.human"]
    await widget.click(".wzd-human")
    handoff = load_messages().texts["it"]["handoff.user_request"]
    await line(widget, "bot", handoff).wait_for(timeout=20000)
    session_key = await widget.evaluate("Object.keys(localStorage).find(k => k.endsWith(':session'))")
    conversation = await widget.evaluate(f"JSON.parse(localStorage.getItem({session_key!r}))")
    assert desk.conversations.conversation(conversation)["language"] == "it"

    # Rossi is offered it at once, with an Italiano badge, and alerted; 王五 does not see it yet.
    item = rossi_console.locator(f'#queue li[data-id="{number_of(desk, conversation)}"]')
    await item.wait_for(timeout=3000)
    assert (await item.locator(".lang").text_content()) == "Italiano"
    await rossi_console.locator(f'#queue li.flash[data-id="{number_of(desk, conversation)}"]').wait_for(timeout=3000)
    await asyncio.sleep(2)
    assert await wang_console.locator(f'#queue li[data-id="{number_of(desk, conversation)}"]').count() == 0
    await rossi_console.screenshot(path=str(RESULTS / "console_offered_first_rossi.png"))
    await wang_console.screenshot(path=str(RESULTS / "console_not_yet_wang.png"))

    # The language filter: French hides it, Italiano shows it.
    await rossi_console.select_option("#lang-filter", "fr")
    assert await item.count() == 0
    await rossi_console.select_option("#lang-filter", "it")
    await item.wait_for(timeout=1000)

    await item.click()
    await rossi_console.click("#claim")
    joined = line(widget, "system", desk_text("joined", "it", name="Rossi"))
    await joined.wait_for(timeout=5000)
    assert await joined.get_attribute("lang") == "it"
    await widget.screenshot(path=str(RESULTS / "widget_italian_clerk_joined.png"))
    for context in (citizen, rossi_console.context, wang_console.context):
        await context.close()
