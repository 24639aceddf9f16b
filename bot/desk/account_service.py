"""Log-in, log-out, passwords and the session behind a console cookie, off the event loop.

Database work runs in this service's thread pool; scrypt runs in an executor
of its own (one thread), so a burst of log-ins queues behind itself and never
delays the database work of citizens' messages.
"""

from __future__ import annotations

import functools
from typing import Any

from bot.db import Database
from bot.desk.accounts import Accounts, parse_languages
from bot.desk.passwords import hash_password, verify_password
from bot.offload import ThreadPool

MIN_PASSWORD = 10


@functools.lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """Verified when the name is unknown, so that an unknown name costs the same as a wrong password."""
    return hash_password("decoy")


class AccountService:
    def __init__(self, database: Database):
        self.accounts = Accounts(database)
        self.pool = ThreadPool("accounts-db", min(2, database.workers))
        self.passwords = ThreadPool("passwords", 1)

    def close(self) -> None:
        self.pool.close()
        self.passwords.close()

    async def session_user(self, token: str) -> dict[str, Any] | None:
        """The user behind a session cookie, with the session's CSRF token (bot.http_helpers.SessionLookup)."""
        if not token:
            return None
        return await self.pool.run(self.accounts.session_user, token)

    async def login(self, name: str, password: str) -> tuple[dict[str, Any] | None, str]:
        """(user, "") on success, else (None, "wrong" or "locked")."""
        record = await self.pool.run(self.accounts.login_record, name)
        if record.user is None:
            await self.passwords.run(lambda: verify_password(password, _decoy_hash()))
            return None, "wrong"
        if record.locked:
            return None, "locked"
        ok = await self.passwords.run(verify_password, password, record.password_hash or "")
        await self.pool.run(self.accounts.login_result, record.user["id"], ok)
        return (record.user, "") if ok else (None, "wrong")

    async def create_session(self, user_id: int) -> tuple[str, str]:
        return await self.pool.run(self.accounts.create_session, user_id)

    async def logout(self, token: str) -> None:
        await self.pool.run(self.accounts.drop_session, token)

    async def change_password(self, user_id: int, old: str, new: str) -> str | None:
        """None when changed, else what is wrong."""
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
