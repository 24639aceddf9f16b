"""Console log-in: session cookies, CSRF tokens and the role check every console route carries."""

from __future__ import annotations

import functools
import hmac
from typing import Any, Awaitable, Callable

from aiohttp import web

from bot.desk.config import STORE

COOKIE = "desk_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
STAFF = ("clerk", "admin")
ANY_ROLE = ("clerk", "trainer", "admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def current_user(request: web.Request) -> dict[str, Any] | None:
    store = request.app[STORE]
    return store.session_user(request.cookies.get(COOKIE, ""))


def requires(*roles: str, allow_must_change: bool = False, page: bool = False) -> Callable[[Handler], Handler]:
    """Marks and guards a console handler: log-in, role, CSRF on state changes, password changed.

    The mark (`desk_roles`) lets a test check that no console route was left unguarded.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            user = current_user(request)
            if user is None:
                if page:
                    raise web.HTTPFound(f"/login?next={request.path}")
                raise web.HTTPUnauthorized(text='{"error": "请先登录。"}', content_type="application/json")
            if user["role"] not in roles:
                raise web.HTTPForbidden(text='{"error": "没有权限。"}', content_type="application/json")
            if request.method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent.encode(), user["csrf"].encode()):
                    raise web.HTTPForbidden(
                        text='{"error": "请求已过期，请刷新页面。"}', content_type="application/json"
                    )
            if user["must_change"] and not allow_must_change and not page:
                raise web.HTTPForbidden(text='{"error": "请先修改一次性密码。"}', content_type="application/json")
            request["user"] = user
            return await handler(request)

        guarded.desk_roles = roles  # type: ignore[attr-defined]
        return guarded

    return decorate


def set_session_cookie(response: web.StreamResponse, token: str, secure: bool) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/", max_age=12 * 3600)
