"""Fixtures of the whole suite: a seeded database, the real stack, a desk in front of it, a browser.

Helpers that tests import are in tests/helpers.py and tests/desk/helpers.py, never here.
Tests marked `destructive` stop or restart a process of the shared stack: they run last.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Each file runs in one of two environments (bot/tools/run_tests.py): the desk's tests on the desk's
    # aiohttp, never silently on Rasa's older one, and Rasa's tests where Rasa is installed.
    from bot.tools.run_tests import current_environment, environment_of

    here = current_environment()
    wrong = sorted({item.path.name for item in items if environment_of(item.path) != here})
    if wrong:
        other = ".venv-desk" if here == "rasa" else ".venv"
        raise pytest.UsageError(
            f"{', '.join(wrong)}: declared for the other environment in bot/tools/run_tests.py; "
            f"run with {other}/bin/python -m pytest (or `make test`)"
        )
    # Stable: everything else keeps its order, the destructive tests move to the end.
    items.sort(key=lambda item: item.get_closest_marker("destructive") is not None)


@pytest.fixture()
def database(tmp_path, monkeypatch):
    """A fresh SQLite database with the demo cases, used by the actions."""
    from bot.actions import resources
    from bot.db import seed

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    resources.database.cache_clear()
    db = resources.database()
    seed(db)
    yield db
    resources.database.cache_clear()


# --- the real stack: Rasa server + action server ------------------------------------


@pytest.fixture(scope="session")
def trained_model():
    """The model for config.yml; Rasa retrains only when data or config changed. TEST_MODEL=path skips
    training (a model of the same data, e.g. while the machine is too busy to check the training cache)."""
    from pathlib import Path

    from bot.tools.stack import train

    if os.environ.get("TEST_MODEL"):
        return Path(os.environ["TEST_MODEL"]).resolve()
    return train()


@pytest.fixture(scope="session")
def stack_database_url(tmp_path_factory) -> str:
    from bot.db import Database, seed

    url = f"sqlite:///{tmp_path_factory.mktemp('stack') / 'stack.db'}"
    seed(Database(url))
    return url


@pytest.fixture(scope="session")
def rasa_stack(trained_model, stack_database_url, tmp_path_factory):
    """A running action server and Rasa server on free loopback ports."""
    from bot.tools.stack import Stack

    stack = Stack(model=trained_model, database_url=stack_database_url, workdir=tmp_path_factory.mktemp("stack-var"))
    stack.start()
    yield stack
    stack.stop()


# --- the desk (with the trainer's workbench) on a loopback port ----------------------


@pytest.fixture()
def desk_db_url(tmp_path) -> str:
    from bot.db import Database, seed

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    seed(Database(url))
    return url


@pytest.fixture()
async def desk_without_rasa(desk_db_url):
    """A desk whose Rasa is down: nothing listens on its port."""
    from bot.desk import DeskConfig
    from tests.desk.helpers import DeskServer, free_port

    config = DeskConfig(
        database_url=desk_db_url, rasa_url=f"http://127.0.0.1:{free_port()}", rasa_token="x", rasa_timeout=2.0
    )
    server = await DeskServer(config).start()
    yield server
    await server.stop()


@pytest.fixture()
async def desk(rasa_stack, stack_database_url):
    """A desk in front of the real Rasa and action server, sharing their database (hand-off rows)."""
    from bot.desk import DeskConfig
    from tests.desk.helpers import DeskServer

    config = DeskConfig(database_url=stack_database_url, rasa_url=rasa_stack.rasa_url, rasa_token=rasa_stack.token)
    server = await DeskServer(config).start()
    yield server
    await server.stop()


@pytest.fixture()
async def browser():
    """Headless Chromium (Debian's, never a downloaded one)."""
    import shutil
    from pathlib import Path

    from playwright.async_api import async_playwright

    from tests.desk.helpers import ARGS, CHROMIUM, RESULTS

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")

    RESULTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        await browser.close()
