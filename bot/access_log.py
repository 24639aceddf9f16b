"""The desk's access log: one line per request, made only of what the code defines.

aiohttp's default line carries the raw path and query, the client's address, its User-Agent and
Referer: personal data and capability ids that the masking filter then had to scan on every request
(about a tenth of the desk's CPU per citizen message, issue 12). This line names the route's template
("/api/conversations/{conversation_id}/messages"), the method, the status, the size and the time; a
request that matched no route shows its path, which the masking filter scans like any other text.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.privacy import LogSafe

# The methods aiohttp routes: anything else is a client's own word, so it is not LogSafe.
_METHODS = {method: LogSafe(method) for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


def route_template(request: web.BaseRequest) -> str:
    """The matched route's template (LogSafe), else the raw path (masked like any log text)."""
    match_info = getattr(request, "match_info", None)
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is not None and getattr(match_info, "http_exception", None) is None:
        return LogSafe(resource.canonical)
    return request.path


class TemplateAccessLogger(AbstractAccessLogger):
    """`runner = web.AppRunner(app, access_log_class=TemplateAccessLogger)`."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            # Quoted as in the common log format: masking a number in the path stops at the quote and
            # leaves the status and the size alone.
            '"%s %s" %d %d bytes %.1f ms',
            _METHODS.get(request.method, request.method), route_template(request),
            response.status, response.body_length, time * 1000,
        )  # fmt: skip

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
