"""What the desk's and the trainer's HTTP handlers share: JSON in and out, static pages, the role check.

The role check needs to know who is logged in: the composing application puts
an object with `async session_user(token)` under `SESSIONS` (the desk's
service), and `requires` finds it from any sub-application.
"""

from __future__ import annotations

import functools
import hmac
import json
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

from aiohttp import web

STATIC = Path(__file__).parent / "static"
COOKIE = "desk_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SessionLookup(Protocol):
    async def session_user(self, token: str) -> dict[str, Any] | None: ...


SESSIONS = web.AppKey("sessions", SessionLookup)


def json_reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def json_error(error: type[web.HTTPException], message: str) -> web.HTTPException:
    return error(text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json")


async def read_json_body(request: web.Request) -> dict[str, Any]:
    # JSON only: a cross-site HTML form cannot send it, which also shields the log-in from CSRF.
    # The media type read from the header itself: aiohttp's `content_type` parses it with the email package.
    media_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise json_error(web.HTTPUnsupportedMediaType, "需要 JSON。")
    try:
        # The bytes to json.loads, which reads UTF-8 (or the UTF-16/32 that JSON allows): aiohttp's
        # `json()` would first look up the charset, parsing the header with the email package again.
        body = json.loads(await request.read())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep to parse
        body = None
    if not isinstance(body, dict):
        raise json_error(web.HTTPBadRequest, "需要 JSON 对象。")
    return body


def page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


async def current_user(request: web.Request) -> dict[str, Any] | None:
    return await request.config_dict[SESSIONS].session_user(request.cookies.get(COOKIE, ""))


def requires(*roles: str, allow_must_change: bool = False, page: bool = False) -> Callable[[Handler], Handler]:
    """Marks and guards a console handler: log-in, role, CSRF on state changes, password changed.

    The mark (`desk_roles`) lets a test check that no console route was left unguarded.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            user = await current_user(request)
            if user is None:
                if page:
                    raise web.HTTPFound(f"/login?next={request.path}")
                raise json_error(web.HTTPUnauthorized, "请先登录。")
            if user["role"] not in roles:
                raise json_error(web.HTTPForbidden, "没有权限。")
            if request.method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent.encode(), user["csrf"].encode()):
                    raise json_error(web.HTTPForbidden, "请求已过期，请刷新页面。")
            if user["must_change"] and not allow_must_change and not page:
                raise json_error(web.HTTPForbidden, "请先修改一次性密码。")
            request["user"] = user
            return await handler(request)

        guarded.desk_roles = roles  # type: ignore[attr-defined]
        return guarded

    return decorate


def set_session_cookie(response: web.StreamResponse, token: str, secure: bool) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/", max_age=12 * 3600)
