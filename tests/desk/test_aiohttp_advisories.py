"""aiohttp 3.9.5's advisories, answered by bot/desk/hardening.py: raw requests against the real desk.

Raw sockets, because aiohttp's client would not send these bodies as written, and because what is
checked includes the connection being closed after a refusal.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
import tracemalloc

from bot.http_helpers import COOKIE, STATIC
from tests.desk.helpers import Clerk, DeskServer, new_id

TIMEOUT = 20.0


async def exchange(server: DeskServer, request: bytes, more: bytes = b"") -> tuple[int, bytes, bool]:
    """Send `request`; read the answer; then send `more` and see whether the desk closed the connection.

    Returns (status, whole answer, closed). The desk answers Connection: close and closes, so the
    answer is read to its end.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        status = int(head.split(b" ", 2)[1])
        closed = False
        if more:
            try:
                writer.write(more)
                await writer.drain()
            except ConnectionError:
                closed = True
        try:
            rest = await asyncio.wait_for(reader.read(), TIMEOUT)  # the body, then EOF: closed by the desk
        except ConnectionResetError:  # closed with `more` unread: a reset, once the answer is read
            rest, closed = b"", True
        closed = closed or reader.at_eof()
        return status, head + rest, closed
    finally:
        writer.close()


def post_head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_compressed_body_is_refused_uninflated_and_the_connection_closed(desk_without_rasa):
    path = f"/api/conversations/{new_id()}/messages"
    body = gzip.compress(b'{"text": "' + b"0" * 200_000 + b'"}')
    status, answer, closed = await exchange(
        desk_without_rasa, post_head(path, "Content-Encoding: gzip", f"Content-Length: {len(body)}") + body
    )
    assert status == 415, answer
    assert b"uncompressed" in answer and b"Connection: close" in answer
    assert closed

    # A small bomb: 20 MB of zeros in about 20 KB. aiohttp 3.9.5 with its default (auto_decompress on)
    # inflates it in the parser, before any middleware: 20 MB allocated, refused or not.
    bomb = gzip.compress(b"\0" * 20_000_000)
    tracemalloc.start()
    try:
        status, answer, _ = await exchange(
            desk_without_rasa, post_head(path, "Content-Encoding: gzip", f"Content-Length: {len(bomb)}") + bomb
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 415, answer
    assert peak < 5_000_000, f"{peak} bytes allocated for a {len(bomb)}-byte body"


async def test_a_chunked_body_is_refused_and_its_remaining_chunks_are_never_read(desk_without_rasa):
    path = f"/api/conversations/{new_id()}/messages"
    first = b"1\r\n{\r\n"
    started = time.monotonic()
    status, answer, closed = await exchange(
        desk_without_rasa,
        post_head(path, "Transfer-Encoding: chunked") + first,
        more=b"1\r\n \r\n" * 5000,  # and no last chunk: the body never ends
    )
    assert status == 411, answer
    assert b"Content-Length" in answer and b"Connection: close" in answer
    assert closed
    # aiohttp would otherwise read (parse) and drop the rest for up to 10 s before closing.
    assert time.monotonic() - started < 5

    # socket.io's long-polling POST path is covered by the same middleware.
    status, answer, closed = await exchange(
        desk_without_rasa, post_head("/socket.io/?EIO=4&transport=polling", "Transfer-Encoding: chunked") + first
    )
    assert status == 411, answer
    assert closed


async def test_a_body_with_a_content_length_still_gets_through(desk_without_rasa):
    body = b"{}"
    status, answer, _ = await exchange(
        desk_without_rasa, post_head("/api/conversations", f"Content-Length: {len(body)}", "Connection: close") + body
    )
    assert status == 200, answer


async def test_static_answers_only_its_own_files_and_the_same_404_for_everything_else(desk_without_rasa):
    own = await exchange(desk_without_rasa, b"GET /static/common.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert own[0] == 200 and own[1].endswith((STATIC / "common.js").read_bytes())
    vendor = await exchange(
        desk_without_rasa, b"GET /static/vendor/socket.io.min.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert vendor[0] == 200

    # Probes: a directory that exists, absolute names that exist and that do not, escapes. Whatever
    # is on the disk, the answer is the one a missing file gets.
    probes = [
        "/static/vendor",
        "/static/vendor/",
        "/static/%2Fetc%2Fpasswd",
        "/static/%2Fetc%2Fno-such-file",
        "/static/%2Fetc",
        "/static/..%2F..%2Fdesk%2Fapp.py",
        "/static/..%2Fhttp_helpers.py",
        "/static/no-such-file.js",
        "/static/\\etc\\passwd",
    ]
    answers = {}
    for probe in probes:
        status, answer, _ = await exchange(
            desk_without_rasa, f"GET {probe} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        answers[probe] = status
    assert set(answers.values()) == {404}, answers


async def test_invalid_cookies_log_nothing_and_the_valid_ones_still_count(desk_without_rasa, caplog):
    """aiohttp 3.9.5's SimpleCookie raised on them: a 500 and an ERROR traceback per request."""
    cookies = "; ".join(f"bad,name{i}=x" for i in range(500))  # within aiohttp's 8190-byte header limit
    request = f"GET /api/console/me HTTP/1.1\r\nHost: x\r\nCookie: {cookies}\r\nConnection: close\r\n\r\n"
    with caplog.at_level(logging.DEBUG):
        status, answer, _ = await exchange(desk_without_rasa, request.encode())
    assert status == 401, answer
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []

    # A logged-in clerk whose browser also carries someone else's invalid cookie is still logged in.
    clerk = await Clerk.login(desk_without_rasa, "cookie-clerk")
    try:
        session = clerk.http.cookie_jar.filter_cookies(desk_without_rasa.url)[COOKIE].value
        request = (
            f"GET /api/console/me HTTP/1.1\r\nHost: x\r\nCookie: bad,one=x; {COOKIE}={session}; other=1\r\n"
            "Connection: close\r\n\r\n"
        )
        status, answer, _ = await exchange(desk_without_rasa, request.encode())
        assert status == 200, answer
    finally:
        await clerk.http.close()
