"""Refusals written for aiohttp 3.9.5's advisories, kept as defence in depth (issue 10).

The desk now runs on aiohttp 3.14.5 in its own environment (.venv-desk, requirements/desk.txt), where
these advisories are fixed upstream (3.13.3 and 3.14.1; docs/security-issue10.md, aiohttp row). The
refusals stay: they cost one header lookup per request, they hold if the desk is ever started on Rasa's
environment again (WZ_DESK_PYTHON=.venv/bin/python, as for a benchmark against the old aiohttp), and
tests/desk/test_aiohttp_advisories.py checks each of them on the desk's aiohttp.
deploy/haproxy.cfg refuses the same bodies at the proxy.

- CVE-2025-69223, compressed request body ("zip bomb"): 3.9.5's parser inflates a gzip/deflate/br
  body as it arrives, without a bound, before any handler or middleware runs. `SERVER_OPTIONS`
  turns that off (`auto_decompress=False`: the bytes stay as sent), and `refuse_unsafe_bodies`
  answers 415 to any request with a Content-Encoding and closes the connection. No page of the desk
  sends one.
- CVE-2025-69229, many small chunks: every chunk of a chunked body costs the parser a call.
  `refuse_unsafe_bodies` answers 411 to a chunked request and closes the connection, so the rest of
  the body is never parsed. The widget, the console, the workbench and socket.io's long-polling
  POSTs send Content-Length (Chromium does for every string, FormData and Blob body; only a
  ReadableStream body is chunked, and no page of the desk sends one: tests/desk/test_browser.py
  runs with this middleware).
- CVE-2025-69226, static-path probing: `web.static` answered 403 or 404 depending on whether a
  path existed, a way to map the disk. `StaticFiles` serves a fixed list of the files in bot/static,
  read at start; any other name is a 404 without a look at the disk.
- The invalid-cookie log flood (CVE-2025-69230): 3.9.5 has not the warning per cookie (that came
  with aiohttp 3.12's own cookie parser); its `request.cookies` is the standard library's
  SimpleCookie, which raises on the first invalid cookie: every such request was a 500 with an ERROR
  traceback from aiohttp.server, a log flood of its own, and a locked-out clerk if another site on
  the host set such a cookie. `refuse_unsafe_bodies` drops the invalid cookies and keeps the rest.
  On 3.14.5 `request.cookies` skips them itself (one DEBUG line from aiohttp.internal) and does not
  raise, so that branch is 3.9.5's only.

Not answered here, fixed only by the upgrade (3.14.1): unbounded pipelined requests (CVE-2026-54273)
and the C parser's `max_line_size` bypass.
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web

# Given to aiohttp's AppRunner by `python -m bot.desk serve` and by the tests' desks.
SERVER_OPTIONS: dict[str, Any] = {"auto_decompress": False}

# Short and in English: no browser sends these, only a client that someone wrote by hand.
ENCODED_BODY = "Compressed request bodies are not accepted; please send the body uncompressed."
CHUNKED_BODY = "Chunked request bodies are not accepted; please send a Content-Length."


def _refusal(request: web.Request, status: int, message: str) -> web.Response:
    # The body's remaining bytes are never parsed: reading stops now, and the body is marked ended, or
    # aiohttp would read and discard it for up to 10 s after the answer (its "lingering close").
    if request.transport is not None:
        request.transport.pause_reading()
    request.content.feed_eof()
    response = web.Response(status=status, text=json.dumps({"error": message}), content_type="application/json")
    response.force_close()  # Connection: close, and the desk closes it once the answer is out
    return response


def _valid_cookies(header: str) -> str:
    """The pairs of a Cookie header that the standard library's parser accepts, rejoined."""
    kept = []
    for pair in header.split(";"):
        try:
            SimpleCookie(pair)
        except CookieError:
            continue
        kept.append(pair.strip())
    return "; ".join(kept)


@web.middleware
async def refuse_unsafe_bodies(request: web.Request, handler: Any) -> web.StreamResponse:
    """Before any handler reads a body: no Content-Encoding (415), no chunked transfer (411); and
    a Cookie header cleared of the cookies aiohttp 3.9.5 cannot parse (3.14 skips them itself)."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding and encoding != "identity":
        return _refusal(request, 415, ENCODED_BODY)
    if "chunked" in request.headers.get(hdrs.TRANSFER_ENCODING, "").lower():
        return _refusal(request, 411, CHUNKED_BODY)
    try:
        _ = request.cookies  # parsed once, as the handlers would
    except CookieError:
        # One invalid cookie (another site's on the same host, or a probe) made aiohttp 3.9.5's
        # request.cookies raise: a 500 and an ERROR traceback per request. The valid ones are kept.
        headers = request.headers.copy()
        headers[hdrs.COOKIE] = _valid_cookies(request.headers[hdrs.COOKIE])
        request = request.clone(headers=headers)
    return await handler(request)


class StaticFiles:
    """/static/{name}: only the files bot/static held at start, looked up by name, never by path."""

    def __init__(self, directory: Path) -> None:
        self.files = {
            path.relative_to(directory).as_posix(): path
            for path in sorted(directory.rglob("*"))
            if path.is_file() and not path.is_symlink()
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = self.files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path)
