"""Console accounts and log-in sessions: users, passwords, session cookies.

Plain, blocking code; the desk's service runs the database work in its thread
pool and the password hashing (scrypt, tens of milliseconds of CPU) in an
executor of its own, so a burst of log-ins never delays citizens' messages.
That is why hashing and verifying are separate steps here, outside any
transaction: `login_record` reads, the service verifies, `login_result` writes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.db import Database
from bot.desk.passwords import hash_password, one_time_password
from bot.desk.tables import DeskSession, DeskUser
from bot.i18n import load_languages
from bot.roles import ROLES

SESSION_TTL = timedelta(hours=12)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=5)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LoginRecord:
    """What a log-in needs to know of an account before the password is checked."""

    user: dict[str, Any] | None
    password_hash: str | None
    locked: bool


class Accounts:
    def __init__(self, database: Database):
        self.db = database

    # --- users -------------------------------------------------------------------

    def count_users(self) -> int:
        with self.db.session() as session:
            return session.execute(select(func.count(DeskUser.id))).scalar_one()

    def add_user(
        self, name: str, role: str, password_hash: str, must_change: bool = False, languages: list[str] | None = None
    ) -> int:
        with self.db.session() as session:
            row = DeskUser(
                name=name, role=role, password_hash=password_hash, must_change=must_change, languages=languages or []
            )
            session.add(row)
            session.flush()
            return row.id

    def create_user(
        self, name: str, role: str, password: str, must_change: bool = False, languages: list[str] | None = None
    ) -> int:
        """Hashes here: for the command line and tests, not for the event loop."""
        return self.add_user(name, role, hash_password(password), must_change, languages)

    def set_languages(self, user_id: int, languages: list[str]) -> bool:
        """The languages a clerk speaks besides Chinese; False when there is no such user."""
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            if row is None:
                return False
            row.languages = languages
            return True

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            row.password_hash = password_hash
            row.must_change = False

    def password_hash(self, user_id: int) -> str | None:
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            return row.password_hash if row else None

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.execute(select(DeskUser).where(DeskUser.name == name)).scalar_one_or_none()
            return {"id": row.id, "name": row.name, "role": row.role, "languages": row.languages or []} if row else None

    def users(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(select(DeskUser).order_by(DeskUser.name)).scalars()
            return [{"id": r.id, "name": r.name, "role": r.role, "languages": r.languages or []} for r in rows]

    # --- log-in ------------------------------------------------------------------

    def login_record(self, name: str) -> LoginRecord:
        with self.db.session() as session:
            row = session.execute(select(DeskUser).where(DeskUser.name == name)).scalar_one_or_none()
            if row is None:
                return LoginRecord(None, None, False)
            locked = bool(row.locked_until and row.locked_until > datetime.utcnow())
            user = {"id": row.id, "name": row.name, "role": row.role, "must_change": row.must_change}
            return LoginRecord(user, row.password_hash, locked)

    def login_result(self, user_id: int, ok: bool) -> None:
        """Counts a failure (locking the account for a while after repeated ones) or clears the count."""
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            if ok:
                row.failed_logins, row.locked_until = 0, None
                return
            row.failed_logins += 1
            if row.failed_logins >= MAX_FAILED_LOGINS:
                row.locked_until, row.failed_logins = datetime.utcnow() + LOCKOUT, 0

    # --- sessions ----------------------------------------------------------------

    def create_session(self, user_id: int) -> tuple[str, str]:
        """Returns (cookie token, csrf token); only the token's hash is stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = datetime.utcnow()
        with self.db.session() as session:
            session.add(
                DeskSession(
                    token_hash=_token_hash(token), user_id=user_id, csrf=csrf, created_at=now, expires_at=now + SESSION_TTL
                )
            )
        return token, csrf

    def session_user(self, token: str) -> dict[str, Any] | None:
        if not token:
            return None
        with self.db.session() as session:
            found = session.execute(
                select(DeskSession, DeskUser)
                .join(DeskUser, DeskUser.id == DeskSession.user_id)
                .where(DeskSession.token_hash == _token_hash(token), DeskSession.expires_at > datetime.utcnow())
            ).first()
            if not found:
                return None
            desk_session, user = found
            return {
                "id": user.id,
                "name": user.name,
                "role": user.role,
                "must_change": user.must_change,
                "languages": user.languages or [],
                "csrf": desk_session.csrf,
            }

    def drop_session(self, token: str) -> None:
        with self.db.session() as session:
            row = session.get(DeskSession, _token_hash(token))
            if row:
                session.delete(row)


# --- the command line's accounts ---------------------------------------------------


def parse_languages(value: str | list[str] | None) -> list[str]:
    """Language codes ("it,en" or a list) checked against knowledge/languages.yml; ValueError otherwise.

    The default language (Chinese) is left out: every clerk reads it (bot/desk/language.py `speaks`).
    """
    languages = load_languages()
    items = value.split(",") if isinstance(value, str) else list(value or [])
    codes: list[str] = []
    for item in items:
        if not str(item).strip():
            continue
        code = languages.normalise(item)
        if code is None:
            raise ValueError(f"unknown language {str(item).strip()!r}: one of {', '.join(languages.supported)}")
        if code != languages.default and code not in codes:
            codes.append(code)
    return codes


def create_user(accounts: Accounts, name: str, role: str, languages: str | list[str] | None = None) -> str:
    """Creates an account with a one-time password, which it returns (to print once)."""
    name = name.strip()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 64:
        raise ValueError("name must be 1 to 64 characters")
    if accounts.user_by_name(name):
        raise ValueError(f"user {name} exists already")
    codes = parse_languages(languages)
    password = one_time_password()
    accounts.create_user(name, role, password, must_change=True, languages=codes)
    return password


def ensure_first_admin(accounts: Accounts, name: str = "admin") -> str | None:
    """On an empty desk, creates the first admin and returns its one-time password; else None."""
    if accounts.count_users():
        return None
    return create_user(accounts, name, "admin")
