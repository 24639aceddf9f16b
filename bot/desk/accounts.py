"""Console accounts and log-in sessions: users, passwords, session cookies, the log-in throttle.

Plain, blocking code; the desk's service runs the database work in its thread
pool and the password hashing (scrypt, tens of milliseconds of CPU) in an
executor of its own, so a burst of log-ins never delays citizens' messages.
That is why hashing and verifying are separate steps here, outside any
transaction: `login_record` reads, the service verifies, `login_result` writes.

Log-in names are for staff pages; citizens see an account's `public_name` (its display name,
else its number), so a citizen never learns a login name such as "admin" (issue 10, item 6).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.desk.passwords import hash_password, one_time_password
from bot.desk.tables import DeskLoginThrottle, DeskSession, DeskUser
from bot.i18n import load_languages
from bot.roles import ROLES

SESSION_TTL = timedelta(hours=12)
# A one-time password (new account, reset) works for a day.
ONE_TIME_TTL = timedelta(hours=24)
# The throttle per client address: this many attempts freely, then each next one waits twice as long
# as the last (1 s, 2 s, 4 s, ... up to MAX_BACKOFF); a quiet WINDOW starts the count again.
FREE_ATTEMPTS = 5
MAX_BACKOFF = timedelta(minutes=5)
WINDOW = timedelta(minutes=15)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_name(display_name: str | None, user_id: int) -> str:
    """What citizens see of an account: its display name, else its number (never the log-in name)."""
    return display_name or f"{user_id:03d}"


def backoff(failures: int) -> timedelta:
    """The wait after `failures` counted attempts from one address."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(failures - FREE_ATTEMPTS, 20)))


def _user_dict(row: DeskUser) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "display_name": public_name(row.display_name, row.id),
        "role": row.role,
        "languages": row.languages or [],
    }


@dataclass(frozen=True)
class LoginRecord:
    """What a log-in needs to know of an account before the password is checked."""

    user: dict[str, Any] | None
    password_hash: str | None
    # A one-time password past its 24 hours.
    expired: bool


class Accounts:
    def __init__(self, database: Database):
        self.db = database

    # --- users -------------------------------------------------------------------

    def count_users(self) -> int:
        with self.db.session() as session:
            return session.execute(select(func.count(DeskUser.id))).scalar_one()

    def add_user(
        self,
        name: str,
        role: str,
        password_hash: str,
        must_change: bool = False,
        languages: list[str] | None = None,
        display_name: str | None = None,
    ) -> int:
        expires = datetime.utcnow() + ONE_TIME_TTL if must_change else None
        with self.db.session() as session:
            row = DeskUser(
                name=name,
                display_name=display_name or None,
                role=role,
                password_hash=password_hash,
                must_change=must_change,
                password_expires_at=expires,
                languages=languages or [],
            )
            session.add(row)
            session.flush()
            return row.id

    def create_user(
        self,
        name: str,
        role: str,
        password: str,
        must_change: bool = False,
        languages: list[str] | None = None,
        display_name: str | None = None,
    ) -> int:
        """Hashes here: for the command line and tests, not for the event loop."""
        return self.add_user(name, role, hash_password(password), must_change, languages, display_name)

    def set_languages(self, user_id: int, languages: list[str]) -> bool:
        """The languages a clerk speaks besides Chinese; False when there is no such user."""
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            if row is None:
                return False
            row.languages = languages
            return True

    def set_password_hash(self, user_id: int, password_hash: str, one_time: bool = False) -> None:
        """A new password: every session of the account ends (a stolen cookie dies with the old password).

        `one_time`: an admin's reset; the user must change it within ONE_TIME_TTL.
        """
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            row.password_hash = password_hash
            row.must_change = one_time
            row.password_expires_at = datetime.utcnow() + ONE_TIME_TTL if one_time else None
            session.execute(delete(DeskSession).where(DeskSession.user_id == user_id))

    def rehash(self, user_id: int, password_hash: str) -> None:
        """The same password at the current scrypt parameters (after a log-in with an older hash)."""
        with self.db.session() as session:
            session.execute(update(DeskUser).where(DeskUser.id == user_id).values(password_hash=password_hash))

    def password_hash(self, user_id: int) -> str | None:
        with self.db.session() as session:
            row = session.get(DeskUser, user_id)
            return row.password_hash if row else None

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.execute(select(DeskUser).where(DeskUser.name == name)).scalar_one_or_none()
            return _user_dict(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.execute(select(DeskUser).order_by(DeskUser.name)).scalars()
            return [_user_dict(r) for r in rows]

    # --- log-in ------------------------------------------------------------------

    def login_record(self, name: str) -> LoginRecord:
        with self.db.session() as session:
            row = session.execute(select(DeskUser).where(DeskUser.name == name)).scalar_one_or_none()
            if row is None:
                return LoginRecord(None, None, False)
            expired = bool(row.must_change and row.password_expires_at and row.password_expires_at < datetime.utcnow())
            user = {**_user_dict(row), "must_change": row.must_change}
            return LoginRecord(user, row.password_hash, expired)

    def login_result(self, user_id: int, ok: bool) -> None:
        """Counts a failure or clears the count: one UPDATE each, so concurrent failures all count."""
        with self.db.session() as session:
            value = 0 if ok else DeskUser.failed_logins + 1
            session.execute(update(DeskUser).where(DeskUser.id == user_id).values(failed_logins=value))

    def failed_logins(self, user_id: int) -> int:
        with self.db.session() as session:
            return session.execute(select(DeskUser.failed_logins).where(DeskUser.id == user_id)).scalar_one()

    # --- the log-in throttle per address --------------------------------------------

    def login_attempt(self, key: str) -> float:
        """Counts an attempt from `key` before its password is checked; 0, or the seconds to wait first.

        Counted before the check, so that a burst of parallel attempts cannot all pass while
        none has failed yet; a success gives the attempt back (`login_succeeded`). The UPDATE's
        condition and the row lock it takes make the check and the count one step.
        """
        throttle = DeskLoginThrottle.__table__
        with self.db.session() as session:
            try:
                with session.begin_nested():
                    first = datetime.utcnow()
                    session.execute(throttle.insert().values(key=key, failures=0, last_at=first, next_at=first))
            except IntegrityError:
                pass  # the address has a row already
            # Read after the write above, which waited for any concurrent attempt to commit.
            now = datetime.utcnow()
            counted = session.execute(
                update(throttle)
                .where(throttle.c.key == key, throttle.c.next_at <= now)
                .values(
                    # A quiet WINDOW since the last attempt starts the count again.
                    failures=case((throttle.c.last_at < now - WINDOW, 1), else_=throttle.c.failures + 1),
                    last_at=now,
                )
            ).rowcount
            if not counted:
                next_at = session.execute(select(throttle.c.next_at).where(throttle.c.key == key)).scalar_one()
                return max(0.5, (next_at - now).total_seconds())
            failures = session.execute(select(throttle.c.failures).where(throttle.c.key == key)).scalar_one()
            if backoff(failures):
                session.execute(update(throttle).where(throttle.c.key == key).values(next_at=now + backoff(failures)))
            return 0.0

    def login_failed(self, key: str) -> None:
        """After a wrong password: the wait runs from now, not from when the attempt was counted
        (checking the password takes a while, and the wait must not pass during it)."""
        now = datetime.utcnow()
        throttle = DeskLoginThrottle.__table__
        with self.db.session() as session:
            failures = session.execute(select(throttle.c.failures).where(throttle.c.key == key)).scalar_one_or_none()
            if failures is not None and backoff(failures):
                session.execute(
                    update(throttle)
                    .where(throttle.c.key == key, throttle.c.next_at < now + backoff(failures))
                    .values(next_at=now + backoff(failures))
                )

    def login_succeeded(self, key: str) -> None:
        """Gives back the attempt a successful log-in counted; the address's earlier failures stay."""
        throttle = DeskLoginThrottle.__table__
        with self.db.session() as session:
            session.execute(
                update(throttle)
                .where(throttle.c.key == key, throttle.c.failures > 0)
                .values(failures=throttle.c.failures - 1, next_at=datetime.utcnow())
            )

    def purge_login_throttle(self) -> int:
        """Forgets addresses quiet for longer than the window (their count would restart anyway)."""
        throttle = DeskLoginThrottle.__table__
        with self.db.session() as session:
            since = datetime.utcnow() - WINDOW - MAX_BACKOFF
            return session.execute(delete(throttle).where(throttle.c.last_at < since)).rowcount

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
            return {**_user_dict(user), "must_change": user.must_change, "csrf": desk_session.csrf}

    def drop_session(self, token: str) -> None:
        with self.db.session() as session:
            row = session.get(DeskSession, _token_hash(token))
            if row:
                session.delete(row)

    def session_alive(self, token: str) -> bool:
        """False once the session was logged out, expired or revoked by a password change."""
        return self.session_user(token) is not None


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


def create_user(
    accounts: Accounts,
    name: str,
    role: str,
    languages: str | list[str] | None = None,
    display_name: str | None = None,
) -> str:
    """Creates an account with a one-time password (valid 24 h), which it returns (to print once, never to log)."""
    name = name.strip()
    display_name = (display_name or "").strip() or None
    if display_name and len(display_name) > 64:
        raise ValueError("display name must be at most 64 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 64:
        raise ValueError("name must be 1 to 64 characters")
    if accounts.user_by_name(name):
        raise ValueError(f"user {name} exists already")
    codes = parse_languages(languages)
    password = one_time_password()
    accounts.create_user(name, role, password, must_change=True, languages=codes, display_name=display_name)
    return password


def reset_password(accounts: Accounts, name: str) -> str:
    """A new one-time password (valid 24 h) for an account; its sessions end. Returned to print once."""
    user = accounts.user_by_name(name.strip())
    if user is None:
        raise ValueError(f"no user {name}")
    password = one_time_password()
    accounts.set_password_hash(user["id"], hash_password(password), one_time=True)
    return password


def ensure_first_admin(accounts: Accounts, name: str = "admin") -> str | None:
    """On an empty desk, creates the first admin and returns its one-time password; else None."""
    if accounts.count_users():
        return None
    return create_user(accounts, name, "admin")
