"""The PostgreSQL server the engine-parametrised tests share (TEST_POSTGRES_URL; .ci/postgres.sh starts it)."""

from __future__ import annotations

import os

import pytest

from bot.db import Database
from bot.db.tables import Base

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


def postgres_url() -> str:
    """The URL of the test database; skipped without one (failed on CI, which has one)."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must provide TEST_POSTGRES_URL (see .ci/postgres.sh)")
        pytest.skip("TEST_POSTGRES_URL not set")
    return POSTGRES_URL


def empty_postgres_url() -> str:
    """The URL of the test database with every table dropped; skipped without one (failed on CI, which has one)."""
    database = Database(postgres_url())
    Base.metadata.drop_all(database.engine)
    database.engine.dispose()
    return POSTGRES_URL
