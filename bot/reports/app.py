"""The reports as an aiohttp sub-application, mounted by bot/server.py at /reports (roles supervisor and admin).

The dashboard's page and its JSON, the CSV of every table, the monthly and annual report (HTML
and PDF). A supervisor sees figures and masked example questions only: nothing here returns a
transcript, a conversation id or a name. The figures are computed in a thread pool of their own
(bot/reports/figures.py is plain, blocking code).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.db import Database
from bot.http_helpers import json_error, json_reply, page, requires
from bot.offload import ThreadPool
from bot.reports import export, figures, report
from bot.roles import REPORTS


class ReportsService:
    def __init__(self, database: Database):
        self.database = database
        self.pool = ThreadPool("reports", 1)
        self._catalog: figures.Catalog | None = None

    def catalog(self) -> figures.Catalog:
        if self._catalog is None:
            self._catalog = figures.default_catalog()
        return self._catalog

    def _dashboard(self, period: figures.Period, category: str | None) -> dict[str, Any]:
        catalog = self.catalog()
        now = figures.compute(self.database, period, catalog)
        before = figures.compute(self.database, period.previous(), catalog, dimensions=())
        data = {
            **now,
            "previous": {"period": before["period"], "summary": before["summary"]},
            "definitions": figures.DEFINITIONS,
            "dimension_names": figures.DIMENSION_NAMES,
            "reason_names": figures.REASON_NAMES,
            "not_helpful_names": figures.NOT_HELPFUL_NAMES,
            "categories": figures.CATEGORY_NAMES,
        }
        if category:
            facts = figures.for_items(figures.load_facts(self.database, period), catalog, category)
            data["drill"] = {"category": category, "items": figures.breakdown(facts, "item", catalog)}
        return data

    async def dashboard(self, period: figures.Period, category: str | None = None) -> dict[str, Any]:
        return await self.pool.run(self._dashboard, period, category)

    async def csv(self, period: figures.Period, table: str) -> bytes:
        def run() -> bytes:
            return export.to_csv(figures.compute(self.database, period, self.catalog()), table)

        return await self.pool.run(run)

    async def report(self, period: figures.Period, kind: str) -> dict[str, Any]:
        return await self.pool.run(report.build, self.database, period, kind, self.catalog())

    async def pdf(self, html: str) -> bytes:
        return await self.pool.run(report.render_pdf, html)

    def close(self) -> None:
        self.pool.close()


SERVICE = web.AppKey("reports_service", ReportsService)


def _service(request: web.Request) -> ReportsService:
    return request.app[SERVICE]


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise json_error(web.HTTPBadRequest, "日期格式应为 YYYY-MM-DD。") from error


def period_of(request: web.Request) -> figures.Period:
    """?since=&until= (Beijing dates, both included); by default the last 30 days up to today."""
    today = datetime.now(figures.CST).date()
    until = _day(request.query.get("until")) or today
    since = _day(request.query.get("since")) or until - timedelta(days=29)
    if (until - since).days > 3 * 366:
        raise json_error(web.HTTPBadRequest, "统计期最长三年。")
    try:
        return figures.Period.between(since, until)
    except ValueError as error:
        raise json_error(web.HTTPBadRequest, str(error)) from error


def _report_period(request: web.Request) -> tuple[figures.Period, str]:
    try:
        return report.parse_period(request.query.get("period", ""))
    except ValueError as error:
        raise json_error(web.HTTPBadRequest, "period 应为 YYYY-MM（月度）或 YYYY（年度）。") from error


@requires(*REPORTS, page=True)
async def dashboard_page(request: web.Request) -> web.FileResponse:
    return page("reports.html")


@requires(*REPORTS)
async def dashboard_data(request: web.Request) -> web.Response:
    category = request.query.get("category") or None
    return json_reply(await _service(request).dashboard(period_of(request), category))


@requires(*REPORTS)
async def csv_table(request: web.Request) -> web.Response:
    table = request.match_info["table"]
    if table not in export.TABLES:
        raise json_error(web.HTTPNotFound, "没有这个表。")
    period = period_of(request)
    body = await _service(request).csv(period, table)
    name = f"{table}_{period.start.isoformat()}_{(period.end - timedelta(days=1)).isoformat()}.csv"
    return web.Response(
        body=body,
        headers={"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"'},
    )


@requires(*REPORTS, page=True)
async def report_html(request: web.Request) -> web.Response:
    period, kind = _report_period(request)
    html = report.render_html(await _service(request).report(period, kind))
    return web.Response(text=html, content_type="text/html", charset="utf-8")


@requires(*REPORTS)
async def report_pdf(request: web.Request) -> web.Response:
    period, kind = _report_period(request)
    service = _service(request)
    html = report.render_html(await service.report(period, kind))
    try:
        body = await service.pdf(html)
    except Exception as error:  # chromium missing, crashed or too slow: say so, never a half file
        raise json_error(web.HTTPServiceUnavailable, f"PDF 生成失败：{type(error).__name__}") from error
    name = f"report_{request.query.get('period', '')}.pdf"
    return web.Response(
        body=body, headers={"Content-Type": "application/pdf", "Content-Disposition": f'attachment; filename="{name}"'}
    )


# Paths inside the sub-application: "" is /reports itself.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "", dashboard_page),
    ("GET", "/api/figures", dashboard_data),
    ("GET", "/api/csv/{table}", csv_table),
    ("GET", "/report", report_html),
    ("GET", "/report.pdf", report_pdf),
]


async def service_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    app[SERVICE].close()


def init_app(database: Database) -> web.Application:
    app = web.Application()
    app[SERVICE] = ReportsService(database)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.cleanup_ctx.append(service_ctx)
    return app
