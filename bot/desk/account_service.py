"""Log-in, log-out, passwords and the session behind a console cookie, off the event loop.

Database work runs in this service's thread pool; scrypt runs in an executor
of its own (one thread), so a burst of log-ins queues behind itself and never
delays the database work of citizens' messages.
"""

from __future__ import annotations

from typing import Any

from bot.db import Database
from bot.desk.accounts import Accounts, parse_languages
from bot.desk.passwords import decoy_hash, hash_password, needs_rehash, verify_password
from bot.offload import ThreadPool

MIN_PASSWORD = 10


class AccountService:
    def __init__(self, database: Database):
        self.accounts = Accounts(database)
        self.pool = ThreadPool("accounts-db", min(2, database.workers))
        self.passwords = ThreadPool("passwords", 1)

    async def start(self) -> None:
        """Makes the decoy hash before the first log-in, so that none pays for it (issue 10, item 6)."""
        await self.passwords.run(decoy_hash)

    def close(self) -> None:
        self.pool.close()
        self.passwords.close()

    async def session_user(self, token: str) -> dict[str, Any] | None:
        """The user behind a session cookie, with the session's CSRF token (bot.http_helpers.SessionLookup)."""
        if not token:
            return None
        return await self.pool.run(self.accounts.session_user, token)

    async def login(self, name: str, password: str, client: str = "direct") -> tuple[dict[str, Any] | None, str, float]:
        """(user, "", 0) on success, else (None, "wrong", 0), (None, "expired", 0) or (None, "throttled", wait s).

        `client`: the address's rate-limit key. Its attempts are throttled with a backoff; no account
        is ever locked, so nobody can lock a clerk out. Exactly one scrypt run per attempt that
        passes the throttle, known name or not.
        """
        wait = await self.pool.run(self.accounts.login_attempt, f"login:{client}")
        if wait:
            return None, "throttled", wait
        record = await self.pool.run(self.accounts.login_record, name)
        if record.user is None:
            await self.passwords.run(verify_password, password, decoy_hash())
            await self.pool.run(self.accounts.login_failed, f"login:{client}")
            return None, "wrong", 0.0
        stored = record.password_hash or ""
        ok = await self.passwords.run(verify_password, password, stored)
        await self.pool.run(self.accounts.login_result, record.user["id"], ok)
        if not ok:
            await self.pool.run(self.accounts.login_failed, f"login:{client}")
            return None, "wrong", 0.0
        # Told only after the password was right: the answer says nothing to someone guessing.
        if record.expired:
            return None, "expired", 0.0
        await self.pool.run(self.accounts.login_succeeded, f"login:{client}")
        if needs_rehash(stored):
            await self.pool.run(self.accounts.rehash, record.user["id"], await self.passwords.run(hash_password, password))
        return record.user, "", 0.0

    async def create_session(self, user_id: int) -> tuple[str, str]:
        return await self.pool.run(self.accounts.create_session, user_id)

    async def logout(self, token: str) -> None:
        await self.pool.run(self.accounts.drop_session, token)

    async def change_password(self, user_id: int, old: str, new: str) -> str | None:
        """None when changed (every session of the account then ends), else what is wrong."""
        if len(new) < MIN_PASSWORD:
            return f"新密码至少{MIN_PASSWORD}位。"
        current = await self.pool.run(self.accounts.password_hash, user_id)
        if not current or not await self.passwords.run(verify_password, old, current):
            return "原密码不正确。"
        await self.pool.run(self.accounts.set_password_hash, user_id, await self.passwords.run(hash_password, new))
        return None

    async def set_languages(self, user_id: int, languages: Any) -> list[str] | None:
        """The codes stored, or None when there is no such user; ValueError for an unknown language."""
        if not isinstance(languages, (list, str)):
            raise ValueError("languages: a list of codes")
        codes = parse_languages(languages)
        return codes if await self.pool.run(self.accounts.set_languages, user_id, codes) else None

    async def staff(self, roles: tuple[str, ...]) -> list[dict[str, Any]]:
        return [user for user in await self.pool.run(self.accounts.users) if user["role"] in roles]
