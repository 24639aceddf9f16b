"""Console accounts: the CLI's create-user and the first admin of an empty desk."""

from __future__ import annotations

from bot.desk.models import ROLES
from bot.desk.passwords import one_time_password
from bot.desk.store import DeskStore


def create_user(store: DeskStore, name: str, role: str) -> str:
    """Creates an account with a one-time password, which it returns (to print once)."""
    name = name.strip()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 64:
        raise ValueError("name must be 1 to 64 characters")
    if store.user_by_name(name):
        raise ValueError(f"user {name} exists already")
    password = one_time_password()
    store.create_user(name, role, password, must_change=True)
    return password


def ensure_first_admin(store: DeskStore, name: str = "admin") -> str | None:
    """On an empty desk, creates the first admin and returns its one-time password; else None."""
    if store.count_users():
        return None
    return create_user(store, name, "admin")
