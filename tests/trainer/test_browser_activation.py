"""Putting a model live from the workbench's page ends with a line that says how, whatever happens
(issue 10, item 4): here a session lost while the page was open. And the desk gives up on a model
load before the page does, so the page always gets the desk's own answer."""

from __future__ import annotations

import re
from pathlib import Path

from bot.desk import DeskConfig
from bot.trainer.tables import DONE, TrainingJob
from tests.desk.helpers import PASSWORD, ensure_user

TRAINER_JS = Path(__file__).resolve().parents[2] / "bot" / "static" / "trainer.js"


def test_the_desk_gives_up_on_a_model_load_before_the_page_does():
    waits_ms = int(re.search(r"MODEL_WAIT_MS = (\d+)", TRAINER_JS.read_text(encoding="utf-8")).group(1))
    config = DeskConfig(database_url="sqlite://")
    # The drain (replies in flight), the load, and a margin for the database work around them.
    assert config.activation_drain_s + config.model_load_timeout_s + 10 < waits_ms / 1000


async def test_a_lost_session_while_putting_a_model_live_shows_an_error_line(desk_without_rasa, browser):
    server = desk_without_rasa
    ensure_user(server.accounts, "上线员", "trainer")
    result = {
        "candidate": {"item_accuracy": 0.9, "general_accuracy": 0.9}, "live": None, "delta": None,
        "per_item": [], "better": [], "worse": [], "worse_than_live": False,
    }  # fmt: skip
    with server.app_service.database.session() as session:
        session.add(TrainingJob(status=DONE, stage="done", progress=1.0, started_by="t", config="config.yml",
                                model_path="/nonexistent/model.tar.gz", result=result))  # fmt: skip
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        page = await context.new_page()
        await page.goto(f"{server.url}/trainer")
        await page.fill("#name", "上线员")
        await page.fill("#password", PASSWORD)
        await page.click("#login-btn")
        await page.wait_for_url(f"{server.url}/trainer")
        await page.click('.tab[data-tab="train"]')
        await page.locator("#activate").wait_for(state="visible", timeout=10_000)
        # The page's own loads first (the latest job, the models): one of them answering 401 after the
        # cookies are gone would send the page to the log-in, which is right, but not what is tested here.
        await page.wait_for_load_state("networkidle")
        # The session is gone (logged out elsewhere, expired): the page says so, and stays.
        await context.clear_cookies()
        await page.click("#activate")
        await page.locator("#activate-msg.error", has_text="登录已失效").wait_for(timeout=15_000)
        assert page.url == f"{server.url}/trainer"
    finally:
        await context.close()
